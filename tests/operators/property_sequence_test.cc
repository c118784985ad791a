// Property: on random sequence conditions, the engine's evaluator equals the reference evaluator,
// at every instant and for every arrival order (see property_harness.h).
#include <gtest/gtest.h>

#include "property_harness.h"

namespace segflow::reference {
namespace {

TEST(PropertySequenceTest, EngineEqualsReference) {
  if (auto refused = CheckFamily(Family::kSequence)) GTEST_SKIP() << *refused;
}

}  // namespace
}  // namespace segflow::reference
