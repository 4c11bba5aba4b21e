// Quick enqueue throughput measurement: group commit with sync normal and full, and one commit per message
// (enqueue_sync) for comparison. Prints messages/s; asserts only that every completion fired.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "gateway/bridge/durable_queue.hpp"
#include "queue_fixture.hpp"

namespace gw::bridge {
namespace {

using BridgeThroughputTest = test::BridgeQueueTest;

double group_commit_rate(test::BridgeQueueTest& t, sync_mode sync, int n) {
  auto o = t.options();
  o.sync = sync;
  o.dir = o.dir / (sync == sync_mode::full ? "full" : "normal");
  std::error_code ec;
  auto q = durable_queue::open(o, ec);
  EXPECT_FALSE(ec);
  std::atomic<int> fired{0};
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    q->enqueue(
        test::BridgeQueueTest::msg("dev" + std::to_string(i % 10), std::string(100, 'p')),
        [&](std::uint64_t, std::error_code e) {
          EXPECT_FALSE(e);
          ++fired;
        },
        ec);
  }
  q->flush();
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(fired.load(), n);
  return n / secs;
}

double one_by_one_rate(test::BridgeQueueTest& t, sync_mode sync, int n) {
  auto o = t.options();
  o.sync = sync;
  o.dir = o.dir / (sync == sync_mode::full ? "full1" : "normal1");
  std::error_code ec;
  auto q = durable_queue::open(o, ec);
  EXPECT_FALSE(ec);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    q->enqueue_sync(test::BridgeQueueTest::msg("dev", std::string(100, 'p')), ec);
    EXPECT_FALSE(ec);
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return n / secs;
}

TEST_F(BridgeThroughputTest, EnqueueRates) {
  constexpr int n = 50000;
  auto normal = group_commit_rate(*this, sync_mode::normal, n);
  auto full = group_commit_rate(*this, sync_mode::full, n);
  auto normal1 = one_by_one_rate(*this, sync_mode::normal, 1000);
  auto full1 = one_by_one_rate(*this, sync_mode::full, 300);
  std::printf(
      "enqueue, group commit, 100 B payload, 10 devices: sync=normal %.0f msg/s, sync=full %.0f msg/s\n",
      normal, full);
  std::printf("enqueue_sync (one commit per message): sync=normal %.0f msg/s, sync=full %.0f msg/s\n",
              normal1, full1);
  RecordProperty("group_normal_per_s", static_cast<int>(normal));
  RecordProperty("group_full_per_s", static_cast<int>(full));
}

}  // namespace
}  // namespace gw::bridge
