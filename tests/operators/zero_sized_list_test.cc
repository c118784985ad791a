// A Cap'n Proto list of zero-sized structs costs its sender a few bytes for millions of
// elements (found by tests/fuzz: a data frame of 64 bytes made a keyed task allocate
// 1.6 GB). Frame and checkpoint decoders grow only with elements that decode, and
// checkpoint files are read with a traversal limit of twice their size.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/common/owned_message.h"
#include "engine/log/crc32c.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/wire_codec.h"

namespace segflow {
namespace {

constexpr uint32_t kElements = 4u << 20;

// Rewrites the first struct list of one element in a flat message (segment table first)
// into a list of `count` zero-sized elements, as a hostile peer or file could send it.
void MakeZeroSizedList(std::vector<capnp::word>* words, uint32_t count) {
  auto* raw = reinterpret_cast<uint64_t*>(words->data());
  const size_t n = words->size();
  for (size_t i = 1; i < n; ++i) {
    const uint64_t w = raw[i];
    if ((w & 3) != 1 || ((w >> 32) & 7) != 7) continue;  // a list pointer, inline composite
    const int64_t offset = static_cast<int32_t>(static_cast<uint32_t>(w)) >> 2;
    const int64_t tag_at = static_cast<int64_t>(i) + 1 + offset;
    if (tag_at <= 0 || tag_at >= static_cast<int64_t>(n) || ((raw[tag_at] >> 2) & 0x3fffffff) != 1)
      continue;
    raw[i] = w & 0x7ffffffffull;                      // the elements take 0 words
    raw[tag_at] = static_cast<uint64_t>(count) << 2;  // count elements of 0 data words, 0 pointers
    return;
  }
  FAIL() << "no one-element struct list in the message";
}

std::vector<capnp::word> Flat(capnp::MessageBuilder& message) {
  auto array = capnp::messageToFlatArray(message);
  return std::vector<capnp::word>(array.begin(), array.end());
}

long MaxRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

TEST(ZeroSizedListTest, KeyedBatchOfEmptyElementsIsRefusedWithoutAllocatingThem) {
  capnp::MallocMessageBuilder builder;
  KeyedBatch batch;
  batch.records.resize(1);
  batch.records[0].user = "u";
  EncodeKeyedInput(batch, builder.initRoot<wire::DataFrame>());
  std::vector<capnp::word> words = Flat(builder);
  MakeZeroSizedList(&words, kElements);
  ASSERT_LT(words.size() * sizeof(capnp::word), 200u);

  const long before = MaxRssMb();
  OwnedMessage frame(std::move(words));
  KeyedInput decoded;
  Status st = DecodeKeyedInput(frame.Root<wire::DataFrame>(), &decoded);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("keyed record without a user"), std::string::npos) << st.ToString();
  EXPECT_LT(MaxRssMb() - before, 100);  // it was 4M records of ~200 bytes
}

TEST(ZeroSizedListTest, ChangeBatchOfEmptyElementsIsRefused) {
  capnp::MallocMessageBuilder builder;
  ChangeBatch changes;
  changes.changes = {{1, "u", 0, true, 1}};
  EncodeSinkMessage(SinkMessage{0, changes}, builder.initRoot<wire::DataFrame>());
  std::vector<capnp::word> words = Flat(builder);
  MakeZeroSizedList(&words, kElements);

  const long before = MaxRssMb();
  OwnedMessage frame(std::move(words));
  SinkMessage decoded;
  Status st = DecodeSinkMessage(frame.Root<wire::DataFrame>(), &decoded);
  // It decoded as 4M changes of an empty user.
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("membership change without a user"), std::string::npos)
      << st.ToString();
  EXPECT_LT(MaxRssMb() - before, 100);
}

TEST(ZeroSizedListTest, CheckpointFileOfEmptyElementsIsCorrupt) {
  const std::string dir = ::testing::TempDir() + "/segflow-zero-sized-list";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  SourceCheckpointState state;
  state.inputs.push_back(InputCheckpoint{0, 1, 100, false, 0, false, 0});
  ASSERT_TRUE(WriteSourceCheckpoint(dir, 0, state).ok());

  // The file: [magic][CRC32C of the message][message]; the CRC is made to match again.
  const std::string path = SourceCheckpointFile(dir, 0);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<capnp::word> words((bytes.size() - 8) / sizeof(capnp::word));
  std::memcpy(words.data(), bytes.data() + 8, bytes.size() - 8);
  MakeZeroSizedList(&words, kElements);
  const uint32_t crc = log::Crc32c(words.data(), words.size() * sizeof(capnp::word));
  std::memcpy(bytes.data() + 4, &crc, 4);
  std::memcpy(bytes.data() + 8, words.data(), bytes.size() - 8);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  auto read = ReadSourceCheckpoints(dir);  // it read 4M inputs
  ASSERT_FALSE(read.ok()) << read->inputs.size() << " inputs";
  EXPECT_EQ(read.status().code(), Status::Code::kCorruption) << read.status().ToString();
  EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().ToString();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace segflow
