// The capacity bench's baselines for `cart_abandoned` (bench/baseline/): the hand-written
// loop, and DuckDB's SQL where setup.sh has installed it, give Segflow's members, on
// hand-made edge cases of the membership rules and on generated cart data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cli_test_util.h"

namespace segflow::integration {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1777593600000;  // 2026-05-01T00:00:00Z
constexpr int64_t kM = 60'000;
constexpr int64_t kH = 60 * kM;

const char* kJob = R"(job: cart-baseline
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
consent:
  event: consent
  field: granted
  default: granted
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
parallelism: 2
)";

class CartBaselineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_ = (fs::path(SEGFLOW_BINARY).parent_path().parent_path() / "bench" / "segflow_cart_loop")
                .string();
    if (!fs::exists(loop_)) GTEST_SKIP() << "no " << loop_ << " (SEGFLOW_BUILD_BENCH=OFF)";
    WriteFile(scratch() + "/job.yaml", kJob);
  }

  const std::string& scratch() const { return dir_.path(); }
  std::string events() const { return scratch() + "/events.jsonl"; }

  static std::vector<std::string> Sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  // The members by `segflow run --bounded` and `segflow audience`.
  std::vector<std::string> SegflowMembers() {
    const Outcome produce = Segflow({"produce", "--log", scratch() + "/log", "--topic", "events"},
                                    ReadFile(events()), scratch());
    EXPECT_EQ(produce.exit_code, 0) << produce.err;
    const Outcome run = Segflow({"run", "job.yaml", "--bounded", "--workers", "0"}, "", scratch());
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find(", 0 late"), std::string::npos) << run.out;
    const Outcome audience =
        Segflow({"audience", "job.yaml", "--segment", "cart_abandoned"}, "", scratch());
    EXPECT_EQ(audience.exit_code, 0) << audience.err;
    return Sorted(Lines(audience.out));
  }

  // Runs COMMAND (a shell line) and returns the sorted lines it wrote to `out`.
  std::vector<std::string> Baseline(const std::string& command, const std::string& out) {
    const std::string err = out + ".err";
    const int rc = std::system((command + " 2> " + err).c_str());
    EXPECT_EQ(rc, 0) << command << "\n" << ReadFile(err);
    return Sorted(Lines(ReadFile(out)));
  }

  std::vector<std::string> LoopMembers() {
    const std::string out = scratch() + "/loop.members";
    return Baseline(loop_ + " " + events() + " --out " + out, out);
  }

  // Empty (and a note) when node or bench/baseline/setup.sh's packages are missing.
  std::vector<std::string> DuckDbMembers(bool* ran) {
    const std::string dir = std::string(SEGFLOW_SOURCE_DIR) + "/bench/baseline";
    *ran = fs::exists(dir + "/node_modules/@duckdb/node-api") && std::system("node --version > /dev/null 2>&1") == 0;
    if (!*ran) return {};
    const std::string out = scratch() + "/duckdb.members";
    return Baseline("node " + dir + "/duckdb_query.mjs " + dir + "/cart.sql " + events() + " " + out + " 1", out);
  }

  void ExpectAllAgree(const std::vector<std::string>& segflow) {
    EXPECT_EQ(LoopMembers(), segflow) << "cart_loop";
    bool ran = false;
    const auto duckdb = DuckDbMembers(&ran);
    if (ran) {
      EXPECT_EQ(duckdb, segflow) << "DuckDB";
    } else {
      std::fprintf(stderr, "note: DuckDB not installed (bench/baseline/setup.sh); not compared\n");
    }
  }

  std::string loop_;
  ScratchDir dir_{"segflow-cart-baseline"};
};

struct Line {
  int64_t ts;
  std::string json;
};

std::string Ev(const std::string& user, const std::string& type, int64_t ts,
               const std::string& more = "") {
  return "{\"user_id\":\"" + user + "\",\"event\":\"" + type + "\",\"ts\":" + std::to_string(ts) +
         more + "}";
}

