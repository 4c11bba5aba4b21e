#include "gateway/util/repeat_limiter.hpp"

#include <gtest/gtest.h>

namespace gw::util {
namespace {

using namespace std::chrono_literals;
using clock = repeat_limiter::clock;

TEST(RepeatLimiter, TheFirstOccurrenceIsLoggedAndTheRestOfItsWindowHeldBack) {
  repeat_limiter l(60s);
  const clock::time_point t0{};
  const auto first = l.occur(t0);
  EXPECT_TRUE(first.log);
  EXPECT_EQ(first.held, 0u);
  for (int i = 1; i <= 5; ++i) EXPECT_FALSE(l.occur(t0 + i * 10s).log);  // 10 s .. 50 s
  const auto next = l.occur(t0 + 60s);                                   // a window after the line
  EXPECT_TRUE(next.log);
  EXPECT_EQ(next.held, 5u);
  EXPECT_FALSE(l.occur(t0 + 61s).log);
}

TEST(RepeatLimiter, FlushReportsWhatWasHeldOnceTheWindowHasPassed) {
  repeat_limiter l(60s);
  const clock::time_point t0{};
  EXPECT_EQ(l.flush(t0), 0u);  // nothing happened
  ASSERT_TRUE(l.occur(t0).log);
  EXPECT_EQ(l.flush(t0 + 59s), 0u);  // nothing held
  EXPECT_FALSE(l.occur(t0 + 1s).log);
  EXPECT_FALSE(l.occur(t0 + 2s).log);
  EXPECT_EQ(l.flush(t0 + 59s), 0u);  // held, but the window is not over
  EXPECT_EQ(l.flush(t0 + 60s), 2u);
  EXPECT_EQ(l.flush(t0 + 200s), 0u);  // reported once
  // The summary started a window: an occurrence right after it is held, not logged.
  EXPECT_FALSE(l.occur(t0 + 61s).log);
  EXPECT_EQ(l.flush(t0 + 119s), 0u);
  EXPECT_EQ(l.flush(t0 + 120s), 1u);
}

TEST(RepeatLimiter, AQuietStreamLogsEveryOccurrence) {
  repeat_limiter l(1s);
  const clock::time_point t0{};
  for (int i = 0; i < 5; ++i) {
    const auto v = l.occur(t0 + i * 2s);
    EXPECT_TRUE(v.log);
    EXPECT_EQ(v.held, 0u);
  }
}

}  // namespace
}  // namespace gw::util
