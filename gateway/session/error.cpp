#include "gateway/session/error.hpp"

#include <string>

namespace gw::session {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gw.session"; }

  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::auth_rejected:
        return "auth rejected";
      case error::auth_response_invalid:
        return "auth response invalid";
      case error::auth_unavailable:
        return "auth unavailable";
      case error::auth_config_error:
        return "auth refused: configuration error";
      case error::too_many_rejections:
        return "auth rejected too many times";
      case error::publish_rejected:
        return "publish rejected";
      case error::publish_unavailable:
        return "publish unavailable";
      case error::token_rejected:
        return "token rejected";
      case error::transport_failed:
        return "transport failed";
      case error::no_answer:
        return "no answer from the cloud";
    }
    return "unknown session error";
  }
};

}  // namespace

const std::error_category& session_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace gw::session
