#include "gateway/session/backoff.hpp"

#include <algorithm>

namespace gw::session {

std::uint64_t prng::next() noexcept {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

std::uint64_t prng::uniform(std::uint64_t lo, std::uint64_t hi) noexcept {
  const std::uint64_t span = hi - lo;
  if (span == UINT64_MAX) {
    return next();
  }
  const std::uint64_t n = span + 1;
  // Rejection sampling: drop the top partial range so every value is equally likely.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  std::uint64_t x = next();
  while (x >= limit) {
    x = next();
  }
  return lo + x % n;
}

backoff::backoff(backoff_config config, std::uint64_t seed) noexcept
    : config_(config), rng_(seed), base_(std::min<duration>(config.initial, config.max)) {
  if (config_.initial.count() < 0) {
    config_.initial = std::chrono::milliseconds{0};
  }
  if (config_.max < config_.initial) {
    config_.max = config_.initial;
  }
  base_ = config_.initial;
}

backoff::duration backoff::next() noexcept {
  const duration base = base_;
  ++attempts_;
  const duration cap = config_.max;
  base_ = base > cap / 2 ? cap : std::max<duration>(base * 2, duration{1});
  if (base_ > cap) {
    base_ = cap;
  }
  const auto ticks = static_cast<std::uint64_t>(base.count());
  switch (config_.jitter) {
    case jitter_mode::none:
      return base;
    case jitter_mode::full:
      return duration{static_cast<duration::rep>(rng_.uniform(0, ticks))};
    case jitter_mode::equal:
      return duration{static_cast<duration::rep>(rng_.uniform(ticks / 2, ticks))};
  }
  return base;
}

void backoff::reset() noexcept {
  base_ = config_.initial;
  attempts_ = 0;
}

}  // namespace gw::session
