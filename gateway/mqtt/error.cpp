#include "gateway/mqtt/error.hpp"

#include <string>

namespace gw::mqtt {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mqtt"; }

  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::not_connected:
        return "not connected to the MQTT broker";
      case error::publish_failed:
        return "MQTT publish refused by the client library";
      case error::stopped:
        return "MQTT adapter stopped";
    }
    return "unknown mqtt error";
  }
};

}  // namespace

const std::error_category& mqtt_category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), mqtt_category()};
}

}  // namespace gw::mqtt
