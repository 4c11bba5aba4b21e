#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/bridge/dead_letter.hpp"

namespace gw::bridge {

// One message accepted from MQTT and bound for one device's cloud session.
struct queued_message {
  std::uint64_t id = 0;  ///< assigned by the queue; unique across the queue and the dead-letter store
  std::string device_id;
  std::string mqtt_topic;
  std::string cloud_topic;
  std::vector<std::uint8_t> payload;
  std::int64_t received_ms = 0;  ///< caller's clock, used by expire()
  std::uint32_t attempts = 0;    ///< sends so far (record_attempt)
  /// The intake journal's sequence number of this message (bridge::intake_journal), 0 if none. The queue
  /// keeps the highest one it committed (schema v2, table intake) in the same transaction as the insert.
  std::uint64_t intake_seq = 0;
};

// What enqueue does when a limit is reached (shared/design.md §2 "Bounded").
enum class full_policy {
  reject_new,   ///< the new message is refused with error::queue_full / error::disk_cap
  drop_oldest,  ///< the device's oldest messages are dropped (counted) until the new one fits
};

// PRAGMA synchronous in WAL mode (https://sqlite.org/pragma.html#pragma_synchronous).
// Cost measured by bridge_queue_throughput (100 B payloads, 10 devices, Debian 12 VM on ext4/overlay):
// group commit 68k msg/s (normal) vs 50k msg/s (full); one commit per message (enqueue_sync) 7.6k vs ~100
// msg/s. With group commit, full costs one fsync per batch, not per message, so it is affordable at gateway
// rates.
enum class sync_mode {
  normal,  ///< survives a process crash; a power loss may lose the last commits (no fsync per commit)
  full,    ///< also survives power loss: the WAL is fsynced at every commit (every group-commit batch)
};

struct queue_options {
  std::filesystem::path dir;  ///< created if missing; holds file_name (+ -wal, -shm)
  std::string file_name = "queue.db";
  std::uint64_t max_bytes_per_device = 0;     ///< 0 = unlimited; bytes = payload + both topics
  std::uint64_t max_messages_per_device = 0;  ///< 0 = unlimited
  std::int64_t max_age_ms = 0;                ///< 0 = never expire; applied by expire()
  std::uint64_t max_total_bytes = 0;  ///< cap over all queued messages (same byte measure, not the file size;
                                      ///< SQLite adds page and index overhead); 0 = unlimited
  full_policy when_full = full_policy::reject_new;
  sync_mode sync = sync_mode::normal;
  std::size_t max_batch = 1024;               ///< most inserts per group-commit transaction
  std::size_t payload_cache_per_device = 16;  ///< payloads kept in memory per device (see durable_queue)
  /// ...and beyond that while all cached payloads together stay within this many bytes: a burst the intake
  /// journal let in faster than the cloud takes it is delivered from memory, not read back from SQLite
  /// (~4 us per message at 1,000 devices, docs/benchmarks.md "The intake journal").
  std::uint64_t payload_cache_bytes = std::uint64_t{16} << 20;
  std::uint32_t max_page_count = 0;  ///< PRAGMA max_page_count; 0 = SQLite's default (no cap)
  // Deletes (ack() and drops) with no insert to commit wait up to ack_linger, or until ack_batch of them are
  // pending, and then commit together (an insert, a dead-letter move or a flush takes them along at once).
  // A commit of its own costs a delete as much as a batch of inserts (locks, WAL frames, a writer wake-up),
  // and until it commits a crash only redelivers the message (at-least-once). 0 = commit at once.
  std::chrono::milliseconds ack_linger{5};
  std::size_t ack_batch = 32;
};

// Drops by reason (shared/design.md §2: "every such drop is counted by reason").
struct drop_counters {
  std::uint64_t queue_full_rejected = 0;        ///< refused by max_messages/max_bytes under reject_new
  std::uint64_t queue_full_dropped_oldest = 0;  ///< dropped by max_messages/max_bytes under drop_oldest
  std::uint64_t expired_max_age = 0;            ///< dropped by expire()
  std::uint64_t disk_cap = 0;                   ///< refused or dropped because of max_total_bytes
};

struct device_stats {
  std::string device_id;
  std::size_t depth = 0;  ///< messages queued (durable or being committed)
  std::uint64_t bytes = 0;
  std::int64_t oldest_received_ms = 0;  ///< of the head message; 0 when empty
  drop_counters drops;
};

struct queue_stats {
  std::vector<device_stats> devices;  ///< every device seen since open, sorted by id
  device_stats total;                 ///< sums; device_id empty, oldest_received_ms = minimum over devices
  std::uint64_t write_errors = 0;     ///< failed commit attempts (each failed batch counts once)
  std::error_code last_error;         ///< last storage error, if any
  bool storage_failing = false;       ///< the last commit attempt failed (cleared by the next success)
  std::size_t held_for_space = 0;     ///< accepted messages waiting for disk space (error::disk_full)
  // WAL checkpoints (detail/wal_checkpointer.hpp): on their own thread, off the commit path, and inline in
  // the writer when the WAL reached its hard limit.
  std::uint64_t background_checkpoints = 0;
  std::uint64_t inline_checkpoints = 0;
};

// Runs on the writer thread once per message when its insert committed (ec empty) or failed (ec set). A
// disk-full failure (SQLITE_FULL, also from max_page_count) is not final: the insert stays queued, not
// durable, and is retried in order every 100 ms (and with each new insert) until it commits, so its
// completion runs only then; close() fails what is still held. Keep it short and do not call blocking members
// (enqueue_sync, flush, dead-letter operations) from it: post to your loop.
using completion = std::function<void(std::uint64_t id, std::error_code ec)>;

// The durable per-device FIFO spool between the router and the device sessions (shared/design.md §2):
// a message is accepted with enqueue(), becomes durable at the group commit that reports it through its
// completion, is handed to the session with peek(), and leaves with ack() (cloud said 2.xx), dead_letter()
// (permanent rejection) or a counted drop (limits, expire()).
//
// Storage: one SQLite database in WAL mode in options.dir, schema version in PRAGMA user_version (v2: v1's
// messages and dead_letters, and the intake journal's watermark).
// Memory: an index per device (id, topics, size, time, attempts) of every queued message; the payload bytes
// of a message are kept in memory when it is enqueued while its device has fewer than
// payload_cache_per_device cached or all cached payloads fit in payload_cache_bytes; other payloads are read
// from SQLite by peek() (and then cached until the message leaves).
//
// Group commit: the writer sleeps until there is work, then takes every pending operation (at most max_batch
// inserts) into one transaction; what arrives during that commit forms the next batch. So an idle queue
// commits at once (no added latency) and a busy one amortises one commit (and with sync full one fsync) over
// many messages. Deletes alone are the exception: they wait for company (queue_options::ack_linger).
//
// Threads: every member function may be called from any thread; internal state is guarded by one mutex that
// is held for in-memory work only, except peek() which may read uncached payloads under it (a WAL read, which
// never waits for the writer's commit). All SQLite writes happen on the queue's own writer thread, which
// groups pending inserts, acks, attempts and dead-letter moves into one transaction per round (group commit,
// so enqueue() never waits for fsync). Blocking members (enqueue_sync, flush, dead_letters()) wait for the
// writer and must not be called from a completion callback. The caller's loop thread owns ordering:
// peek/ack/release for one device should come from one thread.
class durable_queue {
 public:
  // Opens (creating or migrating) the database and loads every device's backlog into the index.
  // Errors: error::schema_too_new, error::corrupt, error::io_error, error::storage_error.
  static std::unique_ptr<durable_queue> open(queue_options options, std::error_code& ec);

