#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gateway/bridge/route.hpp"

namespace gw::bridge {

// What the router needs to know about a configured device identity.
struct device_info {
  std::string product_key;
  std::string device_name;
};

// Resolves a device id (by default "${productKey}/${deviceName}") to its identity; nullptr if not configured.
// Must stay valid, and return pointers that stay valid, for the router's lifetime.
using device_lookup = std::function<const device_info*(std::string_view id)>;

// Where one MQTT message goes.
struct route_result {
  std::string device_id;
  std::string cloud_topic;
  payload_format format = payload_format::raw;
  std::size_t route_index = 0;  ///< which route matched (first match wins)
};

// Maps MQTT topics to (device id, cloud topic) through an ordered list of routes (shared/design.md §2, §4).
// Immutable after make(); route() is const and safe to call from any thread if the lookup is. make() only
// stores the lookup (route() calls it), so a router can be built before the map it reads is in place.
class router {
 public:
  // Validates and compiles every route. On the first invalid route returns nullopt and fills `err`.
  // Checks: empty fields, '#' not last, '+'/'#' mixed into a level, duplicate capture names, capture names
  // that shadow built-ins (productKey, deviceName, topic), unknown ${var}, unterminated "${", `to` not
  // starting '/'.
  static std::optional<router> make(const std::vector<route_config>& routes, device_lookup lookup,
                                    route_error& err);

  // First matching route wins. On failure `ec` is error::no_route, error::unknown_device (the first match's
  // device is not configured; later routes are not tried) or error::bad_topic (the expanded cloud topic is
  // invalid, see is_valid_cloud_topic). Topic bytes (UTF-8, spaces) pass through unchanged.
  route_result route(std::string_view mqtt_topic, std::error_code& ec) const;

  // The MQTT filters to subscribe, captures stripped, deduplicated, in route order.
  std::vector<std::string> subscriptions() const;

  std::size_t size() const noexcept { return routes_.size(); }

 private:
  struct compiled {
    topic_filter filter;
    topic_template device;
    topic_template to;
    payload_format format;
  };
  router(std::vector<compiled> routes, device_lookup lookup)
      : routes_(std::move(routes)), lookup_(std::move(lookup)) {}

  std::vector<compiled> routes_;
  device_lookup lookup_;
};

}  // namespace gw::bridge
