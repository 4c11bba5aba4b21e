#include "gateway/crypto/error.hpp"

#include <string>

namespace gw::crypto {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "crypto"; }

  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::bad_json:
        return "auth response is not a JSON object";
      case error::missing_field:
        return "auth response lacks a required field";
      case error::wrong_type:
        return "auth response field has the wrong type or range";
      case error::oversize:
        return "auth response or field too long";
      case error::empty_field:
        return "auth response field is empty";
      case error::bad_sign_method:
        return "unknown sign method";
      case error::invalid_utf8:
        return "auth request field is not valid UTF-8";
      case error::client_id_too_long:
        return "clientId longer than 64 characters";
      case error::missing_identity:
        return "productKey, deviceName or clientId is empty";
      case error::openssl_failure:
        return "OpenSSL primitive failed";
    }
    return "unknown crypto error";
  }
};

}  // namespace

const std::error_category& crypto_category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), crypto_category()};
}

}  // namespace gw::crypto
