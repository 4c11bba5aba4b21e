#include "gateway/bridge/durable_queue.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "gateway/bridge/error.hpp"
#include "queue_fixture.hpp"

namespace gw::bridge {
namespace {

using test::BridgeQueueTest;

// Runs one SQL statement on a database file outside the queue (to prepare or inspect it).
std::string sql_value(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  std::string out = "<error>";
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      auto* t = sqlite3_column_text(st, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    } else if (rc == SQLITE_DONE) {
      out = "";
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// Rows in the messages table, read through a connection of its own (what a commit made durable).
std::string message_rows(const std::filesystem::path& dir) {
  return sql_value(dir / "queue.db", "SELECT COUNT(*) FROM messages");
}

// Polls message_rows() until it is `expected` (at most 10 s): for commits the writer thread makes on its own,
// which nothing else announces. Returns the last count.
std::string wait_for_message_rows(const std::filesystem::path& dir, const std::string& expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string rows = message_rows(dir);
  while (rows != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rows = message_rows(dir);
  }
  return rows;
}

std::vector<std::string> drain_texts(durable_queue& q, const std::string& device, bool ack = true) {
  std::vector<std::string> out;
  for (;;) {
    std::error_code ec;
    auto batch = q.peek(device, 64, ec);
    EXPECT_FALSE(ec) << ec.message();
    if (batch.empty()) return out;
    for (auto& m : batch) {
      out.emplace_back(m.payload.begin(), m.payload.end());
      if (ack) {
        q.ack(m.id);
      } else {
        q.release(m.id);
      }
    }
    if (!ack) return out;
  }
}

TEST_F(BridgeQueueTest, FifoPerDeviceAcross100Devices) {
  auto q = open();
  std::mutex mu;
  std::map<std::uint64_t, int> fired;
  std::uint64_t last_id = 0;
  for (int i = 0; i < 100; ++i) {
    for (int dev = 0; dev < 100; ++dev) {
      std::error_code ec;
      auto id = q->enqueue(
          msg("dev" + std::to_string(dev), std::to_string(i)),
          [&](std::uint64_t fid, std::error_code e) {
            EXPECT_FALSE(e);
            std::lock_guard lk(mu);
            ++fired[fid];
          },
          ec);
      ASSERT_FALSE(ec);
      ASSERT_GT(id, last_id);
      last_id = id;
    }
  }
  q->flush();
  {
    std::lock_guard lk(mu);
    ASSERT_EQ(fired.size(), 10000u);
    for (auto& [id, n] : fired) ASSERT_EQ(n, 1) << id;
  }
  EXPECT_EQ(q->stats().total.depth, 10000u);
  EXPECT_EQ(q->devices_with_backlog().size(), 100u);
  for (int dev = 0; dev < 100; ++dev) {
    auto texts = drain_texts(*q, "dev" + std::to_string(dev));
    ASSERT_EQ(texts.size(), 100u);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(texts[static_cast<std::size_t>(i)], std::to_string(i));
  }
  EXPECT_EQ(q->stats().total.depth, 0u);
}

TEST_F(BridgeQueueTest, ReopenResumesEverythingInOrder) {
  std::uint64_t max_id = 0;
  {
    auto q = open();
    for (int i = 0; i < 50; ++i) {
      for (int dev = 0; dev < 5; ++dev) {
        std::error_code ec;
        max_id = q->enqueue(msg("d" + std::to_string(dev), std::to_string(i), 1000 + i), nullptr, ec);
        ASSERT_FALSE(ec);
      }
    }
    q->flush();
    // Ack the first 10 of d0.
    std::error_code ec;
    for (auto& m : q->peek("d0", 10, ec)) q->ack(m.id);
  }  // destructor closes
  auto q = open();
  EXPECT_EQ(q->devices_with_backlog(), (std::vector<std::string>{"d0", "d1", "d2", "d3", "d4"}));
  auto s = q->stats("d0");
  EXPECT_EQ(s.depth, 40u);
  EXPECT_EQ(s.oldest_received_ms, 1010);
  EXPECT_EQ(q->stats("d1").depth, 50u);
  EXPECT_EQ(q->stats().total.depth, 240u);
  auto d0 = drain_texts(*q, "d0");
  ASSERT_EQ(d0.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(d0[static_cast<std::size_t>(i)], std::to_string(i + 10));
  auto d3 = drain_texts(*q, "d3");
  ASSERT_EQ(d3.size(), 50u);
  EXPECT_EQ(d3.front(), "0");
  EXPECT_EQ(d3.back(), "49");
  std::error_code ec;
  EXPECT_GT(q->enqueue_sync(msg("d0", "new"), ec), max_id) << "ids never repeat after reopen";
  EXPECT_FALSE(ec);
}

// Consecutive entries of a device share their topic strings in memory (durable_queue.cpp, share()): a device
// whose topics change from message to message, and back, must still get each message's own, before and
// after a reopen (which rebuilds the index from SQLite).
TEST_F(BridgeQueueTest, EachMessageKeepsItsOwnTopicsWhenTheyAlternate) {
  const std::vector<std::string> kinds{"a", "a", "b", "a", "c", "c", "b"};
  const auto message = [](const std::string& kind, std::size_t i) {
    auto m = msg("d", std::to_string(i));
    m.mqtt_topic = "sensors/d/" + kind;
    m.cloud_topic = "/pk/d/user/" + kind;
    return m;
  };
  const auto expect_topics = [&](durable_queue& q) {
    std::error_code ec;
    const auto got = q.peek("d", 64, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(got.size(), kinds.size());
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      EXPECT_EQ(text(got[i]), std::to_string(i));
      EXPECT_EQ(got[i].mqtt_topic, "sensors/d/" + kinds[i]) << i;
      EXPECT_EQ(got[i].cloud_topic, "/pk/d/user/" + kinds[i]) << i;
      q.release(got[i].id);
    }
  };
  {
    auto q = open();
    std::error_code ec;
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      q->enqueue(message(kinds[i], i), nullptr, ec);
      ASSERT_FALSE(ec);
    }
    q->flush();
    expect_topics(*q);
  }
  auto q = open();
  expect_topics(*q);
}

TEST_F(BridgeQueueTest, PeekLeasesAckRemovesReleaseRetries) {
  auto q = open();
  std::error_code ec;
  auto a = q->enqueue_sync(msg("d", "a"), ec);
  auto b = q->enqueue_sync(msg("d", "b"), ec);
  ASSERT_FALSE(ec);
  auto first = q->peek("d", 1, ec);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, a);
  EXPECT_EQ(first[0].device_id, "d");
  EXPECT_EQ(first[0].mqtt_topic, "sensors/d");
  EXPECT_EQ(first[0].cloud_topic, "/pk/d/user/update");
  // Leased: the next peek skips it.
  auto second = q->peek("d", 1, ec);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, b);
  EXPECT_TRUE(q->peek("d", 5, ec).empty());
  q->record_attempt(a);
  q->record_attempt(a);
  q->release(a);
  auto again = q->peek("d", 5, ec);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, a);
  EXPECT_EQ(again[0].attempts, 2u);
  q->ack(a);
  q->ack(a);  // duplicate ack is ignored
  q->ack(999999);
  EXPECT_EQ(q->stats("d").depth, 1u);
  q->close();
  q = open();
  auto rest = q->peek("d", 5, ec);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, b);
}

