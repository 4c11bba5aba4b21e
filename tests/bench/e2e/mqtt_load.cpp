// e2e_mqtt_load: the end-to-end tests' and benchmark's MQTT load, a separate process so that its Paho threads
// never share a process with the gateway's (gateway/mqtt/client.hpp: one Paho receive thread per process).
//
//   e2e_mqtt_load pub --uri U [--client-id C] [--devices N] [--messages M] [--first-id K] [--rate R]
//                     [--window W] [--qos Q] [--pad B] [--topic T] [--reconnect 0|1]
//     Publishes M messages, message i (K <= i < K+M) to device i % N on topic sensors/sensor-%04d/update (or
//     T for every message when given), payload {"id":i,"ts_us":<wall clock us at send>,"pad":"xx.."} (B bytes
//     of padding). Ids of one device strictly increase, so the cloud can check per-device order. R > 0 paces
//     to R msg/s; W publishes stay unacknowledged at most. Prints "e2e_mqtt_load: connected", then
//     "e2e_mqtt_load: published M in S s (R msg/s)" once every publish was acknowledged (QoS >= 1), and exits
//     0. With --reconnect 1 a lost connection is not an error: the tool connects again (every 100 ms until
//     the broker is back) and publishes every unacknowledged message again, in order: at least once, like a
//     sensor gateway's client. A message the broker had taken before the loss then reaches the cloud twice;
//     cloudsim marks the second copy dup:true (same payload id), so the tests count it apart from loss.
//   e2e_mqtt_load sub --uri U [--client-id C] [--filter F] [--messages M] [--qos Q] [--timeout S]
//                     [--times FILE]
//     Subscribes, prints "e2e_mqtt_load: subscribed", counts messages and prints "e2e_mqtt_load: received M
//     in S s (R msg/s)" (time from the first to the last) once M arrived; exits 1 after S s without them.
//     With --times it also writes one line "<id> <ts_us> <t_us>" per message whose payload has the pub
//     format: the payload's id and send time, and the wall clock us when the callback ran. A subscriber next
//     to the gateway thus tells the broker's hop (t_us - ts_us) from the gateway's (cloudsim's t_us - t_us).
#include <mqtt/async_client.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// The decimal number right after `key` in `s` (the pub payload's fields), or nullopt.
std::optional<std::int64_t> number_after(const std::string& s, std::string_view key) {
  const auto at = s.find(key);
  if (at == std::string::npos) return std::nullopt;
  std::int64_t v = 0;
  const char* b = s.data() + at + key.size();
  const auto [end, ec] = std::from_chars(b, s.data() + s.size(), v);
  if (ec != std::errc{} || end == b) return std::nullopt;
  return v;
}

int usage() {
  std::cerr
      << "usage: e2e_mqtt_load pub|sub --uri tcp://127.0.0.1:1883 [options] (see the source's header)\n";
  return 2;
}

void report(const char* what, long long n, steady::time_point t0, steady::time_point t1) {
  const double s = std::chrono::duration<double>(t1 - t0).count();
  std::printf("e2e_mqtt_load: %s %lld in %.3f s (%.0f msg/s)\n", what, n, s,
              s > 0 ? static_cast<double>(n) / s : 0.0);
  std::fflush(stdout);
}

// One MQTT connection of the publisher. With --reconnect a lost connection's client is retired and a new one
// connects; Paho's own automatic reconnect is not used, because Paho C 1.3.11 (Debian 12) can resend an
// in-flight PUBLISH whose topic it already freed when the connection broke during its write: the broker
// answers the garbage with a disconnect ("malformed packet"), on every reconnect, forever (seen here with
// tshark; paho.mqtt.c issue #1592 reports the payload variant). A retired client is never destroyed for the
// same reason (its destructor would free that topic again): it stays unconnected until the process exits.
class publisher {
 public:
  publisher(std::string uri, std::string client_id, int window)
      : uri_(std::move(uri)), client_id_(std::move(client_id)) {
    opts_.set_clean_session(true);
    opts_.set_keep_alive_interval(std::chrono::seconds(20));
    opts_.set_connect_timeout(std::chrono::seconds(2));
    opts_.set_max_inflight(std::max(window, 1));
  }
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;
  ~publisher() {
    if (cli_) {
      try {
        cli_->disconnect()->wait_for(std::chrono::seconds(2));
      } catch (const mqtt::exception&) {
      }
    }
    for (auto& c : retired_) (void)c.release();  // see the class comment
  }

