#pragma once
// Platform-side crypto of the Alibaba CoAP emulator, written against OpenSSL directly (never gw::crypto) so
// that cloudsim checks the gateway's implementation instead of sharing its mistakes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::cloudsim {

using aes_key = std::array<std::uint8_t, 16>;

// spec §4.2: "hmacmd5" (also when empty), "hmacsha1", "hmacsha256"; std::nullopt for any other method name.
std::optional<std::string> hmac_hex(std::string_view method, std::string_view key, std::string_view message);

// Lower-case hex of HMAC-SHA256 / upper-case variant for the DTLS-PSK key (spec §8).
std::string hmac_sha256_hex_upper(std::string_view key, std::string_view message);

// spec §5.2: key = SHA-256(secret + "," + random), bytes 8..23.
aes_key derive_key(std::string_view device_secret, std::string_view random);

// spec §5.2: AES-128-CBC, IV "543yhjy97ae7fyfg", PKCS#7.
std::string aes_encrypt(const aes_key& key, std::string_view plaintext);
// std::nullopt when the input is empty, not a multiple of 16 or the padding is invalid.
std::optional<std::string> aes_decrypt(const aes_key& key, std::string_view ciphertext);

std::string to_hex(std::string_view bytes, bool upper = false);
std::string base64(std::string_view bytes);
bool equal_ignore_case(std::string_view a, std::string_view b);

}  // namespace gw::cloudsim
