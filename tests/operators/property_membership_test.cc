// Property: on random jobs with duration, exit_on and cooldown rules, the engine's evaluator equals the reference evaluator,
// at every instant and for every arrival order (see property_harness.h).
#include <gtest/gtest.h>

#include "property_harness.h"

namespace segflow::reference {
namespace {

TEST(PropertyMembershipTest, EngineEqualsReference) {
  if (auto refused = CheckFamily(Family::kMembership)) GTEST_SKIP() << *refused;
}

}  // namespace
}  // namespace segflow::reference
