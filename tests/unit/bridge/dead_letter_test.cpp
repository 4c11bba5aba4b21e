#include "gateway/bridge/dead_letter.hpp"

#include <gtest/gtest.h>

#include "gateway/bridge/error.hpp"
#include "queue_fixture.hpp"

namespace gw::bridge {
namespace {

using BridgeDeadLetterTest = test::BridgeQueueTest;

TEST_F(BridgeDeadLetterTest, MoveListReplayPurge) {
  auto q = open();
  std::error_code ec;
  auto a = q->enqueue_sync(msg("d", "a", 10), ec);
  auto b = q->enqueue_sync(msg("d", "b", 20), ec);
  auto c = q->enqueue_sync(msg("e", "c", 30), ec);
  ASSERT_FALSE(ec);
  auto head = q->peek("d", 1, ec);
  ASSERT_EQ(head.size(), 1u);
  q->record_attempt(a);
  EXPECT_FALSE(q->dead_letter(a, "4.03 Forbidden", 0x83, 5000));
  EXPECT_EQ(q->dead_letter(a, "again", 0, 5000), error::not_found);
  EXPECT_FALSE(q->dead_letter(c, "4.04 Not Found", 0x84, 6000));
  EXPECT_EQ(q->stats("d").depth, 1u);
  EXPECT_EQ(q->stats("e").depth, 0u);

  auto dl = q->dead_letters();
  auto all = dl.list({}, 100, ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, a);
  EXPECT_EQ(all[0].device_id, "d");
  EXPECT_EQ(all[0].mqtt_topic, "sensors/d");
  EXPECT_EQ(all[0].cloud_topic, "/pk/d/user/update");
  EXPECT_EQ(text(queued_message{0, "", "", "", all[0].payload, 0, 0}), "a");
  EXPECT_EQ(all[0].reason, "4.03 Forbidden");
  EXPECT_EQ(all[0].platform_code, 0x83);
  EXPECT_EQ(all[0].dead_ms, 5000);
  EXPECT_EQ(all[0].received_ms, 10);
  EXPECT_EQ(all[0].attempts, 1u);
  dead_letter_filter by_device;
  by_device.device_id = "e";
  EXPECT_EQ(dl.list(by_device, 100, ec).size(), 1u);
  dead_letter_filter by_time;
  by_time.dead_before_ms = 5500;
  EXPECT_EQ(dl.list(by_time, 100, ec).size(), 1u);
  dead_letter_filter paged;
  paged.after_id = a;
  EXPECT_EQ(dl.list(paged, 100, ec).size(), 1u);
  EXPECT_EQ(dl.list({}, 1, ec).size(), 1u);
  EXPECT_EQ(dl.count(ec), 2u);

  // Replay goes to the tail of the device queue with a new id.
  std::uint64_t ids[] = {a};
  EXPECT_EQ(dl.replay(ids, ec), 1u);
  ASSERT_FALSE(ec);
  EXPECT_EQ(dl.count(ec), 1u);
  auto d = q->peek("d", 10, ec);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].id, b);
  EXPECT_EQ(text(d[1]), "a");
  EXPECT_GT(d[1].id, c);
  EXPECT_EQ(d[1].attempts, 0u);
  EXPECT_EQ(d[1].received_ms, 10);

  EXPECT_EQ(dl.replay_all(ec), 1u);
  EXPECT_EQ(q->stats("e").depth, 1u);
  EXPECT_EQ(dl.count(ec), 0u);

  // Survives reopen.
  q->close();
  q = open();
  EXPECT_EQ(q->stats("d").depth, 2u);
  EXPECT_EQ(q->stats("e").depth, 1u);
}

TEST_F(BridgeDeadLetterTest, UnroutableMessagesHaveEmptyDeviceAndAreNotReplayed) {
  auto q = open();
  std::error_code ec;
  int fired = 0;
  auto m = msg("", "payload", 7);
  m.cloud_topic.clear();
  auto id = q->store_dead_letter(
      m, "unknown_device", 0, 100,
      [&](std::uint64_t, std::error_code e) {
        EXPECT_FALSE(e);
        ++fired;
      },
      ec);
  ASSERT_FALSE(ec);
  q->store_dead_letter(msg("d", std::string(2048, 'x')), "oversize 2048 > 1024", 0, 200, nullptr, ec);
  q->flush();
  EXPECT_EQ(fired, 1);
  auto dl = q->dead_letters();
  auto all = dl.list({}, 10, ec);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, id);
  EXPECT_EQ(all[0].device_id, "");
  EXPECT_EQ(all[0].reason, "unknown_device");
  EXPECT_EQ(all[1].reason, "oversize 2048 > 1024");
  EXPECT_EQ(dl.replay_all(ec), 1u) << "the unroutable one stays";
  EXPECT_EQ(dl.count(ec), 1u);
  EXPECT_EQ(q->stats("d").depth, 1u);
  EXPECT_EQ(q->stats("").depth, 0u);
}

TEST_F(BridgeDeadLetterTest, PurgeByIdsAgeAndAll) {
  auto q = open();
  std::error_code ec;
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(
        q->store_dead_letter(msg("d", std::to_string(i)), "4.00 Bad Request", 0x80, i * 100, nullptr, ec));
  }
  q->flush();
  auto dl = q->dead_letters();
  std::uint64_t two[] = {ids[0], ids[5]};
  EXPECT_EQ(dl.purge(two, ec), 2u);
  EXPECT_EQ(dl.purge(two, ec), 0u);
  EXPECT_EQ(dl.purge_older_than(300, ec), 2u);  // dead_ms 100, 200
  auto left = dl.list({}, 10, ec);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, ids[3]);
  EXPECT_EQ(dl.purge_all(ec), 2u);
  EXPECT_EQ(dl.count(ec), 0u);
  EXPECT_FALSE(ec);
}

}  // namespace
}  // namespace gw::bridge
