// e2e_mqtt_load: the end-to-end tests' and benchmark's MQTT load, a separate process so that its Paho threads
// never share a process with the gateway's (gateway/mqtt/client.hpp: one Paho receive thread per process).
//
//   e2e_mqtt_load pub --uri U [--client-id C] [--devices N] [--messages M] [--first-id K] [--rate R]
//                     [--window W] [--qos Q] [--pad B] [--topic T] [--clean 0|1] [--reconnect 0|1]
//     Publishes M messages, message i (K <= i < K+M) to device i % N on topic sensors/sensor-%04d/update (or
//     T for every message when given), payload {"id":i,"ts_us":<wall clock us at send>,"pad":"xx.."} (B bytes
//     of padding). Ids of one device strictly increase, so the cloud can check per-device order. R > 0 paces
//     to R msg/s; W publishes stay unacknowledged at most. With --reconnect 1 the session is persistent,
//     publishes made while the broker is away are buffered and sent after the automatic reconnect (MQTT 3.1.1
//     §4.4). Prints "e2e_mqtt_load: connected", then "e2e_mqtt_load: published M in S s (R msg/s)" once every
//     publish was acknowledged (QoS >= 1), and exits 0.
//   e2e_mqtt_load sub --uri U [--client-id C] [--filter F] [--messages M] [--qos Q] [--timeout S]
//     Subscribes, prints "e2e_mqtt_load: subscribed", counts messages and prints "e2e_mqtt_load: received M
//     in S s (R msg/s)" (time from the first to the last) once M arrived; exits 1 after S s without them.
#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

using steady = std::chrono::steady_clock;

std::int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

struct args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& dflt) const {
    auto it = kv.find(k);
    return it == kv.end() ? dflt : it->second;
  }
  long long num(const std::string& k, long long dflt) const {
    auto it = kv.find(k);
    return it == kv.end() ? dflt : std::stoll(it->second);
  }
};

int usage() {
  std::cerr
      << "usage: e2e_mqtt_load pub|sub --uri tcp://127.0.0.1:1883 [options] (see the source's header)\n";
  return 2;
}

void report(const char* what, long long n, steady::time_point t0, steady::time_point t1) {
  const double s = std::chrono::duration<double>(t1 - t0).count();
  std::printf("e2e_mqtt_load: %s %lld in %.3f s (%.0f msg/s)\n", what, n, s, s > 0 ? n / s : 0.0);
  std::fflush(stdout);
}

