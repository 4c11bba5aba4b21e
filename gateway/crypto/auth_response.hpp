#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace gw::crypto {

// Which /auth response shape is expected (spec §2, §4.3).
enum class auth_mode {
  dtls,  ///< {"token"}
  aes,   ///< {"random","seqOffset","token"}
};

// Limits on what a server may hand us (spec §4.3: allow token >= 256; iotkit rejects random > 32).
inline constexpr std::size_t max_auth_response_bytes = 4096;
inline constexpr std::size_t max_token_bytes = 512;
inline constexpr std::size_t max_random_bytes = 64;

struct auth_response {
  std::string token;                        ///< opaque; goes into option 2088 as is
  std::string random;                       ///< AES mode only: input to derive_aes_key
  std::optional<std::uint32_t> seq_offset;  ///< AES mode only: floor for publish seq (spec §5.3)
};

// Parses a (plaintext) /auth 2.05 payload. Never throws and never crashes on any input; on error returns an
// empty response and sets ec (bad_json, missing_field, wrong_type, oversize, empty_field). Unknown fields are
// ignored. seqOffset must be a JSON integer in [0, 2^32).
auth_response parse_auth_response(std::string_view payload, auth_mode mode, std::error_code& ec) noexcept;

inline auth_response parse_auth_response(std::span<const std::uint8_t> payload, auth_mode mode,
                                         std::error_code& ec) noexcept {
  return parse_auth_response(std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()),
                             mode, ec);
}

}  // namespace gw::crypto
