// SinkVersionSwitch: a version upgrade's handover at the sink (version_switch.h). While it
// is pending nothing is released: every keyed task sends its switch changes first, and
// once each has sent something else, the switch records are made and the release resumes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/changelog_release.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/version_switch.h"

namespace segflow {

class SinkVersionSwitch {
 public:
  explicit SinkVersionSwitch(uint32_t keyed_tasks) : reported_(keyed_tasks, false) {}

  // The restored plan; `pending`: a merged savepoint's switch is still to be made.
  void Start(VersionSwitch plan, bool pending, ChangelogRelease* changelog);
  bool pending() const { return pending_; }
  // Every message while pending: once each keyed task has sent one that is not a switch
  // batch, the switch records go to the changelog's merge and the release resumes.
  void OnMessage(const SinkMessage& msg, ChangelogRelease* changelog);
  // A keyed task's switch changes (ChangeBatch::switched).
  Status Add(const ChangeBatch& batch, uint32_t partitions);

 private:
  VersionSwitch plan_;
  bool pending_ = false;
  std::vector<bool> reported_;
};

}  // namespace segflow
