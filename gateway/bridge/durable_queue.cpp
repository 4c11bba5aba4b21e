#include "gateway/bridge/durable_queue.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <limits>

#include "gateway/bridge/detail/sqlite.hpp"
#include "gateway/bridge/detail/wal_checkpointer.hpp"
#include "gateway/bridge/error.hpp"

namespace gw::bridge {
namespace {

using detail::statement;

// Schema v1. Ids are assigned by the queue (not AUTOINCREMENT) so that enqueue() can return them before the
// commit; they are unique across both tables so a replayed or dead-lettered message never collides.
constexpr const char* schema_v1 =
    "CREATE TABLE IF NOT EXISTS messages("
    " id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, mqtt_topic TEXT NOT NULL, cloud_topic TEXT NOT NULL,"
    " payload BLOB NOT NULL, received_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS dead_letters("
    " id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, mqtt_topic TEXT NOT NULL, cloud_topic TEXT NOT NULL,"
    " payload BLOB NOT NULL, reason TEXT NOT NULL, platform_code INTEGER NOT NULL, dead_ms INTEGER NOT NULL,"
    " received_ms INTEGER NOT NULL, attempts INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters(dead_ms);";

// Schema v2: the intake journal's watermark (gateway/bridge/intake_journal.hpp), written in the same
// transaction as the inserts that carry it, so that after a crash exactly the journal records above it are
// replayed.
constexpr const char* schema_v2 =
    "CREATE TABLE IF NOT EXISTS intake(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);";

// Migration step from version i to i + 1 (index i). Version 0 is an unversioned (empty or pre-release) file.
constexpr const char* migrations[] = {schema_v1, schema_v2};
static_assert(std::size(migrations) == durable_queue::schema_version);

// SQLite's largest page count (SQLITE_MAX_PAGE_COUNT); the pragma clamps to the compiled-in limit.
constexpr std::uint64_t default_max_pages = 4294967294ULL;

std::uint64_t message_bytes(std::size_t payload, const std::string& a, const std::string& b) {
  return payload + a.size() + b.size();
}

}  // namespace

struct durable_queue::impl {
  using shared_topic = std::shared_ptr<const std::string>;
  struct entry {
    std::uint64_t id = 0;
    shared_topic mqtt_topic;  // never null; shared with the device's neighbouring entries (share())
    shared_topic cloud_topic;
    std::int64_t received_ms = 0;
    std::uint32_t attempts = 0;
    std::uint64_t bytes = 0;
    bool durable = false;
    bool leased = false;
    std::shared_ptr<const std::vector<std::uint8_t>> payload;  // null: read from SQLite on peek
  };
  struct device_queue {
    std::deque<entry> q;  // sorted by id = arrival order
    std::uint64_t bytes = 0;
    std::size_t cached = 0;
    drop_counters drops;
  };
  // The index keeps every queued message in memory (the payload only for the first few per device), so its
  // size per message bounds the gateway's memory under a long outage. A route gives a device few topics:
  // consecutive entries share one string instead of holding two copies each, and `where` points at the
  // device's queue instead of holding its name: ~290 -> ~130 B of heap per queued message (docs/operations.md
  // "Memory").
  static shared_topic share(const device_queue& dq, const std::string& topic, shared_topic entry::*member) {
    if (!dq.q.empty()) {
      const shared_topic& last = dq.q.back().*member;
      if (*last == topic) return last;
    }
    return std::make_shared<const std::string>(topic);
  }
  struct pending_insert {
    std::uint64_t id = 0;
    std::string device_id;
    std::string mqtt_topic;
    std::string cloud_topic;
    std::shared_ptr<const std::vector<std::uint8_t>> payload;
    std::int64_t received_ms = 0;
    std::uint64_t intake_seq = 0;  // queued_message::intake_seq
    completion done;
    bool skip = false;         // dropped before it was taken: not written, still completed
    bool dead = false;         // goes straight to dead_letters
    std::string reason;        // dead only
    int platform_code = 0;     // dead only
    std::int64_t dead_ms = 0;  // dead only
  };
  struct pending_move {
    std::uint64_t id;
    std::string reason;
    int platform_code;
    std::int64_t dead_ms;
    std::uint32_t attempts;
  };
  struct maintenance {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> attempts;
    std::vector<pending_move> moves;
    std::vector<std::uint64_t> deletes;
    bool empty() const { return attempts.empty() && moves.empty() && deletes.empty(); }
  };
  struct task {
    std::uint64_t inserts_barrier;
    std::uint64_t maint_barrier;
    std::function<void()> fn;
  };

  explicit impl(const queue_options& o) : opt(o) {}

  const queue_options& opt;
  detail::db_ptr wdb;                                      // writer thread (and open/close)
  detail::db_ptr rdb;                                      // peek payload reads, under mu
  std::unique_ptr<detail::wal_checkpointer> checkpointer;  // hooked into wdb
  statement ins_msg, ins_dead, upd_attempts, move_dead, del_msg, sel_payload, set_intake;
  statement begin_tx, commit_tx, rollback_tx;  // prepared once: sqlite3_exec would parse them every round

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool closed = false;
  std::thread writer;
  std::thread::id writer_id;

  std::map<std::string, device_queue, std::less<>> devices;  // never erased: `where` points into it
  std::unordered_map<std::uint64_t, device_queue*> where;    // queued id -> its device's queue
  std::uint64_t total_bytes = 0;
  std::uint64_t cached_bytes = 0;  // payload bytes held in memory (entry::payload), all devices
  std::uint64_t next_id = 1;
  std::uint64_t intake_seq_at_open = 0;

