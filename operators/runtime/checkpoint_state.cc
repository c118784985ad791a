#include "operators/runtime/checkpoint_state.h"

#include <algorithm>
#include <filesystem>

#include "engine/schema/checkpoint.capnp.h"
#include "engine/state/message_file.h"

namespace segflow {
namespace {

Status CheckVersion(uint32_t version, const std::string& path) {
  if (version == schema::CHECKPOINT_FORMAT_VERSION) return Status::OK();
  return Status::Corruption(path + ": checkpoint format " + std::to_string(version) + ", this build reads " +
                            std::to_string(schema::CHECKPOINT_FORMAT_VERSION));
}

// Runs `fn` over a file's root, turning a decode failure into Corruption naming it.
template <typename Root, typename Fn>
Status ReadRoot(const std::string& path, Fn fn) {
  // Each object is read once: twice the file's words bound the traversal, so a list of
  // zero-sized elements cannot stand for millions of entries.
  auto file = MessageFile::Read(path, 0);
  if (!file.ok()) return file.status();
  try {
    auto root = (*file)->Root<Root>();
    SEGFLOW_RETURN_IF_ERROR(CheckVersion(root.getFormatVersion(), path));
    return fn(root);
  } catch (const kj::Exception& e) {
    return Status::Corruption("corrupt checkpoint file " + path + ": " + e.getDescription().cStr());
  }
}

std::vector<std::string> FilesWithPrefix(const std::string& dir, const std::string& prefix, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 && name.find(".tmp") == std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string SourceCheckpointFile(const std::string& dir, uint32_t source) {
  return dir + "/source-" + std::to_string(source);
}
std::string KeyedCheckpointFile(const std::string& dir, uint32_t keyed) {
  return dir + "/keyed-" + std::to_string(keyed) + ".meta";
}
std::string KeyedSnapshotDir(const std::string& dir, uint32_t keyed) { return dir + "/keyed-" + std::to_string(keyed); }
std::string SinkCheckpointFile(const std::string& dir) { return dir + "/sink"; }

Status WriteSourceCheckpoint(const std::string& dir, uint32_t source, const SourceCheckpointState& state) {
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<schema::SourceCheckpoint>();
  root.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
  root.setSource(source);
  auto inputs = root.initInputs(static_cast<unsigned>(state.inputs.size()));
  for (unsigned i = 0; i < state.inputs.size(); ++i) {
    const auto& in = state.inputs[i];
    inputs[i].setTopic(in.topic);
    inputs[i].setPartition(in.partition);
    inputs[i].setOffset(in.offset);
    inputs[i].setHasMaxPrev(in.has_max_prev);
    inputs[i].setMaxPrev(in.max_prev);
    inputs[i].setHasEndOffset(in.has_end_offset);
    inputs[i].setEndOffset(in.end_offset);
  }
  auto late = root.initLate(static_cast<unsigned>(state.late_offsets.size()));
  unsigned i = 0;
  for (const auto& [p, o] : state.late_offsets) {
    late[i].setPartition(p);
    late[i++].setOffset(o);
  }
  auto rejected = root.initRejected(static_cast<unsigned>(state.rejected_offsets.size()));
  i = 0;
  for (const auto& [p, o] : state.rejected_offsets) {
    rejected[i].setPartition(p);
    rejected[i++].setOffset(o);
  }
  return WriteMessageFile(SourceCheckpointFile(dir, source), msg);
}

Result<SourceCheckpointState> ReadSourceCheckpoints(const std::string& dir) {
  SourceCheckpointState merged;
  const auto files = FilesWithPrefix(dir, "source-", "");
  if (files.empty()) return Status::NotFound("checkpoint " + dir + " has no source files");
  for (const auto& path : files) {
    SEGFLOW_RETURN_IF_ERROR(ReadRoot<schema::SourceCheckpoint>(path, [&](schema::SourceCheckpoint::Reader r) {
      for (auto in : r.getInputs()) {
        merged.inputs.push_back({in.getTopic(), in.getPartition(), in.getOffset(), in.getHasMaxPrev(), in.getMaxPrev(),
                                 in.getHasEndOffset(), in.getEndOffset()});
      }
      for (auto l : r.getLate()) merged.late_offsets[l.getPartition()] = l.getOffset();
      for (auto l : r.getRejected()) merged.rejected_offsets[l.getPartition()] = l.getOffset();
      return Status::OK();
    }));
  }
  return merged;
}

Status WriteKeyedCheckpoint(const std::string& dir, uint32_t keyed, KeyGroupRange range,
                            const std::vector<PartitionCheckpoint>& partitions) {
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<schema::KeyedCheckpoint>();
  root.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
  root.setKeyed(keyed);
  root.setKeyGroupFirst(range.first);
  root.setKeyGroupLast(range.last);
  auto list = root.initPartitions(static_cast<unsigned>(partitions.size()));
  for (unsigned i = 0; i < partitions.size(); ++i) {
    const auto& p = partitions[i];
    auto w = list[i];
    w.setPartition(p.partition);
    auto tw = w.initTopicWatermarks(static_cast<unsigned>(p.topic_watermarks.size()));
    for (unsigned t = 0; t < p.topic_watermarks.size(); ++t) tw.set(t, p.topic_watermarks[t]);
    auto ti = w.initTopicIdle(static_cast<unsigned>(p.topic_idle.size()));
    for (unsigned t = 0; t < p.topic_idle.size(); ++t) ti.set(t, p.topic_idle[t]);
    w.setWatermark(p.watermark);
    w.setIdle(p.idle);
  }
  return WriteMessageFile(KeyedCheckpointFile(dir, keyed), msg);
}

Result<std::vector<PartitionCheckpoint>> ReadKeyedProgress(const std::string& dir) {
  const auto files = FilesWithPrefix(dir, "keyed-", ".meta");
  if (files.empty()) return Status::NotFound("checkpoint " + dir + " has no keyed-task files");
  std::vector<PartitionCheckpoint> out;
  SEGFLOW_RETURN_IF_ERROR(ReadRoot<schema::KeyedCheckpoint>(files.front(), [&](schema::KeyedCheckpoint::Reader r) {
    for (auto p : r.getPartitions()) {
      PartitionCheckpoint pc;
      pc.partition = p.getPartition();
      for (auto w : p.getTopicWatermarks()) pc.topic_watermarks.push_back(w);
      for (auto b : p.getTopicIdle()) pc.topic_idle.push_back(b);
      pc.watermark = p.getWatermark();
      pc.idle = p.getIdle();
      out.push_back(std::move(pc));
    }
    return Status::OK();
  }));
  return out;
}

Result<std::vector<std::string>> KeyedSnapshotDirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& meta : FilesWithPrefix(dir, "keyed-", ".meta")) {
    SEGFLOW_RETURN_IF_ERROR(ReadRoot<schema::KeyedCheckpoint>(meta, [&](schema::KeyedCheckpoint::Reader r) {
      out.push_back(KeyedSnapshotDir(dir, r.getKeyed()));
      return Status::OK();
    }));
  }
  if (out.empty()) return Status::NotFound("checkpoint " + dir + " has no keyed-task files");
  return out;
}

Status WriteSinkCheckpoint(const std::string& dir, const SinkCheckpointState& state) {
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<schema::SinkCheckpoint>();
  root.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
  auto offsets = root.initOffsets(static_cast<unsigned>(state.offsets.size()));
  for (unsigned i = 0; i < state.offsets.size(); ++i) offsets.set(i, state.offsets[i]);
  auto frontiers = root.initFrontiers(static_cast<unsigned>(state.frontiers.size()));
  for (unsigned i = 0; i < state.frontiers.size(); ++i) frontiers.set(i, state.frontiers[i]);
  auto idle = root.initIdle(static_cast<unsigned>(state.idle.size()));
  for (unsigned i = 0; i < state.idle.size(); ++i) idle.set(i, state.idle[i]);
  root.setHasEvaluated(state.has_evaluated);
  root.setEvaluated(state.evaluated);
  root.setEntered(state.entered);
  root.setExited(state.exited);
  auto pending = root.initPending(static_cast<unsigned>(state.pending.size()));
  for (unsigned i = 0; i < state.pending.size(); ++i) {
    const auto& c = state.pending[i];
    pending[i].setPartition(c.partition);
    pending[i].setSegment(c.segment);
    pending[i].setUser(c.user);
    pending[i].setEntered(c.entered);
    pending[i].setAt(c.at);
    pending[i].setPos(c.pos);
  }
  return WriteMessageFile(SinkCheckpointFile(dir), msg);
}

Result<SinkCheckpointState> ReadSinkCheckpoint(const std::string& dir) {
  SinkCheckpointState s;
  SEGFLOW_RETURN_IF_ERROR(ReadRoot<schema::SinkCheckpoint>(SinkCheckpointFile(dir), [&](schema::SinkCheckpoint::Reader r) {
    for (auto o : r.getOffsets()) s.offsets.push_back(o);
    for (auto f : r.getFrontiers()) s.frontiers.push_back(f);
    for (auto b : r.getIdle()) s.idle.push_back(b);
    s.has_evaluated = r.getHasEvaluated();
    s.evaluated = r.getEvaluated();
    s.entered = r.getEntered();
    s.exited = r.getExited();
    for (auto c : r.getPending()) {
      s.pending.push_back({c.getPartition(), c.getSegment().cStr(), c.getUser().cStr(),
                           c.getEntered(), c.getAt(), c.getPos()});
    }
    return Status::OK();
  }));
  return s;
}

}  // namespace segflow

namespace segflow {

Result<std::string> ReadCheckpointJobText(const std::string& dir) {
  const std::string path = dir + "/_metadata";
  std::string text;
  SEGFLOW_RETURN_IF_ERROR(ReadRoot<schema::CheckpointMetadata>(path, [&](schema::CheckpointMetadata::Reader r) {
    text = r.getJobText().cStr();
    return Status::OK();
  }));
  return text;
}

}  // namespace segflow
