// Health views of a gateway_report without a running gateway: Prometheus text (checked by a strict parser),
// the /devices JSON shape, readiness, the status table, CA expiry, the listen-address parser.

#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "gateway/app/health_http.hpp"
#include "gateway/app/health_report.hpp"
#include "gateway/app/health_service.hpp"
#include "gateway/app/metrics.hpp"
#include "gateway/app/operator_cli.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/app/health_prometheus_parser.hpp"

namespace gw::app {
namespace {

device_report sample_device(int i) {
  device_report d;
  d.product_key = "a1B2c3D4e5F";
  d.device_name = "sensor-" + std::to_string(i);
  d.id = d.product_key + "/" + d.device_name;
  d.mode = "aes";
  d.state = i % 2 == 0 ? "ready" : "backing_off";
  d.ready = i % 2 == 0;
  d.queue_depth = static_cast<std::uint64_t>(i);
  d.messages_sent = 10;
  d.messages_acked = 9;
  d.messages_failed = 1;
  if (i % 2 == 0) {
    d.token_age_s = 12.5;
    d.rtt_ms = 3.25;
    d.last_success_age_s = 0.5;
  } else {
    d.last_error = "auth rejected: 4.01 Unauthorized";
    d.last_error_code = "4.01";
    d.last_error_age_s = 2;
  }
  return d;
}

gateway_report sample_report(int devices) {
  gateway_report r;
  r.version = "1.2.3";
  r.mqtt_connected = true;
  r.uptime_s = 42.5;
  r.delivered = 7;
  r.mqtt_subscriptions_refused = 2;
  r.queue_depth = 3;
  r.ca_days_left = 364.5;
  r.server_cert_days_left = 29.25;
  for (int i = 0; i < devices; ++i) {
    r.devices.push_back(sample_device(i));
    r.devices_ready += r.devices.back().ready ? 1 : 0;
  }
  r.devices_total = r.devices.size();
  return r;
}

TEST(HealthMetrics, TextPassesTheStrictParserWithHelpAndTypePerFamily) {
  const auto text = render_metrics(sample_report(4));
  const auto doc = test::parse_prometheus(text);
  ASSERT_EQ(doc.error, "") << text;
  EXPECT_EQ(doc.value("gw_devices"), 4);
  EXPECT_EQ(doc.value("gw_devices_ready"), 2);
  EXPECT_EQ(doc.value("gw_mqtt_connected"), 1);
  EXPECT_EQ(doc.value("gw_ready"), 0);  // 2 of 4 ready < ready share 1.0
  EXPECT_EQ(doc.value("gw_messages_delivered_total"), 7);
  EXPECT_EQ(doc.value("gw_mqtt_subscriptions_refused_total"), 2);
  EXPECT_EQ(doc.value("gw_ca_certificate_expiry_days"), 364.5);
  EXPECT_EQ(doc.value("gw_server_certificate_expiry_days"), 29.25);
  EXPECT_EQ(doc.value("gw_devices_by_state", {{"state", "backing_off"}}), 2);
  EXPECT_EQ(doc.value("gw_device_queue_messages", {{"device", "a1B2c3D4e5F/sensor-3"}}), 3);
  EXPECT_EQ(doc.value("gw_device_rtt_seconds", {{"device", "a1B2c3D4e5F/sensor-0"}}), 0.00325);
  // No RTT measured yet: no sample rather than a made-up 0.
  EXPECT_EQ(doc.value("gw_device_rtt_seconds", {{"device", "a1B2c3D4e5F/sensor-1"}}), std::nullopt);
  EXPECT_EQ(doc.families.at("gw_device_messages_sent_total").type, "counter");
  EXPECT_EQ(doc.families.at("gw_device_queue_messages").type, "gauge");
}

TEST(HealthMetrics, PerDeviceSeriesAreBoundedButTotalsStay) {
  const auto text = render_metrics(sample_report(12), 5);
  const auto doc = test::parse_prometheus(text);
  ASSERT_EQ(doc.error, "");
  EXPECT_EQ(doc.families.at("gw_device_ready").samples.size(), 5u);
  EXPECT_EQ(doc.value("gw_devices"), 12);
  EXPECT_EQ(doc.value("gw_device_series_truncated"), 1);
  EXPECT_EQ(doc.value("gw_device_ready", {{"device", "a1B2c3D4e5F/sensor-5"}}), std::nullopt);
}

TEST(HealthMetrics, LabelValuesAreEscaped) {
  auto r = sample_report(1);
  r.devices[0].id = "pk/we\"ird\\name\nx";
  const auto doc = test::parse_prometheus(render_metrics(r));
  ASSERT_EQ(doc.error, "");
  EXPECT_EQ(doc.value("gw_device_ready", {{"device", "pk/we\"ird\\name\nx"}}), 1);
}

TEST(HealthMetrics, StrictParserRejectsWhatPrometheusRejects) {
  const char* bad[] = {
      "x 1\n",                                        // no HELP/TYPE
      "# HELP x h\n# TYPE x gauge\nx{a=\"1} 1\n",     // unterminated label value
      "# HELP x h\n# TYPE x gauge\nx{1a=\"1\"} 1\n",  // bad label name
      "# HELP x h\n# TYPE x gauge\nx one\n",          // not a number
      "# HELP x h\n# TYPE x counter\nx 1\n",          // counter without _total
      "# HELP x h\n# TYPE x gauge\nx 1\nx 2\n",       // duplicate sample
      "# HELP x h\n# TYPE x gauge\nx 1\n# HELP y h\n# TYPE y gauge\ny 1\nx{a=\"b\"} 1\n",  // not contiguous
      "# HELP x h\n# TYPE x gauge\nx 1",                                                   // no final newline
  };
  for (const char* t : bad) EXPECT_NE(test::parse_prometheus(t).error, "") << t;
  EXPECT_EQ(
      test::parse_prometheus("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"q\\\"\"} +Inf\n").error,
      "");
}

TEST(HealthJson, DevicesDocumentHasTheDocumentedShape) {
  const auto j = to_json(sample_report(2));
  ASSERT_TRUE(j.at("gateway").is_object());
  const auto& g = j.at("gateway");
  for (const char* k : {"version", "uptime_s", "ready", "mqtt_connected", "devices_total", "devices_ready",
                        "delivered", "dead_lettered", "queue", "ca_days_left", "server_cert_days_left"}) {
    EXPECT_TRUE(g.contains(k)) << k;
  }
  EXPECT_EQ(g.at("mqtt_subscriptions_refused"), 2);
  ASSERT_EQ(j.at("devices").size(), 2u);
  const auto& ok = j.at("devices")[0];
  EXPECT_EQ(ok.at("state"), "ready");
  EXPECT_EQ(ok.at("token_age_s"), 12.5);
  EXPECT_TRUE(ok.at("last_error").at("text").is_null());
  EXPECT_EQ(ok.at("queue").at("depth"), 0);
  EXPECT_EQ(ok.at("messages").at("failed"), 1);
  const auto& bad = j.at("devices")[1];
  EXPECT_EQ(bad.at("last_error").at("code"), "4.01");
  EXPECT_TRUE(bad.at("token_age_s").is_null());
  EXPECT_TRUE(bad.at("rtt_ms").is_null());
  EXPECT_EQ(g.at("server_cert_days_left"), 29.25);
  EXPECT_TRUE(ok.at("server_cert_days_left").is_null()) << "not a DTLS certificate session";
}

TEST(HealthReady, NeedsTheBrokerAndTheShareOfReadyDevices) {
  auto r = sample_report(4);
  EXPECT_FALSE(is_ready(r, 1.0));
  EXPECT_TRUE(is_ready(r, 0.5));
  r.mqtt_connected = false;
  EXPECT_FALSE(is_ready(r, 0.5));
  gateway_report none;
  none.mqtt_connected = true;
  EXPECT_TRUE(is_ready(none));
}

TEST(HealthReady, NotReadyWhileTheQueueCannotWrite) {
  gateway_report r;
  r.mqtt_connected = true;
  r.queue_storage_failing = true;
  r.queue_held_for_space = 64;
  r.queue_last_error = "queue database full";
  EXPECT_FALSE(is_ready(r, 0.0));
  const auto doc = test::parse_prometheus(render_metrics(r));
  ASSERT_EQ(doc.error, "");
  EXPECT_EQ(doc.value("gw_queue_storage_failing"), 1);
  EXPECT_EQ(doc.value("gw_queue_held_messages"), 64);
  const auto q = to_json(r).at("gateway").at("queue");
  EXPECT_EQ(q.at("storage_failing"), true);
  EXPECT_EQ(q.at("held_for_space"), 64);
  EXPECT_EQ(q.at("last_error"), "queue database full");
}

TEST(HealthMetrics, InFlightAndItsCap) {
  gateway_report r;
  r.in_flight = 37;
  r.in_flight_cap = 4096;
  const auto doc = test::parse_prometheus(render_metrics(r));
  ASSERT_EQ(doc.error, "");
  EXPECT_EQ(doc.value("gw_cloud_in_flight"), 37);
  EXPECT_EQ(doc.value("gw_cloud_in_flight_cap"), 4096);
  EXPECT_EQ(to_json(r).at("gateway").at("in_flight"), 37);
}

TEST(HealthStatusTable, OneRowPerDeviceColouredOnlyOnRequest) {
  const auto body = to_json(sample_report(2)).dump();
  bool ready = true;
  const auto plain = format_status(body, false, ready);
  EXPECT_FALSE(ready);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);
  EXPECT_NE(plain.find("a1B2c3D4e5F/sensor-0"), std::string::npos);
  EXPECT_NE(plain.find("auth rejected: 4.01 Unauthorized"), std::string::npos);
  EXPECT_NE(plain.find("NOT READY"), std::string::npos);
  const auto coloured = format_status(body, true, ready);
  EXPECT_NE(coloured.find("\x1b[32mready"), std::string::npos);
  EXPECT_THROW(format_status("{\"devices\": []}", false, ready), std::exception);
}

TEST(HealthTopic, PlaceholdersAreReplaced) {
  EXPECT_EQ(health_topic("gw/${productKey}/${deviceName}/${deviceId}", "pk", "dn", "pk/dn"),
            "gw/pk/dn/pk/dn");
}

TEST(HealthListenAddress, ParsesHostPortForms) {
  boost::asio::ip::tcp::endpoint ep;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:9880", ep));
  EXPECT_EQ(ep.port(), 9880);
  ASSERT_TRUE(parse_listen_address("[::1]:0", ep));
  EXPECT_TRUE(ep.address().is_v6());
  ASSERT_TRUE(parse_listen_address("localhost:80", ep));
  EXPECT_EQ(ep.address().to_string(), "127.0.0.1");
  EXPECT_FALSE(parse_listen_address("127.0.0.1", ep));
  EXPECT_FALSE(parse_listen_address("127.0.0.1:99999", ep));
  EXPECT_FALSE(parse_listen_address("example.org:80", ep));  // names are not resolved
}

TEST(HealthCertificate, DaysLeftOfTheEarliestCertificate) {
  test::scratch_dir dir("gw-health-cert");
  const auto pem = dir.path() / "ca.pem";
  const auto a = test::run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=a -days 10 -keyout " +
      (dir.path() / "a.key").string() + " -out " + (dir.path() / "a.pem").string() +
      " 2>&1 && openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=b -days 400 -keyout " +
      (dir.path() / "b.key").string() + " -out " + (dir.path() / "b.pem").string() + " 2>&1 && cat " +
      (dir.path() / "b.pem").string() + " " + (dir.path() / "a.pem").string() + " > " + pem.string());
  ASSERT_EQ(a.status, 0) << a.output;
  const auto days = certificate_days_left(pem, static_cast<std::int64_t>(std::time(nullptr)));
  ASSERT_TRUE(days.has_value());
  EXPECT_GT(*days, 9.9);
  EXPECT_LE(*days, 10.0);
  EXPECT_FALSE(certificate_days_left(dir.path() / "missing.pem", 0).has_value());
  EXPECT_FALSE(certificate_days_left(dir.path() / "a.key", 0).has_value());
}

}  // namespace
}  // namespace gw::app