  std::deque<pending_insert> inserts;  // sorted by id
  maintenance maint;
  std::deque<task> tasks;
  // after_inserts(): like tasks, but an insert held for disk space holds them too (they promise "committed").
  std::deque<task> settles;
  std::uint64_t inserts_submitted = 0, inserts_taken = 0, maint_submitted = 0, maint_taken = 0;
  // Inserts committed or failed for good; a batch held for disk space counts when it is finally written
  // (inserts_taken counts it at every attempt).
  std::uint64_t inserts_done = 0;
  std::uint64_t write_errors = 0;
  std::error_code last_error;
  bool failing = false;  // the last commit attempt failed
  // The last write failed (disk full, I/O): wait before the next attempt, unless new work arrives.
  bool backoff = false;
  // Inserts at the front of `inserts` put back after SQLITE_FULL: neither committed nor failed, retried until
  // space returns (or failed at close), so their completions (and the broker's acknowledgement) wait.
  std::size_t held = 0;

  // ---- index helpers (mu held) ----

  // The queued message `id`: sets `dq` and returns its position, or returns nullopt.
  std::optional<std::deque<entry>::iterator> find(std::uint64_t id, device_queue*& dq) {
    auto w = where.find(id);
    if (w == where.end()) return std::nullopt;
    auto& q = w->second->q;
    auto it =
        std::lower_bound(q.begin(), q.end(), id, [](const entry& e, std::uint64_t v) { return e.id < v; });
    if (it == q.end() || it->id != id) return std::nullopt;
    dq = w->second;
    return it;
  }

  void erase(device_queue& dq, const std::deque<entry>::iterator& it) {
    dq.bytes -= it->bytes;
    total_bytes -= it->bytes;
    if (it->payload) {
      --dq.cached;
      cached_bytes -= it->payload->size();
    }
    where.erase(it->id);
    dq.q.erase(it);
  }

  // Removes a message that is being dropped and makes sure it leaves the database too.
  void drop(device_queue& dq, const std::deque<entry>::iterator& it) {
    auto id = it->id;
    bool durable = it->durable;
    erase(dq, it);
    if (!durable) {
      auto p = std::lower_bound(inserts.begin(), inserts.end(), id,
                                [](const pending_insert& e, std::uint64_t v) { return e.id < v; });
      if (p != inserts.end() && p->id == id) {
        p->skip = true;  // never written
        return;
      }
    }
    // Already written or in the writer's current round: deleted by a later round.
    maint.deletes.push_back(id);
    ++maint_submitted;
  }

  // ---- writer thread ----

  bool has_work() const {
    if (!inserts.empty()) return true;
    if (!maint.empty() && !backoff) return true;
    return settle_ready() || task_ready();
  }

  // The first run_task() function may run: what was submitted before it has been through a round.
  bool task_ready() const {
    return !tasks.empty() && tasks.front().inserts_barrier <= inserts_taken &&
           tasks.front().maint_barrier <= maint_taken;
  }

  // The first after_inserts() callback may run: every insert before it is committed or failed for good.
  bool settle_ready() const { return !settles.empty() && settles.front().inserts_barrier <= inserts_done; }

  // Work that does not wait for company (queue_options::ack_linger): all but a few deletes.
  bool has_urgent_work() const {
    if (!inserts.empty() || !tasks.empty() || settle_ready()) return true;
    if (backoff) return false;
    return !maint.attempts.empty() || !maint.moves.empty() || maint.deletes.size() >= opt.ack_batch;
  }

  // Whether queueing a delete must wake the writer: the first one starts its linger, the ack_batch-th ends
  // it. Notifying the others would only wake it to wait again.
  bool delete_wakes_writer() const {
    return maint.deletes.size() == 1 || maint.deletes.size() >= opt.ack_batch || opt.ack_linger.count() == 0;
  }

  int write_maintenance(const maintenance& m) {
    for (const auto& [id, n] : m.attempts) {
      upd_attempts.bind(1, static_cast<std::int64_t>(n));
      upd_attempts.bind(2, static_cast<std::int64_t>(id));
      int rc = upd_attempts.step();
      upd_attempts.reset();
      if (rc != SQLITE_DONE) return rc;
    }
    for (const auto& mv : m.moves) {
      move_dead.bind(1, mv.reason);
      move_dead.bind(2, static_cast<std::int64_t>(mv.platform_code));
      move_dead.bind(3, mv.dead_ms);
      move_dead.bind(4, static_cast<std::int64_t>(mv.attempts));
      move_dead.bind(5, static_cast<std::int64_t>(mv.id));
      int rc = move_dead.step();
      move_dead.reset();
      if (rc != SQLITE_DONE) return rc;
      del_msg.bind(1, static_cast<std::int64_t>(mv.id));
      rc = del_msg.step();
      del_msg.reset();
      if (rc != SQLITE_DONE) return rc;
    }
    for (auto id : m.deletes) {
      del_msg.bind(1, static_cast<std::int64_t>(id));
      int rc = del_msg.step();
      del_msg.reset();
      if (rc != SQLITE_DONE) return rc;
    }
    return SQLITE_OK;
  }

  int write_inserts(const std::vector<pending_insert>& batch) {
    std::uint64_t intake = 0;
    for (const auto& p : batch) {
      intake = std::max(intake, p.intake_seq);  // a skipped (dropped) one is settled too
      if (p.skip) continue;
      statement& st = p.dead ? ins_dead : ins_msg;
      st.bind(1, static_cast<std::int64_t>(p.id));
      st.bind(2, p.device_id);
      st.bind(3, p.mqtt_topic);
      st.bind(4, p.cloud_topic);
      st.bind(5, std::span<const std::uint8_t>(*p.payload));
      st.bind(6, p.received_ms);
      if (p.dead) {
        st.bind(7, p.reason);
        st.bind(8, static_cast<std::int64_t>(p.platform_code));
        st.bind(9, p.dead_ms);
      }
      int rc = st.step();
      st.reset();
      if (rc != SQLITE_DONE) return rc;
    }
    if (intake != 0) {
      set_intake.bind(1, static_cast<std::int64_t>(intake));
      int rc = set_intake.step();
      set_intake.reset();
      if (rc != SQLITE_DONE) return rc;
    }
    return SQLITE_OK;
  }

