// Health of a running gateway binary (issue #7): /metrics scraped and parsed strictly, /devices and the
// retained MQTT health JSON, /readyz, the `status` and `dead-letter` commands (output and exit codes), and
// the logs checked for secrets and tokens. One gateway (with Mosquitto and cloudsim) serves the whole suite.

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/health_gateway_env.hpp"
#include "tests/unit/app/health_prometheus_parser.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

class HealthGateway : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = std::make_unique<health_gateway_env>();
    // Three readings for each device, and one the cloud refuses (4.03).
    for (int n = 0; n < 3; ++n) {
      for (int i = 0; i < 2; ++i) {
        env_->publish("sensors/" + cloudsim_process::device_name(i) + "/update",
                      "{\"n\":" + std::to_string(n) + "}");
      }
    }
    env_->publish("foreign/" + cloudsim_process::device_name(0), "{\"x\":1}");
    env_->cloud().wait_for_records(3, 15s);
  }
  static void TearDownTestSuite() { env_.reset(); }

  // Polls /devices (bounded) until `pred` holds; returns the last document.
  static nlohmann::json wait_devices(const std::function<bool(const nlohmann::json&)>& pred,
                                     std::chrono::milliseconds timeout = 15s) {
    nlohmann::json doc;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      std::string body;
      if (http_request(env_->http_port(), "/devices", body) == 200) {
        doc = nlohmann::json::parse(body);
        if (pred(doc)) return doc;
      }
      std::this_thread::sleep_for(50ms);
    }
    return doc;
  }

  static nlohmann::json device(const nlohmann::json& doc, int i) {
    for (const auto& d : doc.at("devices")) {
      if (d.at("device_name") == cloudsim_process::device_name(i)) return d;
    }
    return {};
  }

  static command_result cli(const std::string& args) {
    return run_command(health_gateway_env::binary().string() + " " + args + " 2>&1");
  }
  static int exit_code(const command_result& r) { return r.status; }  // run_command gives the exit status

  static std::unique_ptr<health_gateway_env> env_;
};

std::unique_ptr<health_gateway_env> HealthGateway::env_;

bool settled(const nlohmann::json& doc) {
  // The good device delivered its three readings, the bad one has an auth error, one dead letter.
  if (doc.at("gateway").at("dead_lettered") != 1) return false;
  int acked = 0;
  bool bad_failed = false;
  for (const auto& d : doc.at("devices")) {
    acked += d.at("messages").at("acked").get<int>();
    if (d.at("device_name") == cloudsim_process::device_name(1))
      bad_failed = d.at("last_error").at("code") == "4.01";
  }
  return acked >= 3 && bad_failed;
}

TEST_F(HealthGateway, DevicesShowStatesErrorsAndCounters) {
  const auto doc = wait_devices(settled);
  ASSERT_TRUE(settled(doc)) << doc.dump(2);
  const auto good = device(doc, 0);
  EXPECT_EQ(good.at("state"), "ready");
  EXPECT_EQ(good.at("mode"), "aes");
  EXPECT_TRUE(good.at("token_age_s").is_number());
  EXPECT_TRUE(good.at("rtt_ms").is_number());
  EXPECT_TRUE(good.at("last_success_age_s").is_number());
  EXPECT_EQ(good.at("messages").at("acked"), 3);
  EXPECT_EQ(good.at("messages").at("failed"), 1);  // the foreign topic
  EXPECT_EQ(good.at("last_error").at("code"), "4.03");
  EXPECT_EQ(good.at("queue").at("depth"), 0);
  const auto bad = device(doc, 1);
  EXPECT_NE(bad.at("state"), "ready");
  EXPECT_NE(bad.at("last_error").at("text").get<std::string>().find("4.01"), std::string::npos);
  EXPECT_GE(bad.at("queue").at("depth"), 3);  // kept for when the secret is fixed, never dropped
  EXPECT_TRUE(doc.at("gateway").at("mqtt_connected").get<bool>());
  EXPECT_FALSE(doc.at("gateway").at("ready").get<bool>());  // 1 of 2 devices ready < share 1.0
}

TEST_F(HealthGateway, MetricsScrapeIsStrictPrometheusText) {
  ASSERT_TRUE(settled(wait_devices(settled)));
  std::string body;
  ASSERT_EQ(http_request(env_->http_port(), "/metrics", body), 200);
  const auto doc = parse_prometheus(body);
  ASSERT_EQ(doc.error, "") << body;
  const std::string pk = cloudsim_process::product_key;
  EXPECT_EQ(doc.value("gw_devices"), 2);
  EXPECT_EQ(doc.value("gw_devices_ready"), 1);
  EXPECT_EQ(doc.value("gw_ready"), 0);
  EXPECT_EQ(doc.value("gw_mqtt_connected"), 1);
  EXPECT_GE(*doc.value("gw_messages_delivered_total"), 3);
  EXPECT_EQ(doc.value("gw_messages_dead_lettered_total", {{"stage", "cloud"}}), 1);
  EXPECT_EQ(
      doc.value("gw_device_messages_acked_total", {{"device", pk + "/" + cloudsim_process::device_name(0)}}),
      3);
  EXPECT_EQ(doc.value("gw_device_ready", {{"device", pk + "/" + cloudsim_process::device_name(1)}}), 0);
  EXPECT_GE(*doc.value("gw_device_queue_messages", {{"device", pk + "/" + cloudsim_process::device_name(1)}}),
            3);
}

