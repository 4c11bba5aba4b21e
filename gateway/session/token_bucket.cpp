#include "gateway/session/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace gw::session {

token_bucket::token_bucket(double rate_per_s, std::uint32_t burst, time_point now) noexcept
    : rate_milli_(rate_per_s > 0 ? static_cast<std::uint64_t>(std::llround(rate_per_s * 1000.0)) : 0),
      capacity_(static_cast<std::uint64_t>(std::clamp<std::uint32_t>(burst, 1, max_burst)) * unit_),
      level_(capacity_),
      last_(now) {
  if (rate_per_s > 0 && rate_milli_ == 0) {
    rate_milli_ = 1;  // below resolution: the slowest rate we can express, never "unlimited"
  }
}

std::uint64_t token_bucket::level_at(time_point now) const noexcept {
  if (now <= last_ || level_ >= capacity_) {
    return level_;
  }
  const auto elapsed = static_cast<std::uint64_t>(std::chrono::nanoseconds(now - last_).count());
  const std::uint64_t deficit = capacity_ - level_;
  // elapsed * rate_milli_ >= deficit ⇔ the bucket is full; compare without overflowing.
  if (elapsed >= (deficit + rate_milli_ - 1) / rate_milli_) {
    return capacity_;
  }
  return level_ + elapsed * rate_milli_;
}

bool token_bucket::try_acquire(time_point now) noexcept {
  if (unlimited()) {
    return true;
  }
  if (now > last_) {
    level_ = level_at(now);
    last_ = now;
  }
  if (level_ < unit_) {
    return false;
  }
  level_ -= unit_;
  return true;
}

token_bucket::time_point token_bucket::next_available(time_point now) const noexcept {
  if (unlimited()) {
    return now;
  }
  const time_point from = std::max(now, last_);
  const std::uint64_t level = level_at(from);
  if (level >= unit_) {
    return from;
  }
  const std::uint64_t wait_ns = (unit_ - level + rate_milli_ - 1) / rate_milli_;
  return from + std::chrono::duration_cast<clock::duration>(
                    std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(wait_ns)));
}

std::uint32_t token_bucket::available(time_point now) const noexcept {
  if (unlimited()) {
    return UINT32_MAX;
  }
  return static_cast<std::uint32_t>(level_at(std::max(now, last_)) / unit_);
}

void auth_scheduler::enqueue(device_id id) {
  if (tickets_.contains(id)) {
    return;
  }
  const std::uint64_t ticket = next_ticket_++;
  tickets_.emplace(id, ticket);
  fifo_.push_back({id, ticket});
}

void auth_scheduler::cancel(device_id id) {
  tickets_.erase(id);
  drop_stale_front();
}

void auth_scheduler::drop_stale_front() noexcept {
  while (!fifo_.empty()) {
    const auto it = tickets_.find(fifo_.front().id);
    if (it != tickets_.end() && it->second == fifo_.front().ticket) {
      return;
    }
    fifo_.pop_front();
  }
}

std::size_t auth_scheduler::poll(time_point now, std::vector<device_id>& granted) {
  std::size_t n = 0;
  drop_stale_front();
  while (!fifo_.empty() && bucket_.try_acquire(now)) {
    const device_id id = fifo_.front().id;
    fifo_.pop_front();
    tickets_.erase(id);
    granted.push_back(id);
    ++n;
    drop_stale_front();
  }
  // A cancelled entry behind live ones can linger; bound the garbage to the live size.
  if (fifo_.size() > 2 * tickets_.size() + 64) {
    std::erase_if(fifo_, [this](const entry& e) {
      const auto it = tickets_.find(e.id);
      return it == tickets_.end() || it->second != e.ticket;
    });
  }
  return n;
}

std::optional<auth_scheduler::time_point> auth_scheduler::next_deadline(time_point now) const noexcept {
  if (tickets_.empty()) {
    return std::nullopt;
  }
  return bucket_.next_available(now);
}

}  // namespace gw::session
