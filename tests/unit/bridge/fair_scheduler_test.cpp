#include "gateway/bridge/fair_scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <set>
#include <vector>

namespace gw::bridge {
namespace {

// Virtual time in steps: every step the fake cloud answers the oldest in-flight message of every device that
// is not stalled (NSTART 1, as the sessions do), then the scheduler hands out the freed slots.
class FairSchedulerSim {
 public:
  FairSchedulerSim(std::size_t devices, std::size_t per_device, std::size_t cap, std::size_t backlog)
      : sched_(per_device, cap), backlog_(devices), in_session_(devices), delivered_(devices) {
    for (std::size_t d = 0; d < devices; ++d) {
      EXPECT_EQ(sched_.add_device(), d);
      for (std::size_t i = 0; i < backlog; ++i) backlog_[d].push_back(next_id_++);
      sched_.wake(d);
    }
    run();
  }

  void stall(std::size_t d) { stalled_.insert(d); }

  // One step; returns how many messages the cloud answered.
  std::size_t step() {
    std::size_t answered = 0;
    for (std::size_t d = 0; d < in_session_.size(); ++d) {
      if (stalled_.count(d) != 0 || in_session_[d].empty()) continue;
      delivered_[d].push_back(in_session_[d].front());
      in_session_[d].pop_front();
      sched_.settled(d);
      ++answered;
    }
    run();
    ++now_;
    return answered;
  }

  void add(std::size_t d, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) backlog_[d].push_back(next_id_++);
    sched_.wake(d);
    run();
  }

  fair_scheduler& sched() { return sched_; }
  const std::vector<std::size_t>& turns() const { return turns_; }
  const std::vector<std::uint64_t>& delivered(std::size_t d) const { return delivered_[d]; }
  std::size_t backlog(std::size_t d) const { return backlog_[d].size(); }
  std::size_t now() const { return now_; }

 private:
  void run() {
    sched_.run([this](std::size_t d, std::size_t n) {
      EXPECT_GE(n, 1u);
      std::size_t given = 0;
      while (given < n && !backlog_[d].empty()) {
        in_session_[d].push_back(backlog_[d].front());
        backlog_[d].pop_front();
        ++given;
      }
      if (given > 0) turns_.push_back(d);
      EXPECT_LE(sched_.in_flight(d) + given, sched_.per_device());
      EXPECT_LE(sched_.in_flight() + given, sched_.cap());
      return given;
    });
  }

  fair_scheduler sched_;
  std::vector<std::deque<std::uint64_t>> backlog_;
  std::vector<std::deque<std::uint64_t>> in_session_;
  std::vector<std::vector<std::uint64_t>> delivered_;
  std::vector<std::size_t> turns_;  // device of every non-empty offer, in order
  std::set<std::size_t> stalled_;
  std::uint64_t next_id_ = 1;
  std::size_t now_ = 0;
};

TEST(BridgeFairSchedulerTest, TheCapAndTheWindowAreNeverExceeded) {
  FairSchedulerSim sim(10, 4, 12, 50);
  EXPECT_EQ(sim.sched().in_flight(), 12u);  // 3 devices x 4, the cap
  for (int i = 0; i < 1000 && sim.sched().in_flight() > 0; ++i) {
    sim.step();
    EXPECT_LE(sim.sched().in_flight(), 12u);
  }
  EXPECT_EQ(sim.sched().in_flight(), 0u);
  for (std::size_t d = 0; d < 10; ++d) EXPECT_EQ(sim.delivered(d).size(), 50u);
}

TEST(BridgeFairSchedulerTest, DevicesAreServedRoundRobinUnderTheCap) {
  // 4 devices with equal backlogs, room for 2 in flight overall, 1 per device: the turns cycle 0 1 2 3 0 1
  // ...
  FairSchedulerSim sim(4, 1, 2, 20);
  while (sim.sched().in_flight() > 0 && sim.now() < 200) sim.step();
  const auto& turns = sim.turns();
  ASSERT_EQ(turns.size(), 80u);
  for (std::size_t i = 0; i < turns.size(); ++i) EXPECT_EQ(turns[i], i % 4) << "turn " << i;
  // And at every prefix no device is more than one turn ahead of another.
  std::vector<int> count(4, 0);
  for (auto d : turns) {
    ++count[d];
    const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    EXPECT_LE(*hi - *lo, 1);
  }
}

TEST(BridgeFairSchedulerTest, AStalledDeviceHoldsOnlyItsWindow) {
  // Device 0's cloud never answers (a silent device, retransmitting): the others drain at full speed and
  // device 0 keeps exactly its window of the cap.
  FairSchedulerSim sim(5, 8, 16, 100);
  sim.stall(0);
  std::size_t steps = 0;
  while (steps < 10000) {
    bool others_done = true;
    for (std::size_t d = 1; d < 5; ++d) others_done = others_done && sim.delivered(d).size() == 100;
    if (others_done) break;
    sim.step();
    ++steps;
  }
  for (std::size_t d = 1; d < 5; ++d) {
    EXPECT_EQ(sim.delivered(d).size(), 100u) << "device " << d;
    EXPECT_TRUE(std::is_sorted(sim.delivered(d).begin(), sim.delivered(d).end()));  // per-device order
  }
  EXPECT_TRUE(sim.delivered(0).empty());
  EXPECT_EQ(sim.sched().in_flight(0), 8u);
  EXPECT_EQ(sim.backlog(0), 92u);
  // The 4 others share the 8 slots the stalled device leaves: they finish exactly as fast as 4 devices alone
  // under a cap of 8.
  FairSchedulerSim alone(4, 8, 8, 100);
  std::size_t alone_steps = 0;
  while (alone.sched().in_flight() > 0 && alone_steps < 10000) {
    alone.step();
    ++alone_steps;
  }
  EXPECT_EQ(steps, alone_steps);
}

TEST(BridgeFairSchedulerTest, ManyStalledDevicesCannotTakeTheWholeCap) {
  // With the cap above (stalled devices x window), a healthy device always finds a slot.
  FairSchedulerSim sim(4, 2, 8, 10);
  sim.stall(0);
  sim.stall(1);
  sim.stall(2);
  for (int i = 0; i < 10; ++i) sim.step();
  EXPECT_EQ(sim.delivered(3).size(), 10u);
  EXPECT_EQ(sim.sched().in_flight(), 6u);
}

TEST(BridgeFairSchedulerTest, AnIdleDeviceRejoinsWhenWoken) {
  FairSchedulerSim sim(2, 4, 8, 0);
  EXPECT_EQ(sim.sched().in_flight(), 0u);
  EXPECT_EQ(sim.sched().waiting(), 0u);  // offered nothing: left the ring
  sim.add(1, 3);
  EXPECT_EQ(sim.sched().in_flight(1), 3u);
  for (int i = 0; i < 3; ++i) sim.step();
  EXPECT_EQ(sim.delivered(1), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(sim.sched().in_flight(), 0u);
}

// A helper for the reload cases: offers up to n from a per-device count of queued messages.
std::size_t offer_from(std::vector<std::size_t>& queued, std::size_t d, std::size_t n) {
  const std::size_t given = std::min(n, queued.at(d));
  queued[d] -= given;
  return given;
}

TEST(BridgeFairSchedulerTest, TakeBackFreesTheDevicesSlotsOfTheCap) {
  // A reload restarts device 0's session: what it had in flight goes back to the queue, and the cap's slots
  // it held are free for the others at once.
  fair_scheduler s(4, 4);
  std::vector<std::size_t> queued{10, 10};
  s.add_device();
  s.add_device();
  s.wake(0);
  s.wake(1);
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(0), 4u);
  EXPECT_EQ(s.in_flight(1), 0u);  // the cap is full
  queued[0] += 4;                 // the leases ended: the messages are queued again
  s.take_back(0);
  EXPECT_EQ(s.in_flight(), 0u);
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(1), 4u);  // device 1 was waiting in the ring and got the freed slots
  s.wake(0);
  s.settled(1);
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(0), 1u);
  EXPECT_EQ(s.in_flight(), 4u);
}