TEST_F(HealthGateway, HealthzAndReadyz) {
  std::string body;
  EXPECT_EQ(http_request(env_->http_port(), "/healthz", body), 200);
  EXPECT_EQ(http_request(env_->http_port(), "/readyz", body), 503);
  EXPECT_NE(body.find("devices ready 1/2"), std::string::npos) << body;
  EXPECT_EQ(http_request(env_->http_port(), "/metrics", body, "DELETE"), 405);
  EXPECT_EQ(http_request(env_->http_port(), "/../etc/passwd", body), 404);
}

TEST_F(HealthGateway, MqttHealthIsRetainedJsonPerDevice) {
  ASSERT_TRUE(settled(wait_devices(settled)));
  // A new subscriber gets the retained message at once (-C 1: one message, -W 5: at most 5 s).
  const auto topic =
      std::string("gateway/status/") + cloudsim_process::product_key + "/" + cloudsim_process::device_name(0);
  const auto r = run_command("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(env_->broker().port()) +
                             " -C 1 -W 5 -t '" + topic + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("device_name"), cloudsim_process::device_name(0));
  EXPECT_EQ(j.at("state"), "ready");
  for (const char* k : {"last_success_age_s", "last_error", "token_age_s", "queue", "retransmissions",
                        "rtt_ms", "messages"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  // The gateway-wide status topic (the MQTT adapter's LWT) says online.
  const auto s = run_command("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(env_->broker().port()) +
                             " -C 1 -W 5 -t 'mqtt-coap-gateway/health-test-gw/status'");
  EXPECT_EQ(s.output, "online\n");
}

TEST_F(HealthGateway, StatusCommandPrintsTheTableAndExitsNotReady) {
  ASSERT_TRUE(settled(wait_devices(settled)));
  const auto r = cli("status --url " + env_->base_url());
  EXPECT_EQ(exit_code(r), 4) << r.output;               // answered, not ready
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos);  // not a TTY: no colours
  EXPECT_NE(r.output.find("NOT READY"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(cloudsim_process::device_name(0)), std::string::npos);
  EXPECT_NE(r.output.find("4.01"), std::string::npos);
  const auto j = cli("status --json --url " + env_->base_url() + "/");
  EXPECT_EQ(exit_code(j), 4);
  EXPECT_EQ(nlohmann::json::parse(j.output).at("devices").size(), 2u);
  const auto cfg = cli("status -c " + env_->config().string());  // health.http is port 0 there
  EXPECT_EQ(exit_code(cfg), 2) << cfg.output;
  const auto down = cli("status --url http://127.0.0.1:" + std::to_string(free_tcp_port()));
  EXPECT_EQ(exit_code(down), 2) << down.output;
}

TEST_F(HealthGateway, DeadLetterListReplayPurge) {
  ASSERT_TRUE(settled(wait_devices(settled)));
  const auto c = " -c " + env_->config().string();
  auto list = cli("dead-letter list" + c);
  ASSERT_EQ(exit_code(list), 0) << list.output;
  EXPECT_NE(list.output.find("4.03"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("1 of 1 dead letter(s)"), std::string::npos) << list.output;
  const auto json = cli("dead-letter list --json" + c);
  ASSERT_EQ(exit_code(json), 0);
  const auto records = nlohmann::json::parse(json.output);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].at("platform_code"), (4 << 5) | 3);
  const auto id = records[0].at("id").get<std::uint64_t>();

  EXPECT_EQ(exit_code(cli("dead-letter replay" + c)), 1);  // neither --id nor --all
  EXPECT_EQ(exit_code(cli("dead-letter purge --all --id 1" + c)), 1);
  EXPECT_EQ(exit_code(cli("dead-letter purge --older-than soon" + c)), 1);
  EXPECT_EQ(exit_code(cli("dead-letter list -c /nonexistent.yaml")), 1);
  EXPECT_EQ(exit_code(cli("dead-letter")), 1);

  const auto replay = cli("dead-letter replay --id " + std::to_string(id) + c);
  EXPECT_EQ(exit_code(replay), 0) << replay.output;
  EXPECT_NE(replay.output.find("replayed 1 message(s)"), std::string::npos) << replay.output;
  list = cli("dead-letter list" + c);
  EXPECT_NE(list.output.find("0 of 0 dead letter(s)"), std::string::npos) << list.output;

  const auto purge = cli("dead-letter purge --all" + c);
  EXPECT_EQ(exit_code(purge), 0) << purge.output;
  EXPECT_NE(purge.output.find("purged 0 dead letter(s)"), std::string::npos) << purge.output;
}

TEST_F(HealthGateway, LogLevelChangesAtRunTimeAndLogsHoldNoSecrets) {
  ASSERT_TRUE(settled(wait_devices(settled)));
  std::string body;
  ASSERT_EQ(http_request(env_->http_port(), "/loglevel", body, "POST", "debug"), 200);
  // At debug level, more traffic: a reading and a re-auth of the refused device.
  env_->publish("sensors/" + cloudsim_process::device_name(0) + "/update", "{\"n\":99}");
  env_->cloud().wait_for_records(4, 10s);
  EXPECT_NE(env_->gateway().wait_for_output("log level set to debug", 5s), std::string::npos);
  ASSERT_EQ(http_request(env_->http_port(), "/loglevel", body, "POST", "info"), 200);
  const auto log = env_->gateway().output();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(log.find(cloudsim_process::device_secret(i)), std::string::npos) << "secret of device " << i;
  }
  EXPECT_EQ(log.find(health_gateway_env::bad_secret), std::string::npos);
  EXPECT_EQ(log.find(health_gateway_env::fixed_token), std::string::npos);
  // State changes are logged at info.
  EXPECT_NE(log.find("-> ready"), std::string::npos) << log;
}

}  // namespace
}  // namespace gw::test