  // One transaction; rolled back on failure.
  template <class F>
  int transaction(F&& body) {
    int rc = run_once(begin_tx);
    if (rc != SQLITE_OK) return rc;
    rc = body();
    if (rc == SQLITE_OK) rc = run_once(commit_tx);
    if (rc != SQLITE_OK) run_once(rollback_tx);
    return rc;
  }

  // Steps a statement without results once: SQLITE_OK or the error.
  static int run_once(statement& st) {
    int rc = st.step();
    st.reset();
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  void note_failure(int rc) {  // mu held
    ++write_errors;
    last_error = detail::sqlite_error(rc);
  }

  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      if (backoff && !stop) {
        // The last write failed (disk full, I/O): retry it later, or with the next new insert or task.
        cv.wait_for(lk, std::chrono::milliseconds(100),
                    [&] { return stop || inserts.size() > held || !tasks.empty(); });
        backoff = false;
      }
      cv.wait(lk, [&] { return stop || has_work(); });
      if (!stop && !has_urgent_work() && opt.ack_linger.count() > 0) {
        cv.wait_for(lk, opt.ack_linger, [&] { return stop || has_urgent_work(); });
      }
      if (stop && !has_work()) break;

      std::vector<pending_insert> batch;
      std::size_t n = std::min(inserts.size(), std::max<std::size_t>(opt.max_batch, 1));
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(inserts.front()));
        inserts.pop_front();
      }
      inserts_taken += n;
      maintenance m;
      std::swap(m, maint);
      maint_taken = maint_submitted;
      lk.unlock();

      int rc = SQLITE_OK;
      int maint_rc = SQLITE_OK;
      if (!batch.empty() || !m.empty()) {
        rc = transaction([&] {
          int r = write_inserts(batch);
          return r == SQLITE_OK ? write_maintenance(m) : r;
        });
        maint_rc = rc;
        if (rc != SQLITE_OK && !batch.empty() && !m.empty()) {
          // The inserts may be what failed (disk full): acks and moves must not be lost with them.
          maint_rc = transaction([&] { return write_maintenance(m); });
        }
      }
      if ((rc & 0xff) == SQLITE_FULL || (maint_rc & 0xff) == SQLITE_FULL) {
        // The room may be the WAL's own: checkpoints follow successful commits only
        // (detail/wal_checkpointer), so on a small disk the WAL itself can keep every commit failing after
        // space returns. Copy it into the database and truncate it before the retry
        // (https://sqlite.org/pragma.html#pragma_wal_checkpoint), after the checkpoint thread's current copy,
        // which would make this one SQLITE_BUSY.
        checkpointer->checkpoint_now(wdb.get(), SQLITE_CHECKPOINT_TRUNCATE);
      }

      lk.lock();
      std::error_code ec = detail::sqlite_error(rc);
      if (rc != SQLITE_OK) note_failure(rc);
      if (!batch.empty() || !m.empty()) failing = rc != SQLITE_OK || maint_rc != SQLITE_OK;
      // SQLITE_FULL: the disk (or max_page_count) has no room now, but will again. The inserts stay queued,
      // not durable (peek() does not offer them), and are retried in order; failing them would lose what the
      // caller cannot take back (the MQTT adapter has acknowledged it to the broker). While they are held
      // their completions do not run, so the caller stops taking more (gw::mqtt::client's window).
      const bool hold = ec == error::disk_full && !stop && !batch.empty();
      if (hold) {
        held = std::max(held, batch.size());
        for (auto it = batch.rbegin(); it != batch.rend(); ++it) inserts.push_front(std::move(*it));
        batch.clear();
        backoff = true;
      } else if (rc == SQLITE_OK) {
        held = held > batch.size() ? held - batch.size() : 0;
      } else {
        held = 0;  // failed for good (other error, or closing): completed below with the error
      }
      inserts_done += batch.size();  // 0 when held: the batch went back
      if (maint_rc != SQLITE_OK) {
        if (maint_rc != rc) note_failure(maint_rc);
        if (!stop) {
          // Put them back in front of anything newer and retry after a pause.
          maint.attempts.insert(maint.attempts.begin(), m.attempts.begin(), m.attempts.end());
          maint.moves.insert(maint.moves.begin(), m.moves.begin(), m.moves.end());
          maint.deletes.insert(maint.deletes.begin(), m.deletes.begin(), m.deletes.end());
          backoff = true;
        }
        // Closing: give up. Unwritten acks and drops only mean redelivery after the next open
        // (at-least-once); an unwritten dead-letter move leaves the message queued.
      }
      for (const auto& p : batch) {
        if (p.dead) continue;
        device_queue* dq = nullptr;
        auto it = find(p.id, dq);
        if (!it) continue;  // dropped meanwhile
        if (ec) {
          erase(*dq, *it);
        } else {
          (*it)->durable = true;
        }
      }
      lk.unlock();
      for (auto& p : batch) {
        if (p.done) p.done(p.id, p.skip ? std::error_code{} : ec);
      }
      lk.lock();
      run_ready(lk, tasks, [&] { return task_ready(); });
      run_ready(lk, settles, [&] { return settle_ready(); });
    }
  }

  // Runs, in order and without the lock, the callbacks at the front of `q` while `ready()` says so.
  template <class Ready>
  void run_ready(std::unique_lock<std::mutex>& lk, std::deque<task>& q, Ready ready) {
    while (ready()) {
      auto t = std::move(q.front());
      q.pop_front();
      lk.unlock();
      t.fn();
      lk.lock();
    }
  }

  // Runs fn on the writer thread and waits for it.
  std::error_code run_task(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == writer_id) {
      fn();
      return {};
    }
    std::promise<void> done;
    auto fut = done.get_future();
    {
      std::lock_guard lk(mu);
      if (closed || stop) return error::closed;
      tasks.push_back(task{inserts_submitted, maint_submitted, [&] {
                             fn();
                             done.set_value();
                           }});
    }
    cv.notify_one();
    fut.wait();
    return {};
  }
};

