#pragma once

#include <cstdint>

namespace gw::coap {

/// xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64. Deterministic for a given seed, so tests
/// and the endpoint's token/jitter draws are reproducible. Not cryptographic: CoAP tokens only need to be
/// unguessable off-path for a DTLS-protected session (RFC 7252 §5.3.1), which the seed's source must provide.
class prng {
 public:
  explicit prng(std::uint64_t seed) noexcept {
    for (auto& s : state_) {
      seed += 0x9E3779B97F4A7C15ull;  // splitmix64
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, 1).
  double next_unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4]{};
};

}  // namespace gw::coap
