// config_diff (issue #8 item 2): what a SIGHUP reload applies, keeps, restarts and refuses to change, as
// plain data computed from two loaded configurations.
#include "gateway/app/config_diff.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/process.hpp"

namespace gw::app {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A configuration with devices dev1..dev3 (AES) and one template route; `extra` is appended (YAML keys later
// in the text win over nothing: tests append whole sections that the base leaves out, or replace
// `devices_text`).
struct yaml {
  std::string mqtt = "mqtt:\n  uri: tcp://127.0.0.1:1883\n  client_id: gw-a\n";
  std::string cloud = "cloud:\n  mode: aes\n  address: 127.0.0.1\n  port: 5682\n";
  std::string devices =
      "devices:\n"
      "  - { product_key: pk1, device_name: dev1, device_secret: s1 }\n"
      "  - { product_key: pk1, device_name: dev2, device_secret: s2 }\n"
      "  - { product_key: pk1, device_name: dev3, device_secret: s3 }\n";
  std::string routes =
      "routes:\n  - { from: \"sensors/+device/#rest\", device: \"pk1/${device}\", to: "
      "\"/${productKey}/${deviceName}/user/${rest}\" }\n";
  std::string rest = "queue:\n  dir: /tmp/q\nhealth:\n  http: \"\"\n";

  config load() const {
    return load_config_from_string(mqtt + cloud + devices + routes + rest, "gateway.yaml");
  }
};

std::vector<std::string> ids(const std::vector<device_change>& changes) {
  std::vector<std::string> out;
  out.reserve(changes.size());
  for (const auto& c : changes) out.push_back(c.id);
  return out;
}

TEST(AppConfigDiff, SameFileChangesNothing) {
  const yaml y;
  const auto d = diff_config(y.load(), y.load());
  EXPECT_TRUE(d.nothing_to_apply());
  EXPECT_THAT(d.added, IsEmpty());
  EXPECT_THAT(d.removed, IsEmpty());
  EXPECT_THAT(d.changed, IsEmpty());
  EXPECT_EQ(d.unchanged, 3u);
  EXPECT_FALSE(d.routes_changed);
  EXPECT_FALSE(d.ca_changed);
  EXPECT_THAT(d.restart_only, IsEmpty());
}

TEST(AppConfigDiff, AddedRemovedAndChangedDevicesByIdNeverBySourceLine) {
  const yaml a;
  yaml b;
  // dev1 moves two lines down (its source changes, not its identity), dev2 goes, dev3 gets a new secret and
  // port, dev4 comes.
  b.devices =
      "devices:\n"
      "  - { product_key: pk1, device_name: dev4, device_secret: s4 }\n"
      "  - { product_key: pk1, device_name: dev3, device_secret: other, port: 5999 }\n"
      "  - { product_key: pk1, device_name: dev1, device_secret: s1 }\n";
  const auto d = diff_config(a.load(), b.load());
  EXPECT_THAT(d.added, ElementsAre("pk1/dev4"));
  EXPECT_THAT(d.removed, ElementsAre("pk1/dev2"));
  ASSERT_THAT(ids(d.changed), ElementsAre("pk1/dev3"));
  // Names of what changed, never the secret's value.
  EXPECT_THAT(d.changed[0].why, ElementsAre("device_secret", "port"));
  EXPECT_EQ(d.unchanged, 1u);
  EXPECT_FALSE(d.routes_changed);
  EXPECT_FALSE(d.nothing_to_apply());
}

TEST(AppConfigDiff, IdentityFieldsEachRestartTheSession) {
  const config base = yaml{}.load();
  const device_config& dev = base.devices[0];
  EXPECT_THAT(identity_changes(dev, dev), IsEmpty());
  auto with = [&](auto change) {
    device_config copy = dev;
    change(copy);
    return identity_changes(dev, copy);
  };
  EXPECT_THAT(with([](device_config& c) { c.product_key = "pk2"; }), ElementsAre("product_key"));
  EXPECT_THAT(with([](device_config& c) { c.device_name = "x"; }), ElementsAre("device_name"));
  EXPECT_THAT(with([](device_config& c) { c.device_secret = secret("other"); }),
              ElementsAre("device_secret"));
  EXPECT_THAT(with([](device_config& c) { c.client_id = "cid"; }), ElementsAre("client_id"));
  EXPECT_THAT(with([](device_config& c) { c.mode = cloud_mode::dtls_psk; }), ElementsAre("mode"));
  EXPECT_THAT(with([](device_config& c) { c.host = "h"; }), ElementsAre("host"));
  EXPECT_THAT(with([](device_config& c) { c.address = "10.0.0.1"; }), ElementsAre("address"));
  EXPECT_THAT(with([](device_config& c) { c.port = 1; }), ElementsAre("port"));
  EXPECT_THAT(with([](device_config& c) {
                c.source = "other.yaml:1:1";
                c.secret_from = secret_source::env;
              }),
              IsEmpty());
}

TEST(AppConfigDiff, CloudTemplateChangesShowUpAsChangedDevices) {
  const yaml a;
  yaml b;
  b.cloud = "cloud:\n  mode: aes\n  address: 127.0.0.2\n  port: 5682\n";  // resolved into every device
  const auto d = diff_config(a.load(), b.load());
  EXPECT_THAT(ids(d.changed), ElementsAre("pk1/dev1", "pk1/dev2", "pk1/dev3"));
  EXPECT_THAT(d.changed[0].why, ElementsAre("address"));
  EXPECT_THAT(d.session_keys, IsEmpty());
}

TEST(AppConfigDiff, SessionKeysRestartEverySessionAndAreNamed) {
  const yaml a;
  yaml b;
  b.cloud += "  coap:\n    ack_timeout: 3s\n  auth:\n    backoff: { initial: 2s }\n";
  const auto d = diff_config(a.load(), b.load());
  EXPECT_THAT(d.session_keys, ElementsAre("cloud.coap.ack_timeout", "cloud.auth.backoff.initial"));
  EXPECT_THAT(ids(d.changed), ElementsAre("pk1/dev1", "pk1/dev2", "pk1/dev3"));
  EXPECT_THAT(d.changed[0].why, ElementsAre("cloud settings"));
  EXPECT_EQ(d.unchanged, 0u);
}

TEST(AppConfigDiff, RoutesComparedByContentAndOrder) {
  const yaml a;
  yaml b;
  b.routes += "  - { from: \"extra/+device/#rest\", device: \"pk1/${device}\", to: \"/${productKey}/x\" }\n";
  EXPECT_TRUE(diff_config(a.load(), b.load()).routes_changed);
  yaml c;
  c.routes =
      "routes:\n  - { from: \"sensors/+device/#rest\", device: \"pk1/${device}\", to: "
      "\"/${productKey}/${deviceName}/user/${rest}\", payload_format: cbor }\n";
  EXPECT_TRUE(diff_config(a.load(), c.load()).routes_changed);
  yaml same_with_comment = a;
  same_with_comment.routes = "# a comment moves the route's line\n" + a.routes;
  const auto d = diff_config(a.load(), same_with_comment.load());
  EXPECT_FALSE(d.routes_changed);
  EXPECT_TRUE(d.nothing_to_apply());
}

TEST(AppConfigDiff, RestartOnlyKeysAreNamedAndKeepTheirRunningValue) {
  const yaml a;
  yaml b;
  b.mqtt = "mqtt:\n  uri: tcp://127.0.0.1:1884\n  client_id: gw-b\n  intake_priority: 0\n";
  b.rest = "queue:\n  dir: /tmp/other\nhealth:\n  http: \"127.0.0.1:0\"\nlog:\n  level: debug\n";
  b.cloud += "  auth:\n    rate_per_s: 5\n  max_payload: 2000\n  max_in_flight: 100\n";
  const config running = a.load();
  const config fresh = b.load();
  const auto d = diff_config(running, fresh);
  EXPECT_THAT(d.restart_only,
              ElementsAre("mqtt.uri", "mqtt.client_id", "mqtt.intake_priority", "mqtt.status_topic",
                          "cloud.auth.rate_per_s", "queue.dir", "health.http"));
  EXPECT_TRUE(d.log_changed);
  EXPECT_THAT(d.other_keys, ElementsAre("cloud.max_payload", "cloud.max_in_flight"));
  EXPECT_EQ(d.unchanged, 3u);  // none of these touches a session

  const config merged = merge_reloadable(running, fresh);
  EXPECT_EQ(merged.mqtt.uri, "tcp://127.0.0.1:1883");
  EXPECT_EQ(merged.mqtt.client_id, "gw-a");
  EXPECT_EQ(merged.queue.dir, "/tmp/q");
  EXPECT_EQ(merged.health.http, "");
  EXPECT_EQ(merged.cloud.auth.rate_per_s, running.cloud.auth.rate_per_s);
  EXPECT_EQ(merged.cloud.max_payload, 2000u);  // applied at once
  EXPECT_EQ(merged.cloud.max_in_flight, 100u);
  EXPECT_EQ(merged.log.level, log_level::debug);
  // After the merge only the applied keys differ: a second reload of the same file reports nothing new.
  EXPECT_THAT(diff_config(merged, fresh).restart_only,
              ElementsAre("mqtt.uri", "mqtt.client_id", "mqtt.intake_priority", "mqtt.status_topic",
                          "cloud.auth.rate_per_s", "queue.dir", "health.http"));
  EXPECT_TRUE(diff_config(merged, merge_reloadable(merged, fresh)).nothing_to_apply());
}

// cloud.coap.resume_on_answer / resume_rate_per_s build the gateway's path_resume once (the sessions' answer
// callbacks point into it): restart-only, not session keys, so no session restarts for them.
TEST(AppConfigDiff, ResumeKeysAreRestartOnlyAndRestartNoSession) {
  const yaml a;
  yaml b;
  b.cloud += "  coap:\n    resume_on_answer: false\n    resume_rate_per_s: 50\n";
  const config running = a.load();
  const config fresh = b.load();
  ASSERT_TRUE(running.cloud.coap.resume_on_answer);
  const auto d = diff_config(running, fresh);
  EXPECT_THAT(d.restart_only, ElementsAre("cloud.coap.resume_on_answer", "cloud.coap.resume_rate_per_s"));
  EXPECT_THAT(d.session_keys, IsEmpty());
  EXPECT_THAT(d.changed, IsEmpty());
  EXPECT_EQ(d.unchanged, 3u);
  EXPECT_TRUE(d.nothing_to_apply());

  const config merged = merge_reloadable(running, fresh);
  EXPECT_TRUE(merged.cloud.coap.resume_on_answer);
  EXPECT_EQ(merged.cloud.coap.resume_rate_per_s, running.cloud.coap.resume_rate_per_s);
  EXPECT_TRUE(diff_config(running, merged).nothing_to_apply());
  EXPECT_THAT(diff_config(running, merged).restart_only, IsEmpty());
}

TEST(AppConfigDiff, SecretsComparedByValueNeverNamedWithIt) {
  const yaml a;
  yaml b;
  b.mqtt += "  username: u\n  password: hunter2\n";
  const auto d = diff_config(a.load(), b.load());
  EXPECT_THAT(d.restart_only, ElementsAre("mqtt.username", "mqtt.password"));
}

TEST(AppConfigDiff, CaChangeRestartsOnlyDtlsCertificateSessions) {
  yaml a;
  a.devices =
      "devices:\n"
      "  - { product_key: pk1, device_name: dev1, device_secret: s1, mode: dtls, port: 5684 }\n"
      "  - { product_key: pk1, device_name: dev2, device_secret: s2 }\n";
  a.cloud += "  ca_file: /etc/ca-one.pem\n";
  yaml b = a;
  b.cloud = a.cloud.substr(0, a.cloud.find("  ca_file")) + "  ca_file: /etc/ca-two.pem\n";
  auto d = diff_config(a.load(), b.load());
  EXPECT_TRUE(d.ca_changed);
  ASSERT_THAT(ids(d.changed), ElementsAre("pk1/dev1"));
  EXPECT_THAT(d.changed[0].why, ElementsAre("cloud.ca_file"));
  EXPECT_EQ(d.unchanged, 1u);

  // Same path, new bytes (the caller compares file_digest): the same restarts.
  d = diff_config(a.load(), a.load(), true);
  EXPECT_TRUE(d.ca_changed);
  EXPECT_THAT(ids(d.changed), ElementsAre("pk1/dev1"));
}

TEST(AppConfigDiff, FileDigestNoticesARewriteInPlace) {
  test::scratch_dir dir("config-diff");
  const auto path = (dir.path() / "ca.pem").string();
  std::ofstream(path) << "first";
  const auto one = file_digest(path);
  EXPECT_EQ(file_digest(path), one);
  std::ofstream(path, std::ios::trunc) << "second";
  EXPECT_NE(file_digest(path), one);
  EXPECT_EQ(file_digest(""), "");
  EXPECT_EQ(file_digest((dir.path() / "missing.pem").string()), "unreadable");
}

TEST(AppConfigDiff, ShardChangeMovesDevicesInAndOut) {
  yaml a;
  a.rest += "shard: \"0/2\"\n";
  yaml b;
  b.rest += "shard: \"1/2\"\n";
  const config one = a.load();
  const config two = b.load();
  const auto d = diff_config(one, two);
  EXPECT_THAT(d.other_keys, ElementsAre("shard"));
  // Every device is served by exactly one of the two shards: each one is either added or removed.
  EXPECT_EQ(d.added.size() + d.removed.size(), 3u);
  for (const auto& id : d.added) {
    const auto& dev =
        *std::find_if(two.devices.begin(), two.devices.end(), [&](auto& x) { return x.id == id; });
    EXPECT_TRUE(in_shard(two.shard, dev.product_key, dev.device_name));
    EXPECT_FALSE(in_shard(one.shard, dev.product_key, dev.device_name));
  }
  EXPECT_EQ(d.unchanged, 0u);
}

}  // namespace
}  // namespace gw::app