  durable_queue(const durable_queue&) = delete;
  durable_queue& operator=(const durable_queue&) = delete;
  // close()s.
  ~durable_queue();

  // Commits everything pending, stops the writer and closes the database. Later calls fail with
  // error::closed.
  void close();

  // Accepts `msg` for msg.device_id (msg.id and msg.attempts are ignored) and returns its id, or 0 with `ec`
  // set: error::queue_full (device limit, reject_new, or a message larger than the device limit),
  // error::disk_cap (max_total_bytes), error::closed. Accepted messages get exactly one `on_durable` call
  // from the writer thread. Never blocks on disk.
  std::uint64_t enqueue(queued_message msg, completion on_durable, std::error_code& ec);

  // enqueue() and wait for the commit; returns the id or 0 with the enqueue or storage error. While the disk
  // is full it waits until space returns or close().
  std::uint64_t enqueue_sync(queued_message msg, std::error_code& ec);

  // Blocks until every operation submitted before the call has been committed, has failed, or is held for
  // disk space (see `completion`) after one more attempt.
  void flush();

  // Runs `fn` on the writer thread once every insert submitted before the call has been committed or has
  // failed for good; unlike flush(), not while one is held for disk space. Keep it short, as a completion.
  // Dropped at close().
  void after_inserts(std::function<void()> fn);

