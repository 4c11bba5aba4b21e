#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "gateway/crypto/secret.hpp"

namespace gw::crypto {

// The AES-128 key of the platform's symmetric mode (spec §5.2). Wiped on destruction like `secret`.
class aes_key {
 public:
  static constexpr std::size_t size = 16;

  // From raw bytes; nullopt unless exactly 16 bytes.
  static std::optional<aes_key> from_bytes(std::span<const std::uint8_t> bytes) noexcept;

  aes_key(const aes_key& other) noexcept = default;
  aes_key& operator=(const aes_key& other) noexcept = default;
  ~aes_key();

  std::span<const std::uint8_t, size> bytes() const noexcept { return bytes_; }

 private:
  aes_key() = default;
  friend aes_key derive_aes_key(const secret&, std::string_view);

  std::array<std::uint8_t, size> bytes_{};
};

// Spec §5.2: SHA-256(UTF-8(deviceSecret + "," + random)), bytes 8..23.
aes_key derive_aes_key(const secret& device_secret, std::string_view random);

// The fixed IV "543yhjy97ae7fyfg" (spec §5.2).
inline constexpr std::string_view aes_iv = "543yhjy97ae7fyfg";

// AES-128-CBC, fixed IV, PKCS#7 (spec §5.2): output is 16..len+16 bytes, a multiple of 16 (empty input gives
// one full pad block). Returns an empty vector only if OpenSSL fails. Uses one cipher context per thread.
std::vector<std::uint8_t> encrypt(const aes_key& key, std::span<const std::uint8_t> plaintext);
inline std::vector<std::uint8_t> encrypt(const aes_key& key, std::string_view plaintext) {
  return encrypt(key, {reinterpret_cast<const std::uint8_t*>(plaintext.data()), plaintext.size()});
}

// Inverse of encrypt. nullopt if the input is empty, not a multiple of 16 or has invalid padding: the caller
// then treats the payload as plaintext (spec §5.2, "be more robust than the SDK").
std::optional<std::vector<std::uint8_t>> decrypt(const aes_key& key,
                                                 std::span<const std::uint8_t> ciphertext);

// Option 2089: AES(decimal ASCII seq), always 16 bytes for a 32-bit seq (spec §5.2).
std::array<std::uint8_t, 16> encrypt_seq(const aes_key& key, std::uint32_t seq);

}  // namespace gw::crypto