// queue_options::ack_linger: a delete alone does not get a commit of its own. It goes with the next insert's
// commit, or once ack_batch deletes are pending, or at close.
TEST_F(BridgeQueueTest, DeletesWaitForCompanyUpToAckBatch) {
  auto o = options();
  o.ack_linger = std::chrono::hours(1);  // only company, the batch or close commits a delete here
  o.ack_batch = 3;
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 5; ++i) ASSERT_NE(q->enqueue_sync(msg("d", std::to_string(i)), ec), 0u) << ec.message();
  auto leased = q->peek("d", 5, ec);
  ASSERT_EQ(leased.size(), 5u);

  q->ack(leased[0].id);
  EXPECT_EQ(q->stats("d").depth, 4u);  // gone from the queue at once...
  EXPECT_EQ(message_rows(dir_), "5");  // ...and from the file with the next commit:
  ASSERT_NE(q->enqueue_sync(msg("d", "5"), ec), 0u) << ec.message();
  EXPECT_EQ(message_rows(dir_), "5");  // 6 inserted, 1 deleted

  q->ack(leased[1].id);
  q->ack(leased[2].id);
  EXPECT_EQ(message_rows(dir_), "5");  // 2 of ack_batch 3 pending
  q->ack(leased[3].id);
  EXPECT_EQ(wait_for_message_rows(dir_, "2"), "2");  // the third pending delete: a commit of their own

  q->ack(leased[4].id);
  q->close();
  EXPECT_EQ(message_rows(dir_), "1");
  q = open(o);
  auto rest = q->peek("d", 5, ec);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(text(rest[0]), "5");
}