durable_queue::durable_queue(queue_options options)
    : options_(std::move(options)), impl_(std::make_unique<impl>(options_)) {}

durable_queue::~durable_queue() {
  close();
}

std::unique_ptr<durable_queue> durable_queue::open(queue_options options, std::error_code& ec) {
  ec.clear();
  std::unique_ptr<durable_queue> q(new durable_queue(std::move(options)));
  auto& d = *q->impl_;
  const auto& opt = q->options_;
  std::error_code fs_ec;
  std::filesystem::create_directories(opt.dir, fs_ec);
  if (fs_ec) {
    ec = error::io_error;
    return nullptr;
  }
  const auto path = (opt.dir / opt.file_name).string();
  auto open_db = [&](detail::db_ptr& out) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    out.reset(raw);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(raw, 5000);
    return rc;
  };
  auto fail = [&](int rc) {
    ec = detail::sqlite_error(rc);
    if (!ec) ec = error::storage_error;
    return nullptr;
  };

  if (int rc = open_db(d.wdb); rc != SQLITE_OK) return fail(rc);
  sqlite3* db = d.wdb.get();
  d.begin_tx = statement(db, "BEGIN IMMEDIATE");  // the migration below is a transaction() already
  d.commit_tx = statement(db, "COMMIT");
  d.rollback_tx = statement(db, "ROLLBACK");
  for (auto* st : {&d.begin_tx, &d.commit_tx, &d.rollback_tx}) {
    if (st->rc() != SQLITE_OK) return fail(st->rc());
  }
  std::int64_t version = 0;
  if (int rc = detail::query_int64(db, "PRAGMA user_version", version); rc != SQLITE_OK) return fail(rc);
  if (version > schema_version) {
    ec = error::schema_too_new;
    return nullptr;
  }
  {
    statement wal(db, "PRAGMA journal_mode=WAL");
    if (wal.rc() != SQLITE_OK) return fail(wal.rc());
    if (int rc = wal.step(); rc != SQLITE_ROW) return fail(rc);
    if (wal.column_text(0) != "wal") return fail(SQLITE_IOERR);
  }
  // Per connection: the writer's, and the checkpointer's below (its checkpoints fsync by it).
  const char* synchronous =
      opt.sync == sync_mode::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (int rc = detail::exec(db, synchronous); rc != SQLITE_OK) return fail(rc);
  // Checkpoints from 256 WAL pages on, on a thread of their own (detail/wal_checkpointer.hpp), inline from
  // 512. The WAL's file keeps the size it reached before its last checkpoint. SQLite's default (1000 pages, 4
  // MiB) let it fill a small disk on its own, and after SQLITE_FULL the checkpoint that would shrink it needs
  // room in the database file: the queue stayed full after space returned (tests/faults DiskFullOnQueueDir, 4
  // MiB tmpfs). 256-512 pages (1-2 MiB) bound what a full disk must give back.
  // Step 1: the thread chases every commit past 256 pages, so that it often finishes a complete copy and the
  // WAL starts over before the writer's inline checkpoint at 512. That costs fsyncs (~220 fdatasync/s at
  // 1,000 msg/s on the test VM); step 64 cut them to ~30/s but doubled the gateway's added p99 at that rate
  // (1.5-2.9 ms against 0.6-1.0 in 4 of 5 alternating runs, docs/benchmarks.md), and latency is the aim.
  {
    int rc = SQLITE_OK;
    d.checkpointer = detail::wal_checkpointer::start(path, 256, 1, 512, synchronous, rc);
    if (!d.checkpointer) return fail(rc);
    d.checkpointer->attach(db);
  }
  if (version < schema_version) {
    int rc = d.transaction([&] {
      for (auto v = version; v < schema_version; ++v) {
        if (int r = detail::exec(db, migrations[v]); r != SQLITE_OK) return r;
      }
      return detail::exec(db, ("PRAGMA user_version=" + std::to_string(schema_version)).c_str());
    });
    if (rc != SQLITE_OK) return fail(rc);
  }
  if (opt.max_page_count != 0) {
    std::int64_t effective = 0;
    auto sql = "PRAGMA max_page_count=" + std::to_string(opt.max_page_count);
    if (int rc = detail::query_int64(db, sql.c_str(), effective); rc != SQLITE_OK) return fail(rc);
  }

  d.ins_msg =
      statement(db,
                "INSERT INTO messages(id, device_id, mqtt_topic, cloud_topic, payload, received_ms, attempts)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0)");
  d.ins_dead =
      statement(db,
                "INSERT INTO dead_letters(id, device_id, mqtt_topic, cloud_topic, payload, received_ms,"
                " reason, platform_code, dead_ms, attempts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)");
  d.upd_attempts = statement(db, "UPDATE messages SET attempts = ?1 WHERE id = ?2");
  d.move_dead =
      statement(db,
                "INSERT INTO dead_letters(id, device_id, mqtt_topic, cloud_topic, payload, received_ms,"
                " reason, platform_code, dead_ms, attempts)"
                " SELECT id, device_id, mqtt_topic, cloud_topic, payload, received_ms, ?1, ?2, ?3, ?4"
                " FROM messages WHERE id = ?5");
  d.del_msg = statement(db, "DELETE FROM messages WHERE id = ?1");
  d.set_intake = statement(db,
                           "INSERT INTO intake(id, seq) VALUES(1, ?1)"
                           " ON CONFLICT(id) DO UPDATE SET seq = max(seq, excluded.seq)");
  for (auto* st : {&d.ins_msg, &d.ins_dead, &d.upd_attempts, &d.move_dead, &d.del_msg, &d.set_intake}) {
    if (st->rc() != SQLITE_OK) return fail(st->rc());
  }

  // Resume the backlog: the index of every queued message, oldest first.
  {
    statement st(db,
                 "SELECT id, device_id, mqtt_topic, cloud_topic, received_ms, attempts, length(payload)"
                 " FROM messages ORDER BY id");
    if (st.rc() != SQLITE_OK) return fail(st.rc());
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      impl::entry e;
      e.id = static_cast<std::uint64_t>(st.column_int64(0));
      auto device = st.column_text(1);
      auto& dq = d.devices[device];
      e.mqtt_topic = impl::share(dq, st.column_text(2), &impl::entry::mqtt_topic);
      e.cloud_topic = impl::share(dq, st.column_text(3), &impl::entry::cloud_topic);
      e.received_ms = st.column_int64(4);
      e.attempts = static_cast<std::uint32_t>(st.column_int64(5));
      e.bytes = message_bytes(static_cast<std::size_t>(st.column_int64(6)), *e.mqtt_topic, *e.cloud_topic);
      e.durable = true;
      dq.bytes += e.bytes;
      d.total_bytes += e.bytes;
      d.where.emplace(e.id, &dq);
      dq.q.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return fail(rc);
  }
  std::int64_t max_id = 0;
  if (int rc = detail::query_int64(db,
                                   "SELECT max(coalesce((SELECT max(id) FROM messages), 0),"
                                   " coalesce((SELECT max(id) FROM dead_letters), 0))",
                                   max_id);
      rc != SQLITE_OK) {
    return fail(rc);
  }
  d.next_id = static_cast<std::uint64_t>(max_id) + 1;
  std::int64_t intake = 0;
  if (int rc = detail::query_int64(db, "SELECT coalesce((SELECT seq FROM intake WHERE id = 1), 0)", intake);
      rc != SQLITE_OK) {
    return fail(rc);
  }
  d.intake_seq_at_open = static_cast<std::uint64_t>(std::max<std::int64_t>(intake, 0));

  if (int rc = open_db(d.rdb); rc != SQLITE_OK) return fail(rc);
  d.sel_payload = statement(d.rdb.get(), "SELECT payload FROM messages WHERE id = ?1");
  if (d.sel_payload.rc() != SQLITE_OK) return fail(d.sel_payload.rc());

  d.writer = std::thread([&d] { d.run(); });
  // Named for `top -H`, perf and gdb (at most 15 characters); the checkpointer is gw-wal-ckpt.
  ::pthread_setname_np(d.writer.native_handle(), "gw-queue-write");
  d.writer_id = d.writer.get_id();
  return q;
}

