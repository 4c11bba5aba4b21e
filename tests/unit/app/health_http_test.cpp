// The health HTTP endpoint on a loopback port with a fixed report: routes, status codes, bounds.

#include "gateway/app/health_http.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/unit/app/health_prometheus_parser.hpp"

namespace gw::app {
namespace {

using tcp = boost::asio::ip::tcp;

struct reply {
  int status = 0;
  std::string head;
  std::string body;
};

// Sends raw request bytes and reads until the server closes (requests carry "Connection: close").
reply raw_exchange(std::uint16_t port, const std::string& request) {
  boost::asio::io_context io;
  tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(s, boost::asio::buffer(request));
  std::string all;
  boost::system::error_code ec;
  boost::asio::read(s, boost::asio::dynamic_buffer(all), ec);
  reply r;
  const auto end = all.find("\r\n\r\n");
  r.head = all.substr(0, end);
  r.body = end == std::string::npos ? "" : all.substr(end + 4);
  if (all.size() > 12) r.status = std::stoi(all.substr(9, 3));
  return r;
}

reply get(std::uint16_t port, const std::string& target, const std::string& method = "GET",
          const std::string& body = "") {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return raw_exchange(port, req + "\r\n" + body);
}

class HealthHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    report_.version = "t";
    report_.mqtt_connected = true;
    device_report d;
    d.id = "pk/dn";
    d.state = "ready";
    d.ready = true;
    report_.devices.push_back(d);
    report_.devices_total = 1;
    report_.devices_ready = 1;
    health_http_limits limits;
    limits.max_connections = 2;
    limits.max_body_bytes = 64;
    limits.max_header_bytes = 1024;
    limits.idle_timeout = std::chrono::seconds(5);
    server_ = std::make_unique<health_http_server>(
        io_,
        [this] {
          std::lock_guard lock(mutex_);
          return report_;
        },
        1.0, limits);
    ASSERT_FALSE(server_->listen("127.0.0.1:0"));
    port_ = server_->local_endpoint().port();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    std::promise<void> stopped;
    boost::asio::post(io_, [&] {
      server_->stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    guard_.reset();
    thread_.join();
  }
  void set_ready(bool ready) {
    std::lock_guard lock(mutex_);
    report_.devices[0].ready = ready;
    report_.devices_ready = ready ? 1 : 0;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{io_.get_executor()};
  std::unique_ptr<health_http_server> server_;
  std::thread thread_;
  std::mutex mutex_;
  gateway_report report_;
  std::uint16_t port_ = 0;
};

TEST_F(HealthHttp, HealthzAnswersFromTheLoop) {
  const auto r = get(port_, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(HealthHttp, HeadCarriesTheLengthButNoBody) {
  const auto r = get(port_, "/healthz", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Content-Length: 3"), std::string::npos) << r.head;
  EXPECT_EQ(r.body, "");
}

TEST_F(HealthHttp, ReadyzFollowsTheDevices) {
  EXPECT_EQ(get(port_, "/readyz").status, 200);
  set_ready(false);
  const auto r = get(port_, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("devices ready 0/1"), std::string::npos) << r.body;
}

TEST_F(HealthHttp, MetricsAreStrictPrometheusText) {
  const auto r = get(port_, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r.head;
  const auto doc = test::parse_prometheus(r.body);
  ASSERT_EQ(doc.error, "");
  EXPECT_EQ(doc.value("gw_device_ready", {{"device", "pk/dn"}}), 1);
}

TEST_F(HealthHttp, DevicesIsJson) {
  const auto r = get(port_, "/devices?x=1");
  ASSERT_EQ(r.status, 200);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j.at("devices").at(0).at("id"), "pk/dn");
  EXPECT_EQ(j.at("gateway").at("ready"), true);
}

TEST_F(HealthHttp, StatusPageIsSelfContained) {
  const auto r = get(port_, "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("text/html"), std::string::npos);
  EXPECT_NE(r.body.find("<table"), std::string::npos);
  EXPECT_NE(r.body.find("fetch(\"devices\""), std::string::npos);
  EXPECT_EQ(r.body.find("src="), std::string::npos);   // no external scripts or images
  EXPECT_EQ(r.body.find("href="), std::string::npos);  // no external style sheets
}

TEST_F(HealthHttp, BadRequestsGet4xx) {
  EXPECT_EQ(get(port_, "/nope").status, 404);
  EXPECT_EQ(get(port_, "/metrics", "POST", "x").status, 405);
  EXPECT_EQ(raw_exchange(port_, "BLAH\r\n\r\n").status, 400);
  EXPECT_EQ(get(port_, "/loglevel", "POST", std::string(65, 'x')).status, 413);
  EXPECT_EQ(raw_exchange(port_, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n")
                .status,
            431);
}

TEST_F(HealthHttp, LogLevelCanBeChangedAtRunTime) {
  const auto before = spdlog::get_level();
  EXPECT_EQ(get(port_, "/loglevel", "POST", "verbose").status, 400);
  const auto r = get(port_, "/loglevel", "POST", "debug\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  EXPECT_EQ(get(port_, "/loglevel").body, "debug\n");
  spdlog::set_level(before);
}

TEST_F(HealthHttp, ConnectionsBeyondTheLimitGet503) {
  boost::asio::io_context io;
  // Two idle keep-alive connections take both slots (limit 2).
  tcp::socket a(io), b(io);
  a.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  b.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  // Wait until the server has accepted both (the count is read on the loop).
  for (int i = 0; i < 500; ++i) {
    std::promise<std::size_t> n;
    boost::asio::post(io_, [&] { n.set_value(server_->connections()); });
    if (n.get_future().get() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(get(port_, "/healthz").status, 503);
  a.close();
  b.close();
  // Slots free again once the server saw the closes.
  int status = 0;
  for (int i = 0; i < 500 && status != 200; ++i) {
    status = get(port_, "/healthz").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace gw::app
