#include "gateway/bridge/detail/wal_checkpointer.hpp"

#include <pthread.h>

namespace gw::bridge::detail {

std::unique_ptr<wal_checkpointer> wal_checkpointer::start(const std::string& path, int threshold, int step,
                                                          int hard_limit, const char* synchronous_pragma,
                                                          int& rc) {
  std::unique_ptr<wal_checkpointer> c(new wal_checkpointer(threshold, step, hard_limit));
  sqlite3* raw = nullptr;
  rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  c->db_.reset(raw);
  if (rc != SQLITE_OK) return nullptr;
  // The checkpoint's fsyncs follow the connection's own setting: the same as the writer's.
  if (rc = exec(raw, synchronous_pragma); rc != SQLITE_OK) return nullptr;
  c->thread_ = std::thread([p = c.get()] { p->run(); });
  ::pthread_setname_np(c->thread_.native_handle(), "gw-wal-ckpt");
  return c;
}

wal_checkpointer::~wal_checkpointer() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void wal_checkpointer::attach(sqlite3* db) {
  sqlite3_wal_hook(db, &wal_checkpointer::on_commit, this);
}

void wal_checkpointer::detach(sqlite3* db) {
  sqlite3_wal_hook(db, nullptr, nullptr);
}

int wal_checkpointer::checkpoint_now(sqlite3* db, int mode) {
  std::lock_guard g(checkpoint_mu_);
  return sqlite3_wal_checkpoint_v2(db, nullptr, mode, nullptr, nullptr);
}

int wal_checkpointer::on_commit(void* self, sqlite3* db, const char* /*schema*/, int pages) {
  auto& c = *static_cast<wal_checkpointer*>(self);
  if (pages >= c.hard_limit_) {
    // Inline, like SQLite's default hook, once the thread's checkpoint (if one runs) has ended: a concurrent
    // one would make this one SQLITE_BUSY, and the WAL would grow past the limit meanwhile.
    if (c.checkpoint_now(db, SQLITE_CHECKPOINT_PASSIVE) == SQLITE_OK)
      c.inline_.fetch_add(1, std::memory_order_relaxed);
    return SQLITE_OK;
  }
  // Wake the thread once the WAL holds `step` pages its last checkpoint did not copy, unless it is already
  // due. A copied count above `pages` is from before the WAL started over.
  const int copied = c.copied_.load(std::memory_order_relaxed);
  if (pages >= c.threshold_ && (pages - copied >= c.step_ || copied > pages)) {
    {
      std::lock_guard lk(c.mu_);
      if (c.due_) return SQLITE_OK;
      c.due_ = true;
    }
    c.cv_.notify_one();
  }
  return SQLITE_OK;
}

void wal_checkpointer::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || due_; });
    if (stop_) return;
    due_ = false;
    lk.unlock();
    {
      std::lock_guard g(checkpoint_mu_);
      int copied = 0;
      if (sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied) ==
          SQLITE_OK) {
        copied_.store(copied, std::memory_order_relaxed);
        background_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    lk.lock();
  }
}

}  // namespace gw::bridge::detail
