#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/bridge/detail/sqlite.hpp"

namespace gw::bridge::detail {

// Moves SQLite's WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the
// connection that committed, after the commit (https://sqlite.org/wal.html#automatic_checkpoint), so the
// batch that crossed the threshold waited for the copy and its fsync: about every 130 ms at 1,000 msg/s, 2-3
// messages 3 ms late, which was the whole p99 of the gateway's added latency (docs/benchmarks.md).
//
// attach() replaces the writer connection's WAL hook (which also ends its automatic checkpoints, see
// sqlite3_wal_hook). After each commit the hook sees the WAL's size in pages: from `threshold` on, whenever
// `step` pages are not yet copied by the thread's last checkpoint, it wakes a thread with its own connection,
// which runs a PASSIVE checkpoint (never blocks the writer or readers). Each such checkpoint costs two fsyncs
// (WAL and database, synchronous=NORMAL): a larger `step` means fewer of them, but also fewer complete copies
// (durable_queue.cpp has the measured trade-off).
// SQLite starts the WAL file over only when a write begins after a checkpoint that copied everything, which a
// busy writer may never let the thread achieve; so from `hard_limit` pages on the hook waits for the thread's
// checkpoint to end and checkpoints inline, as SQLite's own hook does: that one copies everything (no other
// writer runs), the next commit starts the WAL over, and the file stays within `hard_limit` plus one commit.
class wal_checkpointer {
 public:
  // Opens its own connection to `path` and starts the thread. nullptr and `rc` on failure.
  static std::unique_ptr<wal_checkpointer> start(const std::string& path, int threshold, int step,
                                                 int hard_limit, const char* synchronous_pragma, int& rc);
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;
  ~wal_checkpointer();  // stops and joins the thread, then closes its connection

  // Installs the hook on the writer connection `db`; the checkpointer must outlive every commit on it (detach
  // or close that connection first).
  void attach(sqlite3* db);
  void detach(sqlite3* db);
  // Runs a checkpoint of `mode` (SQLITE_CHECKPOINT_*) on the writer connection `db` now, once the thread's
  // (if one runs) has ended, so that it is not refused as SQLITE_BUSY. Returns SQLite's code.
  int checkpoint_now(sqlite3* db, int mode);

  std::uint64_t background_checkpoints() const { return background_.load(std::memory_order_relaxed); }
  std::uint64_t inline_checkpoints() const { return inline_.load(std::memory_order_relaxed); }

 private:
  wal_checkpointer(int threshold, int step, int hard_limit)
      : threshold_(threshold), step_(step), hard_limit_(hard_limit) {}
  static int on_commit(void* self, sqlite3* db, const char* schema, int pages);
  void run();

  const int threshold_;
  const int step_;
  const int hard_limit_;
  db_ptr db_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::mutex checkpoint_mu_;  // held by whoever runs a checkpoint: the thread, or the hook at hard_limit
  bool due_ = false;
  bool stop_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> background_{0};
  std::atomic<std::uint64_t> inline_{0};
  std::atomic<int> copied_{0};  // WAL frames copied by the thread's last checkpoint (its pnCkpt)
};

}  // namespace gw::bridge::detail