int run_pub(const args& a) {
  const std::string uri = a.get("uri", "tcp://127.0.0.1:1883");
  const long long devices = a.num("devices", 1);
  const long long messages = a.num("messages", 1000);
  const long long first = a.num("first-id", 0);
  const long long rate = a.num("rate", 0);
  const long long window = a.num("window", 100);
  const int qos = static_cast<int>(a.num("qos", 1));
  const std::string pad(static_cast<std::size_t>(a.num("pad", 0)), 'x');
  const std::string fixed_topic = a.get("topic", "");
  const bool reconnect = a.num("reconnect", 0) != 0;
  const bool clean = a.num("clean", reconnect ? 0 : 1) != 0;

  mqtt::create_options co(MQTTVERSION_3_1_1);
  if (reconnect) {
    co.set_send_while_disconnected(true, true);
    co.set_max_buffered_messages(static_cast<int>(messages + 10));
  }
  mqtt::async_client cli(uri, a.get("client-id", "e2e-load-pub"), co, nullptr);
  mqtt::connect_options opts;
  opts.set_clean_session(clean);
  opts.set_keep_alive_interval(std::chrono::seconds(20));
  opts.set_max_inflight(static_cast<int>(std::max<long long>(window, 1)));
  if (reconnect) opts.set_automatic_reconnect(std::chrono::milliseconds(200), std::chrono::seconds(1));
  try {
    cli.connect(opts)->wait();
  } catch (const mqtt::exception& e) {
    std::cerr << "e2e_mqtt_load: connect failed: " << e.what() << "\n";
    return 1;
  }
  std::printf("e2e_mqtt_load: connected\n");
  std::fflush(stdout);

  // Each unacknowledged publish with what it sent, so that with --reconnect a delivery Paho fails when the
  // connection drops (MQTT error -1) is published again: at least once, like a real sensor gateway's client
  // (a repeat reaches the cloud as a duplicate of the same id, which the tests count apart).
  struct sent {
    mqtt::delivery_token_ptr token;
    std::string topic, payload;
  };
  std::deque<sent> pending;
  const auto settle_oldest = [&] {
    for (;;) {
      try {
        pending.front().token->wait();
        pending.pop_front();
        return;
      } catch (const mqtt::exception&) {
        if (!reconnect) throw;
        auto& s = pending.front();
        for (;;) {
          try {
            s.token = cli.publish(s.topic, s.payload.data(), s.payload.size(), qos, false);
            break;
          } catch (const mqtt::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // buffer full while away
          }
        }
      }
    }
  };
  const auto t0 = steady::now();
  char topic[96];
  std::string payload;
  for (long long i = first; i < first + messages; ++i) {
    if (rate > 0) {
      const auto due = t0 + std::chrono::nanoseconds((i - first) * 1'000'000'000LL / rate);
      std::this_thread::sleep_until(due);
    }
    if (fixed_topic.empty()) {
      std::snprintf(topic, sizeof topic, "sensors/sensor-%04lld/update", i % devices);
    } else {
      std::snprintf(topic, sizeof topic, "%s", fixed_topic.c_str());
    }
    payload = "{\"id\":" + std::to_string(i) + ",\"ts_us\":" + std::to_string(wall_us());
    if (!pad.empty()) payload += ",\"pad\":\"" + pad + "\"";
    payload += "}";
    for (;;) {
      try {
        auto token = cli.publish(topic, payload.data(), payload.size(), qos, false);
        pending.push_back({std::move(token), topic, payload});
        break;
      } catch (const mqtt::exception& e) {
        // Paho refuses when its in-flight window is full (MQTTASYNC_MAX_BUFFERED / TOO_MANY_...): wait for
        // the oldest acknowledgement, then retry.
        if (pending.empty()) {
          std::cerr << "e2e_mqtt_load: publish failed: " << e.what() << "\n";
          return 1;
        }
        settle_oldest();
      }
    }
    while (static_cast<long long>(pending.size()) >= window) settle_oldest();
  }
  try {
    while (!pending.empty()) settle_oldest();
  } catch (const mqtt::exception& e) {
    std::cerr << "e2e_mqtt_load: delivery failed: " << e.what() << "\n";
    return 1;
  }
  report("published", messages, t0, steady::now());
  try {
    cli.disconnect()->wait();
  } catch (const mqtt::exception&) {
  }
  return 0;
}

int run_sub(const args& a) {
  const std::string uri = a.get("uri", "tcp://127.0.0.1:1883");
  const long long messages = a.num("messages", 1000);
  const int qos = static_cast<int>(a.num("qos", 1));
  const auto timeout = std::chrono::seconds(a.num("timeout", 60));
  mqtt::async_client cli(uri, a.get("client-id", "e2e-load-sub"), mqtt::create_options(MQTTVERSION_3_1_1),
                         nullptr);
  std::mutex m;
  std::condition_variable cv;
  long long count = 0;
  steady::time_point first{}, last{};
  cli.set_message_callback([&](mqtt::const_message_ptr) {
    const auto now = steady::now();
    std::lock_guard lock(m);
    if (count == 0) first = now;
    last = now;
    if (++count == messages) cv.notify_all();
  });
  mqtt::connect_options opts;
  opts.set_clean_session(true);
  try {
    cli.connect(opts)->wait();
    cli.subscribe(a.get("filter", "sensors/#"), qos)->wait();
  } catch (const mqtt::exception& e) {
    std::cerr << "e2e_mqtt_load: connect/subscribe failed: " << e.what() << "\n";
    return 1;
  }
  std::printf("e2e_mqtt_load: subscribed\n");
  std::fflush(stdout);
  std::unique_lock lock(m);
  if (!cv.wait_for(lock, timeout, [&] { return count >= messages; })) {
    std::fprintf(stderr, "e2e_mqtt_load: only %lld of %lld messages within the timeout\n", count, messages);
    return 1;
  }
  report("received", count, first, last);
  lock.unlock();
  try {
    cli.disconnect()->wait();
  } catch (const mqtt::exception&) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  args a;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) return usage();
    a.kv[k.substr(2)] = argv[i + 1];
  }
  try {
    if (mode == "pub") return run_pub(a);
    if (mode == "sub") return run_sub(a);
  } catch (const std::exception& e) {
    std::cerr << "e2e_mqtt_load: " << e.what() << "\n";
    return 1;
  }
  return usage();
}
