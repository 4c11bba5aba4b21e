// SIGHUP reload as a diff (issue #8 item 2), end to end: the built mqtt-coap-gateway between a real Mosquitto
// and cloudsim; the test rewrites the config file and sends SIGHUP. What an operator relies on:
//  - an added device authenticates and publishes; a removed one stops, its queued messages stay queued
//    (counted in the log line) and are delivered when a later reload brings it back;
//  - unchanged devices keep their session: cloudsim's auth_ok counter grows only by the new and changed ones;
//  - a changed device (client_id) restarts its session with the new identity;
//  - MQTT subscriptions follow the routes (Mosquitto logs SUBSCRIBE/UNSUBSCRIBE) on the same connection:
//    Mosquitto saw the gateway's client connect once;
//  - an invalid file is refused and the running configuration goes on;
//  - a device in `failed` state (auth refused too often) whose entry did not change is retried by a reload,
//    once its secret is fixed on the platform side (cloudsim reload-registry), and only it re-authenticates;
//  - sessions a reload removes or replaces leave the path_resume group (cloud.coap.resume_on_answer) before
//    they are destroyed: an outage after the reload resumes exactly the live sessions.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// Records cloudsim accepted for one device.
std::vector<cloudsim_record> of_device(const std::vector<cloudsim_record>& recs, int i) {
  std::vector<cloudsim_record> out;
  for (const auto& r : recs) {
    if (r.device_name == cloudsim_process::device_name(i)) out.push_back(r);
  }
  return out;
}

// Publishes one message to `topic` (QoS 1) and waits until the broker acknowledged it.
void publish_one(const std::string& uri, const std::string& topic, long long id) {
  child_process pub;
  start_publisher(pub, uri, 1, id, 1, {"--topic", topic});
  ASSERT_TRUE(wait_published(pub, 10s)) << pub.output();
}

void sighup(const gateway_process& gw) {
  ASSERT_EQ(::kill(gw.pid(), SIGHUP), 0);
}

const std::string extra_route =
    "- { from: \"extra/+device/#rest\", device: \"a1B2c3D4e5F/${device}\", to: "
    "\"/${productKey}/${deviceName}/user/extra\" }";

