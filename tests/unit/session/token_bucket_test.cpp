#include "gateway/session/token_bucket.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace gw::session {
namespace {

using namespace std::chrono_literals;
using time_point = token_bucket::time_point;

const time_point t0{std::chrono::hours(1)};

TEST(TokenBucket, StartsFullWithBurst) {
  token_bucket b(10, 5, t0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(b.try_acquire(t0)) << i;
  }
  EXPECT_FALSE(b.try_acquire(t0));
  EXPECT_EQ(b.next_available(t0), t0 + 100ms);
  EXPECT_FALSE(b.try_acquire(t0 + 99ms));
  EXPECT_TRUE(b.try_acquire(t0 + 100ms));
}

TEST(TokenBucket, AdmitsExactlyRateTimesTPlusBurst) {
  token_bucket b(50, 20, t0);
  int admitted = 0;
  for (auto t = t0; t <= t0 + 10s; t += 1ms) {
    while (b.try_acquire(t)) {
      ++admitted;
    }
  }
  EXPECT_EQ(admitted, 20 + 50 * 10);
}

TEST(TokenBucket, FractionalRateIsExact) {
  token_bucket b(2.5, 1, t0);  // one token every 400 ms
  ASSERT_TRUE(b.try_acquire(t0));
  EXPECT_EQ(b.next_available(t0), t0 + 400ms);
  int admitted = 0;
  for (auto t = t0; t <= t0 + 4s; t += 10ms) {
    admitted += b.try_acquire(t) ? 1 : 0;
  }
  EXPECT_EQ(admitted, 10);
}

TEST(TokenBucket, RefillIsCappedAtBurst) {
  token_bucket b(100, 3, t0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.try_acquire(t0));
  }
  EXPECT_EQ(b.available(t0 + 1h), 3U);
}

TEST(TokenBucket, ZeroRateMeansUnlimited) {
  token_bucket b(0, 1, t0);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(b.try_acquire(t0));
  }
  EXPECT_EQ(b.next_available(t0), t0);
}

TEST(TokenBucket, TimeGoingBackwardsGrantsNothingExtra) {
  token_bucket b(1, 1, t0 + 10s);
  ASSERT_TRUE(b.try_acquire(t0 + 10s));
  EXPECT_FALSE(b.try_acquire(t0));
  EXPECT_EQ(b.next_available(t0), t0 + 11s);
}

TEST(AuthScheduler, TenThousandDevicesAdmittedAtTheConfiguredRate) {
  // rate 50/s, burst 50: after t seconds exactly 50 + 50 * t devices may have started /auth.
  auth_scheduler s(token_bucket(50, 50, t0));
  for (std::uint64_t id = 0; id < 10'000; ++id) {
    s.enqueue(id);
  }
  std::vector<auth_scheduler::device_id> granted;
  std::size_t total = 0;
  for (auto t = t0; t <= t0 + 60s; t += 5ms) {
    total += s.poll(t, granted);
    ASSERT_EQ(total, 50 + static_cast<std::size_t>((t - t0) / 20ms)) << (t - t0).count();
  }
  EXPECT_EQ(total, 50U + 50U * 60U);
  // FIFO: granted in the order they asked.
  for (std::size_t i = 0; i < granted.size(); ++i) {
    ASSERT_EQ(granted[i], i);
  }
  EXPECT_EQ(s.size(), 10'000U - total);
}

TEST(AuthScheduler, NextDeadlineTellsWhenTheNextSlotFrees) {
  auth_scheduler s(token_bucket(10, 1, t0));
  EXPECT_EQ(s.next_deadline(t0), std::nullopt);
  s.enqueue(1);
  s.enqueue(2);
  std::vector<auth_scheduler::device_id> g;
  EXPECT_EQ(s.poll(t0, g), 1U);
  EXPECT_EQ(s.next_deadline(t0), t0 + 100ms);
  EXPECT_EQ(s.poll(t0 + 100ms, g), 1U);
  EXPECT_EQ(g, (std::vector<auth_scheduler::device_id>{1, 2}));
  EXPECT_EQ(s.next_deadline(t0 + 100ms), std::nullopt);
}

TEST(AuthScheduler, CancelledAndDuplicateEntriesAreSkipped) {
  auth_scheduler s(token_bucket(0, 1, t0));
  s.enqueue(1);
  s.enqueue(2);
  s.enqueue(1);  // already waiting: keeps its place
  s.enqueue(3);
  s.cancel(2);
  EXPECT_FALSE(s.waiting(2));
  s.enqueue(2);  // back at the end
  std::vector<auth_scheduler::device_id> g;
  EXPECT_EQ(s.poll(t0, g), 3U);
  EXPECT_EQ(g, (std::vector<auth_scheduler::device_id>{1, 3, 2}));
  EXPECT_EQ(s.size(), 0U);
}

}  // namespace
}  // namespace gw::session
