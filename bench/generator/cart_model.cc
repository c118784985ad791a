// E-commerce (seed scenario 2): browsing, carts, purchases, consent.
//   page_view {page}   add_to_cart {sku, price}   purchase {order_id, amount}
//   consent {granted: bool} (rare: ~10% grant on a first visit, ~3% of users withdraw)
//   identify {country}
// About half the carts are bought within 30 minutes of the first add_to_cart, ~15% later
// (35 minutes to 3 days; left out when that is past the generated period), the rest never.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "bench/generator/scenario_model.h"
#include "bench/generator/zipf_sampler.h"

namespace segflow::gen {
namespace {

constexpr std::string_view kPages[] = {"/",
                                       "/search",
                                       "/category/shoes",
                                       "/category/electronics",
                                       "/category/home",
                                       "/product",
                                       "/deals",
                                       "/account",
                                       "/help"};
constexpr double kPageWeights[] = {20, 12, 10, 10, 8, 25, 8, 4, 3};
constexpr uint64_t kSkus = 2000;
constexpr int64_t kMinute = 60'000;

class CartModel final : public ScenarioModel {
 public:
  explicit CartModel(uint64_t users) : users_(users), skus_(kSkus, 5.0) {}

  // page views (mean 2.5), carts in 35% of sessions (mean ~1.7 items + maybe a purchase).
  double MeanEventsPerSession() const override { return 3.6; }

  void Session(uint64_t user, int64_t start, Rng& rng, EventOut& out) override {
    User& u = users_[user];
    int64_t t = start;
    if (!u.seen) {
      u.seen = true;
      u.will_withdraw = rng.Bernoulli(0.04);
      if (rng.Bernoulli(0.6)) {
        out.Begin("identify", t).Str("country", CountryName(PickCountry(rng)));
        out.Commit();
      }
      if (out.more() && rng.Bernoulli(0.1)) {
        out.Begin("consent", t).Bool("granted", true);
        out.Commit();
      }
    }
    const int pages = rng.Geometric(0.6, 10);
    for (int i = 0; i < pages && out.more(); ++i) {
      t += 1000 + static_cast<int64_t>(rng.Exponential(40'000));
      out.Begin("page_view", t)
          .Str("page", kPages[rng.Pick(kPageWeights, std::size(kPageWeights))]);
      out.Commit();
    }
    if (out.more() && rng.Bernoulli(0.35)) Cart(&t, rng, out);
    if (out.more() && u.will_withdraw && !u.withdrawn && rng.Bernoulli(0.6)) {
      t += 1000 + static_cast<int64_t>(rng.Exponential(30'000));
      out.Begin("consent", t).Bool("granted", false);
      out.Commit();
      u.withdrawn = true;
    }
  }

 private:
  struct User {
    bool seen = false;
    bool will_withdraw = false;
    bool withdrawn = false;
  };

  void Cart(int64_t* t, Rng& rng, EventOut& out) {
    const int items = rng.Geometric(0.4, 5);
    const int64_t first = *t + 1000 + static_cast<int64_t>(rng.Exponential(60'000));
    int64_t total_cents = 0;
    for (int i = 0; i < items && out.more(); ++i) {
      *t = i == 0 ? first : *t + 1000 + static_cast<int64_t>(rng.Exponential(60'000));
      const int64_t cents =
          std::clamp<int64_t>(std::llround(rng.LogNormal(std::log(35.0), 0.9) * 100), 99, 500'000);
      total_cents += cents;
      out.Begin("add_to_cart", *t).Id("sku", "sku", skus_.Sample(rng) + 1).Cents("price", cents);
      out.Commit();
    }
    const double outcome = rng.Uniform01();
    int64_t purchase_at;
    if (outcome < 0.5) {  // within 30 minutes of the first add_to_cart
      const int64_t latest = std::max(*t + 30'000, first + 29 * kMinute);
      purchase_at = rng.UniformRange(*t + 30'000, latest);
    } else if (outcome < 0.65) {  // later
      purchase_at = *t + rng.UniformRange(35 * kMinute, 3 * 24 * 60 * kMinute);
    } else {
      return;
    }
    if (!out.more() || purchase_at > out.end()) return;
    out.Begin("purchase", purchase_at).Id("order_id", "o", ++orders_).Cents("amount", total_cents);
    out.Commit();
  }

  std::vector<User> users_;
  ZipfSampler skus_;
  uint64_t orders_ = 0;
};

}  // namespace

std::unique_ptr<ScenarioModel> NewCartModel(uint64_t users) {
  return std::make_unique<CartModel>(users);
}

}  // namespace segflow::gen