TEST(GatewayReload, DevicesRoutesAndSubscriptionsChangeWithoutDroppingTheBrokerOrUnchangedSessions) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 4});
  // sensor-0002 starts with a wrong secret: its /auth is refused (4.01) and its messages stay queued.
  gateway_options first{
      .devices = 3,
      .device_entries = {gateway_process::device_entry(0), gateway_process::device_entry(1),
                         gateway_process::device_entry(2, "00000000000000000000000000000000")}};
  gateway_process gw(broker.uri(), sim.aes_port(), first);
  gw.start();
  ASSERT_TRUE(gw.wait_for_log("status: broker connected, devices ready 2/3", 20s)) << gw.output();
  ASSERT_TRUE(broker.wait_for_log("e2e-gateway 1 sensors/+/#", 5s)) << broker.output();

  // Ids 0..5 to sensor-(id % 3): two each; sensor-0002's two stay queued.
  {
    child_process pub;
    start_publisher(pub, broker.uri(), 3, 0, 6);
    ASSERT_TRUE(wait_published(pub, 10s)) << pub.output();
  }
  auto recs = sim.wait_for_records(4, 10s);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(of_device(recs, 2).size(), 0u);
  EXPECT_EQ(sim.stats()["auth_ok"], 2);

  // Reload 1: sensor-0002 removed, sensor-0003 added, a route (and so a subscription) added.
  gateway_options second = first;
  second.device_entries = {gateway_process::device_entry(0), gateway_process::device_entry(1),
                           gateway_process::device_entry(3)};
  second.extra_routes = {extra_route};
  gw.rewrite_config(second);
  sighup(gw);
  ASSERT_TRUE(
      gw.wait_for_log("applied: devices +1 -1 ~0 (=2 unchanged), routes changed, subscriptions +1 -0", 10s))
      << gw.output();
  EXPECT_NE(
      gw.output().find("device a1B2c3D4e5F/sensor-0002 removed; its session stopped, 2 queued message(s) "
                       "stay on disk"),
      std::string::npos)
      << gw.output();
  ASSERT_TRUE(broker.wait_for_log("e2e-gateway 1 extra/+/#", 5s)) << broker.output();
  ASSERT_TRUE(gw.wait_for_log("status: broker connected, devices ready 3/3", 10s)) << gw.output();
  // The added device publishes; the new route works.
  publish_one(broker.uri(), "sensors/sensor-0003/update", 100);
  publish_one(broker.uri(), "extra/sensor-0000/anything", 101);
  recs = sim.wait_for_records(6, 10s);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(of_device(recs, 3).size(), 1u);
  EXPECT_EQ(recs.back().topic, "/a1B2c3D4e5F/sensor-0000/user/extra");
  // Only sensor-0003 authenticated: sensor-0000 and sensor-0001 kept their sessions.
  EXPECT_EQ(sim.stats()["auth_ok"], 3);

  // Reload 2: an invalid file is refused; the running configuration keeps delivering.
  {
    std::ofstream bad(gw.config_path(), std::ios::trunc);
    bad << "mqtt:\n  uri: tcp://127.0.0.1:1883\ndevices: [\n";
  }
  sighup(gw);
  ASSERT_TRUE(gw.wait_for_log("is invalid; the running configuration stays", 10s)) << gw.output();
  publish_one(broker.uri(), "sensors/sensor-0003/update", 102);
  recs = sim.wait_for_records(7, 10s);
  ASSERT_EQ(recs.size(), 7u);
  EXPECT_EQ(of_device(recs, 3).size(), 2u);

  // Reload 3: sensor-0002 comes back with its right secret and resumes its backlog; sensor-0001 changes its
  // client id (a new session, a new /auth); the extra route goes and so does its subscription.
  gateway_options third = first;
  third.devices = 4;
  third.device_entries = {gateway_process::device_entry(0),
                          gateway_process::device_entry(1, "", "client_id: \"reload-test-1\""),
                          gateway_process::device_entry(2), gateway_process::device_entry(3)};
  gw.rewrite_config(third);
  sighup(gw);
  ASSERT_TRUE(
      gw.wait_for_log("applied: devices +1 -0 ~1 (=2 unchanged), routes changed, subscriptions +0 -1", 10s))
      << gw.output();
  EXPECT_NE(gw.output().find("device a1B2c3D4e5F/sensor-0002 added; resuming 2 queued message(s)"),
            std::string::npos)
      << gw.output();
  EXPECT_NE(gw.output().find("device a1B2c3D4e5F/sensor-0001 changed (client_id)"), std::string::npos)
      << gw.output();
  ASSERT_TRUE(broker.wait_for_log("e2e-gateway extra/+/#", 5s)) << broker.output();
  recs = sim.wait_for_records(9, 10s);
  ASSERT_EQ(recs.size(), 9u);
  EXPECT_EQ(of_device(recs, 2).size(), 2u);  // ids 2 and 5, kept on disk while the device was gone
  ASSERT_TRUE(gw.wait_for_log("status: broker connected, devices ready 4/4", 10s)) << gw.output();
  publish_one(broker.uri(), "sensors/sensor-0001/update", 103);
  recs = sim.wait_for_records(10, 10s);
  ASSERT_EQ(recs.size(), 10u);
  EXPECT_EQ(sim.stats()["auth_ok"], 5);  // + sensor-0002 and the changed sensor-0001

  // One broker connection all along.
  EXPECT_EQ(count_of(broker.output(), " as e2e-gateway "), 1u) << broker.output();
  EXPECT_EQ(count_of(gw.output(), "mqtt: connected to"), 1u) << gw.output();
  EXPECT_EQ(count_of(gw.output(), "mqtt: connection lost"), 0u) << gw.output();
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

