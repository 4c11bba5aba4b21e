#pragma once
// gw::bridge::intake_journal — makes an MQTT delivery durable on the Paho thread itself, before its PUBACK.
//
// Why (issue #6, docs/architecture.md "The intake journal"): Paho acknowledges a QoS 1/2 PUBLISH when the
// gateway's message callback returns (gateway/mqtt/client.hpp). Without the journal the callback may return
// only while fewer than mqtt.max_unstored deliveries are not yet committed to the durable queue, and each
// commit needs three threads in turn (Paho's, the loop, the queue's writer): under a burst the broker runs
// ahead of that round trip and Debian's default per-client queue (max_queued_messages 1000) drops. With the
// journal the callback appends the message here with one write(2) and returns: the message is in the page
// cache, so it survives a crash of the process, the same promise as queue.sync normal (SQLite's WAL without
// fsync per commit), and the acknowledgement no longer waits for the queue. The message then takes the usual
// path (router, durable_queue) on the loop; the queue commits the highest sequence number it stored in the
// same transaction as the insert (durable_queue, schema v2), and on the next start the records above it are
// replayed (recovered()).
//
// Files: two, `intake-journal.0` and `intake-journal.1` in queue.dir. Appends go to the current one. Once it
// holds reset_bytes and every record in it has been settled (stored_through()), it is emptied and reused (the
// usual case: the queue keeps up, and the journal stays that small). Once it holds rotate_bytes with records
// still unsettled, the journal switches to the other file, emptying it first, but only when every record in
// that one has been settled; otherwise it keeps appending to the current one. So the files hold at most the
// unsettled records plus rotate_bytes each, which matters on a small queue.dir.
//
// Record, little-endian: u32 body length, u64 sequence number (> 0, increasing), u32 topic length, u64
// check, then the body (topic bytes, payload bytes). The check is FNV-1a 64 over the sequence number, the
// topic length and the body. A record that is cut short (a write the process did not finish, a power loss)
// or fails its check ends the file: open() truncates the file there and counts the bytes dropped.
//
// Threads: append() from one thread at a time (Paho's); stored_through() from any thread; the rest at start.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace gw::bridge {

struct journal_record {
  std::uint64_t seq = 0;
  std::string topic;
  std::string payload;
};

// Longest body (topic + payload) a record may have: larger messages are not journaled (append() fails and
// the caller takes the slow path), and a length above it marks a damaged record.
inline constexpr std::size_t max_journal_body = std::size_t{64} << 20;
inline constexpr std::size_t journal_header_size = 24;

// Appends the encoding of one record to `out`. Precondition: seq > 0, topic.size() + payload.size() <=
// max_journal_body.
void encode_journal_record(std::uint64_t seq, std::string_view topic, std::string_view payload,
                           std::vector<std::uint8_t>& out);

// The whole records at the front of `bytes`, and how many bytes they take. Decoding stops at the first record
// that is incomplete, too long, has sequence number 0 or fails its check. Safe on any input (fuzzed by
// tests/fuzz/intake_journal_fuzz.cpp).
struct journal_scan {
  std::vector<journal_record> records;
  std::size_t valid_bytes = 0;
};
journal_scan scan_journal(std::span<const std::uint8_t> bytes);

struct journal_stats {
  std::uint64_t appended = 0;         // records written since open
  std::uint64_t append_failures = 0;  // appends that failed (disk full, I/O, too large): the caller waited
  std::uint64_t rotations = 0;        // switches to the other file
  std::uint64_t recovered = 0;        // records found at open above the stored watermark
  std::uint64_t dropped_bytes = 0;    // damaged tails cut at open
};

class intake_journal {
 public:
  struct options {
    std::filesystem::path dir;                            // queue.dir; must exist
    std::uint64_t rotate_bytes = std::uint64_t{1} << 20;  // see "Files" above
    std::uint64_t reset_bytes = std::uint64_t{64} << 10;  // ditto
  };

  // Opens (creating) both files, cuts damaged tails, and keeps the records whose sequence number is above
  // `stored_through` (durable_queue::intake_seq_at_open()) for recovered(). Numbering continues after the
  // highest number seen. Returns null with `ec` (the errno of open/read/ftruncate) on failure.
  static std::unique_ptr<intake_journal> open(const options& opts, std::uint64_t stored_through,
                                              std::error_code& ec);

  intake_journal(const intake_journal&) = delete;
  intake_journal& operator=(const intake_journal&) = delete;
  ~intake_journal();

  // The records a stop or crash left unstored, oldest first; empty after the first call.
  std::vector<journal_record> take_recovered();

  // Writes one record and returns its sequence number, or 0 if it was not written (the file is left as it
  // was; `ec` says why). The record is durable against a process crash when this returns.
  std::uint64_t append(std::string_view topic, std::string_view payload, std::error_code& ec);

  // Every record up to `seq` is stored in the durable queue or given up (dropped, counted): a file holding
  // only such records may be emptied. Monotonic; any thread.
  void stored_through(std::uint64_t seq) noexcept;

  journal_stats stats() const noexcept;
  std::filesystem::path file(int index) const;

 private:
  explicit intake_journal(options opts);
  bool truncate_file(int index);  // truncates file `index` to 0 bytes; false (and unchanged) if that fails

  options opts_;
  int fd_[2] = {-1, -1};
  std::uint64_t size_[2] = {0, 0};
  std::uint64_t last_seq_[2] = {0, 0};  // highest sequence number in each file, 0 if empty
  int current_ = 0;
  bool broken_ = false;  // a partial record could not be cut: every later append fails
  std::uint64_t next_seq_ = 1;
  std::vector<std::uint8_t> buffer_;  // append()'s encoding, reused
  std::vector<journal_record> recovered_;
  std::atomic<std::uint64_t> stored_through_{0};
  std::atomic<std::uint64_t> appended_{0}, append_failures_{0}, rotations_{0};
  std::uint64_t recovered_count_ = 0;
  std::uint64_t dropped_bytes_ = 0;
};

}  // namespace gw::bridge
