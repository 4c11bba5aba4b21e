#pragma once

#include <chrono>
#include <cstdint>

namespace gw::session {

// A small deterministic PRNG (SplitMix64, Steele/Lea/Flood 2014) so protocol logic takes its randomness from
// a seed it is given: the same seed gives the same jitter and auth seqs on every platform.
class prng {
 public:
  explicit prng(std::uint64_t seed) noexcept : state_(seed) {}

  std::uint64_t next() noexcept;

  // Uniform in [lo, hi] (inclusive); lo <= hi.
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) noexcept;

 private:
  std::uint64_t state_;
};

enum class jitter_mode : std::uint8_t {
  none,   ///< delay = base (for tests and lockstep runs).
  full,   ///< delay uniform in [0, base].
  equal,  ///< delay uniform in [base/2, base]: never near zero, still spreads a herd.
};

struct backoff_config {
  std::chrono::milliseconds initial{1000};  ///< First delay (before jitter).
  std::chrono::milliseconds max{300'000};   ///< Cap on the base delay.
  jitter_mode jitter = jitter_mode::equal;
};

// Exponential backoff: base_n = min(max, initial * 2^n), n = number of delays handed out since reset(); the
// delay returned is base_n with jitter applied.
class backoff {
 public:
  using duration = std::chrono::steady_clock::duration;

  explicit backoff(backoff_config config = {}, std::uint64_t seed = 0) noexcept;

  // The next delay; advances the exponent.
  duration next() noexcept;

  // The base (unjittered) delay the next call to next() starts from.
  duration peek_base() const noexcept { return base_; }

  // Back to `initial` (after a success).
  void reset() noexcept;

  // Delays handed out since the last reset.
  std::uint32_t attempts() const noexcept { return attempts_; }

  const backoff_config& config() const noexcept { return config_; }

 private:
  backoff_config config_;
  prng rng_;
  duration base_;
  std::uint32_t attempts_ = 0;
};

}  // namespace gw::session
