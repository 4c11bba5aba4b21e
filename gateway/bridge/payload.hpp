#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "gateway/bridge/route.hpp"

namespace gw::bridge {

// Default maximum plaintext payload (platform doc §7 / protocol/alibaba-coap.md §7: keep data <= 1 KB).
inline constexpr std::size_t default_max_payload = 1024;

// JSON for payload_format cbor is refused before it is parsed when it is
// - longer than max_json_input (error::oversize): the parser builds the whole document in memory, tens of
//   bytes per input byte. CBOR under cloud.max_payload (at most 65,000) comes from far shorter JSON, unless
//   the JSON is mostly whitespace;
// - nested deeper than max_json_depth arrays and objects (error::too_deep): nlohmann::json's CBOR writer
//   recurses once per level, and 100,000 '[' (a 200 KB payload) overflowed the stack and killed the gateway.
inline constexpr std::size_t max_json_input = std::size_t{1024} * 1024;
inline constexpr std::size_t max_json_depth = 64;

// Encodes an MQTT payload for the cloud. raw: copied unchanged. cbor: parsed as JSON and re-encoded as CBOR;
// a payload that is not JSON yields error::not_json (or oversize / too_deep, above) and leaves `out` empty.
// Never throws.
std::error_code encode_payload(payload_format format, std::span<const std::uint8_t> in,
                               std::vector<std::uint8_t>& out) noexcept;

// error::oversize if `size` > `max`, else success. The caller dead-letters oversize messages with
// oversize_reason() as the reason.
std::error_code check_payload_size(std::size_t size, std::size_t max = default_max_payload) noexcept;

// "oversize 2048 > 1024": the dead-letter reason text for an oversize payload.
std::string oversize_reason(std::size_t size, std::size_t max = default_max_payload);

}  // namespace gw::bridge
