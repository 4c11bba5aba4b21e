#include "gateway/net/deadline_heap.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace gw::net {
namespace {

using namespace std::chrono_literals;
using tp = deadline_heap::time_point;
const tp t0{};

TEST(DeadlineHeap, PopsInDeadlineOrderOnlyWhenDue) {
  deadline_heap h;
  h.set(3, t0 + 30s);
  h.set(1, t0 + 10s);
  h.set(2, t0 + 20s);
  EXPECT_EQ(h.earliest(), t0 + 10s);
  EXPECT_FALSE(h.pop_due(t0 + 9s));
  EXPECT_EQ(h.pop_due(t0 + 25s), 1u);
  EXPECT_EQ(h.pop_due(t0 + 25s), 2u);
  EXPECT_FALSE(h.pop_due(t0 + 25s));
  EXPECT_EQ(h.armed(), 1u);
}

TEST(DeadlineHeap, RescheduleAndClearMoveTheSlot) {
  deadline_heap h;
  h.set(0, t0 + 10s);
  h.set(1, t0 + 20s);
  h.set(1, t0 + 5s);  // earlier
  EXPECT_EQ(h.pop_due(t0 + 100s), 1u);
  h.set(1, t0 + 50s);
  h.set(0, t0 + 60s);  // later
  EXPECT_EQ(h.earliest(), t0 + 50s);
  h.set(1, std::nullopt);
  EXPECT_EQ(h.earliest(), t0 + 60s);
  h.set(0, std::nullopt);
  EXPECT_FALSE(h.earliest());
  h.set(7, std::nullopt);  // clearing an unknown slot is harmless
  EXPECT_EQ(h.armed(), 0u);
}

// 10,000 endpoints with random deadlines and random re-schedules: the heap always yields them in order.
TEST(DeadlineHeap, TenThousandSlotsStayOrderedUnderUpdates) {
  deadline_heap h;
  std::mt19937 rng(42);
  std::vector<tp> expected(10000);
  for (deadline_heap::slot s = 0; s < expected.size(); ++s) {
    expected[s] = t0 + std::chrono::milliseconds(rng() % 100000);
    h.set(s, expected[s]);
  }
  for (int i = 0; i < 20000; ++i) {
    const auto s = static_cast<deadline_heap::slot>(rng() % expected.size());
    expected[s] = t0 + std::chrono::milliseconds(rng() % 100000);
    h.set(s, expected[s]);
  }
  tp last{};
  std::size_t popped = 0;
  while (auto s = h.pop_due(t0 + 200s)) {
    EXPECT_LE(last, expected[*s]);
    last = expected[*s];
    ++popped;
  }
  EXPECT_EQ(popped, expected.size());
}

}  // namespace
}  // namespace gw::net
