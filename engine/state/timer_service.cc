#include "engine/state/timer_service.h"

#include <algorithm>
#include <utility>

#include "engine/state/state_key.h"

namespace segflow {

void TimerService::EncodeKey(uint32_t partition, int64_t time, uint32_t key_group,
                             std::string_view user, std::string* out) {
  out->clear();
  AppendBigEndian32(partition, out);
  AppendBigEndian64(FlipSign(time), out);
  AppendBigEndian16(key_group, out);
  out->append(user);
}

bool TimerService::DecodeKey(std::string_view key, uint32_t* partition, Timer* timer) {
  if (key.size() < kKeyGroupOffset + kKeyGroupBytes) return false;
  *partition = static_cast<uint32_t>(ReadBigEndian(key.substr(0, 4)));
  timer->time = UnflipSign(ReadBigEndian(key.substr(4, 8)));
  timer->key_group = static_cast<uint32_t>(ReadBigEndian(key.substr(kKeyGroupOffset, kKeyGroupBytes)));
  timer->user.assign(key.substr(kKeyGroupOffset + kKeyGroupBytes));
  return true;
}

Result<std::unique_ptr<TimerService>> TimerService::Open(KeyedStateBackend* backend,
                                                         std::string_view state_name) {
  auto state = backend->RegisterState(state_name, StateLayout{kKeyGroupOffset});
  if (!state.ok()) return state.status();
  std::unique_ptr<TimerService> t(new TimerService(backend, *state));
  SEGFLOW_RETURN_IF_ERROR(backend->ForEachRaw(*state, [&](std::string_view key, std::string_view) {
    uint32_t partition = 0;
    Timer timer;
    if (!DecodeKey(key, &partition, &timer)) return Status::Corruption("bad timer key");
    if (t->queues_[partition].insert(std::move(timer)).second) ++t->size_;
    return Status::OK();
  }));
  backend->AddFlushable(t.get());
  return t;
}

TimerService::~TimerService() { backend_->RemoveFlushable(this); }

void TimerService::NoteAdded(const std::string& key) {
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    pending_.emplace(key, Pending::kPutNew);
  } else {
    pending_.erase(it);  // was persisted, then removed: memory matches the state again
  }
}

void TimerService::NoteRemoved(const std::string& key) {
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    pending_.emplace(key, Pending::kDelete);
  } else {
    pending_.erase(it);  // never persisted
  }
}

Status TimerService::Register(uint32_t partition, int64_t time, uint32_t key_group,
                              std::string_view user) {
  SEGFLOW_RETURN_IF_ERROR(backend_->CheckKeyGroup(key_group));
  Queue& q = queues_[partition];
  if (!q.insert(Timer{time, key_group, std::string(user)}).second) return Status::OK();
  ++size_;
  EncodeKey(partition, time, key_group, user, &key_);
  NoteAdded(key_);
  return Status::OK();
}

bool TimerService::Cancel(uint32_t partition, int64_t time, uint32_t key_group, std::string_view user) {
  auto q = queues_.find(partition);
  if (q == queues_.end()) return false;
  auto it = q->second.find(Timer{time, key_group, std::string(user)});
  if (it == q->second.end()) return false;
  q->second.erase(it);
  --size_;
  EncodeKey(partition, time, key_group, user, &key_);
  NoteRemoved(key_);
  return true;
}

void TimerService::PopDue(uint32_t partition, int64_t watermark, std::vector<Timer>* out) {
  auto q = queues_.find(partition);
  if (q == queues_.end()) return;
  Queue& queue = q->second;
  // Bounded by the queue's size.
  while (!queue.empty() && queue.begin()->time < watermark) {
    auto node = queue.extract(queue.begin());
    --size_;
    EncodeKey(partition, node.value().time, node.value().key_group, node.value().user, &key_);
    NoteRemoved(key_);
    out->push_back(std::move(node.value()));
  }
}

std::optional<int64_t> TimerService::NextTime(uint32_t partition) const {
  auto q = queues_.find(partition);
  if (q == queues_.end() || q->second.empty()) return std::nullopt;
  return q->second.begin()->time;
}

size_t TimerService::size(uint32_t partition) const {
  auto q = queues_.find(partition);
  return q == queues_.end() ? 0 : q->second.size();
}

std::vector<uint32_t> TimerService::partitions() const {
  std::vector<uint32_t> out;
  for (const auto& [p, q] : queues_) {
    if (!q.empty()) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status TimerService::Flush() {
  if (pending_.empty()) return Status::OK();
  StateWriteBatch batch(backend_);
  for (const auto& [key, op] : pending_) {
    if (op == Pending::kPutNew) {
      batch.PutRaw(state_, key, std::string_view());
    } else {
      batch.DeleteRaw(state_, key);
    }
  }
  SEGFLOW_RETURN_IF_ERROR(backend_->Write(&batch));
  pending_.clear();
  return Status::OK();
}

}  // namespace segflow
