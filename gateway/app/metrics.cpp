#include "gateway/app/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <functional>

namespace gw::app {

namespace {

// Appends families; a family's HELP and TYPE lines are written once, before its first sample.
class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, std::string_view labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    append_number(value);
    out_ += '\n';
  }

 private:
  void append_number(double v) {
    if (std::isnan(v)) {
      out_ += "NaN";
      return;
    }
    if (std::isinf(v)) {
      out_ += v > 0 ? "+Inf" : "-Inf";
      return;
    }
    char buf[32];
    if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
      std::snprintf(buf, sizeof buf, "%.0f", v);
    } else {
      std::snprintf(buf, sizeof buf, "%.6g", v);
    }
    out_ += buf;
  }

  std::string& out_;
};

std::string device_labels(const device_report& d) {
  return "device=\"" + escape_label_value(d.id) + "\"";
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_metrics(const gateway_report& r, std::size_t max_device_series) {
  std::string out;
  out.reserve(4096 + std::min(r.devices.size(), max_device_series) * 1600);
  writer w(out);
  const auto b = [](bool v) { return v ? 1.0 : 0.0; };
  const auto n = [](auto v) { return static_cast<double>(v); };

  // ---- gateway-wide ----
  w.family("gw_build_info", "gauge", "Always 1; the version is a label.");
  w.sample("gw_build_info", "version=\"" + escape_label_value(r.version) + "\"", 1);
  w.family("gw_uptime_seconds", "gauge", "Seconds since the gateway started.");
  w.sample("gw_uptime_seconds", "", r.uptime_s);
  w.family("gw_ready", "gauge", "1 when the broker is connected and enough devices are ready (/readyz).");
  w.sample("gw_ready", "", b(is_ready(r)));
  w.family("gw_mqtt_connected", "gauge", "1 while the local MQTT broker connection is up.");
  w.sample("gw_mqtt_connected", "", b(r.mqtt_connected));
  w.family("gw_devices", "gauge", "Configured device identities.");
  w.sample("gw_devices", "", n(r.devices_total));
  w.family("gw_devices_ready", "gauge", "Devices whose session is ready or renewing.");
  w.sample("gw_devices_ready", "", n(r.devices_ready));
  w.family("gw_devices_by_state", "gauge", "Devices per session state.");
  for (const char* s : {"idle", "connecting", "handshaking", "authenticating", "ready", "renewing",
                        "backing_off", "failed", "stopped"}) {
    std::size_t count = 0;
    for (const auto& d : r.devices) count += d.state == s;
    w.sample("gw_devices_by_state", std::string("state=\"") + s + "\"", n(count));
  }
  w.family("gw_mqtt_messages_received_total", "counter", "Messages received from the local broker.");
  w.sample("gw_mqtt_messages_received_total", "", n(r.mqtt_received));
  w.family("gw_mqtt_subscriptions_refused_total", "counter",
           "SUBACKs refusing a route's filter (its messages do not reach the gateway).");
  w.sample("gw_mqtt_subscriptions_refused_total", "", n(r.mqtt_subscriptions_refused));
  w.family("gw_messages_unrouted_total", "counter", "Messages no route matched (counted and dropped).");
  w.sample("gw_messages_unrouted_total", "", n(r.unrouted));
  w.family("gw_messages_enqueued_total", "counter", "Messages stored in a device queue.");
  w.sample("gw_messages_enqueued_total", "", n(r.enqueued));
  w.family("gw_messages_enqueue_refused_total", "counter",
           "Messages the queue refused (limits, storage errors).");
  w.sample("gw_messages_enqueue_refused_total", "", n(r.enqueue_refused));
  w.family("gw_messages_delivered_total", "counter", "Messages the cloud acknowledged (2.xx).");
  w.sample("gw_messages_delivered_total", "", n(r.delivered));
  w.family("gw_messages_dead_lettered_total", "counter",
           "Messages moved to the dead-letter store, by stage.");
  w.sample("gw_messages_dead_lettered_total", "stage=\"entry\"", n(r.dead_lettered_at_entry));
  w.sample("gw_messages_dead_lettered_total", "stage=\"cloud\"", n(r.dead_lettered));
  w.family("gw_messages_empty_dropped_total", "counter",
           "Empty payloads dropped (cloud.drop_empty_payloads).");
  w.sample("gw_messages_empty_dropped_total", "", n(r.empty_dropped));
  w.family(
      "gw_cloud_in_flight", "gauge",
      "Messages handed to device sessions and not yet answered by the cloud (cloud.max_in_flight caps it).");
  w.sample("gw_cloud_in_flight", "", n(r.in_flight));
  w.family("gw_cloud_in_flight_cap", "gauge", "cloud.max_in_flight.");
  w.sample("gw_cloud_in_flight_cap", "", n(r.in_flight_cap));
  w.family("gw_queue_messages", "gauge", "Messages waiting in all device queues.");
  w.sample("gw_queue_messages", "", n(r.queue_depth));
  w.family("gw_queue_bytes", "gauge", "Bytes waiting in all device queues (payload and topics).");
  w.sample("gw_queue_bytes", "", n(r.queue_bytes));
  w.family("gw_queue_oldest_age_seconds", "gauge",
           "Age of the oldest queued message; 0 when every queue is empty.");
  w.sample("gw_queue_oldest_age_seconds", "", r.queue_oldest_age_s.value_or(0));
  w.family("gw_queue_write_errors_total", "counter", "Failed queue commits.");
  w.sample("gw_queue_write_errors_total", "", n(r.queue_write_errors));
  w.family(
      "gw_queue_storage_failing", "gauge",
      "1 while the queue's last commit failed (disk full, I/O); messages are then held, not acknowledged.");
  w.sample("gw_queue_storage_failing", "", b(r.queue_storage_failing));
  w.family("gw_queue_held_messages", "gauge", "Accepted messages waiting for disk space to be stored.");
  w.sample("gw_queue_held_messages", "", n(r.queue_held_for_space));
  w.family("gw_mqtt_unstored_deliveries", "gauge",
           "Deliveries handed to the queue and not yet stored, by whether the intake journal holds them.");
  w.sample("gw_mqtt_unstored_deliveries", "journaled=\"true\"", n(r.mqtt_journaled_unstored));
  w.sample("gw_mqtt_unstored_deliveries", "journaled=\"false\"", n(r.mqtt_unstored));
  if (r.journal_on) {
    w.family("gw_intake_journal_records_total", "counter", "Deliveries written to the intake journal.");
    w.sample("gw_intake_journal_records_total", "", n(r.journal_records));
    w.family(
        "gw_intake_journal_failures_total", "counter",
        "Intake journal appends that failed; those deliveries waited for the queue (mqtt.max_unstored).");
    w.sample("gw_intake_journal_failures_total", "", n(r.journal_failures));
    w.family("gw_intake_journal_replayed_total", "counter",
             "Intake journal records queued at start (received before the last stop, not yet stored).");
    w.sample("gw_intake_journal_replayed_total", "", n(r.journal_replayed));
  }
  w.family("gw_queue_dropped_total", "counter", "Messages the queue dropped or refused, by reason.");
  w.sample("gw_queue_dropped_total", "reason=\"queue_full_rejected\"", n(r.drops_queue_full_rejected));
  w.sample("gw_queue_dropped_total", "reason=\"queue_full_dropped_oldest\"",
           n(r.drops_queue_full_dropped_oldest));
  w.sample("gw_queue_dropped_total", "reason=\"expired_max_age\"", n(r.drops_expired_max_age));
  w.sample("gw_queue_dropped_total", "reason=\"disk_cap\"", n(r.drops_disk_cap));
  if (r.ca_days_left) {
    w.family("gw_ca_certificate_expiry_days", "gauge",
             "Days until the earliest certificate in cloud.ca_file expires.");
    w.sample("gw_ca_certificate_expiry_days", "", *r.ca_days_left);
  }
  if (r.server_cert_days_left) {
    // One series, not one per device: every device of a host sees the same certificate (cardinality bound).
    w.family("gw_server_certificate_expiry_days", "gauge",
             "Days until the earliest server certificate seen in a DTLS handshake expires.");
    w.sample("gw_server_certificate_expiry_days", "", *r.server_cert_days_left);
  }
  const bool truncated = r.devices.size() > max_device_series;
  w.family("gw_device_series_truncated", "gauge",
           "1 when per-device series are written for only the first devices (label cardinality bound).");
  w.sample("gw_device_series_truncated", "", b(truncated));

  // ---- per device ----
  const std::size_t limit = std::min(r.devices.size(), max_device_series);
  if (limit == 0) return out;
  struct per_device {
    const char* name;
    const char* type;
    const char* help;
    std::function<std::optional<double>(const device_report&)> value;  // nullopt: no sample for this device
  };
  const per_device families[] = {
      {"gw_device_ready", "gauge", "1 while the device's session is ready or renewing.",
       [&](const device_report& d) { return b(d.ready); }},
      {"gw_device_queue_messages", "gauge", "Messages waiting in the device's queue.",
       [&](const device_report& d) { return n(d.queue_depth); }},
      {"gw_device_queue_bytes", "gauge", "Bytes waiting in the device's queue.",
       [&](const device_report& d) { return n(d.queue_bytes); }},
      {"gw_device_queue_oldest_age_seconds", "gauge",
       "Age of the device's oldest queued message; 0 when empty.",
       [](const device_report& d) { return d.queue_oldest_age_s.value_or(0); }},
      {"gw_device_queue_dropped_total", "counter", "Messages the device's queue dropped or refused.",
       [&](const device_report& d) { return n(d.queue_dropped); }},
      {"gw_device_messages_sent_total", "counter", "Publishes sent to the cloud, resends included.",
       [&](const device_report& d) { return n(d.messages_sent); }},
      {"gw_device_messages_acked_total", "counter", "Publishes the cloud acknowledged (2.xx).",
       [&](const device_report& d) { return n(d.messages_acked); }},
      {"gw_device_messages_failed_total", "counter",
       "Publishes the cloud rejected permanently (dead-lettered).",
       [&](const device_report& d) { return n(d.messages_failed); }},
      {"gw_device_messages_retried_total", "counter", "Publishes put back for a later resend.",
       [&](const device_report& d) { return n(d.messages_retried); }},
      {"gw_device_retransmissions_total", "counter", "CoAP retransmissions (RFC 7252 §4.2).",
       [&](const device_report& d) { return n(d.retransmissions); }},
      {"gw_device_auth_total", "counter", "Successful /auth exchanges.",
       [&](const device_report& d) { return n(d.auth_count); }},
      {"gw_device_auth_failures_total", "counter", "Failed /auth exchanges.",
       [&](const device_report& d) { return n(d.auth_failures); }},
      {"gw_device_consecutive_failures", "gauge", "Failures since the device's last success.",
       [&](const device_report& d) { return n(d.consecutive_failures); }},
      {"gw_device_rtt_seconds", "gauge", "Last measured round trip of a confirmable exchange.",
       [](const device_report& d) -> std::optional<double> {
         if (!d.rtt_ms) return std::nullopt;
         return *d.rtt_ms / 1000.0;
       }},
      {"gw_device_token_age_seconds", "gauge", "Age of the device's auth token.",
       [](const device_report& d) { return d.token_age_s; }},
      {"gw_device_last_success_age_seconds", "gauge", "Seconds since the cloud last answered 2.xx.",
       [](const device_report& d) { return d.last_success_age_s; }},
  };
  std::vector<std::string> labels;
  labels.reserve(limit);
  for (std::size_t i = 0; i < limit; ++i) labels.push_back(device_labels(r.devices[i]));
  for (const auto& f : families) {
    bool any = false;
    for (std::size_t i = 0; i < limit; ++i) {
      const auto v = f.value(r.devices[i]);
      if (!v) continue;
      if (!any) {
        w.family(f.name, f.type, f.help);
        any = true;
      }
      w.sample(f.name, labels[i], *v);
    }
  }
  return out;
}

}  // namespace gw::app
