#include "operators/segment/leaf_state.h"

#include <algorithm>
#include <cmath>

namespace segflow {
namespace {

bool Matches(const ProjectedEvent& e, uint32_t matcher) {
  return ProgramPlan::Bit(e.match_bits, matcher);
}

const ProjectedEvent::FieldValue* Field(const ProjectedEvent& e, uint32_t extractor) {
  return extractor < e.fields.size() ? &e.fields[extractor] : nullptr;
}

bool Expired(int64_t ts, int64_t window, int64_t t) { return SatAdd(ts, window) <= t; }

// at_least / at_most on a count (both set: between, inclusive).
bool InBounds(const LeafPlan& p, uint64_t n) {
  if (p.at_least && n < static_cast<uint64_t>(*p.at_least)) return false;
  if (p.at_most && n > static_cast<uint64_t>(*p.at_most)) return false;
  return true;
}

bool MeetsBound(CmpOp op, double x, double v) {
  switch (op) {
    case CmpOp::kGt: return v > x;
    case CmpOp::kGte: return v >= x;
    case CmpOp::kLt: return v < x;
    case CmpOp::kLte: return v <= x;
    case CmpOp::kEq: return v == x;
  }
  return false;
}

bool MeetsBounds(const LeafPlan& p, double v) {
  for (const auto& [op, x] : p.bounds) {
    if (!MeetsBound(op, x, v)) return false;
  }
  return true;
}

// Timestamps ascending, as deltas after the first.
class TimeWriter {
 public:
  explicit TimeWriter(std::string* out) : out_(out) {}
  void Put(int64_t ts) {
    PutSignedVarint(first_ ? ts : static_cast<int64_t>(static_cast<uint64_t>(ts) -
                                                       static_cast<uint64_t>(prev_)), out_);
    first_ = false;
    prev_ = ts;
  }

 private:
  std::string* out_;
  bool first_ = true;
  int64_t prev_ = 0;
};

class TimeReader {
 public:
  explicit TimeReader(ByteReader* in) : in_(in) {}
  // Fails on truncation and on a timestamp below the previous one.
  bool Get(int64_t* ts) {
    int64_t v;
    if (!in_->GetSignedVarint(&v)) return false;
    if (first_) {
      *ts = v;
    } else {
      if (v < 0) return false;
      if (__builtin_add_overflow(prev_, v, ts)) return false;
    }
    first_ = false;
    prev_ = *ts;
    return true;
  }