void durable_queue::close() {
  auto& d = *impl_;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) return;
    d.stop = true;
  }
  d.cv.notify_one();
  if (d.writer.joinable()) d.writer.join();
  std::lock_guard lk(d.mu);
  if (d.checkpointer) {  // under mu: stats() reads it
    d.checkpointer->detach(d.wdb.get());
    d.checkpointer.reset();
  }
  d.closed = true;
  d.ins_msg = {};
  d.ins_dead = {};
  d.upd_attempts = {};
  d.move_dead = {};
  d.del_msg = {};
  d.begin_tx = {};
  d.commit_tx = {};
  d.rollback_tx = {};
  d.sel_payload = {};
  d.rdb.reset();
  d.wdb.reset();
}

std::uint64_t durable_queue::enqueue(queued_message msg, completion on_durable, std::error_code& ec) {
  ec.clear();
  auto& d = *impl_;
  const auto& opt = options_;
  std::uint64_t id = 0;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) {
      ec = error::closed;
      return 0;
    }
    auto& dq = d.devices[msg.device_id];
    const auto bytes = message_bytes(msg.payload.size(), msg.mqtt_topic, msg.cloud_topic);
    auto over_device = [&] {
      return (opt.max_messages_per_device != 0 && dq.q.size() + 1 > opt.max_messages_per_device) ||
             (opt.max_bytes_per_device != 0 && dq.bytes + bytes > opt.max_bytes_per_device);
    };
    auto over_total = [&] { return opt.max_total_bytes != 0 && d.total_bytes + bytes > opt.max_total_bytes; };

    if (over_device()) {
      // Even an empty queue cannot take it: refuse without dropping anything.
      const bool never_fits = opt.max_bytes_per_device != 0 && bytes > opt.max_bytes_per_device;
      if (opt.when_full == full_policy::reject_new || never_fits) {
        ++dq.drops.queue_full_rejected;
        ec = error::queue_full;
        return 0;
      }
      while (over_device() && !dq.q.empty()) {
        d.drop(dq, dq.q.begin());
        ++dq.drops.queue_full_dropped_oldest;
      }
    }
    if (over_total()) {
      // drop_oldest may only take from this device (per-device isolation, design §2): refuse if that cannot
      // help.
      bool never_fits = opt.max_total_bytes != 0 && d.total_bytes - dq.bytes + bytes > opt.max_total_bytes;
      if (opt.when_full == full_policy::reject_new || never_fits) {
        ++dq.drops.disk_cap;
        ec = error::disk_cap;
        return 0;
      }
      while (over_total() && !dq.q.empty()) {
        d.drop(dq, dq.q.begin());
        ++dq.drops.disk_cap;
      }
    }

    id = d.next_id++;
    auto payload = std::make_shared<const std::vector<std::uint8_t>>(std::move(msg.payload));
    impl::entry e;
    e.id = id;
    e.mqtt_topic = impl::share(dq, msg.mqtt_topic, &impl::entry::mqtt_topic);
    e.cloud_topic = impl::share(dq, msg.cloud_topic, &impl::entry::cloud_topic);
    e.received_ms = msg.received_ms;
    e.bytes = bytes;
    if (dq.cached < opt.payload_cache_per_device ||
        d.cached_bytes + payload->size() <= opt.payload_cache_bytes) {
      e.payload = payload;
      ++dq.cached;
      d.cached_bytes += payload->size();
    }
    dq.bytes += bytes;
    d.total_bytes += bytes;
    dq.q.push_back(std::move(e));
    d.where.emplace(id, &dq);

    impl::pending_insert p;
    p.id = id;
    p.device_id = std::move(msg.device_id);
    p.mqtt_topic = std::move(msg.mqtt_topic);
    p.cloud_topic = std::move(msg.cloud_topic);
    p.payload = std::move(payload);
    p.received_ms = msg.received_ms;
    p.intake_seq = msg.intake_seq;
    p.done = std::move(on_durable);
    d.inserts.push_back(std::move(p));
    ++d.inserts_submitted;
  }
  d.cv.notify_one();
  return id;
}