  // Connects a new client; with `retry`, every 100 ms until the broker answers. Throws mqtt::exception when
  // a connect fails and `retry` is false.
  void connect(bool retry) {
    if (cli_) retired_.push_back(std::move(cli_));
    for (;;) {
      auto cli = std::make_unique<mqtt::async_client>(uri_, client_id_,
                                                      mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
      cli->set_connection_lost_handler([this](const std::string&) { lost_ = true; });
      try {
        cli->connect(opts_)->wait();
        lost_ = false;
        cli_ = std::move(cli);
        return;
      } catch (const mqtt::exception&) {
        if (!retry) throw;
        retired_.push_back(std::move(cli));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  // True once the connection is gone (Paho said so, or the client is not connected).
  bool lost() const { return lost_ || !cli_->is_connected(); }
  mqtt::delivery_token_ptr publish(const std::string& topic, const std::string& payload, int qos) {
    return cli_->publish(topic, payload.data(), payload.size(), qos, false);
  }

 private:
  std::string uri_, client_id_;
  mqtt::connect_options opts_;
  std::unique_ptr<mqtt::async_client> cli_;
  std::vector<std::unique_ptr<mqtt::async_client>> retired_;
  std::atomic<bool> lost_{false};
};

int run_pub(const args& a) {
  const long long devices = a.num("devices", 1);
  const long long messages = a.num("messages", 1000);
  const long long first = a.num("first-id", 0);
  const long long rate = a.num("rate", 0);
  const long long window = std::max<long long>(a.num("window", 100), 1);
  const int qos = static_cast<int>(a.num("qos", 1));
  const std::string pad(static_cast<std::size_t>(a.num("pad", 0)), 'x');
  const std::string fixed_topic = a.get("topic", "");
  const bool reconnect = a.num("reconnect", 0) != 0;

  publisher pub(a.get("uri", "tcp://127.0.0.1:1883"), a.get("client-id", "e2e-load-pub"),
                static_cast<int>(window));
  try {
    pub.connect(false);
  } catch (const mqtt::exception& e) {
    std::cerr << "e2e_mqtt_load: connect failed: " << e.what() << "\n";
    return 1;
  }
  std::printf("e2e_mqtt_load: connected\n");
  std::fflush(stdout);

  // Each unacknowledged publish with what it sent, oldest first, so that after a lost connection all of them
  // go out again on the new one, in their order.
  struct sent {
    mqtt::delivery_token_ptr token;
    std::string topic, payload;
  };
  std::deque<sent> pending;
  // Acknowledged (a failed delivery counts as not acknowledged: recover sends it again).
  const auto acked = [](const sent& s) {
    try {
      return s.token && s.token->try_wait();
    } catch (const mqtt::exception&) {
      return false;
    }
  };
  // Connects again and republishes every unacknowledged publish (--reconnect), or rethrows the failure.
  const auto recover = [&](const mqtt::exception* cause) {
    if (!reconnect) {
      if (cause) throw *cause;
      throw std::runtime_error("connection lost");
    }
    std::erase_if(pending, acked);
    for (;;) {
      pub.connect(true);
      try {
        for (auto& s : pending) s.token = pub.publish(s.topic, s.payload, qos);
        return;
      } catch (const mqtt::exception&) {
        // lost again while republishing: connect once more
      }
    }
  };
  // Waits until the oldest publish is acknowledged; a failure or a lost connection recovers first.
  const auto settle_oldest = [&] {
    for (;;) {
      try {
        if (pending.front().token->wait_for(std::chrono::milliseconds(200))) {
          pending.pop_front();
          return;
        }
        if (pub.lost()) recover(nullptr);
      } catch (const mqtt::exception& e) {
        recover(&e);
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
    pending.push_back({nullptr, topic, payload});
    for (;;) {
      try {
        pending.back().token = pub.publish(topic, payload, qos);
        break;
      } catch (const mqtt::exception& e) {
        // Refused: the connection is gone (recover republishes this one too) or Paho's in-flight window is
        // full (wait for the oldest acknowledgement, then try again).
        if (pub.lost() || pending.size() == 1) {
          recover(&e);
          break;
        }
        settle_oldest();
        if (pending.back().token) break;  // a recovery in settle_oldest republished it
      }
    }
    while (!pending.empty() && acked(pending.front())) pending.pop_front();
    while (static_cast<long long>(pending.size()) >= window) settle_oldest();
  }
  try {
    while (!pending.empty()) settle_oldest();
  } catch (const std::exception& e) {
    std::cerr << "e2e_mqtt_load: delivery failed: " << e.what() << "\n";
    return 1;
  }
  report("published", messages, t0, steady::now());
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
  const std::string times_path = a.get("times", "");
  std::vector<std::array<std::int64_t, 3>>
      times;  // id, ts_us, t_us; written after the run, not in the callback
  if (!times_path.empty()) times.reserve(static_cast<std::size_t>(messages));
  cli.set_message_callback([&](const mqtt::const_message_ptr& msg) {
    const auto now = steady::now();
    const auto now_us = wall_us();
    std::lock_guard lock(m);
    if (!times_path.empty()) {
      const std::string& p = msg->get_payload_str();
      const auto id = number_after(p, "\"id\":");
      const auto ts = number_after(p, "\"ts_us\":");
      if (id && ts) times.push_back({*id, *ts, now_us});
    }
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
  if (!times_path.empty()) {
    std::FILE* f = std::fopen(times_path.c_str(), "w");
    if (f == nullptr) {
      std::perror(times_path.c_str());
      return 1;
    }
    for (const auto& [id, ts, t] : times)
      std::fprintf(f, "%lld %lld %lld\n", static_cast<long long>(id), static_cast<long long>(ts),
                   static_cast<long long>(t));
    std::fclose(f);
  }
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
  static const std::set<std::string> known{"uri",       "client-id", "devices", "messages", "first-id",
                                           "rate",      "window",    "qos",     "pad",      "topic",
                                           "reconnect", "timeout",   "times",   "filter"};
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || known.count(k.substr(2)) == 0) {
      std::cerr << "e2e_mqtt_load: unknown option " << k << "\n";
      return usage();
    }
    if (i + 1 >= argc) {
      std::cerr << "e2e_mqtt_load: " << k << " needs a value\n";
      return usage();
    }
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