// Settings that cannot change at run time are named in one warning line and keep their running value.
TEST(GatewayReload, RestartOnlyKeysAreReportedAndKeepTheirValue) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 1});
  gateway_process gw(broker.uri(), sim.aes_port(), {.devices = 1});
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();
  gateway_options changed = gw.options();
  changed.client_id = "another-client";
  changed.max_messages_per_device = 5;
  gw.rewrite_config(changed);
  sighup(gw);
  ASSERT_TRUE(
      gw.wait_for_log("reload: these settings change only at a restart and keep their running value: "
                      "mqtt.client_id, mqtt.status_topic, queue.max_messages_per_device",
                      10s))
      << gw.output();
  ASSERT_TRUE(gw.wait_for_log("applied: devices +0 -0 ~0 (=1 unchanged)", 10s)) << gw.output();
  publish_one(broker.uri(), "sensors/sensor-0000/update", 1);
  ASSERT_EQ(sim.wait_for_records(1, 10s).size(), 1u);
  EXPECT_EQ(count_of(broker.output(), " as another-client "), 0u);
  EXPECT_EQ(sim.stats()["auth_ok"], 1);
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

// cloud.ca_file is read again on every reload: rewritten in place, the dtls session reconnects with the new
// context; unreadable, the reload is refused and the running session goes on.
TEST(GatewayReload, RewrittenCaFileIsReadAgainAndDtlsSessionsReconnect) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 1, .aes = false, .dtls = true});
  scratch_dir dir("reload-ca");
  const auto ca = dir.path() / "ca.pem";
  std::filesystem::copy_file(sim.ca_file(), ca);
  gateway_process gw(broker.uri(), sim.dtls_port(), {.devices = 1, .mode = "dtls", .ca_file = ca.string()});
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();
  EXPECT_EQ(sim.stats()["auth_ok"], 1);

  std::ofstream(ca, std::ios::app) << "\n";  // same path, other bytes, still the right CA
  sighup(gw);
  ASSERT_TRUE(gw.wait_for_log("cloud.ca_file changed (1 DTLS session(s) reconnect)", 10s)) << gw.output();
  EXPECT_NE(gw.output().find("device a1B2c3D4e5F/sensor-0000 changed (cloud.ca_file)"), std::string::npos)
      << gw.output();
  publish_one(broker.uri(), "sensors/sensor-0000/update", 1);
  ASSERT_EQ(sim.wait_for_records(1, 10s).size(), 1u);
  EXPECT_EQ(sim.stats()["auth_ok"], 2);  // a new handshake and /auth with the new context

  std::ofstream(ca, std::ios::trunc) << "not a certificate\n";
  sighup(gw);
  ASSERT_TRUE(gw.wait_for_log("refused: cloud.ca_file", 10s)) << gw.output();
  publish_one(broker.uri(), "sensors/sensor-0000/update", 2);
  ASSERT_EQ(sim.wait_for_records(2, 10s).size(), 2u);
  EXPECT_EQ(sim.stats()["auth_ok"], 2);
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

// Issue #8: a device whose /auth was refused until it gave up (failed) is retried by a SIGHUP even though its
// config entry did not change (the operator fixed the secret on the platform side); the unchanged healthy
// devices keep their sessions (no new /auth), and a second reload with nothing failed retries nothing.
TEST(GatewayReload, FailedDevicesAreRetriedByAReloadAndOnlyThey) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 3});
  const std::string wrong = "00000000000000000000000000000000";
  // A short auth back-off: the device fails after max_auth_rejections (10) refusals in a few seconds.
  gateway_options opts{.devices = 3,
                       .device_entries = {gateway_process::device_entry(0), gateway_process::device_entry(1),
                                          gateway_process::device_entry(2, wrong)},
                       .backoff_initial = "100ms",
                       .backoff_max = "300ms"};
  gateway_process gw(broker.uri(), sim.aes_port(), opts);
  gw.start();
  ASSERT_TRUE(gw.wait_for_log("device a1B2c3D4e5F/sensor-0002: authenticating -> failed", 30s))
      << gw.output();
  {
    child_process pub;
    start_publisher(pub, broker.uri(), 3, 0, 3);  // one message each; sensor-0002's stays queued
    ASSERT_TRUE(wait_published(pub, 10s)) << pub.output();
  }
  auto recs = sim.wait_for_records(2, 10s);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(sim.stats()["auth_ok"], 2);

  // The platform side now has the secret the gateway uses; the gateway's file is not touched.
  {
    std::ofstream reg(sim.registry_path(), std::ios::trunc);
    for (int i = 0; i < 3; ++i) {
      reg << cloudsim_process::product_key << ',' << cloudsim_process::device_name(i) << ','
          << (i == 2 ? wrong : cloudsim_process::device_secret(i)) << '\n';
    }
  }
  ASSERT_EQ(sim.command("reload-registry"), "ok reload-registry 3");
  sighup(gw);
  ASSERT_TRUE(gw.wait_for_log("applied: devices +0 -0 ~0 (=3 unchanged)", 10s)) << gw.output();
  EXPECT_NE(
      gw.output().find("reload: device a1B2c3D4e5F/sensor-0002 was failed; its session restarts, 1 queued "
                       "message(s) kept"),
      std::string::npos)
      << gw.output();
  EXPECT_EQ(count_of(gw.output(), "1 failed device(s) retried"), 1u) << gw.output();
  recs = sim.wait_for_records(3, 10s);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(of_device(recs, 2).size(), 1u);
  EXPECT_EQ(sim.stats()["auth_ok"], 3);  // only sensor-0002 authenticated again

  // Nothing failed any more: a reload of the same file retries nothing and restarts no session.
  const std::size_t before = gw.output().size();
  sighup(gw);
  ASSERT_TRUE(gw.wait_for_log("applied: devices +0 -0 ~0 (=3 unchanged)", 10s, before)) << gw.output();
  publish_one(broker.uri(), "sensors/sensor-0000/update", 10);
  ASSERT_EQ(sim.wait_for_records(4, 10s).size(), 4u);
  EXPECT_EQ(count_of(gw.output(), "failed device(s) retried"), 1u) << gw.output();
  EXPECT_EQ(sim.stats()["auth_ok"], 3);
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