std::uint64_t durable_queue::enqueue_sync(queued_message msg, std::error_code& ec) {
  std::promise<std::error_code> done;
  auto fut = done.get_future();
  auto id = enqueue(
      std::move(msg), [&done](std::uint64_t, std::error_code e) { done.set_value(e); }, ec);
  if (ec) return 0;
  ec = fut.get();
  return ec ? 0 : id;
}

void durable_queue::flush() {
  (void)impl_->run_task([] {});
}

void durable_queue::after_inserts(std::function<void()> fn) {
  auto& d = *impl_;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) return;
    d.settles.push_back(impl::task{d.inserts_submitted, 0, std::move(fn)});
  }
  d.cv.notify_one();
}

std::uint64_t durable_queue::intake_seq_at_open() const noexcept {
  return impl_->intake_seq_at_open;
}

std::vector<queued_message> durable_queue::peek(std::string_view device_id, std::size_t max_n,
                                                std::error_code& ec) {
  ec.clear();
  auto& d = *impl_;
  std::vector<queued_message> out;
  std::lock_guard lk(d.mu);
  if (d.closed || d.stop) {
    ec = error::closed;
    return out;
  }
  auto it = d.devices.find(device_id);
  if (it == d.devices.end()) return out;
  auto& dq = it->second;
  for (auto& e : dq.q) {
    if (out.size() >= max_n || !e.durable) break;  // only the committed prefix is handed out
    if (e.leased) continue;
    if (!e.payload) {
      auto& st = d.sel_payload;
      st.bind(1, static_cast<std::int64_t>(e.id));
      int rc = st.step();
      if (rc == SQLITE_ROW) {
        e.payload = std::make_shared<const std::vector<std::uint8_t>>(st.column_blob(0));
        ++dq.cached;
        d.cached_bytes += e.payload->size();
      }
      st.reset();
      if (rc != SQLITE_ROW) {
        ec = rc == SQLITE_DONE ? std::error_code{error::not_found} : detail::sqlite_error(rc);
        break;
      }
    }
    e.leased = true;
    out.push_back(queued_message{e.id, it->first, *e.mqtt_topic, *e.cloud_topic, *e.payload, e.received_ms,
                                 e.attempts});
  }
  return out;
}

void durable_queue::ack(std::uint64_t id) {
  auto& d = *impl_;
  bool wake = false;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) return;
    impl::device_queue* dq = nullptr;
    auto it = d.find(id, dq);
    if (!it) return;
    const auto pending = d.maint.deletes.size();
    d.drop(*dq, *it);
    wake = d.maint.deletes.size() != pending && d.delete_wakes_writer();
  }
  if (wake) d.cv.notify_one();
}

void durable_queue::release(std::uint64_t id) {
  auto& d = *impl_;
  std::lock_guard lk(d.mu);
  impl::device_queue* dq = nullptr;
  if (auto it = d.find(id, dq)) (*it)->leased = false;
}

void durable_queue::record_attempt(std::uint64_t id) {
  auto& d = *impl_;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) return;
    impl::device_queue* dq = nullptr;
    auto it = d.find(id, dq);
    if (!it) return;
    auto n = ++(*it)->attempts;
    d.maint.attempts.emplace_back(id, n);
    ++d.maint_submitted;
  }
  d.cv.notify_one();
}

std::error_code durable_queue::dead_letter(std::uint64_t id, std::string reason, int platform_code,
                                           std::int64_t now_ms) {
  auto& d = *impl_;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) return error::closed;
    impl::device_queue* dq = nullptr;
    auto it = d.find(id, dq);
    if (!it || !(*it)->durable) return error::not_found;
    d.maint.moves.push_back(
        impl::pending_move{id, std::move(reason), platform_code, now_ms, (*it)->attempts});
    ++d.maint_submitted;
    d.erase(*dq, *it);
  }
  d.cv.notify_one();
  return {};
}

