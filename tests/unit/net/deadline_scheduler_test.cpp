#include "gateway/net/deadline_scheduler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <vector>

namespace gw::net {
namespace {

using namespace std::chrono_literals;
using clock = deadline_scheduler::clock;

// Deadlines already in the past fire on the next run of the loop, in deadline order, each once; one Asio
// timer serves every slot.
TEST(DeadlineScheduler, DueSlotsFireOnceInOrder) {
  boost::asio::io_context io;
  deadline_scheduler sched(io.get_executor());
  std::vector<int> fired;
  auto a = sched.add([&](clock::time_point) { fired.push_back(1); });
  auto b = sched.add([&](clock::time_point) { fired.push_back(2); });
  auto c = sched.add([&](clock::time_point) { fired.push_back(3); });
  const auto now = clock::now();
  sched.schedule(c, now - 1ms);
  sched.schedule(a, now - 3ms);
  sched.schedule(b, now - 2ms);
  EXPECT_EQ(sched.armed(), 3u);
  io.run_for(2s);
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(sched.armed(), 0u);
}

TEST(DeadlineScheduler, DisarmedAndRemovedSlotsNeverFire) {
  boost::asio::io_context io;
  deadline_scheduler sched(io.get_executor());
  int fired = 0;
  auto a = sched.add([&](clock::time_point) { ++fired; });
  auto b = sched.add([&](clock::time_point) { ++fired; });
  sched.schedule(a, clock::now());
  sched.schedule(b, clock::now());
  sched.schedule(a, std::nullopt);
  sched.remove(b);
  io.run_for(50ms);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(sched.slots(), 1u);
}

// A callback that re-schedules itself (as an endpoint does after a retransmission) keeps firing; one that
// removes itself stops.
TEST(DeadlineScheduler, CallbacksMayRescheduleAndRemoveThemselves) {
  boost::asio::io_context io;
  deadline_scheduler sched(io.get_executor());
  int ticks = 0;
  deadline_scheduler::slot self = 0;
  self = sched.add([&](clock::time_point now) {
    if (++ticks < 5) {
      sched.schedule(self, now);
    } else {
      sched.remove(self);
    }
  });
  sched.schedule(self, clock::now());
  io.run_for(2s);
  EXPECT_EQ(ticks, 5);
  EXPECT_EQ(sched.slots(), 0u);
}

TEST(DeadlineScheduler, FutureDeadlineWaitsForItsTime) {
  boost::asio::io_context io;
  deadline_scheduler sched(io.get_executor());
  clock::time_point fired_at{};
  auto s = sched.add([&](clock::time_point now) { fired_at = now; });
  const auto due = clock::now() + 20ms;
  sched.schedule(s, due);
  io.run_for(2s);
  EXPECT_GE(fired_at, due);
}

}  // namespace
}  // namespace gw::net
