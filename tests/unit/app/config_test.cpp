#include "gateway/app/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "gateway/app/config_mqtt.hpp"
#include "tests/support/process.hpp"

namespace gw::app {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using namespace std::chrono_literals;

// The errors the loader reports for `text` (empty if it loads).
std::vector<std::string> errors_of(const std::string& text) {
  try {
    load_config_from_string(text, "gateway.yaml");
  } catch (const config_error& e) {
    return e.errors();
  }
  return {};
}

const std::string minimal_device =
    "devices:\n"
    "  - product_key: pk1\n"
    "    device_name: dev1\n"
    "    device_secret: s3cr3t-value\n";

void write_file(const std::filesystem::path& p, const std::string& text, mode_t mode = 0600) {
  std::ofstream(p) << text;
  ::chmod(p.c_str(), mode);
}

TEST(AppConfigExample, LoadsWithDocumentedDefaults) {
  ::setenv("GW_SECRET_SENSOR_001", "secret-one", 1);
  ::setenv("GW_SECRET_SENSOR_002", "secret-two", 1);
  const config c = load_config(GW_EXAMPLE_CONFIG);
  EXPECT_EQ(c.mqtt.uri, "tcp://127.0.0.1:1883");
  EXPECT_EQ(c.mqtt.qos, 1);
  EXPECT_EQ(c.mqtt.protocol, mqtt_protocol::v5);
  EXPECT_EQ(c.mqtt.receive_maximum, 65535u);
  EXPECT_EQ(c.mqtt.intake_priority, 5u);
  EXPECT_FALSE(c.mqtt.clean_session);
  EXPECT_EQ(c.mqtt.status_topic, "mqtt-coap-gateway/mqtt-coap-gateway/status");
  EXPECT_EQ(c.cloud.region, "cn-shanghai");
  EXPECT_EQ(c.cloud.mode, cloud_mode::dtls);
  EXPECT_EQ(c.cloud.token_option, 2088);
  EXPECT_EQ(c.cloud.accept, std::optional<std::uint16_t>(50));
  EXPECT_EQ(c.cloud.first_seq, first_seq_rule::offset_plus_one);
  EXPECT_TRUE(c.cloud.treat_4_02_as_token_invalid);
  EXPECT_EQ(c.cloud.max_payload, 1024u);
  EXPECT_EQ(c.cloud.max_in_flight, 4096u);
  EXPECT_EQ(c.cloud.psk_timestamp, 2524608000000ULL);
  EXPECT_EQ(c.cloud.coap.ack_timeout, 2s);
  EXPECT_EQ(c.cloud.coap.max_retransmit, 4u);
  EXPECT_TRUE(c.cloud.coap.resume_on_answer);
  EXPECT_EQ(c.cloud.coap.resume_rate_per_s, 1000.0);
  EXPECT_EQ(c.cloud.auth.token_refresh_after, std::chrono::hours(24 * 6));
  EXPECT_EQ(c.cloud.auth.backoff.max, 5min);
  ASSERT_EQ(c.devices.size(), 2u);
  EXPECT_EQ(c.devices[0].id, "a1B2c3D4e5F/sensor-001");
  EXPECT_EQ(c.devices[0].device_secret.reveal(), "secret-one");
  EXPECT_EQ(c.devices[0].secret_from, secret_source::env);
  EXPECT_EQ(c.devices[0].client_id, "a1B2c3D4e5F.sensor-001");
  EXPECT_EQ(c.devices[0].host, "a1B2c3D4e5F.coap.cn-shanghai.link.aliyuncs.com");
  EXPECT_EQ(c.devices[0].address, c.devices[0].host);
  EXPECT_EQ(c.devices[0].port, 5684);
  EXPECT_EQ(c.devices[1].id, "sensor-002");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].from, "sensors/+device/#rest");
  EXPECT_EQ(c.queue.max_bytes_per_device, 64ULL << 20);
  EXPECT_EQ(c.queue.when_full, when_full_policy::reject_new);
  EXPECT_EQ(c.health.interval, 10s);
  EXPECT_FALSE(c.shard.has_value());
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(AppConfigErrors, UnknownEnumValueNamesFileLineColumnAndKey) {
  const std::string text = minimal_device +
                           "cloud:\n"
                           "  region: cn-shanghai\n"
                           "  mode: dtl\n";
  EXPECT_THAT(
      errors_of(text),
      ElementsAre(
          "gateway.yaml:7:9: cloud.mode: unknown value \"dtl\" (expected dtls, dtls-psk, aes, plain)"));
}