  // The highest queued_message::intake_seq committed before this open (0 if none): the journal records
  // above it were not stored when the gateway stopped.
  std::uint64_t intake_seq_at_open() const noexcept;

  // Leases and returns up to max_n of the device's oldest durable messages that are not leased, oldest first.
  // Leased messages are skipped until release()d, so with max_n = 1 and release/ack before the next peek the
  // device's order is kept. Payload read errors set `ec` (and return what was read before).
  std::vector<queued_message> peek(std::string_view device_id, std::size_t max_n, std::error_code& ec);

  // The cloud answered 2.xx: the message leaves the queue (its delete is group-committed, within
  // queue_options::ack_linger; until then a crash redelivers it: at-least-once). Unknown ids (dropped,
  // expired) are ignored.
  void ack(std::uint64_t id);
  // Ends the lease without sending success: the message is offered again by peek(), in order.
  void release(std::uint64_t id);
  // Counts one more send attempt (persisted with the next commit).
  void record_attempt(std::uint64_t id);
  // Moves the message to the dead-letter store atomically (one transaction) with `reason` (e.g. "4.03
  // Forbidden") and the platform's CoAP code (e.g. 0x83 for 4.03, 0 if none). error::not_found if it is not
  // queued.
  std::error_code dead_letter(std::uint64_t id, std::string reason, int platform_code, std::int64_t now_ms);

  // Stores a message that never entered a device queue (oversize, not_json, unknown_device) straight in the
  // dead-letter store. For unknown_device pass an empty device_id (put the unknown id in the reason, e.g.
  // "unknown_device pk/x"): such records are listed and purged but never replayed. Returns the id;
  // `on_durable` as for enqueue(). Not subject to queue limits.
  std::uint64_t store_dead_letter(queued_message msg, std::string reason, int platform_code,
                                  std::int64_t now_ms, completion on_durable, std::error_code& ec);

  // Drops every message with received_ms + max_age_ms < now_ms, counted as expired_max_age. Scans each device
  // from its head and stops at the first young message (received_ms is expected to be non-decreasing per
  // device). Returns the number dropped. No-op if max_age_ms is 0.
  std::size_t expire(std::int64_t now_ms);

  queue_stats stats() const;
  // One device's stats (zeros if unknown).
  device_stats stats(std::string_view device_id) const;
  // Ids of the devices with a non-empty queue, sorted: after open() this is the backlog to resume.
  std::vector<std::string> devices_with_backlog() const;

  // Sets PRAGMA max_page_count (0 = restore SQLite's default maximum); returns the effective value or 0 on
  // error. SQLite never lowers it below the current size. Operators may cap the file; tests simulate
  // SQLITE_FULL with it.
  std::uint64_t set_max_page_count(std::uint64_t pages);

  // The dead-letter store kept in the same database.
  dead_letter_store dead_letters() noexcept { return dead_letter_store{*this}; }

  const queue_options& options() const noexcept { return options_; }

  // The current schema version this code writes (PRAGMA user_version).
  static constexpr std::int64_t schema_version = 2;

  struct impl;  // internal state, defined in durable_queue.cpp only

 private:
  friend class dead_letter_store;
  explicit durable_queue(queue_options options);

  queue_options options_;
  std::unique_ptr<impl> impl_;
};

}  // namespace gw::bridge