 private:
  ByteReader* in_;
  bool first_ = true;
  int64_t prev_ = 0;
};

void PutTimedValues(const TimeQueue<std::pair<int64_t, double>>& q, std::string* out) {
  PutVarint(q.size(), out);
  TimeWriter w(out);
  for (const auto& [ts, v] : q) {
    w.Put(ts);
    PutDouble(v, out);
  }
}

bool GetTimedValues(ByteReader* in, TimeQueue<std::pair<int64_t, double>>* q) {
  size_t n;
  if (!in->GetCount(9, &n)) return false;
  TimeReader r(in);
  for (size_t i = 0; i < n; ++i) {
    int64_t ts;
    double v;
    if (!r.Get(&ts) || !in->GetDouble(&v) || !std::isfinite(v)) return false;
    q->push_back({ts, v});
  }
  return true;
}

}  // namespace

// ---- count ----

void CountState::Apply(const LeafPlan& p, int64_t t, InstantEvents events) {
  uint64_t matched = 0;
  for (const ProjectedEvent& e : events) matched += Matches(e, p.matcher) ? 1 : 0;
  if (!p.window_ms) {
    lifetime_ = std::min(p.cap, lifetime_ + matched);
    return;
  }
  for (uint64_t i = 0; i < std::min(matched, p.cap); ++i) ts_.push_back(t);
  while (ts_.size() > p.cap) ts_.pop_front();
  while (!ts_.empty() && Expired(ts_.front(), *p.window_ms, t)) ts_.pop_front();
}

bool CountState::Holds(const LeafPlan& p) const { return InBounds(p, Count(p)); }

int64_t CountState::NextChange(const LeafPlan& p, int64_t /*t*/) const {
  if (!p.window_ms) return kNoTime;
  // The count only falls until the next event: find the first expiry that flips the bound.
  const uint64_t c = ts_.size();
  const uint64_t lo = p.at_least ? static_cast<uint64_t>(*p.at_least) : 0;
  uint64_t k = 0;  // expiries until the truth flips
  if (p.at_most && c > static_cast<uint64_t>(*p.at_most)) {
    k = c - static_cast<uint64_t>(*p.at_most);
  } else if (c >= lo && lo > 0) {
    k = c - lo + 1;
  } else {
    return kNoTime;
  }
  return SatAdd(ts_[k - 1], *p.window_ms);
}

void CountState::Serialize(std::string* out) const {
  PutVarint(lifetime_, out);
  PutVarint(ts_.size(), out);
  TimeWriter w(out);
  for (int64_t ts : ts_) w.Put(ts);
}

bool CountState::Deserialize(const LeafPlan& p, ByteReader* in) {
  size_t n;
  if (!in->GetVarint(&lifetime_) || lifetime_ > p.cap || !in->GetCount(1, &n)) return false;
  if (n > p.cap || (n > 0 && !p.window_ms)) return false;
  TimeReader r(in);
  for (size_t i = 0; i < n; ++i) {
    int64_t ts;
    if (!r.Get(&ts)) return false;
    ts_.push_back(ts);
  }
  return true;
}

// ---- sum / avg ----

void SumState::Apply(const LeafPlan& p, int64_t t, InstantEvents events) {
  for (const ProjectedEvent& e : events) {
    if (!Matches(e, p.matcher)) continue;
    const ProjectedEvent::FieldValue* f = Field(e, p.extractor);
    if (f == nullptr || f->kind != ProjectedEvent::FieldValue::Kind::kNumber) continue;
    if (p.window_ms) {
      Push(t, f->number);
    } else {
      sum_.Add(f->number);
      ++lifetime_n_;
    }
  }
  if (!p.window_ms) return;
  while (!values_.empty() && Expired(values_.front().first, *p.window_ms, t)) PopFront();
}

void SumState::Push(int64_t t, double v) {
  sum_.Add(v);
  values_.push_back({t, v});
  negatives_ += v < 0 ? 1 : 0;
  positives_ += v > 0 ? 1 : 0;
}

void SumState::PopFront() {
  const double v = values_.front().second;
  sum_.Remove(v);
  negatives_ -= v < 0 ? 1 : 0;
  positives_ -= v > 0 ? 1 : 0;
  values_.pop_front();
}

bool SumState::Holds(const LeafPlan& p) const {
  const uint64_t n = p.window_ms ? values_.size() : lifetime_n_;
  double v = sum_.Value();
  if (p.kind == Condition::Kind::kAvg) {
    if (n == 0) return false;
    v /= static_cast<double>(n);
  }
  return MeetsBounds(p, v);
}

int64_t SumState::NextChange(const LeafPlan& p, int64_t /*t*/) const {
  if (!p.window_ms || values_.empty()) return kNoTime;
  if (p.kind == Condition::Kind::kSum && (negatives_ == 0 || positives_ == 0)) {
    // Until the next event the exact sum, and so its rounding, only falls (no negative
    // values) or only rises (no positive ones). A lower bound it fails now (an upper
    // bound, when it rises) then fails until the next event, and so does the condition.
    const bool falls = negatives_ == 0;
    const double v = sum_.Value();
    for (const auto& [op, x] : p.bounds) {
      const bool lower = op == CmpOp::kGt || op == CmpOp::kGte;
      const bool upper = op == CmpOp::kLt || op == CmpOp::kLte;
      if ((falls ? lower : upper) && !MeetsBound(op, x, v)) return kNoTime;
    }
  }
  return SatAdd(values_.front().first, *p.window_ms);
}

double SumState::Sum(const LeafPlan& p, int64_t t) const {
  if (!p.window_ms) return sum_.Value();
  ExactSum in_window;
  for (const auto& [ts, v] : values_) {
    if (!Expired(ts, *p.window_ms, t)) in_window.Add(v);
  }
  return in_window.Value();
}

uint64_t SumState::Size(const LeafPlan& p, int64_t t) const {
  if (!p.window_ms) return lifetime_n_;
  uint64_t n = 0;
  for (const auto& [ts, v] : values_) n += Expired(ts, *p.window_ms, t) ? 0 : 1;
  return n;
}

void SumState::Serialize(std::string* out) const {
  PutVarint(lifetime_n_, out);
  PutTimedValues(values_, out);
  sum_.Serialize(out);
}

bool SumState::Deserialize(const LeafPlan& p, ByteReader* in) {
  if (!in->GetVarint(&lifetime_n_) || !GetTimedValues(in, &values_) || !sum_.Deserialize(in)) {
    return false;
  }
  if (p.window_ms) {
    if (lifetime_n_ != 0) return false;
    // The window's sum is a function of its values: rebuild it rather than trust it.
    sum_.Clear();
    for (const auto& [ts, v] : values_) {
      sum_.Add(v);
      negatives_ += v < 0 ? 1 : 0;
      positives_ += v > 0 ? 1 : 0;
    }
  } else if (!values_.empty()) {
    return false;
  }
  return true;
}

// ---- min / max ----

void ExtremeState::Apply(const LeafPlan& p, int64_t t, InstantEvents events) {
  const bool is_min = p.kind == Condition::Kind::kMin;
  for (const ProjectedEvent& e : events) {
    if (!Matches(e, p.matcher)) continue;
    const ProjectedEvent::FieldValue* f = Field(e, p.extractor);
    if (f == nullptr || f->kind != ProjectedEvent::FieldValue::Kind::kNumber) continue;
    const double v = f->number;
    if (p.window_ms) {
      // An older candidate that is not better than v can never be the extreme again.
      while (!mono_.empty() && (is_min ? mono_.back().second >= v : mono_.back().second <= v)) {
        mono_.pop_back();
      }
      mono_.push_back({t, v});
    } else if (!has_ || (is_min ? v < value_ : v > value_)) {
      has_ = true;
      value_ = v;
    }
  }
  if (!p.window_ms) return;
  while (!mono_.empty() && Expired(mono_.front().first, *p.window_ms, t)) mono_.pop_front();
}

bool ExtremeState::Holds(const LeafPlan& p) const {
  if (p.window_ms) return !mono_.empty() && MeetsBounds(p, mono_.front().second);
  return has_ && MeetsBounds(p, value_);
}

int64_t ExtremeState::NextChange(const LeafPlan& p, int64_t /*t*/) const {
  if (!p.window_ms || mono_.empty()) return kNoTime;
  return SatAdd(mono_.front().first, *p.window_ms);
}

void ExtremeState::Serialize(std::string* out) const {
  out->push_back(has_ ? 1 : 0);
  PutDouble(value_, out);
  PutTimedValues(mono_, out);
}

bool ExtremeState::Deserialize(const LeafPlan& p, ByteReader* in) {
  uint8_t has;
  if (!in->GetByte(&has) || has > 1 || !in->GetDouble(&value_) || !GetTimedValues(in, &mono_)) {
    return false;
  }
  has_ = has == 1;
  if (p.window_ms ? has_ : !mono_.empty()) return false;
  return true;
}

// ---- distinct ----

DistinctState::DistinctState(const DistinctState& o)
    : keys_(o.keys_ ? std::make_unique<Keys>(*o.keys_) : nullptr) {}

DistinctState& DistinctState::operator=(const DistinctState& o) {
  if (this != &o) keys_ = o.keys_ ? std::make_unique<Keys>(*o.keys_) : nullptr;
  return *this;
}

DistinctState::Keys& DistinctState::keys() {
  if (keys_ == nullptr) keys_ = std::make_unique<Keys>();
  return *keys_;
}

void DistinctState::Apply(const LeafPlan& p, int64_t t, InstantEvents events) {
  for (const ProjectedEvent& e : events) {
    if (!Matches(e, p.matcher)) continue;
    const ProjectedEvent::FieldValue* f = Field(e, p.extractor);
    if (f == nullptr || f->kind != ProjectedEvent::FieldValue::Kind::kKey) continue;
    Keys& k = keys();
    if (!p.window_ms) {
      if (k.lifetime.size() < p.cap) k.lifetime.insert(f->key);
      continue;
    }
    auto [it, inserted] = k.latest.try_emplace(f->key, t);
    if (!inserted && it->second == t) continue;  // already seen at this instant
    it->second = t;
    k.order.push_back({t, f->key});
  }
  if (!p.window_ms || keys_ == nullptr) return;
  Keys& k = *keys_;
  while (!k.order.empty() && Expired(k.order.front().first, *p.window_ms, t)) {
    auto it = k.latest.find(k.order.front().second);
    if (it != k.latest.end() && it->second == k.order.front().first) k.latest.erase(it);
    k.order.pop_front();
  }
  DropStaleFront();
}

void DistinctState::DropStaleFront() {
  if (keys_ == nullptr) return;
  Keys& k = *keys_;
  while (!k.order.empty()) {
    auto it = k.latest.find(k.order.front().second);
    if (it != k.latest.end() && it->second == k.order.front().first) return;
    k.order.pop_front();
  }
}

size_t DistinctState::Size(const LeafPlan& p) const {
  if (keys_ == nullptr) return 0;
  return p.window_ms ? keys_->latest.size() : keys_->lifetime.size();
}

bool DistinctState::Holds(const LeafPlan& p) const { return InBounds(p, Size(p)); }

int64_t DistinctState::NextChange(const LeafPlan& p, int64_t /*t*/) const {
  if (!p.window_ms || keys_ == nullptr || keys_->order.empty()) return kNoTime;
  return SatAdd(keys_->order.front().first, *p.window_ms);
}

void DistinctState::Serialize(std::string* out) const {
  static const Keys kNone;
  const Keys& k = keys_ ? *keys_ : kNone;
  PutVarint(k.order.size(), out);
  TimeWriter w(out);
  for (const auto& [ts, key] : k.order) {
    w.Put(ts);
    PutBytes(key, out);
  }
  // Lifetime keys sorted, so equal states serialize equally.
  std::vector<const std::string*> keys;
  keys.reserve(k.lifetime.size());
  for (const std::string& key : k.lifetime) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) { return *a < *b; });
  PutVarint(keys.size(), out);
  for (const std::string* key : keys) PutBytes(*key, out);
}

