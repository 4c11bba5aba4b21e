// The benchmarks' MQTT load process (tests/bench/e2e/mqtt_load.cpp) with its lean client
// (tests/bench/e2e/lean_mqtt.hpp): every figure in docs/benchmarks.md that e2e_bench takes goes through it,
// so it must speak MQTT 3.1.1 to a real Mosquitto as Paho does. Each pairing of publisher and subscriber
// clients moves the same messages; the subscriber's --times file must hold every id once, and one device's
// ids in increasing order (one publishing connection: MQTT 3.1.1 §4.6 keeps its order per topic).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

struct pairing {
  std::string pub, sub;
};

class MqttLoadTool : public ::testing::TestWithParam<pairing> {};

TEST_P(MqttLoadTool, EveryIdArrivesOnceAndInOrderPerDevice) {
  constexpr long long kMessages = 3000;
  constexpr int kDevices = 10;
  mosquitto_fixture broker({.max_queued_messages = 100000});
  const auto times = std::filesystem::temp_directory_path() /
                     ("mqtt_load_tool_" + std::to_string(::getpid()) + "_" + GetParam().pub + GetParam().sub);
  child_process sub;
  start_subscriber(sub, broker.uri(), kMessages,
                   {"--client", GetParam().sub, "--times", times.string(), "--timeout", "60"});
  child_process pub;
  start_publisher(pub, broker.uri(), kDevices, 0, kMessages, {"--client", GetParam().pub, "--window", "50"});
  ASSERT_TRUE(wait_published(pub, 60s)) << pub.output();
  // "received" is printed after the --times file is written.
  ASSERT_NE(sub.wait_for_output("e2e_mqtt_load: received 3000 ", 60s), std::string::npos) << sub.output();

  std::ifstream in(times);
  std::vector<long long> ids;
  std::map<long long, long long> last_of_device;
  long long out_of_order = 0;
  for (long long id = 0, ts = 0, t = 0; in >> id >> ts >> t;) {
    ids.push_back(id);
    EXPECT_GT(ts, 0);
    EXPECT_GE(t, ts);  // received after it was sent (one wall clock)
    const auto [it, fresh] = last_of_device.try_emplace(id % kDevices, id);
    if (!fresh) {
      if (id <= it->second) ++out_of_order;
      it->second = id;
    }
  }
  std::filesystem::remove(times);
  EXPECT_EQ(out_of_order, 0);
  std::sort(ids.begin(), ids.end());
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kMessages));
  for (long long i = 0; i < kMessages; ++i) ASSERT_EQ(ids[static_cast<std::size_t>(i)], i);
}

INSTANTIATE_TEST_SUITE_P(Clients, MqttLoadTool,
                         ::testing::Values(pairing{"lean", "lean"}, pairing{"lean", "paho"},
                                           pairing{"paho", "lean"}),
                         [](const auto& p) { return p.param.pub + "_to_" + p.param.sub; });

}  // namespace
}  // namespace gw::test