TEST(AppConfigErrors, UnknownKeyIsRefusedAtTheKey) {
  const std::string text = minimal_device +
                           "mqtt:\n"
                           "  urii: tcp://x:1883\n";
  EXPECT_THAT(errors_of(text), ElementsAre("gateway.yaml:6:3: mqtt.urii: unknown key"));
}

TEST(AppConfigErrors, UnknownTopLevelAndNestedKeys) {
  const std::string text = minimal_device +
                           "cloud:\n"
                           "  coap:\n"
                           "    ack_timout: 2s\n"
                           "routs: []\n";
  EXPECT_THAT(errors_of(text), ElementsAre("gateway.yaml:7:5: cloud.coap.ack_timout: unknown key",
                                           "gateway.yaml:8:1: routs: unknown key"));
}

TEST(AppConfigErrors, TypeErrors) {
  const std::string text = minimal_device +
                           "mqtt:\n"
                           "  qos: [1]\n"
                           "  clean_session: yes\n"
                           "queue: 5\n";
  EXPECT_THAT(errors_of(text),
              ElementsAre("gateway.yaml:6:8: mqtt.qos: expected an integer, got a list",
                          "gateway.yaml:7:18: mqtt.clean_session: expected true or false, got \"yes\"",
                          "gateway.yaml:8:8: queue: expected a map, got a scalar"));
}

TEST(AppConfigErrors, OutOfRangeNumbers) {
  const std::string text = minimal_device +
                           "mqtt:\n"
                           "  qos: 0\n"
                           "cloud:\n"
                           "  port: 70000\n"
                           "  coap:\n"
                           "    ack_random_factor: 0.5\n"
                           "    max_retransmit: 99999999999999999999999\n";
  EXPECT_THAT(
      errors_of(text),
      ElementsAre("gateway.yaml:6:8: mqtt.qos: value \"0\" out of range [1, 2]",
                  "gateway.yaml:8:9: cloud.port: value \"70000\" out of range [1, 65535]",
                  "gateway.yaml:10:24: cloud.coap.ack_random_factor: value \"0.5\" out of range [1, 10]",
                  "gateway.yaml:11:21: cloud.coap.max_retransmit: value \"99999999999999999999999\" out of "
                  "range [0, 20]"));
}

TEST(AppConfigErrors, ResumeOnAnswerKeys) {
  const config c = load_config_from_string(minimal_device +
                                               "cloud:\n"
                                               "  coap:\n"
                                               "    resume_on_answer: false\n"
                                               "    resume_rate_per_s: 250\n",
                                           "gateway.yaml");
  EXPECT_FALSE(c.cloud.coap.resume_on_answer);
  EXPECT_EQ(c.cloud.coap.resume_rate_per_s, 250.0);
  EXPECT_THAT(
      errors_of(minimal_device + "cloud:\n"
                                 "  coap:\n"
                                 "    resume_rate_per_s: 0\n"),
      ElementsAre("gateway.yaml:7:24: cloud.coap.resume_rate_per_s: value \"0\" out of range [1, 1e+06]"));
}

TEST(AppConfigErrors, ReadyShareIsAFractionAndUnstoredWindowPositive) {
  const std::string text = minimal_device +
                           "mqtt:\n"
                           "  max_unstored: 0\n"
                           "health:\n"
                           "  ready_share: 1.5\n";
  EXPECT_THAT(errors_of(text),
              ElementsAre("gateway.yaml:6:17: mqtt.max_unstored: value \"0\" out of range [1, 100000]",
                          "gateway.yaml:8:16: health.ready_share: value \"1.5\" out of range [0, 1]"));
  const auto cfg = load_config_from_string(minimal_device + "health:\n  ready_share: 0.5\n", "gateway.yaml");
  EXPECT_EQ(cfg.health.ready_share, 0.5);
  EXPECT_EQ(cfg.mqtt.max_unstored, 64u);  // the default chosen by measurement (docs/benchmarks.md)
}