TEST(BridgeFairSchedulerTest, ARemovedDeviceIsNeverOfferedAndItsIndexIsReused) {
  fair_scheduler s(2, 10);
  std::vector<std::size_t> queued{5, 5, 5};
  for (int i = 0; i < 3; ++i) s.wake(s.add_device());
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(), 6u);
  s.settled(1);  // device 1 back in the ring...
  s.remove(1);   // ...and removed before the next run
  EXPECT_EQ(s.in_flight(), 4u);
  std::vector<std::size_t> offered_to;
  s.run([&](std::size_t d, std::size_t n) {
    offered_to.push_back(d);
    return offer_from(queued, d, n);
  });
  EXPECT_TRUE(std::find(offered_to.begin(), offered_to.end(), 1u) == offered_to.end());
  s.settled(1);  // a late answer of the removed device changes nothing
  EXPECT_EQ(s.in_flight(), 4u);
  // A device added later takes index 1 with a fresh window, and is served.
  EXPECT_EQ(s.add_device(), 1u);
  EXPECT_EQ(s.in_flight(1), 0u);
  queued[1] = 3;
  s.wake(1);
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(1), 2u);
  EXPECT_EQ(s.add_device(), 3u);  // no free index left
}

TEST(BridgeFairSchedulerTest, FreedIndicesAreReusedLowestFirstWhateverTheRemovalOrder) {
  fair_scheduler s(1, 10);
  for (int i = 0; i < 5; ++i) s.add_device();
  for (const std::size_t d : {3u, 0u, 4u, 2u}) s.remove(d);
  std::vector<std::size_t> got;
  for (int i = 0; i < 5; ++i) got.push_back(s.add_device());
  EXPECT_EQ(got, (std::vector<std::size_t>{0, 2, 3, 4, 5}));
}

TEST(BridgeFairSchedulerTest, ALoweredCapDrainsBeforeNewSlotsGoOut) {
  fair_scheduler s(8, 8);
  std::vector<std::size_t> queued{100};
  s.wake(s.add_device());
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(), 8u);
  s.set_cap(2);
  for (int i = 0; i < 6; ++i) {
    s.settled(0);
    s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
    EXPECT_EQ(s.in_flight(), 7u - i) << "settled " << i + 1;
  }
  s.settled(0);
  s.run([&](std::size_t d, std::size_t n) { return offer_from(queued, d, n); });
  EXPECT_EQ(s.in_flight(), 2u);  // below the new cap now: one more goes out
  s.set_cap(0);
  EXPECT_EQ(s.cap(), 1u);
}

TEST(BridgeFairSchedulerTest, ZeroLimitsMeanOne) {
  fair_scheduler s(0, 0);
  EXPECT_EQ(s.per_device(), 1u);
  EXPECT_EQ(s.cap(), 1u);
}

}  // namespace
}  // namespace gw::bridge