std::uint64_t durable_queue::store_dead_letter(queued_message msg, std::string reason, int platform_code,
                                               std::int64_t now_ms, completion on_durable,
                                               std::error_code& ec) {
  ec.clear();
  auto& d = *impl_;
  std::uint64_t id = 0;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) {
      ec = error::closed;
      return 0;
    }
    id = d.next_id++;
    impl::pending_insert p;
    p.id = id;
    p.device_id = std::move(msg.device_id);
    p.mqtt_topic = std::move(msg.mqtt_topic);
    p.cloud_topic = std::move(msg.cloud_topic);
    p.payload = std::make_shared<const std::vector<std::uint8_t>>(std::move(msg.payload));
    p.received_ms = msg.received_ms;
    p.intake_seq = msg.intake_seq;
    p.done = std::move(on_durable);
    p.dead = true;
    p.reason = std::move(reason);
    p.platform_code = platform_code;
    p.dead_ms = now_ms;
    d.inserts.push_back(std::move(p));
    ++d.inserts_submitted;
  }
  d.cv.notify_one();
  return id;
}

std::size_t durable_queue::expire(std::int64_t now_ms) {
  if (options_.max_age_ms <= 0) return 0;
  auto& d = *impl_;
  std::size_t n = 0;
  {
    std::lock_guard lk(d.mu);
    if (d.closed || d.stop) return 0;
    for (auto& [id, dq] : d.devices) {
      while (!dq.q.empty() && dq.q.front().received_ms + options_.max_age_ms < now_ms) {
        d.drop(dq, dq.q.begin());
        ++dq.drops.expired_max_age;
        ++n;
      }
    }
  }
  if (n) d.cv.notify_one();
  return n;
}

namespace {

device_stats make_stats(const std::string& id, std::size_t depth, std::uint64_t bytes, std::int64_t oldest,
                        const drop_counters& drops) {
  return device_stats{id, depth, bytes, oldest, drops};
}

void add(drop_counters& a, const drop_counters& b) {
  a.queue_full_rejected += b.queue_full_rejected;
  a.queue_full_dropped_oldest += b.queue_full_dropped_oldest;
  a.expired_max_age += b.expired_max_age;
  a.disk_cap += b.disk_cap;
}

}  // namespace

queue_stats durable_queue::stats() const {
  auto& d = *impl_;
  std::lock_guard lk(d.mu);
  queue_stats s;
  for (const auto& [id, dq] : d.devices) {
    auto oldest = dq.q.empty() ? 0 : dq.q.front().received_ms;
    s.devices.push_back(make_stats(id, dq.q.size(), dq.bytes, oldest, dq.drops));
    s.total.depth += dq.q.size();
    s.total.bytes += dq.bytes;
    if (!dq.q.empty() && (s.total.oldest_received_ms == 0 || oldest < s.total.oldest_received_ms)) {
      s.total.oldest_received_ms = oldest;
    }
    add(s.total.drops, dq.drops);
  }
  s.write_errors = d.write_errors;
  s.storage_failing = d.failing;
  s.held_for_space = d.held;
  s.last_error = d.last_error;
  if (d.checkpointer) {
    s.background_checkpoints = d.checkpointer->background_checkpoints();
    s.inline_checkpoints = d.checkpointer->inline_checkpoints();
  }
  return s;
}

device_stats durable_queue::stats(std::string_view device_id) const {
  auto& d = *impl_;
  std::lock_guard lk(d.mu);
  auto it = d.devices.find(device_id);
  if (it == d.devices.end()) return device_stats{std::string{device_id}, 0, 0, 0, {}};
  const auto& dq = it->second;
  return make_stats(it->first, dq.q.size(), dq.bytes, dq.q.empty() ? 0 : dq.q.front().received_ms, dq.drops);
}

std::vector<std::string> durable_queue::devices_with_backlog() const {
  auto& d = *impl_;
  std::lock_guard lk(d.mu);
  std::vector<std::string> out;
  for (const auto& [id, dq] : d.devices) {
    if (!dq.q.empty()) out.push_back(id);
  }
  return out;
}

std::uint64_t durable_queue::set_max_page_count(std::uint64_t pages) {
  auto& d = *impl_;
  std::int64_t effective = 0;
  auto ec = d.run_task([&] {
    auto sql = "PRAGMA max_page_count=" + std::to_string(pages == 0 ? default_max_pages : pages);
    if (detail::query_int64(d.wdb.get(), sql.c_str(), effective) != SQLITE_OK) effective = 0;
  });
  return ec ? 0 : static_cast<std::uint64_t>(effective);
}

// ---- dead-letter store ----

namespace {

std::string id_list(std::span<const std::uint64_t> ids) {
  std::string s = "(";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  return s + ")";
}

}  // namespace

