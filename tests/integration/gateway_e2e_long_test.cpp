// The full sizes of gateway_e2e_test.cpp (label long, not in the default CI run):
//   ctest --test-dir build/<dir> -L long -R integration_gateway_e2e_long
// A 30 s cloud silence under load, and a burst of 150,000 messages against Debian's default
// max_queued_messages 1000. The burst passes because the gateway connects with MQTT 5 and Receive Maximum
// 65535 (mqtt.receive_maximum): Mosquitto then keeps the backlog in its in-flight window for the gateway, not
// in the 1000-message per-client queue it drops from; and because the intake journal (queue.intake_journal)
// acknowledges each delivery once it is in the journal file, without waiting for the queue's SQLite round
// trip, so the gateway reads the broker as fast as Paho can; and because of intake priority
// (mqtt.intake_priority): the gateway's other threads run at a higher nice value, so on these two shared
// cores Paho's reader is not starved by the gateway's own delivery and cloudsim. With mqtt.protocol "3.1.1"
// (Mosquitto's max_inflight_messages 20) the same run lost 6,153 of 150,000; without the journal, on a host
// where the broker outruns that round trip, 20-50 % (docs/benchmarks.md). Not in the default run: under the
// sanitizers the gateway is several times slower than the broker. The bursts publish
// through e2e_mqtt_load's lean client, which publishes ~1.4x as fast as its Paho one on this machine: as fast
// as the broker takes them, as the issue asks.
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

TEST(GatewayE2eLong, BurstOfHundredFiftyThousandAgainstDebianDefaultQueueLosesNothing) {
  mosquitto_fixture broker({.max_queued_messages = 1000});
  cloudsim_process sim({.devices = 100});
  gateway_process gw(broker.uri(), sim.aes_port(), {.devices = 100});
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();

  child_process pub;
  start_publisher(pub, broker.uri(), 100, 0, 150000, {"--window", "100", "--client", "lean"});
  ASSERT_TRUE(wait_published(pub, 300s)) << pub.output();
  std::cout << pub.output();  // "published 150000 in S s (R msg/s)": how fast the broker took them
  const auto recs = wait_for_first_deliveries(sim, 100, 0, 150000, 300s);
  const auto report = check_delivery(recs, 100, 0, 150000);
  EXPECT_TRUE(report.all_once_in_order()) << report << "\n" << mqtt_events(gw.output());
  std::cout << "burst 150,000: " << report << "\n";
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

}  // namespace
}  // namespace gw::test
