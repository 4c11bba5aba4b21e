#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>

#include "gateway/coap/exchange.hpp"

namespace gw::coap {

/// Californium's Matcher, client side: our outgoing MID -> exchange for ACK/RST (RFC 7252 §4.2), token ->
/// exchange for responses, piggybacked or separate (RFC 7252 §5.3.2).
class matcher {
 public:
  void add_mid(std::uint16_t mid, request_id id);
  void remove_mid(std::uint16_t mid) noexcept;
  std::optional<request_id> find_mid(std::uint16_t mid) const noexcept;

  /// Returns false if the token is already in use (the caller draws another).
  bool add_token(std::span<const std::uint8_t> token, request_id id);
  void remove_token(std::span<const std::uint8_t> token) noexcept;
  std::optional<request_id> find_token(std::span<const std::uint8_t> token) const noexcept;

  std::size_t mid_count() const noexcept { return by_mid_.size(); }
  std::size_t token_count() const noexcept { return by_token_.size(); }

 private:
  struct token_key {
    std::array<std::uint8_t, 8> bytes{};
    std::uint8_t length = 0;
    auto operator<=>(const token_key&) const = default;
  };
  static token_key key_of(std::span<const std::uint8_t> token) noexcept;

  std::unordered_map<std::uint16_t, request_id> by_mid_;
  std::map<token_key, request_id> by_token_;
};

}  // namespace gw::coap