std::vector<dead_letter_record> dead_letter_store::list(const dead_letter_filter& filter, std::size_t limit,
                                                        std::error_code& ec) const {
  ec.clear();
  std::vector<dead_letter_record> out;
  auto& d = *q_->impl_;
  int rc = SQLITE_OK;
  auto task_ec = d.run_task([&] {
    std::string sql =
        "SELECT id, device_id, mqtt_topic, cloud_topic, payload, reason, platform_code, dead_ms, received_ms,"
        " attempts FROM dead_letters WHERE id > ?1";
    if (filter.device_id) sql += " AND device_id = ?2";
    if (filter.dead_before_ms) sql += " AND dead_ms < ?3";
    sql += " ORDER BY id LIMIT ?4";
    statement st(d.wdb.get(), sql);
    if ((rc = st.rc()) != SQLITE_OK) return;
    st.bind(1, static_cast<std::int64_t>(filter.after_id));
    if (filter.device_id) st.bind(2, *filter.device_id);
    if (filter.dead_before_ms) st.bind(3, *filter.dead_before_ms);
    st.bind(
        4, static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
    while ((rc = st.step()) == SQLITE_ROW) {
      out.push_back(dead_letter_record{
          static_cast<std::uint64_t>(st.column_int64(0)), st.column_text(1), st.column_text(2),
          st.column_text(3), st.column_blob(4), st.column_text(5), static_cast<int>(st.column_int64(6)),
          st.column_int64(7), st.column_int64(8), static_cast<std::uint32_t>(st.column_int64(9))});
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  });
  ec = task_ec ? task_ec : detail::sqlite_error(rc);
  return out;
}

std::size_t dead_letter_store::count(std::error_code& ec) const {
  auto& d = *q_->impl_;
  std::int64_t n = 0;
  int rc = SQLITE_OK;
  auto task_ec =
      d.run_task([&] { rc = detail::query_int64(d.wdb.get(), "SELECT count(*) FROM dead_letters", n); });
  ec = task_ec ? task_ec : detail::sqlite_error(rc);
  return static_cast<std::size_t>(n);
}

namespace {

std::size_t replay_where(durable_queue::impl& d, const std::string& where, std::error_code& ec) {
  struct row {
    std::uint64_t old_id, new_id;
    std::string device_id, mqtt_topic, cloud_topic;
    std::int64_t received_ms;
    std::uint64_t payload_size;
  };
  std::vector<row> rows;
  int rc = SQLITE_OK;
  auto task_ec = d.run_task([&] {
    rc = d.transaction([&] {
      statement sel(
          d.wdb.get(),
          "SELECT id, device_id, mqtt_topic, cloud_topic, received_ms, length(payload) FROM dead_letters"
          " WHERE device_id <> '' " +
              where + " ORDER BY id");
      if (sel.rc() != SQLITE_OK) return sel.rc();
      int r;
      while ((r = sel.step()) == SQLITE_ROW) {
        rows.push_back(row{static_cast<std::uint64_t>(sel.column_int64(0)), 0, sel.column_text(1),
                           sel.column_text(2), sel.column_text(3), sel.column_int64(4),
                           static_cast<std::uint64_t>(sel.column_int64(5))});
      }
      if (r != SQLITE_DONE) return r;
      {
        std::lock_guard lk(d.mu);  // new ids: at the tail of every device queue
        for (auto& x : rows) x.new_id = d.next_id++;
      }
      statement ins(
          d.wdb.get(),
          "INSERT INTO messages(id, device_id, mqtt_topic, cloud_topic, payload, received_ms, attempts)"
          " SELECT ?1, device_id, mqtt_topic, cloud_topic, payload, received_ms, 0 FROM dead_letters"
          " WHERE id = ?2");
      statement del(d.wdb.get(), "DELETE FROM dead_letters WHERE id = ?1");
      if (ins.rc() != SQLITE_OK) return ins.rc();
      if (del.rc() != SQLITE_OK) return del.rc();
      for (const auto& x : rows) {
        ins.bind(1, static_cast<std::int64_t>(x.new_id));
        ins.bind(2, static_cast<std::int64_t>(x.old_id));
        if ((r = ins.step()) != SQLITE_DONE) return r;
        ins.reset();
        del.bind(1, static_cast<std::int64_t>(x.old_id));
        if ((r = del.step()) != SQLITE_DONE) return r;
        del.reset();
      }
      return SQLITE_OK;
    });
    if (rc != SQLITE_OK) return;
    std::lock_guard lk(d.mu);
    for (auto& x : rows) {
      auto& dq = d.devices[x.device_id];
      durable_queue::impl::entry e;
      e.id = x.new_id;
      e.mqtt_topic = durable_queue::impl::share(dq, x.mqtt_topic, &durable_queue::impl::entry::mqtt_topic);
      e.cloud_topic = durable_queue::impl::share(dq, x.cloud_topic, &durable_queue::impl::entry::cloud_topic);
      e.received_ms = x.received_ms;
      e.bytes = message_bytes(x.payload_size, *e.mqtt_topic, *e.cloud_topic);
      e.durable = true;
      auto pos =
          std::upper_bound(dq.q.begin(), dq.q.end(), e.id,
                           [](std::uint64_t v, const durable_queue::impl::entry& a) { return v < a.id; });
      dq.bytes += e.bytes;
      d.total_bytes += e.bytes;
      d.where.emplace(e.id, &dq);
      dq.q.insert(pos, std::move(e));
    }
  });
  ec = task_ec ? task_ec : detail::sqlite_error(rc);
  return ec ? 0 : rows.size();
}

std::size_t purge_where(durable_queue::impl& d, const std::string& where, std::optional<std::int64_t> bound,
                        std::error_code& ec) {
  int rc = SQLITE_OK;
  std::size_t n = 0;
  auto task_ec = d.run_task([&] {
    statement st(d.wdb.get(), "DELETE FROM dead_letters WHERE 1 " + where);
    if ((rc = st.rc()) != SQLITE_OK) return;
    if (bound) st.bind(1, *bound);
    rc = st.step();
    if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
      n = static_cast<std::size_t>(sqlite3_changes(d.wdb.get()));
    }
  });
  ec = task_ec ? task_ec : detail::sqlite_error(rc);
  return n;
}

}  // namespace

std::size_t dead_letter_store::replay(std::span<const std::uint64_t> ids, std::error_code& ec) {
  ec.clear();
  if (ids.empty()) return 0;
  return replay_where(*q_->impl_, "AND id IN " + id_list(ids), ec);
}

std::size_t dead_letter_store::replay_all(std::error_code& ec) {
  return replay_where(*q_->impl_, "", ec);
}

std::size_t dead_letter_store::purge(std::span<const std::uint64_t> ids, std::error_code& ec) {
  ec.clear();
  if (ids.empty()) return 0;
  return purge_where(*q_->impl_, "AND id IN " + id_list(ids), std::nullopt, ec);
}

std::size_t dead_letter_store::purge_all(std::error_code& ec) {
  return purge_where(*q_->impl_, "", std::nullopt, ec);
}

std::size_t dead_letter_store::purge_older_than(std::int64_t ms, std::error_code& ec) {
  return purge_where(*q_->impl_, "AND dead_ms < ?1", ms, ec);
}

}  // namespace gw::bridge
