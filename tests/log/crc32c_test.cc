#include "engine/log/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace segflow::log {
namespace {

TEST(Crc32cTest, KnownVectors) {
  const char* digits = "123456789";
  EXPECT_EQ(Crc32c(digits, 9), 0xE3069283u);
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xff), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<unsigned char>(i);
    dec[i] = static_cast<unsigned char>(31 - i);
  }
  // RFC 3720 (iSCSI) appendix B.4 test vectors.
  EXPECT_EQ(Crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(dec.data(), 32), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c("", 0), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::mt19937_64 rng(7);
  std::string data(5000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t cut : {0, 1, 7, 8, 9, 63, 2500, 4999, 5000}) {
    EXPECT_EQ(Crc32c(Crc32c(data.data(), cut), data.data() + cut, data.size() - cut), whole) << cut;
  }
}

TEST(Crc32cTest, HardwareMatchesPortable) {
  if (!internal::Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937_64 rng(11);
  std::vector<unsigned char> buf(4096 + 16);
  for (auto& c : buf) c = static_cast<unsigned char>(rng());
  for (int trial = 0; trial < 500; ++trial) {
    size_t offset = rng() % 16;  // unaligned starts too
    size_t len = rng() % 4096;
    uint32_t seed = trial % 2 == 0 ? 0 : static_cast<uint32_t>(rng());
    ASSERT_EQ(internal::Crc32cHardware(seed, buf.data() + offset, len),
              internal::Crc32cPortable(seed, buf.data() + offset, len))
        << "offset " << offset << " len " << len;
  }
}

TEST(Crc32cTest, DetectsSingleBitFlips) {
  std::string data(1024, 'a');
  const uint32_t good = Crc32c(data.data(), data.size());
  for (size_t bit = 0; bit < data.size() * 8; bit += 37) {
    std::string bad = data;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_NE(Crc32c(bad.data(), bad.size()), good) << bit;
  }
}

}  // namespace
}  // namespace segflow::log
