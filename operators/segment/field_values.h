// FieldValues: a ProjectedEvent's extracted field values, one per extractor. Jobs rarely
// read more than one field per event, so one value lives inline: projecting an event
// allocates nothing for it (the source task allocates, the keyed task frees, and such
// cross-thread malloc/free pairs are the allocator's slow path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace segflow {

// A numeric field value (aggregates) or a distinct key (distinct).
struct FieldValue {
  enum class Kind : uint8_t { kMissing, kNumber, kKey } kind = Kind::kMissing;
  double number = 0;
  std::string key;  // canonical encoding: 1 and 1.0 share one key, "1" another
};

class FieldValues {
 public:
  FieldValues() = default;
  FieldValues(const FieldValues&) = default;
  FieldValues& operator=(const FieldValues&) = default;
  // A moved-from FieldValues is empty.
  FieldValues(FieldValues&& o) noexcept
      : inline_(std::move(o.inline_)), heap_(std::move(o.heap_)), size_(std::exchange(o.size_, 0)) {
    o.heap_.clear();
  }
  FieldValues& operator=(FieldValues&& o) noexcept {
    if (this != &o) {
      inline_ = std::move(o.inline_);
      heap_ = std::move(o.heap_);
      size_ = std::exchange(o.size_, 0);
      o.heap_.clear();
    }
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Values are contiguous: inline while there is at most one, else all in heap_.
  FieldValue* data() { return heap_.empty() ? &inline_ : heap_.data(); }
  const FieldValue* data() const { return heap_.empty() ? &inline_ : heap_.data(); }
  FieldValue& operator[](size_t i) { return data()[i]; }
  const FieldValue& operator[](size_t i) const { return data()[i]; }
  FieldValue& back() { return data()[size_ - 1]; }
  const FieldValue& back() const { return data()[size_ - 1]; }
  FieldValue* begin() { return data(); }
  FieldValue* end() { return data() + size_; }
  const FieldValue* begin() const { return data(); }
  const FieldValue* end() const { return data() + size_; }

  // Keeps the first min(n, size()) values; new ones are missing.
  void resize(size_t n) {
    if (!heap_.empty() || n > 1) {
      if (heap_.empty()) {
        heap_.reserve(n);
        if (size_ == 1) heap_.push_back(std::move(inline_));
        inline_ = FieldValue();
      }
      heap_.resize(n);
    } else if (n == 0 || size_ == 0) {
      inline_ = FieldValue();
    }
    size_ = n;
  }
  void clear() { resize(0); }
  void pop_back() { resize(size_ - 1); }

 private:
  FieldValue inline_;
  std::vector<FieldValue> heap_;  // every value, when there are more than one
  size_t size_ = 0;
};

}  // namespace segflow
