#include "gateway/coap/matcher.hpp"

#include <algorithm>

namespace gw::coap {

matcher::token_key matcher::key_of(std::span<const std::uint8_t> token) noexcept {
  token_key key;
  const std::size_t n = std::min(token.size(), key.bytes.size());
  std::copy_n(token.begin(), n, key.bytes.begin());
  key.length = static_cast<std::uint8_t>(n);
  return key;
}

void matcher::add_mid(std::uint16_t mid, request_id id) {
  by_mid_[mid] = id;
}

void matcher::remove_mid(std::uint16_t mid) noexcept {
  by_mid_.erase(mid);
}

std::optional<request_id> matcher::find_mid(std::uint16_t mid) const noexcept {
  auto it = by_mid_.find(mid);
  if (it == by_mid_.end()) return std::nullopt;
  return it->second;
}

bool matcher::add_token(std::span<const std::uint8_t> token, request_id id) {
  return by_token_.emplace(key_of(token), id).second;
}

void matcher::remove_token(std::span<const std::uint8_t> token) noexcept {
  by_token_.erase(key_of(token));
}

std::optional<request_id> matcher::find_token(std::span<const std::uint8_t> token) const noexcept {
  if (token.size() > 8) return std::nullopt;
  auto it = by_token_.find(key_of(token));
  if (it == by_token_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gw::coap
