#include "gateway/session/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace gw::session {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

std::vector<ms> take(backoff& b, int n) {
  std::vector<ms> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(std::chrono::duration_cast<ms>(b.next()));
  }
  return out;
}

TEST(Backoff, DoublesUntilCappedWithoutJitter) {
  backoff b({1s, 30s, jitter_mode::none});
  EXPECT_EQ(take(b, 8), (std::vector<ms>{1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s}));
  EXPECT_EQ(b.attempts(), 8U);
}

TEST(Backoff, ResetStartsOver) {
  backoff b({500ms, 10s, jitter_mode::none});
  take(b, 5);
  b.reset();
  EXPECT_EQ(b.attempts(), 0U);
  EXPECT_EQ(take(b, 3), (std::vector<ms>{500ms, 1s, 2s}));
}

TEST(Backoff, DefaultCapIsFiveMinutes) {
  backoff b({1s, 300s, jitter_mode::none});
  const auto d = take(b, 12);
  EXPECT_EQ(d[8], 256s);
  EXPECT_EQ(d[9], 300s);
  EXPECT_EQ(d[11], 300s);
}

TEST(Backoff, FullJitterStaysWithinZeroAndBase) {
  backoff b({1s, 64s, jitter_mode::full}, 42);
  backoff ref({1s, 64s, jitter_mode::none});
  bool any_below = false;
  for (int i = 0; i < 200; ++i) {
    const auto base = ref.next();
    const auto d = b.next();
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d, base);
    any_below = any_below || d < base;
  }
  EXPECT_TRUE(any_below);
}

TEST(Backoff, EqualJitterStaysWithinHalfAndBase) {
  backoff b({1s, 64s, jitter_mode::equal}, 7);
  backoff ref({1s, 64s, jitter_mode::none});
  for (int i = 0; i < 200; ++i) {
    const auto base = ref.next();
    const auto d = b.next();
    EXPECT_GE(d, base / 2);
    EXPECT_LE(d, base);
  }
}

TEST(Backoff, SameSeedSameSequenceOtherSeedDiffers) {
  backoff a({1s, 64s, jitter_mode::full}, 99);
  backoff b({1s, 64s, jitter_mode::full}, 99);
  backoff c({1s, 64s, jitter_mode::full}, 100);
  const auto sa = take(a, 10);
  EXPECT_EQ(sa, take(b, 10));
  EXPECT_NE(sa, take(c, 10));
}

TEST(Prng, UniformCoversTheClosedRange) {
  prng p(1);
  bool lo = false;
  bool hi = false;
  for (int i = 0; i < 2000; ++i) {
    const auto v = p.uniform(1, 9);
    ASSERT_GE(v, 1U);
    ASSERT_LE(v, 9U);
    lo = lo || v == 1;
    hi = hi || v == 9;
  }
  EXPECT_TRUE(lo);
  EXPECT_TRUE(hi);
}

}  // namespace
}  // namespace gw::session
