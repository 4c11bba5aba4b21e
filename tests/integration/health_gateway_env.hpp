#pragma once
// One running gateway for the health tests (issue #7): Mosquitto and cloudsim (AES endpoint, fixed token) on
// free loopback ports, and the mqtt-coap-gateway binary with two devices — a good one and one whose secret
// the cloud refuses — plus a route whose cloud topic the device does not own (4.03: dead letters). Only one
// device can hold a token: with --fixed-token cloudsim maps the one token to the device that authenticated
// last. The health endpoint binds port 0; its port is read from the gateway's log line.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>

#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {

class health_gateway_env {
 public:
  static constexpr const char* fixed_token = "tok-health-3b9f0c1e";
  static constexpr const char* bad_secret = "00000000000000000000000000000000";

  health_gateway_env() : cloud_(options()) {
    const std::string pk = cloudsim_process::product_key;
    config_ = dir_.path() / "gateway.yaml";
    std::ofstream out(config_);
    out << "mqtt:\n  uri: " << broker_.uri() << "\n  client_id: health-test-gw\n"
        << "cloud:\n  mode: aes\n  address: 127.0.0.1\n  port: " << cloud_.aes_port()
        << "\n  coap: { ack_timeout: 500ms, max_retransmit: 2 }\n"
        << "  auth: { backoff: { initial: 200ms, max: 1s } }\n"
        << "devices:\n";
    out << "  - { product_key: " << pk << ", device_name: " << cloudsim_process::device_name(0)
        << ", device_secret: \"" << cloudsim_process::device_secret(0) << "\" }\n";
    out << "  - { product_key: " << pk << ", device_name: " << cloudsim_process::device_name(1)
        << ", device_secret: \"" << bad_secret << "\" }\n"
        << "routes:\n"
        << "  - { from: \"sensors/+device/update\", device: \"" << pk
        << "/${device}\", to: \"/${productKey}/${deviceName}/user/update\" }\n"
        << "  - { from: \"foreign/+device\", device: \"" << pk
        << "/${device}\", to: \"/${productKey}/not-${deviceName}/user/update\" }\n"
        << "queue:\n  dir: " << (dir_.path() / "queue").string() << "\n"
        << "health:\n  http: 127.0.0.1:0\n  interval: 1s\n"
        << "log:\n  level: info\n";
    out.close();
    std::filesystem::permissions(config_,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    gateway_.start({binary().string(), "run", "-c", config_.string()}, dir_.path() / "gateway.log");
    const auto at =
        gateway_.wait_for_output("health: listening on http://127.0.0.1:", std::chrono::seconds(10));
    if (at == std::string::npos) throw std::runtime_error("gateway did not start:\n" + gateway_.output());
    // Messages published before the gateway's subscriptions exist would be lost (first start: no session
    // yet).
    for (const char* filter : {"health-test-gw 1 sensors/+/update", "health-test-gw 1 foreign/+"}) {
      if (!broker_.wait_for_log(filter, std::chrono::seconds(10))) {
        throw std::runtime_error(std::string("gateway did not subscribe ") + filter + ":\n" +
                                 gateway_.output());
      }
    }
    const auto out_text = gateway_.output();
    http_port_ = static_cast<std::uint16_t>(std::stoi(out_text.substr(at, out_text.find('/', at) - at)));
  }

  static std::filesystem::path binary() { return build_dir() / "gateway" / "app" / "mqtt-coap-gateway"; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  std::uint16_t http_port() const { return http_port_; }
  const std::filesystem::path& config() const { return config_; }
  mosquitto_fixture& broker() { return broker_; }
  cloudsim_process& cloud() { return cloud_; }
  child_process& gateway() { return gateway_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Publishes one QoS 1 message with mosquitto_pub.
  void publish(const std::string& topic, const std::string& payload) {
    const auto r = run_command("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                               " -q 1 -t '" + topic + "' -m '" + payload + "'");
    if (r.status != 0) throw std::runtime_error("mosquitto_pub: " + r.output);
  }

 private:
  static cloudsim_options options() {
    cloudsim_options o;
    o.devices = 2;
    o.extra_args = {"--fixed-token", fixed_token};
    return o;
  }

  scratch_dir dir_{"gw-health"};
  mosquitto_fixture broker_;
  cloudsim_process cloud_;
  std::filesystem::path config_;
  child_process gateway_;
  std::uint16_t http_port_ = 0;
};

// GET (or another method) on 127.0.0.1:port with "Connection: close"; returns the HTTP status (0 if the
// connection failed) and sets `body`. Bounded by the server's own timeouts.
inline int http_request(std::uint16_t port, const std::string& target, std::string& body,
                        const std::string& method = "GET", const std::string& content = "") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return 0;
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!content.empty()) req += "Content-Length: " + std::to_string(content.size()) + "\r\n";
  req += "\r\n" + content;
  boost::asio::write(s, boost::asio::buffer(req), ec);
  if (ec) return 0;
  std::string all;
  boost::asio::read(s, boost::asio::dynamic_buffer(all), ec);
  const auto end = all.find("\r\n\r\n");
  if (all.size() < 12 || end == std::string::npos) return 0;
  body = all.substr(end + 4);
  return std::stoi(all.substr(9, 3));
}

}  // namespace gw::test
