#include "operators/runtime/wire_codec.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace segflow {
namespace {

// Entries reserved ahead of decoding a frame's list; larger lists grow as they decode.
constexpr size_t kReserveLimit = 4096;

}  // namespace

void EncodeKeyedInput(const KeyedInput& in, wire::DataFrame::Builder out) {
  out.setFrom(SourceOf(in));
  if (auto* b = std::get_if<KeyedBatch>(&in)) {
    auto list = out.initKeyedBatch(static_cast<unsigned>(b->records.size()));
    std::string event;
    for (size_t i = 0; i < b->records.size(); ++i) {
      const KeyedRecord& r = b->records[i];
      auto w = list[static_cast<unsigned>(i)];
      w.setPartition(r.partition);
      w.setUserHash(r.user_hash);
      w.setUser(capnp::Text::Reader(r.user.data(), r.user.size()));
      event.clear();
      SegmentProgram::SerializeEvent(r.event, &event);
      w.setEvent(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(event.data()), event.size()));
    }
  } else if (auto* wm = std::get_if<PartitionWatermark>(&in)) {
    auto w = out.initWatermark();
    w.setTopic(wm->topic);
    w.setPartition(wm->partition);
    w.setTime(wm->time);
    w.setIdle(wm->idle);
  } else if (auto* barrier = std::get_if<SourceBarrier>(&in)) {
    out.setBarrier(barrier->id);
  } else {
    const auto& e = std::get<SourceEnd>(in);
    auto w = out.initSourceEnd();
    w.setHasMaxTs(e.has_max_ts);
    w.setMaxTs(e.max_ts);
    w.setFinish(e.finish);
    w.setHasUntil(e.has_until);
    w.setUntil(e.until);
  }
}

Status DecodeKeyedInput(wire::DataFrame::Reader in, KeyedInput* out) {
  const uint32_t from = in.getFrom();
  switch (in.which()) {
    case wire::DataFrame::KEYED_BATCH: {
      KeyedBatch batch;
      batch.source = from;
      auto list = in.getKeyedBatch();
      // Grown record by record: a list of zero-sized elements costs the sender a few bytes
      // for millions of entries, while a record that decodes (a user and an event) costs
      // it words of its own.
      batch.records.reserve(std::min<size_t>(list.size(), kReserveLimit));
      for (unsigned i = 0; i < list.size(); ++i) {
        auto w = list[i];
        KeyedRecord r;
        r.partition = w.getPartition();
        r.user_hash = w.getUserHash();
        r.user = w.getUser().cStr();
        if (r.user.empty()) return Status::Corruption("data frame: keyed record without a user");
        auto data = w.getEvent();
        std::string_view view(reinterpret_cast<const char*>(data.begin()), data.size());
        SEGFLOW_RETURN_IF_ERROR(SegmentProgram::DeserializeEvent(&view, &r.event));
        batch.records.push_back(std::move(r));
      }
      *out = std::move(batch);
      return Status::OK();
    }
    case wire::DataFrame::WATERMARK: {
      auto w = in.getWatermark();
      *out = PartitionWatermark{w.getTopic(), w.getPartition(), w.getTime(), w.getIdle(), from};
      return Status::OK();
    }
    case wire::DataFrame::SOURCE_END: {
      auto w = in.getSourceEnd();
      SourceEnd e;
      e.source = from;
      e.has_max_ts = w.getHasMaxTs();
      e.max_ts = w.getMaxTs();
      e.finish = w.getFinish();
      e.has_until = w.getHasUntil();
      e.until = w.getUntil();
      *out = e;
      return Status::OK();
    }
    case wire::DataFrame::BARRIER:
      *out = SourceBarrier{from, in.getBarrier()};
      return Status::OK();
    default:
      return Status::Corruption("data frame for a keyed task carries a sink message");
  }
}

void EncodeSinkMessage(const SinkMessage& in, wire::DataFrame::Builder out) {
  out.setFrom(in.from);
  if (auto* b = std::get_if<ChangeBatch>(&in.body)) {
    auto g = out.initChangeBatch();
    g.setPartition(b->partition);
    g.setSwitched(b->switched);
    auto list = g.initChanges(static_cast<unsigned>(b->changes.size()));
    for (size_t i = 0; i < b->changes.size(); ++i) {
      const ChangeRecord& c = b->changes[i];
      auto w = list[static_cast<unsigned>(i)];
      w.setAt(c.at);
      w.setUser(capnp::Text::Reader(c.user.data(), c.user.size()));
      w.setSegment(c.segment);
      w.setEntered(c.entered);
      w.setPos(c.pos);
    }
  } else if (auto* p = std::get_if<PartitionProgress>(&in.body)) {
    auto g = out.initProgress();
    g.setPartition(p->partition);
    g.setFrontier(p->frontier);
    g.setIdle(p->idle);
  } else if (auto* barrier = std::get_if<KeyedBarrier>(&in.body)) {
    out.setBarrier(barrier->id);
  } else {
    const auto& e = std::get<KeyedEnd>(in.body);
    auto g = out.initKeyedEnd();
    g.setFinished(e.finished);
    g.setEvaluatedThrough(e.evaluated_through);
  }
}

Status DecodeSinkMessage(wire::DataFrame::Reader in, SinkMessage* out) {
  out->from = in.getFrom();
  switch (in.which()) {
    case wire::DataFrame::CHANGE_BATCH: {
      auto g = in.getChangeBatch();
      ChangeBatch batch;
      batch.partition = g.getPartition();
      batch.switched = g.getSwitched();
      auto list = g.getChanges();
      batch.changes.reserve(std::min<size_t>(list.size(), kReserveLimit));  // as for keyed batches
      for (unsigned i = 0; i < list.size(); ++i) {
        auto w = list[i];
        if (!w.hasUser() || w.getUser().size() == 0) {
          return Status::Corruption("data frame: membership change without a user");
        }
        batch.changes.push_back(ChangeRecord{w.getAt(), w.getUser().cStr(), w.getSegment(),
                                             w.getEntered(), w.getPos()});
      }
      out->body = std::move(batch);
      return Status::OK();
    }
    case wire::DataFrame::PROGRESS: {
      auto g = in.getProgress();
      out->body = PartitionProgress{g.getPartition(), g.getFrontier(), g.getIdle()};
      return Status::OK();
    }
    case wire::DataFrame::KEYED_END: {
      auto g = in.getKeyedEnd();
      out->body = KeyedEnd{g.getFinished(), g.getEvaluatedThrough()};
      return Status::OK();
    }
    case wire::DataFrame::BARRIER:
      out->body = KeyedBarrier{in.getBarrier()};
      return Status::OK();
    default:
      return Status::Corruption("data frame for the sink carries a keyed-task message");
  }
}

}  // namespace segflow
