// `segflow gen`: the scenario generator as scripts run it (the real binary, real files).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/value/json_event.h"
#include "engine/value/time_format.h"

#include "cli_test_util.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultStart = 1777593600000;  // 2026-05-01T00:00:00Z
constexpr int64_t kDayMs = 86400000;

class GenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/segflow-gen-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    ASSERT_NE(p, nullptr);
    dir_ = p;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  struct Outcome {
    int exit_code = -1;
    std::string out;
    std::string err;
  };

  static std::string ReadFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }

  // Runs `segflow gen ARGS` to completion, capturing stdout and stderr.
  Outcome Gen(const std::vector<std::string>& args) {
    const std::string out = dir_ + "/stdout", err = dir_ + "/stderr";
    std::vector<std::string> argv = {"gen"};
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = integration::Spawn(argv, "", out, err, "");
    Outcome r;
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  }

  std::string dir_;
};

std::vector<std::string> Args(const std::string& scenario, int users, int events, int seed) {
  return {scenario, "--users",           std::to_string(users), "--events", std::to_string(events),
          "--seed", std::to_string(seed)};
}

TEST_F(GenTest, SameSeedSameBytesOtherSeedOtherBytes) {
  for (const char* scenario : {"media", "cart", "fintech"}) {
    const Outcome a = Gen(Args(scenario, 200, 3000, 11));
    const Outcome b = Gen(Args(scenario, 200, 3000, 11));
    const Outcome c = Gen(Args(scenario, 200, 3000, 12));
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(a.out, b.out) << scenario;
    EXPECT_NE(a.out, c.out) << scenario;
  }
}

TEST_F(GenTest, WritesExactlyTheRequestedLinesAndEveryOneDecodes) {
  for (const char* scenario : {"media", "cart", "fintech"}) {
    const Outcome r = Gen(Args(scenario, 500, 5000, 3));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_FALSE(r.out.empty());
    EXPECT_EQ(r.out.back(), '\n');
    const auto lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 5000u) << scenario;
    JsonEventDecoder decoder{RoleFields{}};
    Event e;
    std::set<std::string> users;
    for (const auto& line : lines) {
      const Status s = decoder.Decode(line, &e);
      ASSERT_TRUE(s.ok()) << scenario << ": " << s.message() << "\n" << line;
      users.insert(e.user);
      EXPECT_GE(e.ts, kDefaultStart) << line;
      EXPECT_LT(e.ts, kDefaultStart + 14 * kDayMs) << line;
    }
    for (const auto& u : users) {
      ASSERT_EQ(u[0], 'u') << u;
      const long n = std::stol(u.substr(1));
      EXPECT_GE(n, 1);
      EXPECT_LE(n, 500);
    }
    EXPECT_GT(users.size(), 100u) << "activity is spread over many users";
  }
}

TEST_F(GenTest, UserActivityIsSkewed) {
  const Outcome r = Gen(Args("media", 1000, 20000, 5));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  std::map<std::string, int> per_user;
  for (const auto& line : Lines(r.out)) {
    ASSERT_TRUE(decoder.Decode(line, &e).ok()) << line;
    ++per_user[e.user];
  }
  std::vector<int> counts;
  for (const auto& [u, n] : per_user) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  const double mean = 20000.0 / static_cast<double>(counts.size());
  EXPECT_GT(counts.front(), 10 * mean) << "the most active user is far above the mean";
  EXPECT_LT(counts[counts.size() / 2], mean) << "the median user is below the mean";
}

