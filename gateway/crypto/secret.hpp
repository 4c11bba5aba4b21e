#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw::crypto {

// Secret bytes (device secret, AES key, PSK, token). The buffer is wiped with OPENSSL_cleanse when the
// secret is destroyed, assigned over or moved from. Deliberately not printable (no operator<<): log
// redacted() instead. Copies are explicit (clone()) so that every copy is visible in the code.
class secret {
 public:
  secret() = default;
  explicit secret(std::string_view bytes);
  explicit secret(std::span<const std::uint8_t> bytes);
  secret(const secret&) = delete;
  secret& operator=(const secret&) = delete;
  secret(secret&& other) noexcept;
  secret& operator=(secret&& other) noexcept;
  ~secret();

  secret clone() const { return secret(bytes()); }

  std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }
  // The bytes as characters (a device secret is ASCII text, spec §4.2 uses UTF-8(DeviceSecret)).
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }

  // "<secret: N bytes>": safe to log at any level.
  std::string redacted() const;

  // Constant-time comparison of contents (sizes may leak).
  friend bool operator==(const secret& a, const secret& b) noexcept;

 private:
  void wipe() noexcept;

  std::vector<std::uint8_t> bytes_;
};

}  // namespace gw::crypto