// cloud.coap.resume_on_answer (on by default) keeps a pointer to every session in path_resume. A reload that
// removes one device and replaces another's session takes both out before they are destroyed and registers
// the new one: after the reload an outage resumes exactly the two live sessions. Without that, the round
// calls a destroyed session (a heap-use-after-free under ASan) and counts 4 members.
TEST(GatewayReload, RemovedAndReplacedSessionsLeaveThePathResumeGroup) {
  mosquitto_fixture broker;
  cloudsim_process sim({.devices = 3});
  gateway_options opts{.devices = 3, .log_level = "debug"};
  gateway_process gw(broker.uri(), sim.aes_port(), opts);
  gw.start();
  ASSERT_TRUE(gw.wait_ready()) << gw.output();

  gateway_options second = opts;
  second.devices = 2;
  second.device_entries = {gateway_process::device_entry(0),
                           gateway_process::device_entry(1, "", "client_id: \"resume-reload-1\"")};
  gw.rewrite_config(second);
  sighup(gw);
  ASSERT_TRUE(gw.wait_for_log("applied: devices +0 -1 ~1 (=1 unchanged)", 10s)) << gw.output();
  ASSERT_TRUE(gw.wait_for_log("devices ready 2/2", 10s)) << gw.output();

  // The cloud goes silent for 2 s while both devices publish: their CONs time out and are retransmitted; the
  // first answer after the silence starts a resume round over the group.
  ASSERT_EQ(sim.command("silent 2"), "ok silent 2");
  {
    child_process pub;
    start_publisher(pub, broker.uri(), 2, 0, 2);  // id 0 -> sensor-0000, id 1 -> sensor-0001
    ASSERT_TRUE(wait_published(pub, 10s)) << pub.output();
  }
  // First deliveries, not records: a resend that crossed the cloud's answer is a counted duplicate
  // (dup:true).
  const auto recs = wait_for_first_deliveries(sim, 2, 0, 2, 20s);
  const auto report = check_delivery(recs, 2, 0, 2);
  ASSERT_EQ(report.first_deliveries, 2u) << report << "\n" << gw.output();  // an ASan report shows here
  EXPECT_TRUE(report.all_once_in_order()) << report;
  ASSERT_TRUE(gw.wait_for_log("answers again after timeouts: resuming its 2 device session(s) now", 5s))
      << gw.output();
  EXPECT_EQ(count_of(gw.output(), "resuming its 4 device session(s)"), 0u) << gw.output();
  EXPECT_EQ(gw.stop(), 0) << gw.output();
}

}  // namespace
}  // namespace gw::test
