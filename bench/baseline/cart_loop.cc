// Baseline for the capacity bench (issue #7): the cart scenario's `cart_abandoned`
// audience computed by one hand-written single-threaded loop, in memory.
//
//   cart_loop EVENTS.jsonl [--out FILE]
//
// The segment is jobs/cart.yaml's: absence of a purchase 30m after an add_to_cart,
// membership duration 24h, exit on purchase, consent from `consent.granted` (default
// granted). Prints the members as of the largest ts, sorted, one a line (what `segflow
// audience --segment cart_abandoned` prints after a bounded run), and the time on stderr.
//
// It runs the spec's membership machine (segment-language.md §6) per user, at every
// instant where something can change: the user's event times, add_to_cart + 30m, since +
// 24h. Its input contract: every line a valid event (no --malformed-fraction) and no
// record late by more than 5 s (the job's max_out_of_orderness) behind the lines before
// it; anything else is refused (exit 1), since the engine would treat it differently.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/value/time_format.h"

namespace {

constexpr int64_t kWithinMs = 30 * 60'000;         // absence.within
constexpr int64_t kDurationMs = 24 * 3'600'000;    // membership.duration
constexpr int64_t kMaxOutOfOrdernessMs = 5'000;    // source.max_out_of_orderness
constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
constexpr int64_t kEndless = std::numeric_limits<int64_t>::max();

enum Kind : uint8_t { kAddToCart, kPurchase, kConsentGranted, kConsentDenied };

// One event that matters to the segment; file order is kept by a stable sort.
struct Ev {
  uint32_t user;
  Kind kind;
  int64_t ts;
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "cart_loop: %s\n", message.c_str());
  std::exit(1);
}

