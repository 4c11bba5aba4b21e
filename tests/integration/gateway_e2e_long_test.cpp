// The full sizes of gateway_e2e_test.cpp (label long, not in the default CI run):
//   ctest --test-dir build/<dir> -L long -R integration_gateway_e2e_long
// A 30 s cloud silence under load, and bursts of 20,000 and 150,000 messages against Debian's default
// max_queued_messages 1000. The bursts FAIL today: the gateway takes one message per durable commit
// (gw::mqtt::client) and falls behind a fast publisher; it stays connected and never receives the excess, so
// Mosquitto drops what exceeds 1000 queued for it (PUBACKed to the publisher, so nobody retries; inferred
// from the gateway's counters). Measured: 20,000 published at ~6,000 msg/s, 5,000-9,700 arrived. Kept out of
// the default run until the gateway keeps up or the documented broker setting (max_queued_messages 0) is the
// tested configuration.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>

#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

// The gateway's MQTT connection events (lost / connected), for a failure message.
std::string mqtt_events(const std::string& output) {
  std::string out;
  for (std::size_t at = output.find("mqtt: "); at != std::string::npos; at = output.find("mqtt: ", at + 1)) {
    const auto begin = output.rfind('\n', at);
    out += output.substr(begin == std::string::npos ? 0 : begin + 1, output.find('\n', at) - begin);
  }
  return out;
}

TEST(GatewayE2eLong, CloudSilentThirtySecondsUnderLoadThenEverythingArrives) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 100});
  gateway_process gw(broker.uri(), sim.aes_port(), {.devices = 100});
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();

  child_process pub;
  start_publisher(pub, broker.uri(), 100, 0, 60000, {"--rate", "1000"});
  ASSERT_GE(sim.wait_for_records(2000, 20s).size(), 2000u);
  ASSERT_EQ(sim.command("silent 30").rfind("ok", 0), 0u);
  ASSERT_TRUE(wait_published(pub, 120s)) << pub.output();
  const auto recs = wait_for_first_deliveries(sim, 100, 0, 60000, 180s);
  const auto report = check_delivery(recs, 100, 0, 60000);
  EXPECT_TRUE(report.all_once_in_order()) << report;
  std::cout << "silent 30 s under load: " << report << "\n";
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

TEST(GatewayE2eLong, BurstOfTwentyThousandAgainstDebianDefaultQueueLosesNothing) {
  mosquitto_fixture broker({.max_queued_messages = 1000});
  cloudsim_process sim({.devices = 20});
  gateway_process gw(broker.uri(), sim.aes_port(), {.devices = 20});
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();

  child_process pub;
  start_publisher(pub, broker.uri(), 20, 0, 20000, {"--window", "100"});
  ASSERT_TRUE(wait_published(pub, 60s)) << pub.output();
  const auto recs = wait_for_first_deliveries(sim, 20, 0, 20000, 60s);
  const auto report = check_delivery(recs, 20, 0, 20000);
  EXPECT_TRUE(report.all_once_in_order()) << report << "\n" << mqtt_events(gw.output());
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

TEST(GatewayE2eLong, BurstOfHundredFiftyThousandAgainstDebianDefaultQueueLosesNothing) {
  mosquitto_fixture broker({.max_queued_messages = 1000});
  cloudsim_process sim({.devices = 100});
  gateway_process gw(broker.uri(), sim.aes_port(), {.devices = 100});
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();

  child_process pub;
  start_publisher(pub, broker.uri(), 100, 0, 150000, {"--window", "100"});
  ASSERT_TRUE(wait_published(pub, 300s)) << pub.output();
  const auto recs = wait_for_first_deliveries(sim, 100, 0, 150000, 300s);
  const auto report = check_delivery(recs, 100, 0, 150000);
  EXPECT_TRUE(report.all_once_in_order()) << report << "\n" << mqtt_events(gw.output());
  std::cout << "burst 150,000: " << report << "\n";
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

}  // namespace
}  // namespace gw::test
