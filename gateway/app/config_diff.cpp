#include "gateway/app/config_diff.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <unordered_map>

namespace gw::app {

namespace {

// Collects the YAML key paths whose values differ.
struct key_compare {
  std::vector<std::string>& out;
  template <typename T>
  void operator()(const char* key, const T& a, const T& b) {
    if (!(a == b)) out.emplace_back(key);
  }
  void operator()(const char* key, const secret& a, const secret& b) {
    if (a.reveal() != b.reveal()) out.emplace_back(key);
  }
};

void compare_backoff(key_compare& cmp, const backoff_config& a, const backoff_config& b) {
  cmp("cloud.auth.backoff.initial", a.initial, b.initial);
  cmp("cloud.auth.backoff.max", a.max, b.max);
  cmp("cloud.auth.backoff.jitter", a.jitter, b.jitter);
}

// The cloud.* keys every device_session is built with (gateway.cpp make_session_options).
std::vector<std::string> session_key_changes(const cloud_config& a, const cloud_config& b) {
  std::vector<std::string> out;
  key_compare cmp{out};
  cmp("cloud.content_format", a.content, b.content);
  cmp("cloud.ack_mode", a.ack_mode, b.ack_mode);
  cmp("cloud.sign_method", a.sign, b.sign);
  cmp("cloud.token_option", a.token_option, b.token_option);
  cmp("cloud.accept", a.accept, b.accept);
  cmp("cloud.first_seq", a.first_seq, b.first_seq);
  cmp("cloud.treat_4_02_as_token_invalid", a.treat_4_02_as_token_invalid, b.treat_4_02_as_token_invalid);
  cmp("cloud.send_timestamp", a.send_timestamp, b.send_timestamp);
  cmp("cloud.send_signmethod", a.send_signmethod, b.send_signmethod);
  cmp("cloud.psk_timestamp", a.psk_timestamp, b.psk_timestamp);
  cmp("cloud.coap.ack_timeout", a.coap.ack_timeout, b.coap.ack_timeout);
  cmp("cloud.coap.ack_random_factor", a.coap.ack_random_factor, b.coap.ack_random_factor);
  cmp("cloud.coap.max_retransmit", a.coap.max_retransmit, b.coap.max_retransmit);
  cmp("cloud.coap.nstart", a.coap.nstart, b.coap.nstart);
  cmp("cloud.coap.auth_timeout", a.coap.auth_timeout, b.coap.auth_timeout);
  cmp("cloud.coap.send_uri_host", a.coap.send_uri_host, b.coap.send_uri_host);
  cmp("cloud.auth.token_refresh_after", a.auth.token_refresh_after, b.auth.token_refresh_after);
  compare_backoff(cmp, a.auth.backoff, b.auth.backoff);
  return out;
}

std::vector<std::string> restart_only_changes(const config& a, const config& b) {
  std::vector<std::string> out;
  key_compare cmp{out};
  const mqtt_config& m = a.mqtt;
  const mqtt_config& n = b.mqtt;
  cmp("mqtt.uri", m.uri, n.uri);
  cmp("mqtt.client_id", m.client_id, n.client_id);
  cmp("mqtt.username", m.username, n.username);
  cmp("mqtt.password", m.password, n.password);
  cmp("mqtt.protocol", m.protocol, n.protocol);
  cmp("mqtt.qos", m.qos, n.qos);
  cmp("mqtt.clean_session", m.clean_session, n.clean_session);
  cmp("mqtt.session_expiry", m.session_expiry, n.session_expiry);
  cmp("mqtt.receive_maximum", m.receive_maximum, n.receive_maximum);
  cmp("mqtt.keep_alive", m.keep_alive, n.keep_alive);
  cmp("mqtt.connect_timeout", m.connect_timeout, n.connect_timeout);
  cmp("mqtt.reconnect_min", m.reconnect_min, n.reconnect_min);
  cmp("mqtt.reconnect_max", m.reconnect_max, n.reconnect_max);
  cmp("mqtt.store_timeout", m.store_timeout, n.store_timeout);
  cmp("mqtt.max_unstored", m.max_unstored, n.max_unstored);
  cmp("mqtt.max_backlog", m.max_backlog, n.max_backlog);
  cmp("mqtt.intake_priority", m.intake_priority, n.intake_priority);
  cmp("mqtt.status_topic", m.status_topic, n.status_topic);
  cmp("mqtt.tls.ca_file", m.tls.ca_file, n.tls.ca_file);
  cmp("mqtt.tls.cert_file", m.tls.cert_file, n.tls.cert_file);
  cmp("mqtt.tls.key_file", m.tls.key_file, n.tls.key_file);
  cmp("mqtt.tls.verify", m.tls.verify, n.tls.verify);
  cmp("cloud.auth.rate_per_s", a.cloud.auth.rate_per_s, b.cloud.auth.rate_per_s);
  // path_resume is built once with them and the sessions' answer callbacks point into it (gateway.cpp).
  cmp("cloud.coap.resume_on_answer", a.cloud.coap.resume_on_answer, b.cloud.coap.resume_on_answer);
  cmp("cloud.coap.resume_rate_per_s", a.cloud.coap.resume_rate_per_s, b.cloud.coap.resume_rate_per_s);
  const queue_config& q = a.queue;
  const queue_config& r = b.queue;
  cmp("queue.dir", q.dir, r.dir);
  cmp("queue.max_bytes_per_device", q.max_bytes_per_device, r.max_bytes_per_device);
  cmp("queue.max_messages_per_device", q.max_messages_per_device, r.max_messages_per_device);
  cmp("queue.max_age", q.max_age, r.max_age);
  cmp("queue.max_total_bytes", q.max_total_bytes, r.max_total_bytes);
  cmp("queue.when_full", q.when_full, r.when_full);
  cmp("queue.sync", q.sync, r.sync);
  cmp("queue.intake_journal", q.intake_journal, r.intake_journal);
  cmp("health.http", a.health.http, b.health.http);
  cmp("health.mqtt_topic", a.health.mqtt_topic, b.health.mqtt_topic);
  cmp("health.interval", a.health.interval, b.health.interval);
  cmp("health.ready_share", a.health.ready_share, b.health.ready_share);
  return out;
}

bool same_routes(const std::vector<route_config>& a, const std::vector<route_config>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].from != b[i].from || a[i].device != b[i].device || a[i].to != b[i].to ||
        a[i].format != b[i].format) {
      return false;
    }
  }
  return true;
}

