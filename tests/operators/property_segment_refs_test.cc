// Property: on random segment references, the engine's evaluator equals the reference evaluator,
// at every instant and for every arrival order (see property_harness.h).
#include <gtest/gtest.h>

#include "property_harness.h"

namespace segflow::reference {
namespace {

TEST(PropertySegmentRefsTest, EngineEqualsReference) {
  if (auto refused = CheckFamily(Family::kSegmentRefs)) GTEST_SKIP() << *refused;
}

}  // namespace
}  // namespace segflow::reference
