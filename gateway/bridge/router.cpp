#include "gateway/bridge/router.hpp"

#include <algorithm>

#include "gateway/bridge/error.hpp"

namespace gw::bridge {
namespace {

constexpr std::string_view builtin_names[] = {"productKey", "deviceName", "topic"};

}  // namespace

std::optional<router> router::make(const std::vector<route_config>& routes, device_lookup lookup,
                                   route_error& err) {
  std::vector<compiled> out;
  out.reserve(routes.size());
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& r = routes[i];
    auto fail = [&](std::string field, std::string message) {
      err = route_error{i, std::move(field), std::move(message)};
      return std::nullopt;
    };
    std::string msg;
    auto filter = topic_filter::parse(r.from, msg);
    if (!filter) return fail("from", msg);
    auto names = filter->capture_names();
    for (const auto& n : names) {
      if (std::find(std::begin(builtin_names), std::end(builtin_names), n) != std::end(builtin_names)) {
        return fail("from", "capture name '" + n + "' shadows a built-in variable");
      }
    }
    auto device_vars = names;
    device_vars.emplace_back("topic");
    auto device = topic_template::parse(r.device, device_vars, msg);
    if (!device) return fail("device", msg);
    auto to_vars = names;
    to_vars.insert(to_vars.end(), std::begin(builtin_names), std::end(builtin_names));
    auto to = topic_template::parse(r.to, to_vars, msg);
    if (!to) return fail("to", msg);
    if (r.to.front() != '/') return fail("to", "cloud topic must start with '/'");
    out.push_back(compiled{std::move(*filter), std::move(*device), std::move(*to), r.format});
  }
  return router{std::move(out), std::move(lookup)};
}

route_result router::route(std::string_view mqtt_topic, std::error_code& ec) const {
  ec.clear();
  captures caps;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& r = routes_[i];
    if (!r.filter.match(mqtt_topic, caps)) continue;
    auto var = [&](std::string_view name) -> std::string_view {
      if (name == "topic") return mqtt_topic;
      auto it = caps.find(name);
      return it == caps.end() ? std::string_view{} : std::string_view{it->second};
    };
    route_result res;
    res.route_index = i;
    res.format = r.format;
    res.device_id = r.device.expand(var);
    const device_info* dev = lookup_ ? lookup_(res.device_id) : nullptr;
    if (dev == nullptr) {
      ec = error::unknown_device;
      return res;
    }
    res.cloud_topic = r.to.expand([&](std::string_view name) -> std::string_view {
      if (name == "productKey") return dev->product_key;
      if (name == "deviceName") return dev->device_name;
      return var(name);
    });
    if (!is_valid_cloud_topic(res.cloud_topic)) ec = error::bad_topic;
    return res;
  }
  ec = error::no_route;
  return {};
}

std::vector<std::string> router::subscriptions() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) {
    const auto& s = r.filter.subscription();
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

}  // namespace gw::bridge
