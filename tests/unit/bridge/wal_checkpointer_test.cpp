#include "gateway/bridge/detail/wal_checkpointer.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include "tests/unit/bridge/queue_fixture.hpp"

namespace gw::bridge::detail {
namespace {

using WalCheckpointerTest = test::BridgeQueueTest;

// A WAL-mode database with one table, as the queue's writer connection sees it.
db_ptr open_wal_db(const std::string& path) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  db_ptr db(raw);
  EXPECT_EQ(exec(raw, "PRAGMA journal_mode=WAL"), SQLITE_OK);
  EXPECT_EQ(exec(raw, "PRAGMA synchronous=NORMAL"), SQLITE_OK);
  EXPECT_EQ(exec(raw, "CREATE TABLE t(b BLOB)"), SQLITE_OK);
  return db;
}

// One commit of one ~3 KiB row: at least one new WAL page each.
void commit_row(sqlite3* db) {
  ASSERT_EQ(exec(db, "INSERT INTO t VALUES(zeroblob(3000))"), SQLITE_OK);
}

std::int64_t rows(sqlite3* db) {
  std::int64_t n = -1;
  EXPECT_EQ(query_int64(db, "SELECT count(*) FROM t", n), SQLITE_OK);
  return n;
}

// The thread is woken only once `step` WAL pages are not yet copied: with a step beyond the hard limit it
// never is, and the writer's inline checkpoint alone keeps the WAL within hard_limit pages plus one commit
// (wal_checkpointer.hpp). Deterministic: nothing here depends on when the thread runs.
TEST_F(WalCheckpointerTest, AStepBeyondTheHardLimitLeavesEveryCheckpointInline) {
  const std::string path = (dir_ / "q.db").string();
  auto db = open_wal_db(path);
  int rc = SQLITE_OK;
  auto ckpt = wal_checkpointer::start(path, 8, 100000, 64, "PRAGMA synchronous=NORMAL", rc);
  ASSERT_NE(ckpt, nullptr) << rc;
  ckpt->attach(db.get());
  std::uintmax_t wal_max = 0;
  for (int i = 0; i < 300; ++i) {
    commit_row(db.get());
    std::error_code ec;
    wal_max = std::max(wal_max, std::filesystem::file_size(path + "-wal", ec));
  }
  EXPECT_EQ(ckpt->background_checkpoints(), 0U);
  EXPECT_GT(ckpt->inline_checkpoints(), 0U);
  EXPECT_LT(wal_max, 70U * (4096 + 24));  // 64 pages of 4 KiB plus frame headers, and one commit's pages
  EXPECT_EQ(rows(db.get()), 300);
  ckpt->detach(db.get());
}

// checkpoint_now runs the requested mode on the writer's connection: TRUNCATE copies everything and empties
// the WAL file (the disk-full path in durable_queue relies on it).
TEST_F(WalCheckpointerTest, CheckpointNowTruncatesTheWal) {
  const std::string path = (dir_ / "q.db").string();
  auto db = open_wal_db(path);
  int rc = SQLITE_OK;
  auto ckpt = wal_checkpointer::start(path, 100000, 1, 200000, "PRAGMA synchronous=NORMAL", rc);
  ASSERT_NE(ckpt, nullptr) << rc;
  ckpt->attach(db.get());
  for (int i = 0; i < 20; ++i) commit_row(db.get());
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0U);
  EXPECT_EQ(ckpt->checkpoint_now(db.get(), SQLITE_CHECKPOINT_TRUNCATE), SQLITE_OK);
  EXPECT_EQ(std::filesystem::file_size(path + "-wal"), 0U);
  EXPECT_EQ(rows(db.get()), 20);
  ckpt->detach(db.get());
}

}  // namespace
}  // namespace gw::bridge::detail
