// paho_window_probe: an MQTT subscriber built the way gw::mqtt's client receives (Paho C++ async_client, a
// persistent session, the message callback on Paho's receive thread), to measure what a crash loses while
// the callback has a message that is not stored yet (issue #6 item 1: "investigate QoS 2 subscriptions with
// Paho's file persistence ... choose by measurement"). tests/integration/paho_window_test.cpp drives it.
//
//   paho_window_probe --uri U --client-id C --qos 1|2 [--version 3|5] [--persist DIR] [--block-after N]
//
// Subscribes to "probe/#" with a persistent session (MQTT 3.1.1 clean session off, or MQTT 5 clean start off
// with a session expiry and Receive Maximum 65535, as the gateway connects by default) and, with --persist,
// Paho's file persistence in DIR; prints "probe: subscribed", then "probe: got <id>" for each message
// (payload
// {"id":<id>,...}, as e2e_mqtt_load publishes). The N-th message's callback (N >= 1) prints "probe: holding
// <id>" and never returns, as the gateway's callback holds a message until it is durable: the test then
// kills the process (SIGKILL) and starts it again without --block-after.
#include <mqtt/async_client.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  std::string uri, client_id = "paho-window-probe", persist;
  int qos = 1;
  int version = 3;
  long block_after = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--uri") {
      uri = v;
    } else if (k == "--client-id") {
      client_id = v;
    } else if (k == "--qos") {
      qos = std::atoi(v.c_str());
    } else if (k == "--version") {
      version = std::atoi(v.c_str());
    } else if (k == "--persist") {
      persist = v;
    } else if (k == "--block-after") {
      block_after = std::atol(v.c_str());
    } else {
      std::fprintf(stderr, "paho_window_probe: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (uri.empty() || (qos != 1 && qos != 2) || (version != 3 && version != 5)) {
    std::fprintf(
        stderr,
        "usage: paho_window_probe --uri U --client-id C --qos 1|2 [--persist DIR] [--block-after N]\n");
    return 2;
  }
  // Without --persist: no persistence at all (as the gateway runs); with it, Paho C's default file store.
  const int mqtt_version = version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  auto cli =
      persist.empty()
          ? std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(mqtt_version), nullptr)
          : std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(mqtt_version), persist);
  long seen = 0;
  cli->set_message_callback([&](const mqtt::const_message_ptr& m) {
    const std::string p = m->get_payload_str();
    const auto at = p.find("\"id\":");
    const long id = at == std::string::npos ? -1 : std::atol(p.c_str() + at + 5);
    if (block_after > 0 && ++seen == block_after) {
      std::printf("probe: holding %ld\n", id);
      std::fflush(stdout);
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // the test kills the process here
    }
    std::printf("probe: got %ld\n", id);
    std::fflush(stdout);
  });
  mqtt::connect_options opts;
  opts.set_keep_alive_interval(std::chrono::seconds(60));
  if (version == 5) {  // as gw::mqtt connects (gateway/mqtt/client.cpp)
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_clean_start(false);
    mqtt::properties props;
    props.add({mqtt::property::SESSION_EXPIRY_INTERVAL, 3600});
    props.add({mqtt::property::RECEIVE_MAXIMUM, 65535});
    opts.set_properties(props);
  } else {
    opts.set_clean_session(false);
  }
  try {
    cli->connect(opts)->wait();
    cli->subscribe("probe/#", qos)->wait();
  } catch (const mqtt::exception& e) {
    std::fprintf(stderr, "paho_window_probe: %s\n", e.what());
    return 1;
  }
  std::printf("probe: subscribed\n");
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // until the test stops it
}