TEST_F(CartBaselineTest, MembershipEdgeCasesAgreeWithSegflow) {
  const int64_t t = kT0;
  std::vector<Line> lines = {
      {t + 48 * kH, Ev("u0", "page_view", t + 48 * kH)},  // the largest ts: T = 48h
      {t + 40 * kH, Ev("u1", "add_to_cart", t + 40 * kH)},  // in since 40h30
      {t + 40 * kH, Ev("u2", "add_to_cart", t + 40 * kH)},
      {t + 40 * kH + 10 * kM, Ev("u2", "purchase", t + 40 * kH + 10 * kM)},  // bought
      {t + 40 * kH, Ev("u3", "add_to_cart", t + 40 * kH)},
      {t + 40 * kH, Ev("u3", "purchase", t + 40 * kH)},  // same ms cancels that cart ...
      {t + 41 * kH, Ev("u3", "add_to_cart", t + 41 * kH)},  // ... not this one
      {t + 40 * kH, Ev("u4", "purchase", t + 40 * kH)},
      {t + 40 * kH, Ev("u4", "add_to_cart", t + 40 * kH)},  // cancelled, whatever the order
      {t + 1 * kH, Ev("u5", "add_to_cart", t + 1 * kH)},  // in 1h30, out at 25h30 (duration)
      {t + 20 * kH, Ev("u5", "add_to_cart", t + 20 * kH)},  // no new rise: stays out
      {t + 1 * kH, Ev("u6", "add_to_cart", t + 1 * kH)},
      {t + 26 * kH, Ev("u6", "purchase", t + 26 * kH)},
      {t + 30 * kH, Ev("u6", "add_to_cart", t + 30 * kH)},  // in again at 30h30
      {t + 1 * kH, Ev("u7", "add_to_cart", t + 1 * kH)},  // out at 25h30 (duration) ...
      {t + 30 * kH, Ev("u7", "consent", t + 30 * kH, ",\"granted\":false")},
      {t + 47 * kH, Ev("u7", "consent", t + 47 * kH, ",\"granted\":true")},  // ... in at 47h
      {t + 10 * kH, Ev("u8", "consent", t + 10 * kH, ",\"granted\":false")},
      {t + 10 * kH, Ev("u8", "consent", t + 10 * kH, ",\"granted\":true")},  // last record wins
      {t + 40 * kH, Ev("u8", "add_to_cart", t + 40 * kH)},
      {t + 10 * kH, Ev("u9", "consent", t + 10 * kH, ",\"granted\":true")},
      {t + 10 * kH, Ev("u9", "consent", t + 10 * kH, ",\"granted\":false")},  // denied
      {t + 40 * kH, Ev("u9", "add_to_cart", t + 40 * kH)},
      {t + 47 * kH + 31 * kM, Ev("u10", "add_to_cart", t + 47 * kH + 31 * kM)},  // not yet
      {t + 47 * kH + 30 * kM, Ev("u11", "add_to_cart", t + 47 * kH + 30 * kM)},  // in at T
      {t + 40 * kH, "{\"user_id\":42,\"event\":\"add_to_cart\",\"ts\":" + std::to_string(t + 40 * kH) + "}"},
      {t + 40 * kH, R"({"user_id":"u13","event":"add_to_cart","ts":"2026-05-02T18:00:00+02:00"})"},
      {t + 1 * kH, Ev("u14", "consent", t + 1 * kH, ",\"granted\":false")},
      {t + 2 * kH, Ev("u14", "add_to_cart", t + 2 * kH)},  // no consent
      {t + 40 * kH, Ev("u15", "add_to_cart", t + 40 * kH)},
      {t + 41 * kH, Ev("u15", "consent", t + 41 * kH, ",\"granted\":\"no\"")},  // not a boolean
      {t + 20 * kH, Ev("u16", "add_to_cart", t + 20 * kH)},  // out at 44h30 (duration)
  };
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return a.ts < b.ts; });
  std::string text;
  for (const auto& l : lines) text += l.json + "\n";
  WriteFile(events(), text);

  const std::vector<std::string> expected = {"42", "u1", "u11", "u13", "u15", "u3", "u6", "u7", "u8"};
  const auto segflow = SegflowMembers();
  ASSERT_EQ(segflow, expected) << "Segflow's own reading of the spec changed?";
  ExpectAllAgree(segflow);
}

TEST_F(CartBaselineTest, GeneratedCartDataAgreesWithSegflow) {
  const Outcome gen = Segflow({"gen", "cart", "--users", "400", "--events", "30000", "--seed", "5",
                               "--out", events()},
                              "", scratch());
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const auto segflow = SegflowMembers();
  EXPECT_GT(segflow.size(), 10u);
  ExpectAllAgree(segflow);
}

TEST_F(CartBaselineTest, LoopRefusesLateAndMalformedInput) {
  WriteFile(events(), Ev("u1", "add_to_cart", kT0 + kH) + "\n" + Ev("u1", "purchase", kT0) + "\n");
  EXPECT_NE(std::system((loop_ + " " + events() + " > /dev/null 2>&1").c_str()), 0) << "late";
  WriteFile(events(), Ev("u1", "add_to_cart", kT0) + "\n{\"user_id\":\"u2\"\n");
  EXPECT_NE(std::system((loop_ + " " + events() + " > /dev/null 2>&1").c_str()), 0) << "malformed";
}

}  // namespace
}  // namespace segflow::integration