// Without company a lone delete still commits, ack_linger after it was queued.
TEST_F(BridgeQueueTest, LoneDeleteCommitsAfterAckLinger) {
  auto o = options();
  o.ack_linger = std::chrono::milliseconds(20);
  auto q = open(o);
  std::error_code ec;
  ASSERT_NE(q->enqueue_sync(msg("d", "a"), ec), 0u) << ec.message();
  auto leased = q->peek("d", 1, ec);
  ASSERT_EQ(leased.size(), 1u);
  q->ack(leased[0].id);
  EXPECT_EQ(wait_for_message_rows(dir_, "0"), "0");
}

TEST_F(BridgeQueueTest, AttemptsArePersisted) {
  auto q = open();
  std::error_code ec;
  auto a = q->enqueue_sync(msg("d", "a"), ec);
  q->record_attempt(a);
  q->record_attempt(a);
  q->record_attempt(a);
  q->close();
  q = open();
  auto m = q->peek("d", 1, ec);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].attempts, 3u);
}

TEST_F(BridgeQueueTest, PayloadsBeyondCacheAreLoadedFromDisk) {
  auto o = options();
  o.payload_cache_per_device = 2;
  o.payload_cache_bytes = 0;
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 10; ++i) q->enqueue(msg("d", "payload-" + std::to_string(i)), nullptr, ec);
  q->flush();
  auto all = q->peek("d", 100, ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(all.size(), 10u);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(text(all[static_cast<std::size_t>(i)]), "payload-" + std::to_string(i));
}

// Beyond payload_cache_per_device, payloads stay in memory while all cached ones fit in payload_cache_bytes.
// Which ones are in memory shows when the rows are deleted behind the queue's back: those are still offered,
// the next one is not found.
TEST_F(BridgeQueueTest, PayloadCacheByteBudgetKeepsPayloadsBeyondThePerDeviceCount) {
  auto o = options();
  o.payload_cache_per_device = 1;
  o.payload_cache_bytes = 20;
  auto q = open(o);
  std::error_code ec;
  for (const char* p : {"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"}) q->enqueue(msg("d", p), nullptr, ec);
  q->flush();
  ASSERT_EQ(sql_value(dir_ / "queue.db", "DELETE FROM messages"), "");
  auto got = q->peek("d", 3, ec);
  EXPECT_EQ(ec, error::not_found) << "the third payload (over the budget) was not in memory";
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(text(got[0]), "aaaaaaaaaa");  // the device's one
  EXPECT_EQ(text(got[1]), "bbbbbbbbbb");  // within the 20-byte budget
}

TEST_F(BridgeQueueTest, RejectNewAtDeviceLimits) {
  auto o = options();
  o.max_messages_per_device = 3;
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 3; ++i) {
    q->enqueue(msg("d", std::to_string(i)), nullptr, ec);
    ASSERT_FALSE(ec);
  }
  EXPECT_EQ(q->enqueue(msg("d", "x"), nullptr, ec), 0u);
  EXPECT_EQ(ec, error::queue_full);
  q->enqueue(msg("d", "y"), nullptr, ec);
  EXPECT_EQ(ec, error::queue_full);
  q->enqueue(msg("other", "z"), nullptr, ec);
  EXPECT_FALSE(ec) << "another device is not affected";
  q->flush();
  EXPECT_EQ(q->stats("d").drops.queue_full_rejected, 2u);
  EXPECT_EQ(q->stats().total.drops.queue_full_rejected, 2u);
  EXPECT_EQ(drain_texts(*q, "d"), (std::vector<std::string>{"0", "1", "2"}));
}