bool DistinctState::Deserialize(const LeafPlan& p, ByteReader* in) {
  size_t n;
  if (!in->GetCount(2, &n)) return false;
  if (n > 0 && !p.window_ms) return false;
  TimeReader r(in);
  for (size_t i = 0; i < n; ++i) {
    int64_t ts;
    std::string key;
    if (!r.Get(&ts) || !in->GetBytes(&key)) return false;
    Keys& k = keys();
    k.latest[key] = ts;  // ascending: the last occurrence wins
    k.order.push_back({ts, std::move(key)});
  }
  DropStaleFront();
  if (!in->GetCount(1, &n) || n > p.cap || (n > 0 && p.window_ms)) return false;
  for (size_t i = 0; i < n; ++i) {
    std::string key;
    if (!in->GetBytes(&key)) return false;
    keys().lifetime.insert(std::move(key));
  }
  return true;
}

// ---- absence ----

void AbsenceState::Apply(const LeafPlan& p, int64_t t, InstantEvents events) {
  bool after = false;
  bool missing = false;
  for (const ProjectedEvent& e : events) {
    after |= Matches(e, p.after);
    missing |= Matches(e, p.missing);
  }
  // A missing event at t cancels every after event with ts <= t, those at t included.
  if (missing) {
    earliest_after_ = kNoTime;
  } else if (after && earliest_after_ == kNoTime) {
    earliest_after_ = t;
  }
}

