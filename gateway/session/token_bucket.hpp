#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gw::session {

// The gateway-wide rate limit on /auth and DTLS handshake starts (config cloud.auth.rate_per_s), so thousands
// of identities starting at once do not hit the platform as one burst. Exact integer arithmetic: over any
// interval t from a full bucket it admits exactly burst + floor(rate * t) starts.
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  // rate_per_s <= 0 disables the limit (every try_acquire succeeds). Rate resolution is 0.001 per second.
  // The bucket starts full (burst tokens, clamped to [1, max_burst]).
  token_bucket(double rate_per_s, std::uint32_t burst, time_point now) noexcept;

  // Takes one token if available at `now`. Time never runs backwards: an earlier `now` counts as the last
  // one.
  bool try_acquire(time_point now) noexcept;

  // Earliest time at or after `now` at which try_acquire succeeds.
  time_point next_available(time_point now) const noexcept;

  // Whole tokens available at `now`.
  std::uint32_t available(time_point now) const noexcept;

  bool unlimited() const noexcept { return rate_milli_ == 0; }

 private:
  // One token = unit_ units; refilling at rate_milli_ tokens per 1000 s adds rate_milli_ units per
  // nanosecond.
  static constexpr std::uint64_t unit_ = 1'000'000'000'000ULL;

 public:
  static constexpr std::uint32_t max_burst = 1'000'000;  // keeps burst * unit_ within 64 bits

 private:
  std::uint64_t level_at(time_point now) const noexcept;

  std::uint64_t rate_milli_;
  std::uint64_t capacity_;
  std::uint64_t level_;
  time_point last_;
};

// A FIFO of devices waiting for an auth/handshake slot from a token_bucket. Only auth and handshake starts
// wait here; publishes of devices that are ready never do, so a start-up herd cannot starve them.
class auth_scheduler {
 public:
  using time_point = token_bucket::time_point;
  using device_id = std::uint64_t;

  explicit auth_scheduler(token_bucket bucket) noexcept : bucket_(bucket) {}

  // Queues `id` at the back unless it is already waiting (then its place is kept).
  void enqueue(device_id id);

  // Removes `id` if waiting (device stopped or no longer needs a slot).
  void cancel(device_id id);

  // Grants slots in FIFO order while tokens last, appending the granted ids to `granted`. Returns how many.
  std::size_t poll(time_point now, std::vector<device_id>& granted);

  // When poll() can next grant a slot: nullopt if nobody waits.
  std::optional<time_point> next_deadline(time_point now) const noexcept;

  bool waiting(device_id id) const noexcept { return tickets_.contains(id); }
  std::size_t size() const noexcept { return tickets_.size(); }

 private:
  struct entry {
    device_id id;
    std::uint64_t ticket;
  };

  void drop_stale_front() noexcept;

  token_bucket bucket_;
  std::deque<entry> fifo_;  // May hold cancelled entries; they are skipped lazily.
  std::unordered_map<device_id, std::uint64_t> tickets_;
  std::uint64_t next_ticket_ = 0;
};

}  // namespace gw::session