TEST_F(BridgeQueueTest, RejectNewAtByteLimitAndOversizedMessage) {
  auto o = options();
  // bytes = payload + "sensors/d" (9) + "/pk/d/user/update" (17) = payload + 26.
  o.max_bytes_per_device = std::uint64_t{3} * (10 + 26);
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 3; ++i) q->enqueue(msg("d", std::string(10, 'a')), nullptr, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(q->stats("d").bytes, 108u);
  q->enqueue(msg("d", "b"), nullptr, ec);
  EXPECT_EQ(ec, error::queue_full);
  q->enqueue(msg("e", std::string(200, 'a')), nullptr, ec);
  EXPECT_EQ(ec, error::queue_full) << "larger than the whole device limit";
  EXPECT_EQ(q->stats("e").drops.queue_full_rejected, 1u);
}

TEST_F(BridgeQueueTest, DropOldestAtDeviceLimits) {
  auto o = options();
  o.max_messages_per_device = 3;
  o.when_full = full_policy::drop_oldest;
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 4; ++i) q->enqueue_sync(msg("d", std::to_string(i)), ec);
  // The next one is dropped while still pending (never written): the completion still fires once.
  std::atomic<int> fired{0};
  q->enqueue(
      msg("d", "4"),
      [&](std::uint64_t, std::error_code e) {
        EXPECT_FALSE(e);
        ++fired;
      },
      ec);
  q->enqueue(msg("d", "5"), nullptr, ec);
  q->enqueue(msg("d", "6"), nullptr, ec);
  q->enqueue(msg("d", "7"), nullptr, ec);
  ASSERT_FALSE(ec);
  q->flush();
  EXPECT_EQ(fired.load(), 1);
  EXPECT_EQ(q->stats("d").drops.queue_full_dropped_oldest, 5u);
  EXPECT_EQ(q->stats("d").depth, 3u);
  EXPECT_EQ(drain_texts(*q, "d", /*ack=*/false), (std::vector<std::string>{"5", "6", "7"}));
  q->close();
  q = open(o);
  EXPECT_EQ(drain_texts(*q, "d"), (std::vector<std::string>{"5", "6", "7"})) << "drops are persisted";
}

TEST_F(BridgeQueueTest, DiskCapRejectNew) {
  auto o = options();
  o.max_total_bytes = std::uint64_t{4} * (10 + 26);
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 2; ++i) q->enqueue(msg("d", std::string(10, 'a')), nullptr, ec);
  for (int i = 0; i < 2; ++i) q->enqueue(msg("e", std::string(10, 'a')), nullptr, ec);
  ASSERT_FALSE(ec);
  q->enqueue(msg("e", std::string(10, 'b')), nullptr, ec);
  EXPECT_EQ(ec, error::disk_cap);
  EXPECT_EQ(q->stats("e").drops.disk_cap, 1u);
  EXPECT_EQ(q->stats().total.drops.disk_cap, 1u);
}

