// Financial risk (seed scenario 3): profiles, logins, transactions, KYC.
//   identify {risk_tier: low|medium|high, vip: bool (~3%), country, age: int}
//   transaction {amount (log-normal, a few large), status: approved|declined (~8%),
//                merchant_category}
//   login {device}   kyc_verified {}
// A rare burst of large transactions within an hour drives the high_risk example job.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "bench/generator/scenario_model.h"

namespace segflow::gen {
namespace {

constexpr std::string_view kTiers[] = {"low", "medium", "high"};
constexpr double kTierWeights[] = {70, 22, 8};
constexpr std::string_view kDevices[] = {"ios", "android", "web"};
constexpr double kDeviceWeights[] = {40, 40, 20};
constexpr std::string_view kCategories[] = {"grocery", "restaurants", "travel", "electronics",
                                            "fashion", "fuel",        "gaming", "crypto"};
constexpr double kCategoryWeights[] = {30, 20, 8, 10, 12, 12, 5, 3};

class FintechModel final : public ScenarioModel {
 public:
  explicit FintechModel(uint64_t users) : users_(users) {}

  // login + transactions (mean ~1.8) + identify on first visits.
  double MeanEventsPerSession() const override { return 3.0; }

  void Session(uint64_t user, int64_t start, Rng& rng, EventOut& out) override {
    User& u = users_[user];
    int64_t t = start;
    if (!u.seen) {
      u.seen = true;
      u.tier = static_cast<uint8_t>(rng.Pick(kTierWeights, std::size(kTierWeights)));
      u.vip = rng.Bernoulli(0.03);
      u.country = PickCountry(rng);
      u.age = static_cast<uint8_t>(rng.UniformRange(18, 85));
      u.device = static_cast<uint8_t>(rng.Pick(kDeviceWeights, std::size(kDeviceWeights)));
      if (rng.Bernoulli(0.95)) Identify(u, t, out);
    } else if (rng.Bernoulli(0.01)) {  // re-assessed
      u.tier = static_cast<uint8_t>(rng.Pick(kTierWeights, std::size(kTierWeights)));
      Identify(u, t, out);
    }
    if (out.more()) {
      const size_t device =
          rng.Bernoulli(0.8) ? u.device : rng.Pick(kDeviceWeights, std::size(kDeviceWeights));
      out.Begin("login", t).Str("device", kDevices[device]);
      out.Commit();
    }
    const bool burst = rng.Bernoulli(0.004);
    const int n = burst ? static_cast<int>(rng.UniformRange(3, 6)) : rng.Geometric(0.45, 6);
    for (int i = 0; i < n && out.more(); ++i) {
      t += 1000 + static_cast<int64_t>(rng.Exponential(burst ? 180'000 : 90'000));
      int64_t cents;
      if (burst) {
        cents = rng.UniformRange(1'500, 8'000) * 100;
      } else if (rng.Bernoulli(0.005)) {
        cents = rng.UniformRange(2'000, 20'000) * 100;
      } else {
        cents = std::clamp<int64_t>(std::llround(rng.LogNormal(std::log(40.0), 1.1) * 100), 1,
                                    2'000'000);
      }
      const bool declined = rng.Bernoulli(burst ? 0.25 : 0.08);
      out.Begin("transaction", t)
          .Cents("amount", cents)
          .Str("status", declined ? "declined" : "approved")
          .Str("merchant_category",
               kCategories[rng.Pick(kCategoryWeights, std::size(kCategoryWeights))]);
      out.Commit();
    }
    if (out.more() && !u.kyc && rng.Bernoulli(0.02)) {
      t += 1000 + static_cast<int64_t>(rng.Exponential(60'000));
      out.Begin("kyc_verified", t);
      out.Commit();
      u.kyc = true;
    }
  }

 private:
  struct User {
    bool seen = false;
    bool vip = false;
    bool kyc = false;
    uint8_t tier = 0;
    uint8_t country = 0;
    uint8_t age = 0;
    uint8_t device = 0;
  };

  void Identify(const User& u, int64_t t, EventOut& out) {
    out.Begin("identify", t)
        .Str("risk_tier", kTiers[u.tier])
        .Bool("vip", u.vip)
        .Str("country", CountryName(u.country))
        .Int("age", u.age);
    out.Commit();
  }

  std::vector<User> users_;
};

}  // namespace

std::unique_ptr<ScenarioModel> NewFintechModel(uint64_t users) {
  return std::make_unique<FintechModel>(users);
}

}  // namespace segflow::gen
