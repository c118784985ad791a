// Small building blocks of per-user segment state: saturating time arithmetic and a
// FIFO that costs nothing while empty (std::deque allocates on construction, and a
// job keeps several queues for each of millions of users).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace segflow {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();

inline int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxTime : kNoTime;
  return r;
}

inline int64_t SatSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? kMaxTime : kNoTime;
  return r;
}

// A FIFO over a vector: pop_front advances a head index and compacts lazily.
template <typename T>
class TimeQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& operator[](size_t i) { return items_[head_ + i]; }
  const T& operator[](size_t i) const { return items_[head_ + i]; }
  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }

  void push_back(T v) { items_.push_back(std::move(v)); }
  void pop_back() {
    items_.pop_back();
    if (empty()) clear();
  }
  void pop_front() {
    ++head_;
    if (empty()) {
      clear();
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  // Inserts before position i (0 = front).
  void insert(size_t i, T v) {
    items_.insert(items_.begin() + static_cast<ptrdiff_t>(head_ + i), std::move(v));
  }
  void clear() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 64) items_.shrink_to_fit();
  }

  auto begin() { return items_.begin() + static_cast<ptrdiff_t>(head_); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin() + static_cast<ptrdiff_t>(head_); }
  auto end() const { return items_.end(); }

 private:
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace segflow