TEST_F(BridgeQueueTest, DiskCapDropOldestTakesOnlyFromOwnDevice) {
  auto o = options();
  o.max_total_bytes = std::uint64_t{4} * (10 + 26);
  o.when_full = full_policy::drop_oldest;
  auto q = open(o);
  std::error_code ec;
  for (int i = 0; i < 3; ++i) q->enqueue(msg("d", std::string(10, 'a')), nullptr, ec);
  q->enqueue(msg("e", std::string(10, '0')), nullptr, ec);
  q->enqueue(msg("e", std::string(10, '1')), nullptr, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(q->stats("e").drops.disk_cap, 1u);
  EXPECT_EQ(q->stats("d").depth, 3u);
  EXPECT_EQ(q->stats("e").depth, 1u);
  // A device with nothing to drop cannot evict others: refused.
  q->enqueue(msg("f", std::string(10, 'x')), nullptr, ec);
  EXPECT_EQ(ec, error::disk_cap);
  EXPECT_EQ(q->stats("f").drops.disk_cap, 1u);
  EXPECT_EQ(q->stats("d").depth, 3u);
  q->flush();
  EXPECT_EQ(drain_texts(*q, "e"), (std::vector<std::string>{std::string(10, '1')}));
}

TEST_F(BridgeQueueTest, ExpireWithVirtualNow) {
  auto o = options();
  o.max_age_ms = 1000;
  auto q = open(o);
  std::error_code ec;
  q->enqueue(msg("d", "t0", 0), nullptr, ec);
  q->enqueue(msg("d", "t500", 500), nullptr, ec);
  q->enqueue(msg("d", "t1500", 1500), nullptr, ec);
  q->enqueue(msg("e", "t900", 900), nullptr, ec);
  q->flush();
  EXPECT_EQ(q->expire(1000), 0u) << "exactly max_age old is kept";
  EXPECT_EQ(q->expire(1001), 1u);
  EXPECT_EQ(q->expire(1600), 1u);
  EXPECT_EQ(q->stats("d").drops.expired_max_age, 2u);
  EXPECT_EQ(q->stats("d").oldest_received_ms, 1500);
  EXPECT_EQ(q->expire(1901), 1u);
  EXPECT_EQ(q->stats().total.drops.expired_max_age, 3u);
  q->close();
  q = open(o);
  EXPECT_EQ(drain_texts(*q, "d"), (std::vector<std::string>{"t1500"}));
  EXPECT_TRUE(drain_texts(*q, "e").empty());
}

TEST_F(BridgeQueueTest, CompletionsFireExactlyOnceForEveryMessage) {
  auto o = options();
  o.max_batch = 37;  // many rounds
  auto q = open(o);
  constexpr int n = 5000;
  std::vector<std::atomic<int>> fired(n + 1);
  std::vector<std::uint64_t> ids;
  std::thread other([&] {  // a second producer thread
    for (int i = 0; i < n / 2; ++i) {
      std::error_code ec;
      q->enqueue(
          msg("t2", std::to_string(i)),
          [&](std::uint64_t id, std::error_code e) {
            EXPECT_FALSE(e);
            ++fired[id];
          },
          ec);
    }
  });
  for (int i = 0; i < n / 2; ++i) {
    std::error_code ec;
    ids.push_back(q->enqueue(
        msg("t1", std::to_string(i)),
        [&](std::uint64_t id, std::error_code e) {
          EXPECT_FALSE(e);
          ++fired[id];
        },
        ec));
  }
  other.join();
  q->flush();
  for (int i = 1; i <= n; ++i) ASSERT_EQ(fired[static_cast<std::size_t>(i)].load(), 1) << i;
  EXPECT_EQ(fired[0].load(), 0);
}

// WAL checkpoints run on their own thread (detail/wal_checkpointer.hpp), not in the commit that crossed the
// threshold, and the WAL file stays bounded: 256 pages start one, 512 force one inline.
TEST_F(BridgeQueueTest, CheckpointsRunOffTheCommitPathAndBoundTheWal) {
  auto q = open();
  const std::string payload(1000, 'p');
  std::uintmax_t wal_max = 0;
  const auto wal = dir_ / (options().file_name + "-wal");
  for (int i = 0; i < 3000; ++i) {  // one commit (>= 1 page) each: 3000+ pages without checkpoints
    std::error_code ec;
    const auto id = q->enqueue_sync(msg("d" + std::to_string(i % 10), payload), ec);
    ASSERT_NE(id, 0u) << ec.message();
    if (i % 3 == 0) q->ack(id);
    std::error_code fs;
    wal_max = std::max(wal_max, std::filesystem::file_size(wal, fs));
  }
  q->flush();
  const auto s = q->stats();
  EXPECT_GT(s.background_checkpoints, 0u);
  // 512 pages of 4 KiB plus frame headers, and the commit that crossed them.
  EXPECT_LT(wal_max, 520u * (4096 + 24))
      << "background " << s.background_checkpoints << ", inline " << s.inline_checkpoints;
  EXPECT_EQ(s.total.depth, 2000u);
}

TEST_F(BridgeQueueTest, CrashAfterCompletionLosesNothing) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  constexpr int n = 3000;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::error_code ec;
    auto o = options();
    o.sync = sync_mode::normal;
    o.max_batch = 50;
    auto q = durable_queue::open(o, ec);
    if (!q) ::_exit(2);
    std::atomic<int> done{0};
    for (int i = 0; i < n; ++i) {
      q->enqueue(
          msg("d" + std::to_string(i % 7), std::to_string(i)),
          [&](std::uint64_t id, std::error_code e) {
            if (!e) {
              // Reported durable: tell the parent before anything else can happen.
              [[maybe_unused]] auto w = ::write(fds[1], &id, sizeof id);
            }
            ++done;
          },
          ec);
    }
    while (done.load() < n / 2) std::this_thread::yield();
    ::_exit(0);  // no close, no destructor, writer thread possibly mid-commit
  }
  ::close(fds[1]);
  std::set<std::uint64_t> reported;
  std::uint64_t id;
  while (::read(fds[0], &id, sizeof id) == static_cast<ssize_t>(sizeof id)) reported.insert(id);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_GE(reported.size(), static_cast<std::size_t>(n / 2));

  auto q = open();
  std::set<std::uint64_t> present;
  for (int dev = 0; dev < 7; ++dev) {
    std::error_code ec;
    auto all = q->peek("d" + std::to_string(dev), n, ec);
    ASSERT_FALSE(ec);
    int last = -1;
    for (auto& m : all) {
      present.insert(m.id);
      int value = std::stoi(text(m));
      EXPECT_EQ(value % 7, dev);
      EXPECT_GT(value, last) << "order kept";
      last = value;
    }
  }
  for (auto r : reported)
    EXPECT_TRUE(present.count(r)) << "message " << r << " was reported durable but is lost";
  EXPECT_EQ(sql_value(dir_ / "queue.db", "PRAGMA integrity_check"), "ok");
}