bool AbsenceState::Holds(const LeafPlan& p, int64_t t) const {
  return earliest_after_ != kNoTime && SatAdd(earliest_after_, p.within_ms) <= t;
}

int64_t AbsenceState::NextChange(const LeafPlan& p, int64_t t) const {
  if (earliest_after_ == kNoTime) return kNoTime;
  const int64_t deadline = SatAdd(earliest_after_, p.within_ms);
  return deadline > t ? deadline : kNoTime;
}

void AbsenceState::Serialize(std::string* out) const { PutSignedVarint(earliest_after_, out); }

bool AbsenceState::Deserialize(const LeafPlan& /*p*/, ByteReader* in) {
  return in->GetSignedVarint(&earliest_after_);
}

// ---- sequence ----

void SequenceState::Apply(const LeafPlan& p, int64_t t, InstantEvents events) {
  const size_t k = p.steps.size();
  // Descending, so that step j extends chains of step j-1 from before this instant only
  // (steps need strictly increasing timestamps).
  for (size_t j = k; j-- > 0;) {
    bool matched = false;
    for (const ProjectedEvent& e : events) {
      if (Matches(e, p.steps[j])) {
        matched = true;
        break;
      }
    }
    if (!matched) continue;
    const int64_t start = j == 0 ? t : start_[j - 1];
    if (start == kNoTime || SatSub(t, start) > p.within_ms) continue;
    if (j + 1 == k) {
      latest_end_ = t;
    } else {
      start_[j] = std::max(start_[j], start);
    }
  }
  const bool done = latest_end_ != kNoTime && !p.window_ms;  // holds for good
  for (int64_t& s : start_) {
    // A chain that cannot complete after t any more (within would be exceeded).
    if (s != kNoTime && (done || SatSub(t, s) >= p.within_ms)) s = kNoTime;
  }
}

