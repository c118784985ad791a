// PartitionReader::Project: records keep only the named props, except the ones a source
// task finds late (spec §2), which stay whole for the late topic.
#include <capnp/message.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/log/log.h"
#include "engine/log/record_codec.h"
#include "log_test_util.h"

namespace segflow::log {
namespace {

using testing::MakeEvent;
using testing::TempDir;

// `props` with only the fields named `names`, in order, duplicates included.
Value Keep(const Value& props, const std::vector<std::string>& names) {
  ValueObject kept;
  for (const auto& [k, v] : props.as_object()) {
    if (std::find(names.begin(), names.end(), k) != names.end()) kept.emplace_back(k, v);
  }
  return Value::Object(std::move(kept));
}

TEST(ProjectedReadTest, KeepsNamedPropsAndLateRecordsWhole) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", TopicMeta{}).ok());
  auto w = PartitionWriter::Open(dir.path(), "events", 0);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  // ts rise by 10 per record; every 7th record goes 50 back (late with out_of_orderness
  // 20), every 11th 15 back (out of order, on time); a duplicate "seq" on some records.
  std::vector<Event> written;
  for (uint64_t i = 0; i < 3000; ++i) {
    Event e = MakeEvent(i);
    e.ts = 1000 + static_cast<int64_t>(i) * 10;
    if (i % 7 == 3) e.ts -= 50;
    if (i % 11 == 5) e.ts -= 15;
    if (i % 13 == 0) e.props.mutable_object().emplace_back("seq", Value::String("again"));
    written.push_back(e);
    (*w)->Append(e);
    if (i % 500 == 499) {
      ASSERT_TRUE((*w)->Flush(false).ok());
    }
  }
  ASSERT_TRUE((*w)->Flush(true).ok());

  // Start past the first batch's head, with a restored largest ts that makes the first
  // records read late too.
  const uint64_t start = 20;
  const int64_t restored_max = 1000 + 40 * 10;
  auto projection = std::make_shared<PropsProjection>();
  projection->by_type["purchase"] = {"price", "device"};
  projection->by_type["add_to_cart"] = {"seq"};
  projection->other_types = {"tags"};
  auto reader = PartitionReader::Open(dir.path(), "events", 0, start);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  (*reader)->Project(projection, restored_max, 20);

  // Each batch is handed back (Recycle) as a source task does: later batches decode into
  // the storage of earlier ones.
  std::vector<LogRecord> read;
  std::vector<LogRecord> batch;
  for (;;) {
    auto n = (*reader)->Poll(333, &batch);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    read.insert(read.end(), batch.begin(), batch.end());
    (*reader)->Recycle(&batch);
    ASSERT_TRUE(batch.empty());
  }
  ASSERT_EQ(read.size(), written.size() - start);
  int64_t max_prev = restored_max;
  size_t late = 0;
  for (const LogRecord& r : read) {
    const Event& e = written[r.offset];
    const bool is_late = e.ts < max_prev - 20;
    max_prev = std::max(max_prev, e.ts);
    EXPECT_EQ(r.event.user, e.user);
    EXPECT_EQ(r.event.type, e.type);
    EXPECT_EQ(r.event.ts, e.ts);
    EXPECT_EQ(r.partial, !is_late) << "offset " << r.offset;
    const Value want = is_late ? e.props : Keep(e.props, projection->NamesFor(e.type));
    EXPECT_EQ(r.event.props.ToJson(), want.ToJson()) << "offset " << r.offset;
    late += is_late ? 1 : 0;
  }
  EXPECT_GT(late, 400u);  // the restored ts and every 7th record
}

TEST(ProjectedReadTest, ADecodedIntoEventKeepsNothingOfTheRecordBefore) {
  // One Event decoded into again and again (its storage reused) holds the latest record only.
  PropsProjection projection;
  projection.other_types = {"device", "seq"};
  Event out;
  for (uint64_t i = 0; i < 64; ++i) {
    const Event e = MakeEvent(i);
    capnp::MallocMessageBuilder message;
    auto builder = message.initRoot<schema::Record>();
    EncodeRecord(e, builder);
    ASSERT_TRUE(DecodeRecordProjected(builder.asReader(), projection, &out).ok());
    EXPECT_EQ(out.user, e.user);
    EXPECT_EQ(out.type, e.type);
    EXPECT_EQ(out.ts, e.ts);
    EXPECT_EQ(out.props.ToJson(), Keep(e.props, projection.other_types).ToJson());
  }
}

}  // namespace
}  // namespace segflow::log
