#pragma once
// Health of a running gateway for operators (issue #7): the HTTP endpoint (health_http.hpp), the retained
// per-device MQTT health JSON, the CA expiry check, and SIGUSR1 (toggles debug logging at run time). Lives on
// the gateway's loop, next to the gateway it observes; created after the gateway, destroyed before it.
//
// MQTT health: for each device, retained JSON (health_report.hpp to_json(device_report)) on health.mqtt_topic
// with ${productKey}, ${deviceName} and ${deviceId} replaced. Published when the device's state changes
// (coalesced: all changes of one loop turn go out together), every health.interval, and for every device when
// the broker connection comes back. QoS 0: the next interval supersedes a lost one.

#include <spdlog/common.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gateway/app/health_http.hpp"
#include "gateway/app/health_report.hpp"

namespace gw::app {

class gateway;
struct device_runtime;

// Warn at start when cloud.ca_file expires within this many days, and when a DTLS handshake presents a
// server certificate that does.
inline constexpr double ca_expiry_warning_days = 30.0;

class health_service {
 public:
  health_service(boost::asio::io_context& io, gateway& gw);
  health_service(const health_service&) = delete;
  health_service& operator=(const health_service&) = delete;
  ~health_service();

  // Checks the CA, binds health.http (false and an error log line if it cannot), installs the gateway hooks
  // and starts publishing.
  bool start();
  void stop();

  gateway_report report() const;
  std::optional<double> ca_days_left() const { return ca_days_left_; }
  // Messages published on health topics so far (tests, metrics).
  std::uint64_t published() const { return published_; }

 private:
  void on_state_changed(const device_runtime& dev);
  void check_server_certificate(const device_runtime& dev);
  void flush_changed();
  void publish_all();
  bool publish(const device_runtime& dev);
  void arm_interval();
  void wait_usr1();

  boost::asio::io_context& io_;
  std::unordered_set<std::int64_t> cert_warned_;  // notAfter values already warned about: one line each
  gateway& gw_;
  std::chrono::steady_clock::time_point started_;
  std::optional<double> ca_days_left_;
  std::unique_ptr<health_http_server> http_;
  boost::asio::steady_timer interval_;
  boost::asio::signal_set usr1_;
  std::unordered_map<const device_runtime*, std::string> topics_;  // empty when MQTT health is off
  std::unordered_set<const device_runtime*> changed_;
  bool flush_posted_ = false;
  spdlog::level::level_enum level_before_usr1_ = spdlog::level::info;
  bool stopped_ = false;
  std::uint64_t published_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// health.mqtt_topic for one device: ${productKey}, ${deviceName}, ${deviceId} replaced.
std::string health_topic(std::string_view pattern, std::string_view product_key, std::string_view device_name,
                         std::string_view device_id);

}  // namespace gw::app
