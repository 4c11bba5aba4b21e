#include "gateway/crypto/secret.hpp"

#include <openssl/crypto.h>

namespace gw::crypto {

secret::secret(std::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}

secret::secret(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}

secret::secret(secret&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.wipe();
}

secret& secret::operator=(secret&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.wipe();
  }
  return *this;
}

secret::~secret() {
  wipe();
}

void secret::wipe() noexcept {
  if (!bytes_.empty()) {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
  }
  bytes_.clear();
  bytes_.shrink_to_fit();
}

std::string secret::redacted() const {
  return "<secret: " + std::to_string(bytes_.size()) + " bytes>";
}

bool operator==(const secret& a, const secret& b) noexcept {
  return a.bytes_.size() == b.bytes_.size() &&
         (a.bytes_.empty() || CRYPTO_memcmp(a.bytes_.data(), b.bytes_.data(), a.bytes_.size()) == 0);
}

}  // namespace gw::crypto