TEST(AppConfigErrors, GlobalInFlightCapIsPositive) {
  const std::string text = minimal_device +
                           "cloud:\n"
                           "  max_in_flight: 0\n";
  EXPECT_THAT(errors_of(text),
              ElementsAre("gateway.yaml:6:18: cloud.max_in_flight: value \"0\" out of range [1, 10000000]"));
  const auto cfg = load_config_from_string(minimal_device + "cloud:\n  max_in_flight: 64\n", "gateway.yaml");
  EXPECT_EQ(cfg.cloud.max_in_flight, 64u);
}

TEST(AppConfigErrors, DuplicateDeviceIdNamesBothPlaces) {
  const std::string text = minimal_device +
                           "  - product_key: pk1\n"
                           "    device_name: dev1\n"
                           "    device_secret: other\n";
  EXPECT_THAT(
      errors_of(text),
      ElementsAre(
          "gateway.yaml:5:5: devices[1]: duplicate device id \"pk1/dev1\" (first at gateway.yaml:2:5)"));
}

TEST(AppConfigErrors, DuplicateMapKey) {
  const std::string text = minimal_device +
                           "log:\n"
                           "  level: info\n"
                           "  level: debug\n";
  EXPECT_THAT(errors_of(text),
              ElementsAre("gateway.yaml:7:3: log.level: duplicate key (first at gateway.yaml:6:3)"));
}

TEST(AppConfigErrors, RouteToUnknownFixedDevice) {
  const std::string text = minimal_device +
                           "routes:\n"
                           "  - from: a/+x\n"
                           "    device: pk1/dev2\n"
                           "    to: /pk1/dev2/user/x\n"
                           "  - from: b/+x\n"
                           "    device: pk1/${x}\n"
                           "    to: /t\n";
  EXPECT_THAT(errors_of(text),
              ElementsAre("gateway.yaml:7:13: routes[0].device: no configured device has id \"pk1/dev2\""));
}

TEST(AppConfigErrors, MissingSecretAndMissingRequiredKeys) {
  const std::string text =
      "devices:\n"
      "  - product_key: pk1\n"
      "    device_name: dev1\n"
      "  - device_name: dev2\n"
      "    mode: plain\n";
  EXPECT_THAT(errors_of(text),
              ElementsAre("gateway.yaml:2:5: devices[0]: missing required key \"device_secret\" (mode dtls)",
                          "gateway.yaml:4:5: devices[1]: missing required key \"product_key\""));
}

TEST(AppConfigErrors, PlainModeNeedsNoSecret) {
  const config c = load_config_from_string(
      "cloud: {mode: plain, address: 127.0.0.1}\n"
      "devices: [{product_key: p, device_name: d}]\n",
      "gateway.yaml");
  ASSERT_EQ(c.devices.size(), 1u);
  EXPECT_EQ(c.devices[0].port, 5683);
  EXPECT_EQ(c.devices[0].address, "127.0.0.1");
  EXPECT_TRUE(c.devices[0].device_secret.empty());
}

TEST(AppConfigErrors, AllErrorsAreCollectedIntoOneException) {
  const std::string text = minimal_device +
                           "cloud: {mode: x, sign_method: md4}\n"
                           "log: {level: loud}\n";
  try {
    load_config_from_string(text, "gateway.yaml");
    FAIL() << "accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.errors().size(), 3u);
    EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("3 errors"), HasSubstr("cloud.mode"),
                                             HasSubstr("cloud.sign_method"), HasSubstr("log.level")));
  }
}

