#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "gateway/crypto/secret.hpp"

namespace gw::crypto {

// The /auth signature algorithms (spec §4.2). hmacmd5 is the platform default when signmethod is absent.
enum class sign_method { hmacmd5, hmacsha1, hmacsha256 };

// "hmacmd5", "hmacsha1", "hmacsha256".
std::string_view to_string(sign_method m) noexcept;
// Exact (case-sensitive) inverse of to_string; nullopt for anything else.
std::optional<sign_method> parse_sign_method(std::string_view text) noexcept;

// One JSON field as the signer sees it: the key and the exact characters sent as its value (spec §4.2 step
// 3).
using sign_field = std::pair<std::string_view, std::string_view>;

// Spec §4.2 steps 1-3: drops sign, signmethod, version and resources, sorts the rest by key in byte order and
// concatenates key+value without separators.
std::string make_sign_string(std::span<const sign_field> fields);

// Lower-case hex HMAC_m(key = secret bytes, msg) (spec §4.2 step 4). Empty string if OpenSSL fails.
std::string hmac_hex(sign_method m, const secret& key, std::string_view message);

// Raw HMAC_m(key, msg) bytes (16, 20 or 32); empty if OpenSSL fails.
std::string hmac_raw(sign_method m, std::span<const std::uint8_t> key, std::string_view message);

}  // namespace gw::crypto