// SQLITE_FULL (here from max_page_count) holds what cannot be written: nothing accepted is failed or lost,
// the order is kept, and everything commits once space returns.
TEST_F(BridgeQueueTest, DiskFullHoldsMessagesUntilSpaceReturns) {
  auto q = open();
  std::error_code ec;
  for (int i = 0; i < 5; ++i) q->enqueue_sync(msg("d", "before" + std::to_string(i)), ec);
  ASSERT_FALSE(ec);
  ASSERT_GT(q->set_max_page_count(1), 0u);  // clamped to the current size: no page may be added
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::uint64_t, std::error_code> results;
  for (int i = 0; i < 200; ++i) {
    q->enqueue(
        msg("d", std::to_string(i) + std::string(4000, static_cast<char>('a' + i % 26))),
        [&](std::uint64_t id, std::error_code e) {
          std::lock_guard lk(mu);
          EXPECT_TRUE(results.emplace(id, e).second) << "fired twice";
          cv.notify_all();
        },
        ec);
    ASSERT_FALSE(ec);
  }
  q->flush();
  std::size_t ok = 0;
  {
    std::lock_guard lk(mu);
    for (auto& [id, e] : results) EXPECT_FALSE(e) << "a held message was failed: " << e.message();
    ok = results.size();
  }
  ASSERT_LT(ok, 200u) << "the disk never filled";
  auto s = q->stats();
  EXPECT_TRUE(s.storage_failing);
  EXPECT_GT(s.held_for_space, 0u);
  EXPECT_EQ(s.last_error, error::disk_full);
  EXPECT_GT(s.write_errors, 0u);
  EXPECT_EQ(q->stats("d").depth, 5u + 200u) << "held messages stay queued";
  // Only the committed prefix is offered; acks still work while full.
  auto head = q->peek("d", 1000, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(head.size(), 5u + ok);
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(text(head[0]), "before0");
  q->ack(head[0].id);
  for (std::size_t i = 1; i < head.size(); ++i) q->release(head[i].id);

  q->set_max_page_count(0);  // space returns
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return results.size() == 200; }))
        << results.size() << " of 200 committed after space returned";
    for (auto& [id, e] : results) EXPECT_FALSE(e) << e.message();
  }
  q->enqueue_sync(msg("d", "after"), ec);
  EXPECT_FALSE(ec) << ec.message();
  s = q->stats();
  EXPECT_FALSE(s.storage_failing);
  EXPECT_EQ(s.held_for_space, 0u);
  q->close();
  EXPECT_EQ(sql_value(dir_ / "queue.db", "PRAGMA integrity_check"), "ok");
  q = open();
  auto texts = drain_texts(*q, "d");
  ASSERT_EQ(texts.size(), 4u + 200u + 1u);
  EXPECT_EQ(texts.front(), "before1");
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(
        texts[static_cast<std::size_t>(4 + i)].rfind(std::to_string(i) + std::string(1, 'a' + i % 26), 0), 0u)
        << "order kept at " << i;
  }
  EXPECT_EQ(texts.back(), "after");
}

