#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace gw::coap {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using duration = clock::duration;

/// RFC 7252 §4.8 transmission parameters for one peer. The endpoint never reads a clock: every time is an
/// input.
struct transmission_params {
  duration ack_timeout = std::chrono::seconds(2);
  double ack_random_factor = 1.5;
  unsigned max_retransmit = 4;
  unsigned nstart = 1;  // outstanding CON/NON requests to the one peer; more are queued FIFO
  duration separate_response_timeout =
      std::chrono::seconds(60);  // after an empty ACK, wait this long for the CON/NON response
  duration exchange_lifetime = std::chrono::seconds(247);  // dedup memory
  std::size_t token_length = 4;                            // 1..8 random bytes per request (spec §7)
  std::size_t max_dedup_entries = 64;  // deduplicator capacity; the oldest entry is forgotten first

  /// RFC 7252 §4.8.2 MAX_TRANSMIT_WAIT = ACK_TIMEOUT * (2^(MAX_RETRANSMIT+1) - 1) * ACK_RANDOM_FACTOR: how
  /// long a NON request waits for its response before it fails with error::timeout.
  duration max_transmit_wait() const noexcept {
    const double factor = ack_random_factor < 1.0 ? 1.0 : ack_random_factor;
    const unsigned doublings = max_retransmit < 62 ? max_retransmit + 1 : 63;
    const double rounds = static_cast<double>((std::uint64_t{1} << doublings) - 1);
    return std::chrono::duration_cast<duration>(std::chrono::duration<double, duration::period>(
        static_cast<double>(ack_timeout.count()) * rounds * factor));
  }
};

}  // namespace gw::coap
