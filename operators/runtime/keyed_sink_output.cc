#include "operators/runtime/keyed_sink_output.h"

#include <utility>

namespace segflow {

Status KeyedSinkOutput::SendChanges(uint32_t p, std::vector<KeyedChange>* changes) {
  if (changes->empty()) return Status::OK();
  ChangeBatch batch;
  batch.partition = p;
  batch.changes.reserve(changes->size());
  for (auto& c : *changes) {
    batch.changes.push_back(
        {c.change.at, std::move(c.user), c.change.segment, c.change.entered, c.change.pos});
  }
  changes->clear();
  counters_->records_out.fetch_add(batch.changes.size(), std::memory_order_relaxed);
  return Send(SinkInput(std::move(batch)));
}

Status KeyedSinkOutput::SendSwitch(std::vector<std::vector<SwitchChange>>* switched) {
  for (uint32_t p = 0; p < switched->size(); ++p) {
    if ((*switched)[p].empty()) continue;
    ChangeBatch batch;
    batch.partition = p;
    batch.switched = true;
    for (auto& c : (*switched)[p]) {
      batch.changes.push_back(
          {c.change.at, std::move(c.user), c.change.segment, c.change.entered, c.change.pos});
    }
    counters_->records_out.fetch_add(batch.changes.size(), std::memory_order_relaxed);
    SEGFLOW_RETURN_IF_ERROR(Send(SinkInput(std::move(batch))));
  }
  switched->clear();
  return Status::OK();
}

}  // namespace segflow
