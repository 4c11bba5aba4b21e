#include "gateway/app/config_mqtt.hpp"

#include <chrono>

namespace gw::app {

gw::mqtt::client_options to_client_options(const mqtt_config& c) {
  using std::chrono::ceil;
  using std::chrono::seconds;
  gw::mqtt::client_options o;
  o.uri = c.uri;
  o.client_id = c.client_id;
  o.username = c.username;
  o.password = std::string(c.password.reveal());
  o.protocol_version = c.protocol == mqtt_protocol::v5 ? 5 : 4;
  o.clean_session = c.clean_session;
  o.session_expiry = c.session_expiry;
  o.receive_maximum = static_cast<std::uint16_t>(c.receive_maximum);
  o.keep_alive = c.keep_alive;
  o.connect_timeout = ceil<seconds>(c.connect_timeout);  // Paho takes whole seconds
  o.reconnect_min = ceil<seconds>(c.reconnect_min);
  o.reconnect_max = ceil<seconds>(c.reconnect_max);
  o.store_timeout = c.store_timeout;
  o.max_unstored = static_cast<std::size_t>(c.max_unstored);
  o.max_backlog = static_cast<std::size_t>(c.max_backlog);
  o.status_topic = c.status_topic;
  o.tls = c.tls.enabled;
  o.ca_file = c.tls.ca_file;
  o.cert_file = c.tls.cert_file;
  o.key_file = c.tls.key_file;
  o.tls_verify = c.tls.verify;
  return o;
}

}  // namespace gw::app
