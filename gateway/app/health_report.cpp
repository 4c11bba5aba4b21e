#include "gateway/app/health_report.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "gateway/app/gateway.hpp"

#ifndef GW_VERSION
#define GW_VERSION "0.0.0"
#endif

namespace gw::app {

namespace {

using steady = std::chrono::steady_clock;

double seconds(steady::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// RFC 7252 §3: a response code is class.detail, "4.03".
std::string code_text(std::uint8_t code) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%u.%02u", static_cast<unsigned>(code >> 5),
                static_cast<unsigned>(code & 0x1f));
  return buf;
}

device_report make_device(const device_runtime& dev, const bridge::device_stats& qs, steady::time_point now,
                          std::int64_t now_ms) {
  device_report d;
  const auto& s = *dev.session;
  const auto& ident = s.identity();
  d.id = dev.id;
  d.product_key = ident.product_key;
  d.device_name = ident.device_name;
  d.mode = std::string(session::to_string(ident.mode));
  const auto h = s.health();
  d.state = std::string(session::to_string(h.state));
  d.ready = h.state == session::device_state::ready || h.state == session::device_state::renewing;
  if (h.last_success) d.last_success_age_s = seconds(now - *h.last_success);
  if (h.last_error) {
    d.last_error = h.last_error->text.empty() ? h.last_error->ec.message() : h.last_error->text;
    if (h.last_error->outcome && h.last_error->outcome->kind == session::answer_kind::response) {
      d.last_error_code = code_text(h.last_error->outcome->code);
    }
    d.last_error_age_s = seconds(now - h.last_error->at);
  }
  if (h.token_age) d.token_age_s = seconds(*h.token_age);
  d.queue_depth = qs.depth;
  d.queue_bytes = qs.bytes;
  if (qs.depth > 0 && qs.oldest_received_ms > 0) {
    d.queue_oldest_age_s =
        static_cast<double>(std::max<std::int64_t>(0, now_ms - qs.oldest_received_ms)) / 1000.0;
  }
  d.queue_dropped = qs.drops.queue_full_rejected + qs.drops.queue_full_dropped_oldest +
                    qs.drops.expired_max_age + qs.drops.disk_cap;
  const auto st = s.stats();
  d.retransmissions = st.retransmissions;
  if (st.last_rtt > steady::duration::zero()) {
    d.rtt_ms = std::chrono::duration<double, std::milli>(st.last_rtt).count();
  }
  d.messages_sent = h.messages_sent;
  d.messages_acked = h.messages_acked;
  d.messages_failed = h.messages_dead_lettered;
  d.messages_retried = h.messages_retried;
  d.auth_count = h.auth_count;
  d.auth_failures = h.auth_failures;
  d.consecutive_failures = h.consecutive_failures;
  if (st.server_cert_not_after) {
    d.server_cert_days_left =
        (static_cast<double>(*st.server_cert_not_after) - static_cast<double>(now_ms) / 1000.0) / 86400.0;
  }
  return d;
}

template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

bool is_ready(const gateway_report& r, double ready_share) {
  if (!r.mqtt_connected || r.queue_storage_failing) return false;
  if (r.devices_total == 0) return true;
  return static_cast<double>(r.devices_ready) >= ready_share * static_cast<double>(r.devices_total) - 1e-9;
}

device_report collect_device_report(gateway& gw, const device_runtime& dev) {
  return make_device(dev, gw.queue().stats(dev.id), steady::now(), wall_ms());
}

gateway_report collect_report(gateway& gw, steady::time_point started, std::optional<double> ca_days_left) {
  const auto now = steady::now();
  const auto now_ms = wall_ms();
  gateway_report r;
  r.version = GW_VERSION;
  r.uptime_s = seconds(now - started);
  r.mqtt_connected = gw.mqtt_connected();
  const auto& c = gw.counters();
  r.mqtt_received = c.mqtt_received;
  r.mqtt_subscriptions_refused = gw.mqtt_subscriptions_refused();
  r.unrouted = c.unrouted;
  r.dead_lettered_at_entry = c.dead_lettered_at_entry;
  r.enqueued = c.enqueued;
  r.enqueue_refused = c.enqueue_refused;
  r.delivered = c.delivered;
  r.dead_lettered = c.dead_lettered;
  r.empty_dropped = c.empty_dropped;
  const auto qs = gw.queue().stats();
  r.queue_depth = qs.total.depth;
  r.queue_bytes = qs.total.bytes;
  if (qs.total.depth > 0 && qs.total.oldest_received_ms > 0) {
    r.queue_oldest_age_s =
        static_cast<double>(std::max<std::int64_t>(0, now_ms - qs.total.oldest_received_ms)) / 1000.0;
  }
  r.queue_write_errors = qs.write_errors;
  r.queue_storage_failing = qs.storage_failing;
  r.queue_held_for_space = qs.held_for_space;
  const auto ms = gw.mqtt_stats();
  r.mqtt_unstored = ms.unstored;
  r.mqtt_journaled_unstored = ms.journaled_unstored;
  if (const auto js = gw.journal_stats()) {
    r.journal_on = true;
    r.journal_records = js->appended;
    r.journal_failures = js->append_failures;
    r.journal_replayed = js->recovered;  // all of them are queued at start
  }
  r.in_flight = gw.in_flight();
  r.in_flight_cap = gw.cfg().cloud.max_in_flight;
  if (qs.storage_failing && qs.last_error) r.queue_last_error = qs.last_error.message();
  r.drops_queue_full_rejected = qs.total.drops.queue_full_rejected;
  r.drops_queue_full_dropped_oldest = qs.total.drops.queue_full_dropped_oldest;
  r.drops_expired_max_age = qs.total.drops.expired_max_age;
  r.drops_disk_cap = qs.total.drops.disk_cap;
  r.ca_days_left = ca_days_left;

  // qs.devices is sorted by id: look each device up once.
  static const bridge::device_stats empty{};
  r.devices.reserve(gw.devices().size());
  for (const auto& dev : gw.devices()) {
    auto it = std::lower_bound(
        qs.devices.begin(), qs.devices.end(), dev->id,
        [](const bridge::device_stats& s, const std::string& id) { return s.device_id < id; });
    const auto& ds = (it != qs.devices.end() && it->device_id == dev->id) ? *it : empty;
    r.devices.push_back(make_device(*dev, ds, now, now_ms));
    const auto& d = r.devices.back();
    if (d.ready) ++r.devices_ready;
    if (d.server_cert_days_left &&
        (!r.server_cert_days_left || *d.server_cert_days_left < *r.server_cert_days_left)) {
      r.server_cert_days_left = d.server_cert_days_left;
      r.server_cert_device = d.id;
    }
  }
  r.devices_total = r.devices.size();
  return r;
}

nlohmann::json to_json(const device_report& d) {
  return {
      {"id", d.id},
      {"product_key", d.product_key},
      {"device_name", d.device_name},
      {"mode", d.mode},
      {"state", d.state},
      {"ready", d.ready},
      {"last_success_age_s", opt(d.last_success_age_s)},
      {"last_error",
       {{"text", opt(d.last_error)}, {"code", opt(d.last_error_code)}, {"age_s", opt(d.last_error_age_s)}}},
      {"token_age_s", opt(d.token_age_s)},
      {"queue",
       {{"depth", d.queue_depth},
        {"bytes", d.queue_bytes},
        {"oldest_age_s", opt(d.queue_oldest_age_s)},
        {"dropped", d.queue_dropped}}},
      {"retransmissions", d.retransmissions},
      {"rtt_ms", opt(d.rtt_ms)},
      {"messages",
       {{"sent", d.messages_sent},
        {"acked", d.messages_acked},
        {"failed", d.messages_failed},
        {"retried", d.messages_retried}}},
      {"auth", {{"count", d.auth_count}, {"failures", d.auth_failures}}},
      {"consecutive_failures", d.consecutive_failures},
      {"server_cert_days_left", opt(d.server_cert_days_left)},
  };
}

nlohmann::json to_json(const gateway_report& r) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : r.devices) devices.push_back(to_json(d));
  return {
      {"gateway",
       {
           {"version", r.version},
           {"uptime_s", r.uptime_s},
           {"ready", is_ready(r)},
           {"mqtt_connected", r.mqtt_connected},
           {"devices_total", r.devices_total},
           {"devices_ready", r.devices_ready},
           {"mqtt_received", r.mqtt_received},
           {"mqtt_subscriptions_refused", r.mqtt_subscriptions_refused},
           {"unrouted", r.unrouted},
           {"enqueued", r.enqueued},
           {"enqueue_refused", r.enqueue_refused},
           {"delivered", r.delivered},
           {"in_flight", r.in_flight},
           {"dead_lettered", r.dead_lettered + r.dead_lettered_at_entry},
           {"queue",
            {{"depth", r.queue_depth},
             {"bytes", r.queue_bytes},
             {"oldest_age_s", opt(r.queue_oldest_age_s)},
             {"write_errors", r.queue_write_errors},
             {"storage_failing", r.queue_storage_failing},
             {"held_for_space", r.queue_held_for_space},
             {"last_error", opt(r.queue_last_error)}}},
           {"intake",
            {{"unstored", r.mqtt_unstored},
             {"journaled_unstored", r.mqtt_journaled_unstored},
             {"journal", r.journal_on},
             {"journal_records", r.journal_records},
             {"journal_failures", r.journal_failures},
             {"journal_replayed", r.journal_replayed}}},
           {"ca_days_left", opt(r.ca_days_left)},
           {"server_cert_days_left", opt(r.server_cert_days_left)},
       }},
      {"devices", std::move(devices)},
  };
}

std::optional<double> certificate_days_left(const std::filesystem::path& pem_file, std::int64_t now) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(pem_file.c_str(), "r"), &BIO_free);
  if (!bio) return std::nullopt;
  std::optional<double> earliest;
  const std::time_t t = static_cast<std::time_t>(now);
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    std::unique_ptr<X509, decltype(&X509_free)> cert(raw, &X509_free);
    std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> now_asn1(ASN1_TIME_set(nullptr, t),
                                                                   &ASN1_TIME_free);
    int days = 0, secs = 0;
    if (!now_asn1 || ASN1_TIME_diff(&days, &secs, now_asn1.get(), X509_get0_notAfter(cert.get())) != 1)
      continue;
    const double left = days + secs / 86400.0;
    if (!earliest || left < *earliest) earliest = left;
  }
  ERR_clear_error();  // the read that ends the loop leaves "no start line" on this thread's queue
  return earliest;
}

}  // namespace gw::app
