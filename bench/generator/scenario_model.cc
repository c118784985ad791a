#include "bench/generator/scenario_model.h"

#include <iterator>

namespace segflow::gen {

namespace {
constexpr std::string_view kCountries[] = {"DE", "FR", "GB", "ES", "IT",
                                           "NL", "PL", "SE", "US", "BR"};
constexpr double kWeights[] = {20, 16, 16, 10, 10, 6, 6, 4, 8, 4};
static_assert(std::size(kCountries) == std::size(kWeights));
}  // namespace

uint8_t PickCountry(Rng& rng) {
  return static_cast<uint8_t>(rng.Pick(kWeights, std::size(kWeights)));
}

std::string_view CountryName(uint8_t country) {
  return kCountries[country % std::size(kCountries)];
}

}  // namespace segflow::gen
