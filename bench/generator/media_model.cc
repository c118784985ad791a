// Media (seed scenario 1): viewers search and play titles; documentary ~25% of plays.
//   play {genre: documentary|drama|comedy|news|kids, title_id: "t<n>", watch_s: int}
//   search {query}
//   identify {plan: free|standard|premium, country}
#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "bench/generator/scenario_model.h"
#include "bench/generator/zipf_sampler.h"

namespace segflow::gen {
namespace {

constexpr std::string_view kGenres[] = {"documentary", "drama", "comedy", "news", "kids"};
constexpr double kGenreWeights[] = {25, 27, 22, 14, 12};
constexpr std::string_view kPlans[] = {"free", "standard", "premium"};
constexpr double kPlanWeights[] = {55, 30, 15};
constexpr std::string_view kQueries[] = {"nature",   "crime",    "history",  "space",
                                         "cooking",  "football", "cartoons", "election",
                                         "wildlife", "stand-up"};
constexpr uint64_t kTitles = 5000;

class MediaModel final : public ScenarioModel {
 public:
  explicit MediaModel(uint64_t users) : users_(users), titles_(kTitles, 2.0) {}

  // identify on first visits, search 30%, plays: geometric with mean ~2.2.
  double MeanEventsPerSession() const override { return 2.6; }

  void Session(uint64_t user, int64_t start, Rng& rng, EventOut& out) override {
    User& u = users_[user];
    int64_t t = start;
    if (!u.seen) {
      u.seen = true;
      u.favourite = static_cast<uint8_t>(rng.Pick(kGenreWeights, std::size(kGenreWeights)));
      u.plan = static_cast<uint8_t>(rng.Pick(kPlanWeights, std::size(kPlanWeights)));
      u.country = PickCountry(rng);
      if (rng.Bernoulli(0.85)) Identify(u, t, out);
    } else if (rng.Bernoulli(0.02)) {
      u.plan = static_cast<uint8_t>(rng.Pick(kPlanWeights, std::size(kPlanWeights)));
      Identify(u, t, out);
    }
    if (out.more() && rng.Bernoulli(0.3)) {
      t += 1000 + static_cast<int64_t>(rng.Exponential(20'000));
      out.Begin("search", t).Str("query", kQueries[rng.UniformInt(std::size(kQueries))]);
      out.Commit();
    }
    const int plays = rng.Geometric(0.55, 8);
    for (int i = 0; i < plays && out.more(); ++i) {
      t += 1000 + static_cast<int64_t>(rng.Exponential(30'000));
      // Half of a viewer's plays are their favourite genre: the marginal stays kGenreWeights.
      const size_t genre =
          rng.Bernoulli(0.5) ? u.favourite : rng.Pick(kGenreWeights, std::size(kGenreWeights));
      const int64_t watch_s =
          std::clamp<int64_t>(static_cast<int64_t>(rng.Exponential(1500)), 30, 10'800);
      out.Begin("play", t)
          .Str("genre", kGenres[genre])
          .Id("title_id", "t", titles_.Sample(rng) + 1)
          .Int("watch_s", watch_s);
      out.Commit();
      t += watch_s * 1000;
    }
  }

 private:
  struct User {
    bool seen = false;
    uint8_t favourite = 0;
    uint8_t plan = 0;
    uint8_t country = 0;
  };

  void Identify(const User& u, int64_t t, EventOut& out) {
    out.Begin("identify", t).Str("plan", kPlans[u.plan]).Str("country", CountryName(u.country));
    out.Commit();
  }

  std::vector<User> users_;
  ZipfSampler titles_;
};

}  // namespace

std::unique_ptr<ScenarioModel> NewMediaModel(uint64_t users) {
  return std::make_unique<MediaModel>(users);
}

}  // namespace segflow::gen
