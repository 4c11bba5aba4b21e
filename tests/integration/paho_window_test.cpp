// What a crash loses while Paho's message callback holds a message that is not stored yet (issue #6 item 1:
// "investigate QoS 2 subscriptions with Paho's file persistence ... choose by measurement"), measured with
// the Debian Paho (C 1.3.11, C++ 1.2) against a real Mosquitto. The probe (paho_window_probe.cpp, connected
// as gw::mqtt connects) returns from 4 callbacks, holds the 5th as the gateway holds a delivery until it is
// durable, and is SIGKILLed; started again with the same client id (and persistence directory), it receives
// what the broker still has.
//
// Measured: in every case the held message comes again after the restart, and nothing is lost. Paho C
// acknowledges a QoS 1 PUBLISH (and completes QoS 2) only once the callback has returned: a tshark capture
// of the QoS 1 case shows PUBACKs for the 4 returned messages and none for the held one. (paho.mqtt.cpp
// #353, which the project's notes cited for the opposite, does not hold for this Paho in this use.) So
// QoS 2 with file persistence adds two packets per message and closes nothing that is open, and what a
// crash can lose is the deliveries whose callbacks returned before their message was durable: at most
// mqtt.max_unstored - 1 (gateway/mqtt/client.hpp). If a Paho upgrade acknowledges before the callback, this
// test fails and that bound no longer holds.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

constexpr int kMessages = 20;
constexpr int kHoldAt = 5;  // the 5th message's callback never returns

// The ids after `prefix` on the probe's output lines ("probe: got 3").
std::set<long> ids_after(const std::string& output, const std::string& prefix) {
  std::set<long> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.insert(std::atol(line.c_str() + prefix.size()));
  }
  return out;
}

struct window_case {
  int qos;
  int version;  // 3 (3.1.1) or 5
  bool file_persistence;
};

class PahoWindow : public ::testing::TestWithParam<window_case> {};

TEST_P(PahoWindow, TheMessageTheCallbackHoldsSurvivesACrash) {
  const auto [qos, version, file_persistence] = GetParam();
  mosquitto_fixture broker;
  scratch_dir persist("gw-paho-persist");
  std::vector<std::string> argv{(build_dir() / "tests" / "integration" / "paho_window_probe").string(),
                                "--uri",
                                broker.uri(),
                                "--client-id",
                                "window-probe",
                                "--qos",
                                std::to_string(qos)};
  if (file_persistence) {
    argv.push_back("--persist");
    argv.push_back(persist.path().string());
  }

  child_process first;
  auto first_argv = argv;
  first_argv.push_back("--block-after");
  first_argv.push_back(std::to_string(kHoldAt));
  first.start(first_argv);
  ASSERT_NE(first.wait_for_output("probe: subscribed", 10s), std::string::npos) << first.output();
  child_process pub;
  start_publisher(pub, broker.uri(), 1, 0, kMessages, {"--qos", std::to_string(qos), "--topic", "probe/x"});
  ASSERT_TRUE(wait_published(pub, 30s)) << pub.output();  // the broker has all of them
  ASSERT_NE(first.wait_for_output("probe: holding", 10s), std::string::npos) << first.output();
  first.kill_hard();  // SIGKILL while the callback holds message kHoldAt - 1
  const auto returned = ids_after(first.output(), "probe: got ");
  const auto held = ids_after(first.output(), "probe: holding ");
  ASSERT_EQ(held, (std::set<long>{kHoldAt - 1})) << first.output();
  EXPECT_EQ(returned.size(), static_cast<std::size_t>(kHoldAt - 1)) << first.output();

  child_process second;
  second.start(argv);
  const std::string last = "probe: got " + std::to_string(kMessages - 1) + "\n";
  ASSERT_NE(second.wait_for_output(last, 10s), std::string::npos) << second.output();
  const auto after_restart = ids_after(second.output(), "probe: got ");

  std::set<long> lost;
  for (long id = 0; id < kMessages; ++id) {
    if (returned.count(id) == 0 && after_restart.count(id) == 0) lost.insert(id);
  }
  EXPECT_TRUE(lost.empty()) << "first run:\n" << first.output() << "after the restart:\n" << second.output();
  EXPECT_EQ(after_restart.count(kHoldAt - 1), 1u) << "the held message comes again:\n" << second.output();
  RecordProperty("lost", static_cast<int>(lost.size()));
}

INSTANTIATE_TEST_SUITE_P(Candidates, PahoWindow,
                         ::testing::Values(window_case{1, 5, false}, window_case{1, 3, false},
                                           window_case{2, 5, true}, window_case{2, 3, true}),
                         [](const auto& p) {
                           return "Qos" + std::to_string(p.param.qos) + "Mqtt" +
                                  std::to_string(p.param.version) +
                                  (p.param.file_persistence ? "FilePersistence" : "NoPersistence");
                         });

}  // namespace
}  // namespace gw::test