bool same_shard(const std::optional<shard_config>& a, const std::optional<shard_config>& b) {
  const unsigned ai = a ? a->index : 0, an = a ? a->count : 1;
  const unsigned bi = b ? b->index : 0, bn = b ? b->count : 1;
  return ai == bi && an == bn;
}

// The devices this instance serves, by id.
std::unordered_map<std::string, const device_config*> served(const config& c) {
  std::unordered_map<std::string, const device_config*> out;
  for (const auto& d : c.devices) {
    if (in_shard(c.shard, d.product_key, d.device_name)) out.emplace(d.id, &d);
  }
  return out;
}

}  // namespace

bool config_diff::nothing_to_apply() const {
  return added.empty() && removed.empty() && changed.empty() && !routes_changed && !ca_changed &&
         !log_changed && session_keys.empty() && other_keys.empty();
}

std::vector<std::string> identity_changes(const device_config& a, const device_config& b) {
  std::vector<std::string> out;
  key_compare cmp{out};
  cmp("product_key", a.product_key, b.product_key);
  cmp("device_name", a.device_name, b.device_name);
  cmp("device_secret", a.device_secret, b.device_secret);
  cmp("client_id", a.client_id, b.client_id);
  cmp("mode", a.mode, b.mode);
  cmp("host", a.host, b.host);
  cmp("address", a.address, b.address);
  cmp("port", a.port, b.port);
  return out;
}

config_diff diff_config(const config& running, const config& fresh, bool ca_content_changed) {
  config_diff d;
  d.restart_only = restart_only_changes(running, fresh);
  d.session_keys = session_key_changes(running.cloud, fresh.cloud);
  d.routes_changed = !same_routes(running.routes, fresh.routes);
  d.log_changed = running.log.level != fresh.log.level || running.log.format != fresh.log.format;
  d.ca_changed = running.cloud.ca_file != fresh.cloud.ca_file || ca_content_changed;
  {
    key_compare cmp{d.other_keys};
    cmp("cloud.max_payload", running.cloud.max_payload, fresh.cloud.max_payload);
    cmp("cloud.drop_empty_payloads", running.cloud.drop_empty_payloads, fresh.cloud.drop_empty_payloads);
    cmp("cloud.max_in_flight", running.cloud.max_in_flight, fresh.cloud.max_in_flight);
    if (!same_shard(running.shard, fresh.shard)) d.other_keys.emplace_back("shard");
  }

  const auto before = served(running);
  const auto after = served(fresh);
  for (const auto& dev : running.devices) {
    if (before.count(dev.id) != 0 && after.count(dev.id) == 0) d.removed.push_back(dev.id);
  }
  for (const auto& dev : fresh.devices) {
    if (after.count(dev.id) == 0) continue;
    auto old = before.find(dev.id);
    if (old == before.end()) {
      d.added.push_back(dev.id);
      continue;
    }
    device_change change{dev.id, identity_changes(*old->second, dev)};
    // Settings shared by many sessions: a session holds them from its creation, so it restarts with them.
    if (d.ca_changed && dev.mode == cloud_mode::dtls) change.why.emplace_back("cloud.ca_file");
    if (!d.session_keys.empty()) change.why.emplace_back("cloud settings");
    if (change.why.empty()) {
      ++d.unchanged;
    } else {
      d.changed.push_back(std::move(change));
    }
  }
  return d;
}

config merge_reloadable(const config& running, config fresh) {
  fresh.mqtt = running.mqtt;
  fresh.queue = running.queue;
  fresh.health = running.health;
  fresh.cloud.auth.rate_per_s = running.cloud.auth.rate_per_s;
  fresh.cloud.coap.resume_on_answer = running.cloud.coap.resume_on_answer;
  fresh.cloud.coap.resume_rate_per_s = running.cloud.coap.resume_rate_per_s;
  return fresh;
}

std::string file_digest(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return "unreadable";
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64: change detection, not security
  for (std::istreambuf_iterator<char> it(in), end; it != end; ++it) {
    h = (h ^ static_cast<unsigned char>(*it)) * 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace gw::app
