#include "operators/runtime/sink_version_switch.h"

#include <algorithm>
#include <utility>
#include <variant>

namespace segflow {

void SinkVersionSwitch::Start(VersionSwitch plan, bool pending, ChangelogRelease* changelog) {
  plan_ = std::move(plan);
  pending_ = pending;
  changelog->Hold(pending_);
}

void SinkVersionSwitch::OnMessage(const SinkMessage& msg, ChangelogRelease* changelog) {
  if (!pending_) return;
  auto* b = std::get_if<ChangeBatch>(&msg.body);
  if (!(b != nullptr && b->switched) && msg.from < reported_.size()) reported_[msg.from] = true;
  if (!std::all_of(reported_.begin(), reported_.end(), [](bool r) { return r; })) return;
  const uint32_t partitions = changelog->merger().partitions();
  std::vector<std::vector<ChangeRecord>> records(partitions);
  plan_.Finish(&records);
  for (uint32_t p = 0; p < partitions; ++p) {
    if (!records[p].empty()) changelog->merger().Add(p, std::move(records[p]));
  }
  changelog->TouchAll();
  pending_ = false;
  changelog->Hold(false);
}

Status SinkVersionSwitch::Add(const ChangeBatch& batch, uint32_t partitions) {
  // Before any change of this attempt (every keyed task sends them first): the switch
  // records at the switch instant are made of them once all are in.
  if (batch.partition >= partitions) {
    return Status::Corruption("version switch for an unknown partition");
  }
  if (!pending_) return Status::Corruption("version switch without a merged savepoint");
  for (const auto& c : batch.changes) plan_.Add(batch.partition, c);
  return Status::OK();
}

}  // namespace segflow
