#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gateway/bridge/durable_queue.hpp"

namespace gw::bridge::test {

// A fresh temporary directory per test, removed afterwards.
class BridgeQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gw-bridge-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 public:
  queue_options options() const {
    queue_options o;
    o.dir = dir_;
    return o;
  }

  std::unique_ptr<durable_queue> open(const queue_options& o) {
    std::error_code ec;
    auto q = durable_queue::open(o, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_NE(q, nullptr);
    return q;
  }
  std::unique_ptr<durable_queue> open() { return open(options()); }

  static queued_message msg(std::string device, std::string payload, std::int64_t received_ms = 0) {
    queued_message m;
    m.device_id = std::move(device);
    m.mqtt_topic = "sensors/" + m.device_id;
    m.cloud_topic = "/pk/" + m.device_id + "/user/update";
    m.payload.assign(payload.begin(), payload.end());
    m.received_ms = received_ms;
    return m;
  }

  static std::string text(const queued_message& m) { return {m.payload.begin(), m.payload.end()}; }

  std::filesystem::path dir_;
};

}  // namespace gw::bridge::test
