#pragma once

#include <system_error>

namespace gw::mqtt {

// Every way a request to the MQTT adapter can fail (the broker's own refusals arrive as connection events).
enum class error {
  not_connected = 1,  ///< no connection to the broker at the moment; nothing was queued
  publish_failed,     ///< Paho refused the publish (bad topic, buffer full, client shutting down)
  stopped,            ///< the adapter was stopped; no more requests are taken
};

const std::error_category& mqtt_category() noexcept;

std::error_code make_error_code(error e) noexcept;

}  // namespace gw::mqtt

template <>
struct std::is_error_code_enum<gw::mqtt::error> : std::true_type {};