bool SequenceState::Holds(const LeafPlan& p, int64_t t) const {
  if (latest_end_ == kNoTime) return false;
  return !p.window_ms || SatAdd(latest_end_, *p.window_ms) > t;
}

int64_t SequenceState::NextChange(const LeafPlan& p, int64_t t) const {
  if (latest_end_ == kNoTime || !p.window_ms) return kNoTime;
  const int64_t end = SatAdd(latest_end_, *p.window_ms);
  return end > t ? end : kNoTime;
}

void SequenceState::Serialize(std::string* out) const {
  PutSignedVarint(latest_end_, out);
  for (int64_t s : start_) PutSignedVarint(s, out);
}

bool SequenceState::Deserialize(const LeafPlan& p, ByteReader* in) {
  start_.assign(p.steps.empty() ? 0 : p.steps.size() - 1, kNoTime);
  if (!in->GetSignedVarint(&latest_end_)) return false;
  for (int64_t& s : start_) {
    if (!in->GetSignedVarint(&s)) return false;
  }
  return true;
}

// ----

LeafState NewLeafState(const LeafPlan& p) {
  switch (p.kind) {
    case Condition::Kind::kCount:
      return CountState();
    case Condition::Kind::kSum:
    case Condition::Kind::kAvg:
      return SumState();
    case Condition::Kind::kMin:
    case Condition::Kind::kMax:
      return ExtremeState();
    case Condition::Kind::kDistinct:
      return DistinctState();
    case Condition::Kind::kAbsence:
      return AbsenceState();
    case Condition::Kind::kSequence:
      return SequenceState(p);
    case Condition::Kind::kProfile:
      return ProfileLeafState();
    default:
      return std::monostate();
  }
}

}  // namespace segflow