TEST_F(GenTest, TimesSpanTheDaysInRoughlyIncreasingOrderWithSmallJitter) {
  const Outcome r = Gen({"cart", "--users", "300", "--events", "20000", "--seed", "9", "--start",
                         "2026-01-10T00:00:00Z", "--days", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t start = *ParseRfc3339Millis("2026-01-10T00:00:00Z");
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  int64_t max_seen = INT64_MIN, min_ts = INT64_MAX, max_back = 0;
  int rfc_times = 0, out_of_order = 0, lines = 0;
  for (const auto& line : Lines(r.out)) {
    ASSERT_TRUE(decoder.Decode(line, &e).ok()) << line;
    ++lines;
    if (line.find("\"ts\":\"") != std::string::npos) ++rfc_times;
    if (e.ts < max_seen) {
      ++out_of_order;
      max_back = std::max(max_back, max_seen - e.ts);
    }
    max_seen = std::max(max_seen, e.ts);
    min_ts = std::min(min_ts, e.ts);
  }
  EXPECT_GE(min_ts, start);
  EXPECT_LT(min_ts, start + kDayMs / 4);
  EXPECT_GT(max_seen, start + 2 * kDayMs + kDayMs / 2) << "spread over all 3 days";
  EXPECT_LT(max_seen, start + 7 * kDayMs) << "late purchases spill at most 3 days past the end";
  EXPECT_GT(out_of_order, 0) << "some jitter";
  EXPECT_LE(max_back, 3000) << "jitter is at most 3 s without --late-fraction";
  EXPECT_GT(rfc_times, lines / 40) << "~5% RFC 3339 times";
  EXPECT_LT(rfc_times, lines / 10);
}

TEST_F(GenTest, DailyCycleIsBusierInTheEveningThanInTheMorning) {
  const Outcome r = Gen(Args("fintech", 500, 20000, 4));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  int morning = 0, evening = 0;  // 06:00-10:00 vs 18:00-22:00 UTC
  for (const auto& line : Lines(r.out)) {
    ASSERT_TRUE(decoder.Decode(line, &e).ok()) << line;
    const int64_t hour = (e.ts % kDayMs) / 3600000;
    if (hour >= 6 && hour < 10) ++morning;
    if (hour >= 18 && hour < 22) ++evening;
  }
  EXPECT_GT(evening, 2 * morning);
}

TEST_F(GenTest, LateFractionArrivesWellBehindTheStream) {
  const Outcome r = Gen(
      {"media", "--users", "300", "--events", "20000", "--seed", "2", "--late-fraction", "0.05"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  int64_t max_seen = INT64_MIN;
  int behind_10min = 0, lines = 0;
  for (const auto& line : Lines(r.out)) {
    ASSERT_TRUE(decoder.Decode(line, &e).ok()) << line;
    ++lines;
    if (lines > 1 && e.ts < max_seen - 5 * 60000) ++behind_10min;
    max_seen = std::max(max_seen, e.ts);
  }
  EXPECT_EQ(lines, 20000);
  // 5% of 20000 = 1000 delayed by 10 min to 6 h; nearly all arrive behind newer events.
  EXPECT_GT(behind_10min, 700);
  EXPECT_LT(behind_10min, 1300);
}

TEST_F(GenTest, MalformedFractionIsRejectedAndLeavesOtherLinesUnchanged) {
  const Outcome clean = Gen(Args("cart", 300, 20000, 8));
  auto args = Args("cart", 300, 20000, 8);
  args.insert(args.end(), {"--malformed-fraction", "0.02"});
  const Outcome dirty = Gen(args);
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  ASSERT_EQ(dirty.exit_code, 0) << dirty.err;
  const auto a = Lines(clean.out), b = Lines(dirty.out);
  ASSERT_EQ(a.size(), 20000u);
  ASSERT_EQ(b.size(), 20000u);
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  int rejected = 0;
  std::set<std::string> reasons;
  for (size_t i = 0; i < b.size(); ++i) {
    const Status s = decoder.Decode(b[i], &e);
    if (s.ok()) {
      EXPECT_EQ(a[i], b[i]) << "line " << i + 1 << " changed without being malformed";
    } else {
      ++rejected;
      reasons.insert(s.message().substr(0, 14));
    }
  }
  // 2% of 20000 = 400 (binomial sd 20).
  EXPECT_GT(rejected, 300);
  EXPECT_LT(rejected, 500);
  EXPECT_GE(reasons.size(), 3u) << "several kinds of malformed lines";
}

TEST_F(GenTest, VocabularyMatchesTheExampleJobs) {
  struct Expect {
    const char* scenario;
    std::map<std::string, std::set<std::string>> props;  // event -> property names
  };
  const std::vector<Expect> expectations = {
      {"media",
       {{"play", {"genre", "title_id", "watch_s"}},
        {"search", {"query"}},
        {"identify", {"plan", "country"}}}},
      {"cart",
       {{"page_view", {"page"}},
        {"add_to_cart", {"sku", "price"}},
        {"purchase", {"order_id", "amount"}},
        {"consent", {"granted"}},
        {"identify", {"country"}}}},
      {"fintech",
       {{"identify", {"risk_tier", "vip", "country", "age"}},
        {"transaction", {"amount", "status", "merchant_category"}},
        {"login", {"device"}},
        {"kyc_verified", {}}}},
  };
  for (const auto& x : expectations) {
    const Outcome r = Gen(Args(x.scenario, 2000, 30000, 21));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    JsonEventDecoder decoder{RoleFields{}};
    Event e;
    std::map<std::string, int> seen;
    std::map<std::string, int> values;  // "event.prop=value" for categorical checks
    for (const auto& line : Lines(r.out)) {
      ASSERT_TRUE(decoder.Decode(line, &e).ok()) << line;
      ++seen[e.type];
      auto it = x.props.find(e.type);
      ASSERT_NE(it, x.props.end()) << x.scenario << ": unexpected event " << e.type;
      std::set<std::string> names;
      for (const auto& [k, v] : e.props.as_object()) names.insert(k);
      ASSERT_EQ(names, it->second) << line;
      for (const auto& [k, v] : e.props.as_object()) {
        if (v.is_string() && k != "title_id" && k != "sku" && k != "order_id") {
          ++values[e.type + "." + k + "=" + v.as_string()];
        }
        if (v.is_bool()) ++values[e.type + "." + k + "=" + (v.as_bool() ? "true" : "false")];
      }
      if (e.type == "play") {
        EXPECT_TRUE(e.props.Find("watch_s")->is_int()) << line;
        EXPECT_EQ(e.props.Find("title_id")->as_string()[0], 't') << line;
      }
      if (e.type == "add_to_cart") {
        EXPECT_TRUE(e.props.Find("price")->is_number()) << line;
      } else if (e.type == "purchase" || e.type == "transaction") {
        EXPECT_TRUE(e.props.Find("amount")->is_number()) << line;
      } else if (e.type == "identify" && e.props.Find("age") != nullptr) {
        EXPECT_TRUE(e.props.Find("age")->is_int()) << line;
      }
    }
    for (const auto& [type, props] : x.props) {
      EXPECT_GT(seen[type], 0) << x.scenario << ": no " << type << " events";
    }
    auto share = [&](const std::string& key, const std::string& event) {
      return static_cast<double>(values[key]) / std::max(1, seen[event]);
    };
    if (std::string(x.scenario) == "media") {
      EXPECT_NEAR(share("play.genre=documentary", "play"), 0.25, 0.05);
      for (const char* g : {"drama", "comedy", "news", "kids"}) {
        EXPECT_GT(values[std::string("play.genre=") + g], 0) << g;
      }
      for (const char* p : {"free", "standard", "premium"}) {
        EXPECT_GT(values[std::string("identify.plan=") + p], 0) << p;
      }
    } else if (std::string(x.scenario) == "cart") {
      EXPECT_GT(values["consent.granted=false"], 0);
      EXPECT_LT(seen["consent"], seen["page_view"] / 10) << "consent events are rare";
      EXPECT_GT(seen["purchase"], seen["add_to_cart"] / 5);
    } else {
      EXPECT_NEAR(share("transaction.status=declined", "transaction"), 0.08, 0.03);
      EXPECT_NEAR(share("identify.vip=true", "identify"), 0.03, 0.02);
      for (const char* t : {"low", "medium", "high"}) {
        EXPECT_GT(values[std::string("identify.risk_tier=") + t], 0) << t;
      }
    }
  }
}

TEST_F(GenTest, CartPurchasesFollowAddToCart) {
  const Outcome r = Gen(Args("cart", 3000, 40000, 13));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  std::map<std::string, std::vector<std::pair<int64_t, bool>>> per_user;  // (ts, is_purchase)
  for (const auto& line : Lines(r.out)) {
    ASSERT_TRUE(decoder.Decode(line, &e).ok()) << line;
    if (e.type == "add_to_cart" || e.type == "purchase") {
      per_user[e.user].emplace_back(e.ts, e.type == "purchase");
    }
  }
  // A cart: add_to_carts of a user less than 20 minutes apart (a session's items are about
  // a minute apart). Bought within 30 minutes: a purchase within 30 min of its first add.
  int carts = 0, within_30m = 0, orphan_purchases = 0;
  for (auto& [user, evs] : per_user) {
    std::sort(evs.begin(), evs.end());
    std::optional<int64_t> first_add, last_add;
    std::vector<int64_t> cart_starts;
    for (const auto& [ts, purchase] : evs) {
      if (purchase) {
        if (!first_add) ++orphan_purchases;
        continue;
      }
      if (!last_add || ts - *last_add >= 20 * 60000) cart_starts.push_back(ts);
      if (!first_add) first_add = ts;
      last_add = ts;
    }
    for (int64_t start : cart_starts) {
      ++carts;
      const bool bought = std::any_of(evs.begin(), evs.end(), [&](const auto& ev) {
        return ev.second && ev.first >= start && ev.first <= start + 30 * 60000;
      });
      if (bought) ++within_30m;
    }
  }
  EXPECT_EQ(orphan_purchases, 0) << "every purchase follows an add_to_cart";
  ASSERT_GT(carts, 500);
  const double share = static_cast<double>(within_30m) / carts;
  EXPECT_GT(share, 0.35);
  EXPECT_LT(share, 0.7);
}

TEST_F(GenTest, OutFileHoldsTheSameBytesAsStdout) {
  const std::string path = dir_ + "/events.jsonl";
  auto args = Args("fintech", 100, 2000, 1);
  const Outcome to_stdout = Gen(args);
  args.insert(args.end(), {"--out", path});
  const Outcome to_file = Gen(args);
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_TRUE(to_file.out.empty());
  EXPECT_EQ(ReadFile(path), to_stdout.out);
}

TEST_F(GenTest, ZeroEventsWritesNothing) {
  const Outcome r = Gen(Args("media", 10, 0, 1));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(GenTest, BadArgumentsAreUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"podcasts", "--users", "10", "--events", "10", "--seed", "1"},
      {"--users", "10", "--events", "10", "--seed", "1"},
      {"media", "--events", "10", "--seed", "1"},
      {"media", "--users", "10", "--seed", "1"},
      {"media", "--users", "10", "--events", "10"},
      {"media", "--users", "0", "--events", "10", "--seed", "1"},
      {"media", "--users", "-5", "--events", "10", "--seed", "1"},
      {"media", "--users", "ten", "--events", "10", "--seed", "1"},
      {"media", "--users", "10", "--events", "1e3", "--seed", "1"},
      {"media", "--users", "10", "--events", "10", "--seed", "1", "--days", "0"},
      {"media", "--users", "10", "--events", "10", "--seed", "1", "--late-fraction", "1.5"},
      {"media", "--users", "10", "--events", "10", "--seed", "1", "--malformed-fraction", "-0.1"},
      {"media", "--users", "10", "--events", "10", "--seed", "1", "--start", "yesterday"},
      {"media", "--users", "10", "--events", "10", "--seed", "1", "--bogus", "1"},
  };
  for (const auto& args : bad) {
    const Outcome r = Gen(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
    EXPECT_NE(r.err.find("segflow gen:"), std::string::npos) << joined << "\n" << r.err;
  }
}

TEST_F(GenTest, UnwritableOutFileIsAnError) {
  auto args = Args("media", 10, 10, 1);
  args.insert(args.end(), {"--out", dir_ + "/no/such/dir/events.jsonl"});
  const Outcome r = Gen(args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no/such/dir"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace segflow
