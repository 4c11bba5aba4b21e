// Bad input end to end (issue #6): empty, binary and oversize payloads, topics with odd characters, a route
// to a device that is not configured. Each is handled as documented (config/gateway.example.yaml, design.md
// §2): forwarded unchanged, or stored as a dead letter with its reason and counted; the gateway never stops.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gateway/bridge/durable_queue.hpp"
#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// One QoS 1 publish through mosquitto_pub (a separate process); `payload_args` e.g. "-n" or "-f file".
void publish(const mosquitto_fixture& broker, const std::string& topic, const std::string& payload_args) {
  const auto r = run_command("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) + " -q 1 -t " +
                             shell_quote(topic) + " " + payload_args);
  ASSERT_EQ(r.status, 0) << r.output;
}

const cloudsim_record* find_topic(const std::vector<cloudsim_record>& recs, const std::string& topic) {
  for (const auto& r : recs) {
    if (r.topic == topic) return &r;
  }
  return nullptr;
}

TEST(GatewayBadInput, EachHandledAsDocumentedAndTheGatewayKeepsRunning) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 2});
  scratch_dir files("gw-bad-input");
  gateway_options o{.devices = 2, .max_payload = "1024"};
  o.extra_routes = {"- { from: \"cbor/+device\", device: \"" + std::string(cloudsim_process::product_key) +
                    "/${device}\", to: \"/${productKey}/${deviceName}/user/cbor\", payload_format: cbor }"};
  // A fixed route to an id that no device has is refused by the config loader (a config error, checked by
  // unit/app); a template route that yields an unconfigured device is the runtime case tested here.
  gateway_process gw(broker.uri(), sim.aes_port(), o);
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();

  const std::string pk = cloudsim_process::product_key;
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  std::ofstream(files.path() / "binary.bin", std::ios::binary) << binary;
  std::ofstream(files.path() / "huge.json") << "{\"id\":1,\"pad\":\"" << std::string(200000, 'x') << "\"}";
  // 100,000 nested arrays: nlohmann's CBOR writer recursed once per level and the stack overflowed.
  std::ofstream(files.path() / "deep.json") << std::string(100000, '[') << std::string(100000, ']');

  publish(broker, "sensors/sensor-0000/empty", "-n");
  publish(broker, "sensors/sensor-0000/binary", "-f " + (files.path() / "binary.bin").string());
  publish(broker, "sensors/sensor-0000/huge", "-f " + (files.path() / "huge.json").string());
  publish(broker, "sensors/sensor-0000/odd level/ü ñ/%41?&=;", "-m '{\"odd\":1}'");
  publish(broker, "sensors/sensor-0000/a//b", "-m '{\"emptylevel\":1}'");
  publish(broker, "sensors/sensor-0999/update", "-m '{\"unknown\":1}'");
  publish(broker, "cbor/sensor-0000", "-f " + (files.path() / "deep.json").string());
  publish(broker, "sensors/sensor-0001/last", "-m '{\"last\":1}'");

  // The last message is for the other device, so its arrival says nothing about sensor-0000's order: wait
  // for the three sensor-0000 messages that should arrive too (empty, binary, odd).
  const auto recs = sim.wait_for_records(4, 20s);
  ASSERT_GE(recs.size(), 4u);

  // Empty payload: forwarded (cloud.drop_empty_payloads false), AES-encrypted to one pad block.
  const auto* empty = find_topic(recs, "/" + pk + "/sensor-0000/user/empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->payload, "");
  // Binary payload: passthrough, byte for byte (cloudsim records it as payload_b64).
  const auto* bin = find_topic(recs, "/" + pk + "/sensor-0000/user/binary");
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(bin->payload, binary);
  // Odd characters in a level: one Uri-Path option per level, bytes unchanged.
  const auto* odd = find_topic(recs, "/" + pk + "/sensor-0000/user/odd level/ü ñ/%41?&=;");
  ASSERT_NE(odd, nullptr);
  EXPECT_EQ(odd->payload, "{\"odd\":1}");
  EXPECT_NE(find_topic(recs, "/" + pk + "/sensor-0001/user/last"), nullptr);
  EXPECT_EQ(find_topic(recs, "/" + pk + "/sensor-0000/user/huge"), nullptr);

  // Counted at entry: oversize, JSON nested too deep for CBOR, unknown device, and the empty topic level (the
  // router refuses a cloud topic with an empty level, which the platform would answer 4.00).
  ASSERT_TRUE(gw.wait_for_log("dead-lettered 4,", 20s)) << gw.output();
  EXPECT_TRUE(gw.running());
  EXPECT_EQ(gw.stop(), 0) << gw.output();

  // The dead-letter store holds each with its reason.
  std::error_code ec;
  auto q = bridge::durable_queue::open({.dir = gw.queue_dir()}, ec);
  ASSERT_TRUE(q) << ec.message();
  const auto dead = q->dead_letters().list({}, 100, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::map<std::string, std::string> reason_by_topic;
  for (const auto& d : dead) reason_by_topic[d.mqtt_topic] = d.reason;
  ASSERT_EQ(dead.size(), 4u);
  EXPECT_EQ(reason_by_topic["cbor/sensor-0000"], "payload JSON nests too deep")
      << reason_by_topic["cbor/sensor-0000"];
  EXPECT_EQ(reason_by_topic["sensors/sensor-0000/huge"].rfind("oversize ", 0), 0u)
      << reason_by_topic["sensors/sensor-0000/huge"];
  EXPECT_NE(reason_by_topic["sensors/sensor-0999/update"].find("unknown"), std::string::npos)
      << reason_by_topic["sensors/sensor-0999/update"];
  EXPECT_EQ(reason_by_topic["sensors/sensor-0000/a//b"], "invalid cloud topic")
      << reason_by_topic["sensors/sensor-0000/a//b"];
}

// Runs a gateway with an extra route old/+device, stops it, and starts it again without that route: the
// broker still holds the filter old/+ for the persistent session. With `forget_record` the gateway's record
// of its subscriptions (queue.dir/subscriptions) is deleted in between, as if it had been lost.
struct route_removed_between_runs {
  explicit route_removed_between_runs(bool forget_record) {
    o.extra_routes = {"- { from: \"old/+device\", device: \"" + pk +
                      "/${device}\", to: \"/${productKey}/${deviceName}/user/old\" }"};
    gw.rewrite_config(o);
    gw.start();
    EXPECT_TRUE(gw.wait_ready()) << gw.output();
    EXPECT_EQ(gw.stop(), 0) << gw.output();
    if (forget_record) std::filesystem::remove(gw.queue_dir() / "subscriptions");
    o.extra_routes.clear();
    gw.rewrite_config(o);
    gw.start();
    EXPECT_TRUE(gw.wait_ready()) << gw.output();
  }
  // Publishes three messages to old/sensor-0000, then one the route takes; true once that one arrived (the
  // broker hands the session its messages in order, so the old ones were dealt with before).
  bool publish_old_then_after() {
    for (int i = 0; i < 3; ++i)
      publish(broker, "old/sensor-0000", "-m '{\"old\":" + std::to_string(i) + "}'");
    publish(broker, "sensors/sensor-0000/after", "-m '{\"after\":1}'");
    const auto recs = sim.wait_for_records(1, 20s);
    return recs.size() == 1 && recs[0].topic == "/" + pk + "/sensor-0000/user/after";
  }

  const std::string pk = cloudsim_process::product_key;
  mosquitto_fixture broker;
  cloudsim_process sim{{.devices = 1}};
  gateway_options o{.devices = 1};
  gateway_process gw{broker.uri(), sim.aes_port(), o};
};

// The gateway records the filters its session subscribed to; at the next start it unsubscribes those no route
// needs any more, so the broker stops sending them (MQTT gives a client no list of its subscriptions).
TEST(GatewayBadInput, ARouteRemovedBetweenRunsIsUnsubscribedAtTheNextStart) {
  route_removed_between_runs s(false);
  EXPECT_NE(s.gw.output().find("mqtt: unsubscribing old/+: an earlier configuration subscribed to it"),
            std::string::npos)
      << s.gw.output();
  ASSERT_TRUE(s.publish_old_then_after());
  const auto from = s.gw.output().size();
  ASSERT_TRUE(s.gw.wait_for_log("unrouted 0,", 20s, from)) << s.gw.output();  // old/ no longer arrives
  EXPECT_EQ(s.gw.stop(), 0) << s.gw.output();
  // A third start has nothing left to unsubscribe.
  s.gw.start();
  ASSERT_TRUE(s.gw.wait_ready()) << s.gw.output();
  EXPECT_EQ(s.gw.stop(), 0) << s.gw.output();
  const auto log = s.gw.output();
  const auto first = log.find("mqtt: unsubscribing old/+");
  EXPECT_EQ(log.find("mqtt: unsubscribing old/+", first + 1), std::string::npos) << log;
}

// Without the record the filter stays, and its messages are unrouted: acknowledged, counted, and warned about
// once; the rest of the minute's go to debug.
TEST(GatewayBadInput, AMessageNoRouteMatchesIsCountedAndWarnedAboutOnce) {
  route_removed_between_runs s(true);
  EXPECT_EQ(s.gw.output().find("mqtt: unsubscribing"), std::string::npos) << s.gw.output();
  ASSERT_TRUE(s.publish_old_then_after());
  ASSERT_TRUE(s.gw.wait_for_log("unrouted 3,", 20s)) << s.gw.output();
  EXPECT_EQ(s.gw.stop(), 0) << s.gw.output();

  const auto log = s.gw.output();
  const std::string warning = "route: no route for topic old/sensor-0000: acknowledged and dropped";
  const auto first = log.find(warning);
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find(warning, first + 1), std::string::npos) << log;
}

}  // namespace
}  // namespace gw::test