// close() while the disk is still full fails what is held (each completion runs once, with disk_full).
// after_inserts promises "committed": while inserts wait for disk space it waits too (flush() returns), and
// it runs once they are written. The gateway advances the intake journal's watermark with it.
TEST_F(BridgeQueueTest, AfterInsertsWaitsForInsertsHeldForDiskSpace) {
  auto q = open();
  std::error_code ec;
  q->enqueue_sync(msg("d", "before"), ec);
  ASSERT_FALSE(ec);
  ASSERT_GT(q->set_max_page_count(1), 0u);
  std::atomic<int> completed{0};
  for (int i = 0; i < 50; ++i) {
    q->enqueue(
        msg("d", std::string(4000, 'x')), [&](std::uint64_t, std::error_code) { ++completed; }, ec);
    ASSERT_FALSE(ec);
  }
  std::promise<int> ran;
  q->after_inserts([&] { ran.set_value(completed.load()); });
  auto done = ran.get_future();
  q->flush();  // one more round: the inserts are held
  ASSERT_GT(q->stats().held_for_space, 0u) << "the disk never filled";
  EXPECT_EQ(done.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "ran while inserts before it were held";
  q->set_max_page_count(0);  // space returns
  EXPECT_EQ(done.get(), 50) << "ran before every earlier insert completed";
}

TEST_F(BridgeQueueTest, DiskFullHeldMessagesFailAtClose) {
  auto q = open();
  std::error_code ec;
  q->enqueue_sync(msg("d", "before"), ec);
  ASSERT_FALSE(ec);
  ASSERT_GT(q->set_max_page_count(1), 0u);
  std::mutex mu;
  std::vector<std::error_code> results;
  for (int i = 0; i < 50; ++i) {
    q->enqueue(
        msg("d", std::string(4000, 'x')),
        [&](std::uint64_t, std::error_code e) {
          std::lock_guard lk(mu);
          results.push_back(e);
        },
        ec);
    ASSERT_FALSE(ec);
  }
  q->flush();
  ASSERT_GT(q->stats().held_for_space, 0u);
  q->close();
  std::size_t failed = 0;
  for (auto e : results) failed += e == error::disk_full;
  EXPECT_EQ(results.size(), 50u);
  EXPECT_GT(failed, 0u);
  EXPECT_EQ(sql_value(dir_ / "queue.db", "PRAGMA integrity_check"), "ok");
}

TEST_F(BridgeQueueTest, MigratesOlderSchemaVersion) {
  std::filesystem::create_directories(dir_);
  auto file = dir_ / "queue.db";
  // An unversioned (version 0) file from before the schema existed, with unrelated content.
  ASSERT_EQ(sql_value(file, "CREATE TABLE legacy(x)"), "");
  ASSERT_EQ(sql_value(file, "PRAGMA user_version"), "0");
  {
    auto q = open();
    std::error_code ec;
    q->enqueue_sync(msg("d", "x"), ec);
    EXPECT_FALSE(ec);
  }
  EXPECT_EQ(sql_value(file, "PRAGMA user_version"), "2");
  EXPECT_EQ(sql_value(file, "SELECT count(*) FROM legacy"), "0");
  EXPECT_EQ(sql_value(file, "SELECT count(*) FROM messages"), "1");
  EXPECT_EQ(sql_value(file, "PRAGMA journal_mode"), "wal");
}

// Schema v2: the intake journal's watermark is the highest intake_seq committed, with the insert that
// carries it (messages and dead letters alike), and a reopen reports it.
TEST_F(BridgeQueueTest, IntakeSeqIsCommittedWithItsInsertAndReportedAtOpen) {
  {
    auto q = open();
    EXPECT_EQ(q->intake_seq_at_open(), 0u);
    std::error_code ec;
    auto m = msg("d", "a");
    m.intake_seq = 7;
    q->enqueue_sync(m, ec);
    ASSERT_FALSE(ec);
    auto older = msg("d", "b");
    older.intake_seq = 5;  // a replayed, older record never lowers it
    q->enqueue_sync(older, ec);
    ASSERT_FALSE(ec);
    q->enqueue_sync(msg("d", "no journal"), ec);  // intake_seq 0
    ASSERT_FALSE(ec);
  }
  EXPECT_EQ(sql_value(dir_ / "queue.db", "SELECT seq FROM intake"), "7");
  {
    auto q = open();
    EXPECT_EQ(q->intake_seq_at_open(), 7u);
    auto dead = msg("", "oversize");
    dead.intake_seq = 9;
    std::promise<std::error_code> done;
    std::error_code ec;
    q->store_dead_letter(
        dead, "oversize", 0, 1, [&](std::uint64_t, std::error_code e) { done.set_value(e); }, ec);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(done.get_future().get());
  }
  EXPECT_EQ(open()->intake_seq_at_open(), 9u);
}

// after_inserts runs once every insert submitted before it has completed (the gateway settles a journal
// record that never reaches the writer this way, gateway/app/gateway.cpp).
TEST_F(BridgeQueueTest, AfterInsertsRunsOnceTheEarlierInsertsCompleted) {
  auto q = open();
  std::atomic<int> completed{0};
  std::promise<int> seen;
  std::error_code ec;
  for (int i = 0; i < 200; ++i) {
    q->enqueue(
        msg("d" + std::to_string(i % 3), "m"), [&](std::uint64_t, std::error_code) { ++completed; }, ec);
    ASSERT_FALSE(ec);
  }
  q->after_inserts([&] { seen.set_value(completed.load()); });
  EXPECT_EQ(seen.get_future().get(), 200);
}

TEST_F(BridgeQueueTest, RefusesNewerSchemaVersion) {
  std::filesystem::create_directories(dir_);
  auto file = dir_ / "queue.db";
  ASSERT_EQ(sql_value(file, "PRAGMA user_version=3"), "");
  std::error_code ec;
  auto q = durable_queue::open(options(), ec);
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(ec, error::schema_too_new);
  EXPECT_EQ(ec.message(), "queue database schema is newer than this gateway");
  EXPECT_EQ(sql_value(file, "PRAGMA user_version"), "3") << "left untouched";
}

TEST_F(BridgeQueueTest, CorruptFileIsAnErrorCode) {
  std::filesystem::create_directories(dir_);
  {
    std::FILE* f = std::fopen((dir_ / "queue.db").c_str(), "wb");
    std::string junk(8192, 'j');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  std::error_code ec;
  auto q = durable_queue::open(options(), ec);
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(ec, error::corrupt);
}

TEST_F(BridgeQueueTest, ClosedQueueRefuses) {
  auto q = open();
  q->close();
  std::error_code ec;
  EXPECT_EQ(q->enqueue(msg("d", "x"), nullptr, ec), 0u);
  EXPECT_EQ(ec, error::closed);
  q->peek("d", 1, ec);
  EXPECT_EQ(ec, error::closed);
  q->flush();  // returns
}

}  // namespace
}  // namespace gw::bridge
