#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "gateway/coap/transmission_params.hpp"
#include "gateway/util/fifo.hpp"

namespace gw::coap {

/// Californium's Deduplicator: remembers the MIDs of CON/NON messages the peer sent us, each for
/// EXCHANGE_LIFETIME (RFC 7252 §4.5), so a repeat is recognised and not delivered twice. Memory is bounded by
/// `capacity`: when full, the oldest entry is forgotten first.
class deduplicator {
 public:
  deduplicator(duration lifetime, std::size_t capacity) noexcept : lifetime_(lifetime), capacity_(capacity) {}

  /// True if `mid` was remembered and has not expired at `now`.
  bool contains(time_point now, std::uint16_t mid) const noexcept;
  /// Remembers `mid` until now + lifetime. Precondition: `now` never decreases between calls.
  void remember(time_point now, std::uint16_t mid);
  /// Forgets every entry that expired at or before `now`.
  void expire(time_point now) noexcept;
  /// When the oldest entry expires, if any.
  std::optional<time_point> next_expiry() const noexcept;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    std::uint16_t mid;
    time_point expires;
  };

  duration lifetime_;
  std::size_t capacity_;
  util::fifo<entry> entries_;  // in expiry order: lifetime is constant and `now` is monotonic
};

}  // namespace gw::coap