// Whether the user is a member of cart_abandoned as of `end`, from their events sorted
// by (ts, file order): the §6 machine with c(t) = absence(t) and consent(t).
bool MemberAtEnd(const Ev* ev, size_t n, int64_t end) {
  std::vector<int64_t> adds;  // add_to_cart times in order: each ripens at ts + within
  for (size_t i = 0; i < n; ++i) {
    if (ev[i].kind == kAddToCart) adds.push_back(ev[i].ts);
  }
  bool member = false, armed = true, consent = true;
  int64_t since = 0, last_purchase = kNever, last_ripe = kNever;
  size_t next_event = 0, next_add = 0;
  for (;;) {
    int64_t t = kEndless;
    if (next_event < n) t = ev[next_event].ts;
    if (next_add < adds.size()) t = std::min(t, adds[next_add] + kWithinMs);
    if (member) t = std::min(t, since + kDurationMs);
    if (t == kEndless || t > end) break;
    bool exit_event = false;
    for (; next_event < n && ev[next_event].ts == t; ++next_event) {
      switch (ev[next_event].kind) {
        case kPurchase:
          last_purchase = t;
          exit_event = true;
          break;
        case kConsentGranted:
          consent = true;
          break;
        case kConsentDenied:
          consent = false;
          break;
        case kAddToCart:
          break;
      }
    }
    for (; next_add < adds.size() && adds[next_add] + kWithinMs <= t; ++next_add) {
      last_ripe = adds[next_add];
    }
    // An add_to_cart `a` counts when a.ts + within <= t and no purchase in [a.ts, t].
    const bool c = consent && last_ripe != kNever && last_ripe > last_purchase;
    if (member) {
      if (!c || t >= since + kDurationMs || exit_event) {
        member = false;
        armed = !c;
      }
    } else if (!c) {
      armed = true;
    } else if (armed) {
      if (exit_event) {
        armed = false;  // would enter and exit at t: no record, stays out
      } else {
        member = true;
        since = t;
      }
    }
  }
  return member;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--out") == 0)) {
    std::fprintf(stderr, "usage: cart_loop EVENTS.jsonl [--out FILE]\n");
    return 2;
  }
  const auto began = std::chrono::steady_clock::now();
  simdjson::padded_string json;
  if (auto error = simdjson::padded_string::load(argv[1]).get(json)) {
    Fail(std::string(argv[1]) + ": " + simdjson::error_message(error));
  }

  std::unordered_map<std::string, uint32_t> user_index;
  std::vector<std::string> users;
  std::vector<Ev> events;
  int64_t end = kNever;
  uint64_t lines = 0;
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document_stream stream;
  if (auto error = parser.iterate_many(json, 1 << 20).get(stream)) {
    Fail(simdjson::error_message(error));
  }
  std::string user;
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    ++lines;
    auto bad = [&](const char* what) {
      Fail("line " + std::to_string(lines) + ": " + what + " (the loop takes valid events only)");
    };
    simdjson::ondemand::document_reference doc;
    simdjson::ondemand::object object;
    if ((*it).get(doc) || doc.get_object().get(object)) bad("not an object");
    std::string_view type;
    int64_t ts = kNever;
    bool has_user = false;
    int granted = -1;  // consent.granted: -1 when missing or not a boolean
    for (auto field : object) {
      std::string_view key;
      if (field.unescaped_key().get(key)) bad("bad key");
      simdjson::ondemand::value value = field.value();
      if (key == "user_id") {
        std::string_view s;
        int64_t i;
        if (value.get_string().get(s) == simdjson::SUCCESS) {
          user.assign(s);
        } else if (value.get_int64().get(i) == simdjson::SUCCESS) {
          user = std::to_string(i);
        } else {
          bad("user_id neither string nor integer");
        }
        has_user = true;
      } else if (key == "event") {
        if (value.get_string().get(type)) bad("event not a string");
        // `type` points into the parser's buffer, valid until the next document.
      } else if (key == "ts") {
        std::string_view s;
        if (value.get_int64().get(ts) != simdjson::SUCCESS) {
          if (value.get_string().get(s)) bad("ts neither integer nor string");
          auto parsed = segflow::ParseRfc3339Millis(s);
          if (!parsed.ok()) bad("bad RFC 3339 ts");
          ts = *parsed;
        }
      } else if (key == "granted") {
        bool b;
        if (value.get_bool().get(b) == simdjson::SUCCESS) granted = b ? 1 : 0;
      }
    }
    if (!has_user || ts == kNever || type.empty()) bad("missing user_id, event or ts");
    if (end != kNever && ts < end - kMaxOutOfOrdernessMs) bad("late event");
    end = std::max(end, ts);
    Kind kind;
    if (type == "add_to_cart") {
      kind = kAddToCart;
    } else if (type == "purchase") {
      kind = kPurchase;
    } else if (type == "consent" && granted >= 0) {
      kind = granted ? kConsentGranted : kConsentDenied;
    } else {
      continue;  // only these events bear on the segment
    }
    auto [slot, added] = user_index.try_emplace(user, static_cast<uint32_t>(users.size()));
    if (added) users.push_back(user);
    events.push_back(Ev{slot->second, kind, ts});
  }
  if (stream.truncated_bytes() != 0) Fail("the last line is incomplete");
  const auto parsed_at = std::chrono::steady_clock::now();

  // Group by user (counting sort keeps file order), then order each user's events by ts.
  std::vector<uint32_t> first(users.size() + 1, 0);
  for (const Ev& e : events) ++first[e.user + 1];
  for (size_t u = 0; u < users.size(); ++u) first[u + 1] += first[u];
  std::vector<Ev> by_user(events.size());
  {
    std::vector<uint32_t> fill(first.begin(), first.end() - 1);
    for (const Ev& e : events) by_user[fill[e.user]++] = e;
  }
  std::vector<std::string> members;
  for (size_t u = 0; u < users.size(); ++u) {
    Ev* b = by_user.data() + first[u];
    Ev* e = by_user.data() + first[u + 1];
    std::stable_sort(b, e, [](const Ev& x, const Ev& y) { return x.ts < y.ts; });
    if (MemberAtEnd(b, static_cast<size_t>(e - b), end)) members.push_back(users[u]);
  }
  std::sort(members.begin(), members.end());
  const auto done = std::chrono::steady_clock::now();

  FILE* out = stdout;
  if (argc == 4 && (out = std::fopen(argv[3], "w")) == nullptr) Fail(std::string(argv[3]) + ": cannot open");
  for (const auto& m : members) std::fprintf(out, "%s\n", m.c_str());
  if (out != stdout) std::fclose(out);
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::fprintf(stderr,
               "cart_loop: %llu events, %zu users with carts, purchases or consent, %zu members of "
               "cart_abandoned as of %s; %.3f s (parse %.3f s, evaluate %.3f s)\n",
               static_cast<unsigned long long>(lines), users.size(), members.size(),
               end == kNever ? "-" : segflow::FormatRfc3339Millis(end).c_str(), secs(began, done),
               secs(began, parsed_at), secs(parsed_at, done));
  return 0;
}
