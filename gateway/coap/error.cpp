#include "gateway/coap/error.hpp"

#include <string>

namespace gw::coap {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coap"; }

  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::truncated_header:
        return "truncated CoAP header";
      case error::bad_version:
        return "unsupported CoAP version";
      case error::bad_token_length:
        return "reserved token length";
      case error::truncated_token:
        return "truncated token";
      case error::truncated_option:
        return "truncated option";
      case error::reserved_option_nibble:
        return "reserved option nibble 15";
      case error::empty_payload:
        return "payload marker without payload";
      case error::option_number_overflow:
        return "option number exceeds 65535";
      case error::non_empty_empty_message:
        return "empty message carries token, options or payload";
      case error::timeout:
        return "request timed out";
      case error::reset:
        return "request reset by peer";
      case error::cancelled:
        return "request cancelled";
      case error::separate_response_timeout:
        return "separate response timed out";
    }
    return "unknown coap error";
  }
};

}  // namespace

const std::error_category& coap_category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), coap_category()};
}

}  // namespace gw::coap