TEST(AppConfigErrors, SyntaxErrorHasLocation) {
  auto errs = errors_of(minimal_device + "mqtt: {uri: [\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0], AllOf(HasSubstr("gateway.yaml:"), HasSubstr("YAML syntax error")));
}

TEST(AppConfigErrors, HostileInputsAreRefusedNotCrashing) {
  EXPECT_THAT(errors_of(""), Not(IsEmpty()));
  EXPECT_THAT(errors_of("[1, 2]"), ElementsAre("gateway.yaml:1:1: expected a map, got a list"));
  EXPECT_THAT(errors_of("a: 1\n---\nb: 2\n"), Not(IsEmpty()));
  EXPECT_THAT(errors_of(minimal_device + "? [a]\n: 1\n"), Contains(HasSubstr("keys must be plain strings")));
  EXPECT_THAT(errors_of(minimal_device + "shard: \"4/4\"\n"),
              ElementsAre("gateway.yaml:5:8: shard: expected 0 <= i < n <= 65536, got \"4/4\""));
  EXPECT_THAT(errors_of(minimal_device + "mqtt: {client_id: \"a\\x01b\"}\n"),
              ElementsAre(HasSubstr("mqtt.client_id: must be 1..256 printable")));
  EXPECT_THAT(errors_of(minimal_device + "health: {mqtt_topic: \"x/${nope}\"}\n"),
              ElementsAre(HasSubstr("health.mqtt_topic: unknown template variable \"${nope}\"")));
  EXPECT_THAT(errors_of("devices:\n  - product_key: \"p/1\"\n    device_name: d\n    device_secret: s\n"),
              ElementsAre(HasSubstr("gateway.yaml:2:18: devices[0].product_key: expected 1..64")));
  EXPECT_THAT(errors_of(minimal_device + "cloud: {auth: {token_refresh_after: 7d}}\n"),
              ElementsAre(HasSubstr("cloud.auth.token_refresh_after: duration \"7d\" out of range")));
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "[";
  EXPECT_THAT(errors_of(deep), Not(IsEmpty()));
}

TEST(AppConfigErrors, StoreTimeoutMustBeShorterThanKeepAlive) {
  EXPECT_THAT(errors_of(minimal_device + "mqtt:\n  keep_alive: 5s\n  store_timeout: 5s\n"),
              ElementsAre("gateway.yaml:7:18: mqtt.store_timeout: must be shorter than keep_alive"));
}

TEST(AppConfigErrors, IntakePriorityIsANiceStepFromZeroToNineteen) {
  EXPECT_THAT(errors_of(minimal_device + "mqtt:\n  intake_priority: 20\n"),
              ElementsAre("gateway.yaml:6:20: mqtt.intake_priority: value \"20\" out of range [0, 19]"));
  EXPECT_THAT(errors_of(minimal_device + "mqtt:\n  intake_priority: -1\n"),
              ElementsAre(HasSubstr("mqtt.intake_priority: ")));
  EXPECT_EQ(load_config_from_string(minimal_device + "mqtt:\n  intake_priority: 0\n", "g.yaml")
                .mqtt.intake_priority,
            0u);
}

TEST(AppConfigErrors, LongClientIdIsRefused) {
  const std::string text =
      minimal_device + "cloud: {client_id: \"${productKey}.${deviceName}." + std::string(60, 'x') + "\"}\n";
  EXPECT_THAT(errors_of(text), ElementsAre(HasSubstr("is longer than 64 characters")));
}

TEST(AppConfigSecrets, FromEnvironment) {
  ::setenv("GW_TEST_SECRET_ENV", "from-env", 1);
  const config c = load_config_from_string(
      "devices: [{product_key: p, device_name: d, device_secret: \"${env:GW_TEST_SECRET_ENV}\"}]\n",
      "g.yaml");
  EXPECT_EQ(c.devices[0].device_secret.reveal(), "from-env");
  EXPECT_EQ(c.devices[0].secret_from, secret_source::env);
}

TEST(AppConfigSecrets, UnsetEnvironmentVariableIsNamedWithoutAValue) {
  ::unsetenv("GW_TEST_SECRET_UNSET");
  EXPECT_THAT(
      errors_of(
          "devices:\n  - {product_key: p, device_name: d, device_secret: \"${env:GW_TEST_SECRET_UNSET}\"}\n"),
      ElementsAre("gateway.yaml:2:53: devices[0].device_secret: environment variable "
                  "\"GW_TEST_SECRET_UNSET\" is not set"));
}

TEST(AppConfigSecrets, FromFileWithTrailingNewlineTrimmed) {
  test::scratch_dir dir;
  write_file(dir.path() / "secret", "from-file\n");
  const config c =
      load_config_from_string("devices: [{product_key: p, device_name: d, device_secret: \"${file:" +
                                  (dir.path() / "secret").string() + "}\"}]\n",
                              "g.yaml");
  EXPECT_EQ(c.devices[0].device_secret.reveal(), "from-file");
  EXPECT_EQ(c.devices[0].secret_from, secret_source::file);
}

TEST(AppConfigSecrets, FromSystemdCredential) {
  test::scratch_dir dir;
  write_file(dir.path() / "dev-secret", "from-cred\n");
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  const config c = load_config_from_string(
      "devices: [{product_key: p, device_name: d, device_secret: \"${cred:dev-secret}\"}]\n", "g.yaml");
  EXPECT_EQ(c.devices[0].device_secret.reveal(), "from-cred");
  EXPECT_THAT(errors_of("devices: [{product_key: p, device_name: d, device_secret: \"${cred:../x}\"}]\n"),
              ElementsAre(HasSubstr("must not contain '/'")));
  ::unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_THAT(
      errors_of("devices: [{product_key: p, device_name: d, device_secret: \"${cred:dev-secret}\"}]\n"),
      ElementsAre(HasSubstr("$CREDENTIALS_DIRECTORY")));
}

TEST(AppConfigSecrets, ErrorsNeverShowTheSecretValue) {
  test::scratch_dir dir;
  write_file(dir.path() / "empty", "\n");
  const std::string text =
      "devices:\n"
      "  - {product_key: p, device_name: d, device_secret: \"${file:" +
      (dir.path() / "empty").string() +
      "}\"}\n"
      "  - {product_key: p, device_name: e, device_secret: \"${file:/nonexistent/x}\"}\n"
      "  - {product_key: p, device_name: f, device_secret: \"${vault:x}\"}\n"
      "  - {product_key: p, device_name: g, device_secret: [hunter2-value]}\n"
      "  - {product_key: \"p p\", device_name: h, device_secret: hunter3-value}\n";
  auto errs = errors_of(text);
  EXPECT_EQ(errs.size(), 5u);
  for (const auto& e : errs) {
    EXPECT_THAT(e, AllOf(HasSubstr("devices["), Not(HasSubstr("hunter"))));
  }
}

TEST(AppConfigSecrets, InlineSecretInGroupReadableFileWarns) {
  test::scratch_dir dir;
  const auto path = dir.path() / "gateway.yaml";
  write_file(path, minimal_device, 0640);
  const config c = load_config(path);
  ASSERT_EQ(c.warnings.size(), 2u);  // the inline secret, and "no routes"
  EXPECT_THAT(c.warnings[0],
              AllOf(HasSubstr("devices[0].device_secret"), HasSubstr("0640"), Not(HasSubstr("s3cr3t"))));
  ::chmod(path.c_str(), 0600);
  EXPECT_THAT(load_config(path).warnings, ElementsAre(HasSubstr("no routes")));
}

TEST(AppConfigSecrets, SecretWipesOnMove) {
  secret a(std::string("abcdefgh"));
  secret b(std::move(a));
  EXPECT_EQ(b.reveal(), "abcdefgh");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
}

TEST(AppConfigDevicesFile, TenThousandDevicesLoad) {
  test::scratch_dir dir;
  std::string devices = "devices:\n";
  for (int i = 0; i < 10000; ++i) {
    devices += "  - {product_key: a1B2c3D4e5F, device_name: dev-" + std::to_string(i) +
               ", device_secret: \"${env:GW_TEST_FLEET_SECRET}\"}\n";
  }
  write_file(dir.path() / "devices.yaml", devices);
  write_file(dir.path() / "gateway.yaml",
             "devices_file: devices.yaml\n"
             "routes: [{from: \"s/+d\", device: \"a1B2c3D4e5F/${d}\", to: /x}]\n");
  ::setenv("GW_TEST_FLEET_SECRET", "fleet", 1);
  const auto start = std::chrono::steady_clock::now();
  const config c = load_config(dir.path() / "gateway.yaml");
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  RecordProperty("load_ms", static_cast<int>(took.count()));
  std::printf("10000 devices loaded in %lld ms\n", static_cast<long long>(took.count()));
  ASSERT_EQ(c.devices.size(), 10000u);
  EXPECT_EQ(c.devices[9999].id, "a1B2c3D4e5F/dev-9999");
  EXPECT_EQ(c.devices[9999].device_secret.reveal(), "fleet");
}

TEST(AppConfigDevicesFile, ErrorsNameTheDevicesFile) {
  test::scratch_dir dir;
  write_file(dir.path() / "devices.yaml",
             "- {product_key: p, device_name: d, device_secret: x}\n"
             "- {product_key: p, device_name: d, device_secret: x, colour: red}\n");
  write_file(
      dir.path() / "gateway.yaml",
      "devices:\n  - {product_key: p, device_name: d, device_secret: x}\ndevices_file: devices.yaml\n");
  try {
    load_config(dir.path() / "gateway.yaml");
    FAIL() << "accepted";
  } catch (const config_error& e) {
    const std::string df = (dir.path() / "devices.yaml").string();
    const std::string gf = (dir.path() / "gateway.yaml").string();
    EXPECT_THAT(e.errors(),
                ElementsAre(df + ":1:3: devices[0]: duplicate device id \"p/d\" (first at " + gf + ":2:5)",
                            df + ":2:3: devices[1]: duplicate device id \"p/d\" (first at " + gf + ":2:5)",
                            df + ":2:54: devices[1].colour: unknown key"));
  }
}

TEST(AppConfigUnits, Durations) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("2s"), 2s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("6d"), std::chrono::hours(144));
  EXPECT_EQ(parse_duration("0"), 0ms);
  for (const char* bad :
       {"", "2", "s", "-1s", "1.5s", "2 s", "2S", "1w", "99999999999999999999d", "9999999999999999d"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(AppConfigUnits, Sizes) {
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("1KiB"), 1024u);
  EXPECT_EQ(parse_size("64MiB"), 64ULL << 20);
  EXPECT_EQ(parse_size("1GiB"), 1ULL << 30);
  EXPECT_EQ(parse_size("10KB"), 10000u);
  EXPECT_EQ(parse_size("5MB"), 5000000u);
  for (const char* bad :
       {"", "MiB", "1 MiB", "1mib", "-1", "1.5MiB", "99999999999999999999TiB", "16777216TiB"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

TEST(AppConfigUnits, DurationAndSizeErrorsInConfig) {
  EXPECT_THAT(
      errors_of(minimal_device + "queue:\n  max_age: 5 minutes\n  max_bytes_per_device: 1TB!\n"),
      ElementsAre("gateway.yaml:6:12: queue.max_age: expected a duration such as 500ms, 2s, 5m, 1h or 6d, "
                  "got \"5 minutes\"",
                  "gateway.yaml:7:25: queue.max_bytes_per_device: expected a size such as 1024, 1KiB, "
                  "64MiB or 1GiB, got \"1TB!\""));
}

TEST(AppConfigShard, Parses) {
  const config c = load_config_from_string(minimal_device + "shard: \"2/8\"\n", "g.yaml");
  ASSERT_TRUE(c.shard.has_value());
  EXPECT_EQ(c.shard->index, 2u);
  EXPECT_EQ(c.shard->count, 8u);
}

TEST(AppConfigMqtt, MapsOntoAdapterOptions) {
  ::setenv("GW_TEST_MQTT_PASSWORD", "pw", 1);
  const config c = load_config_from_string(minimal_device +
                                               "mqtt:\n"
                                               "  uri: ssl://broker:8883\n"
                                               "  client_id: gw-7\n"
                                               "  password: \"${env:GW_TEST_MQTT_PASSWORD}\"\n"
                                               "  protocol: \"5\"\n"
                                               "  qos: 2\n"
                                               "  receive_maximum: 500\n"
                                               "  reconnect_min: 1500ms\n",
                                           "g.yaml");
  const auto o = to_client_options(c.mqtt);
  EXPECT_EQ(o.uri, "ssl://broker:8883");
  EXPECT_EQ(o.client_id, "gw-7");
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.protocol_version, 5);
  EXPECT_EQ(o.receive_maximum, 500u);
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.reconnect_min, std::chrono::seconds(2));
  EXPECT_EQ(o.status_topic, "mqtt-coap-gateway/gw-7/status");
  EXPECT_EQ(c.mqtt.qos, 2);
}

}  // namespace
}  // namespace gw::app
