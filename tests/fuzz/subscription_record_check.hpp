#pragma once

// The property subscription_record_fuzz and the app_subscription_record_test corpus replay check on every
// input: the record parser (gateway/app/subscription_record.hpp) reads any file contents without crashing,
// refuses what it does not take with bad_message, and what it accepts encodes and parses back to the same
// record (so a record the gateway acts on is one it could have written).

#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "gateway/app/subscription_record.hpp"

namespace gw::app::fuzz {

inline bool check_subscription_record(std::span<const std::uint8_t> bytes) {
  std::error_code ec;
  const auto r = parse_subscription_record({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, ec);
  if (!r) return ec == std::errc::bad_message;
  if (ec) return false;
  std::error_code again_ec;
  const auto again = parse_subscription_record(encode_subscription_record(*r), again_ec);
  // Invalid UTF-8 cannot come back unchanged (the encoder replaces it); the parser only takes valid JSON,
  // whose strings are valid UTF-8, so the round trip must be exact.
  return again && !again_ec && again->client_id == r->client_id && again->filters == r->filters;
}

}  // namespace gw::app::fuzz
