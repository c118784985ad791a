// KeyedSinkOutput: what a keyed task sends the changelog sink — its changes per partition
// (in (at, user) order), a version switch's changes (first of all), partition progress,
// barriers and its end — counting the changes it sends.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/status.h"
#include "engine/runtime/channel.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/restore_migration.h"
#include "operators/runtime/task_counters.h"
#include "operators/segment/keyed_evaluator.h"

namespace segflow {

class KeyedSinkOutput {
 public:
  KeyedSinkOutput(uint32_t task, BoundedChannel<SinkMessage>* output, TaskCounters* counters)
      : task_(task), output_(output), counters_(counters) {}

  // Sends (and clears) `changes`, all of partition `p`; nothing when empty.
  Status SendChanges(uint32_t p, std::vector<KeyedChange>* changes);
  // A version switch's changes, by partition (ChangeBatch::switched); clears `switched`.
  Status SendSwitch(std::vector<std::vector<SwitchChange>>* switched);
  Status Send(SinkInput body) {
    return counters_->Push(output_, SinkMessage{task_, std::move(body)});
  }

 private:
  const uint32_t task_;
  BoundedChannel<SinkMessage>* output_;
  TaskCounters* counters_;
};

}  // namespace segflow
