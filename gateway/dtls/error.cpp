#include "gateway/dtls/error.hpp"

#include <string>

namespace gw::dtls {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dtls"; }

  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::bad_config:
        return "invalid DTLS configuration";
      case error::bad_ca_file:
        return "CA file missing, unreadable or empty";
      case error::bad_cipher_list:
        return "no usable cipher suite";
      case error::openssl_failure:
        return "OpenSSL setup failed";
      case error::verify_failed:
        return "certificate verify failed";
      case error::handshake_timeout:
        return "DTLS handshake timed out";
      case error::alert_received:
        return "fatal alert received";
      case error::protocol_error:
        return "DTLS protocol error";
      case error::peer_closed:
        return "peer closed the DTLS session";
      case error::not_connected:
        return "DTLS session not connected";
      case error::message_too_long:
        return "message exceeds the DTLS record size for the MTU";
    }
    return "unknown dtls error";
  }
};

}  // namespace

const std::error_category& dtls_category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), dtls_category()};
}

}  // namespace gw::dtls
