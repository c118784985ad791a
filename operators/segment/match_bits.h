// MatchBits: the per-event matcher bitset of a ProjectedEvent. Jobs rarely have more than
// 128 matchers, so two words live inline: projecting an event allocates nothing for it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>

namespace segflow {

class MatchBits {
 public:
  MatchBits() = default;
  MatchBits(std::initializer_list<uint64_t> words) { *this = words; }
  MatchBits(const MatchBits& o) { CopyFrom(o); }
  MatchBits& operator=(const MatchBits& o) {
    if (this != &o) CopyFrom(o);
    return *this;
  }
  MatchBits(MatchBits&& o) noexcept { MoveFrom(&o); }
  MatchBits& operator=(MatchBits&& o) noexcept {
    if (this != &o) MoveFrom(&o);
    return *this;
  }
  MatchBits& operator=(std::initializer_list<uint64_t> words) {
    resize(words.size());
    std::copy(words.begin(), words.end(), data());
    return *this;
  }

  // n words, all `value`.
  void assign(size_t n, uint64_t value) {
    resize(n);
    std::fill(data(), data() + n, value);
  }
  // Keeps the first min(n, size()) words; new words are 0.
  void resize(size_t n) {
    if (n > kInline && n > heap_capacity_) {
      auto bigger = std::make_unique<uint64_t[]>(n);
      std::copy(data(), data() + size_, bigger.get());
      heap_ = std::move(bigger);
      heap_capacity_ = n;
    } else if (n <= kInline && heap_ != nullptr) {
      std::copy(heap_.get(), heap_.get() + std::min(n, size_), inline_);
      heap_.reset();
      heap_capacity_ = 0;
    }
    std::fill(data() + std::min(n, size_), data() + n, 0);
    size_ = n;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint64_t* data() { return heap_ ? heap_.get() : inline_; }
  const uint64_t* data() const { return heap_ ? heap_.get() : inline_; }
  uint64_t& operator[](size_t i) { return data()[i]; }
  uint64_t operator[](size_t i) const { return data()[i]; }
  uint64_t* begin() { return data(); }
  uint64_t* end() { return data() + size_; }
  const uint64_t* begin() const { return data(); }
  const uint64_t* end() const { return data() + size_; }

  friend bool operator==(const MatchBits& a, const MatchBits& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  static constexpr size_t kInline = 2;

  void CopyFrom(const MatchBits& o) {
    resize(o.size_);
    std::copy(o.begin(), o.end(), data());
  }
  void MoveFrom(MatchBits* o) {
    heap_ = std::move(o->heap_);
    heap_capacity_ = o->heap_capacity_;
    size_ = o->size_;
    std::copy(o->inline_, o->inline_ + kInline, inline_);
    o->heap_capacity_ = 0;
    o->size_ = 0;
  }

  uint64_t inline_[kInline] = {0, 0};
  std::unique_ptr<uint64_t[]> heap_;
  size_t heap_capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace segflow
