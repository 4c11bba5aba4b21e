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
//     With --times it also writes (before that line) one line "<id> <ts_us> <t_us>" per message whose payload
//     has the pub format: the payload's id and send time, and the wall clock us when the message arrived. A
//     subscriber next to the gateway thus tells the broker's hop (t_us - ts_us) from the gateway's
//     (cloudsim's t_us - t_us).
//   Both modes take --client paho|lean: paho (the default) is the Paho C++ client the product uses; lean is
//   tests/bench/e2e/lean_mqtt.hpp, which batches packets into few system calls so that the load costs the
//   shared cores less (QoS 0/1, no --reconnect). e2e_bench uses lean; the correctness tests use paho.
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

#include "tests/bench/e2e/lean_mqtt.hpp"

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
std::optional<std::int64_t> number_after(std::string_view s, std::string_view key) {
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

// The pub messages (the file's header), shared by both clients: the options that shape them, message i's
// topic and payload, and when it is due at --rate.
struct pub_stream {
  explicit pub_stream(const args& a)
      : devices(a.num("devices", 1)),
        messages(a.num("messages", 1000)),
        first(a.num("first-id", 0)),
        rate(a.num("rate", 0)),
        pad(static_cast<std::size_t>(a.num("pad", 0)), 'x'),
        fixed_topic(a.get("topic", "")) {}

  long long end() const { return first + messages; }
  steady::time_point due(steady::time_point t0, long long i) const {
    return t0 + std::chrono::nanoseconds((i - first) * 1'000'000'000LL / rate);
  }
  // Message i into reused strings.
  void make(long long i, std::string& topic, std::string& payload) const {
    if (fixed_topic.empty()) {
      char t[64];
      std::snprintf(t, sizeof t, "sensors/sensor-%04lld/update", i % devices);
      topic = t;
    } else {
      topic = fixed_topic;
    }
    payload = "{\"id\":" + std::to_string(i) + ",\"ts_us\":" + std::to_string(wall_us());
    if (!pad.empty()) payload += ",\"pad\":\"" + pad + "\"";
    payload += "}";
  }

  long long devices, messages, first, rate;  // rate > 0: paced to rate msg/s
  std::string pad, fixed_topic;
};

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
  const pub_stream st(a);
  const long long window = std::max<long long>(a.num("window", 100), 1);
  const int qos = static_cast<int>(a.num("qos", 1));
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
  std::string topic, payload;
  for (long long i = st.first; i < st.end(); ++i) {
    if (st.rate > 0) std::this_thread::sleep_until(st.due(t0, i));
    st.make(i, topic, payload);
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
  report("published", st.messages, t0, steady::now());
  return 0;
}

// --client lean: the same messages through lean_mqtt (QoS 0 or 1, no --reconnect). Up to 64 PUBLISHes go out
// in one write while fewer than W are unacknowledged; PUBACKs are read in chunks.
int run_pub_lean(const args& a) {
  const pub_stream st(a);
  const long long window = std::clamp<long long>(a.num("window", 100), 1, 65535);
  const int qos = static_cast<int>(a.num("qos", 1));
  if (a.num("reconnect", 0) != 0 || qos > 1) {
    std::cerr << "e2e_mqtt_load: --client lean does QoS 0 and 1 only, without --reconnect\n";
    return 2;
  }
  lean_mqtt::connection c(a.get("uri", "tcp://127.0.0.1:1883"), a.get("client-id", "e2e-load-pub"));
  std::printf("e2e_mqtt_load: connected\n");
  std::fflush(stdout);

  std::vector<bool> in_flight(65536, false);  // by packet id
  long long outstanding = 0;
  std::uint16_t next_id = 0;
  const auto on_puback = [&](std::uint16_t id) {
    if (!in_flight[id])
      throw lean_mqtt::error("PUBACK for packet id " + std::to_string(id) + " not in flight");
    in_flight[id] = false;
    --outstanding;
  };
  const auto no_publish = [](const lean_mqtt::publish_view&, std::uint16_t) {};
  const auto t0 = steady::now();
  const long long end = st.end();
  std::string topic, payload, out;
  for (long long i = st.first; i < end || outstanding > 0;) {
    for (int added = 0; i < end && outstanding < window && added < 64; ++added, ++i) {
      if (st.rate > 0) {
        const auto due = st.due(t0, i);
        if (added > 0 && steady::now() < due) break;
        std::this_thread::sleep_until(due);
      }
      st.make(i, topic, payload);
      std::uint16_t id = 0;
      if (qos > 0) {
        do id = static_cast<std::uint16_t>(next_id++ % 65535 + 1);
        while (in_flight[id]);
        in_flight[id] = true;
        ++outstanding;
      }
      lean_mqtt::connection::append_publish(out, topic, payload, qos, id);
    }
    if (!out.empty()) c.flush(out);
    // Block for acknowledgements only when nothing more may be sent; otherwise take what has arrived.
    const bool blocked = outstanding >= window || (i >= end && outstanding > 0);
    if (!c.read_some(blocked ? std::chrono::milliseconds(30'000) : std::chrono::milliseconds(0), on_puback,
                     no_publish)) {
      std::cerr << "e2e_mqtt_load: no PUBACK for 30 s (" << outstanding << " unacknowledged)\n";
      return 1;
    }
  }
  report("published", st.messages, t0, steady::now());
  return 0;
}

// What the subscriber received: the count, the first and last arrival, and with --times each message's id,
// send time and arrival (kept in memory and written after the run, not while messages arrive).
class arrivals {
 public:
  arrivals(long long expected, std::string times_path)
      : expected_(expected), times_path_(std::move(times_path)) {
    if (!times_path_.empty()) times_.reserve(static_cast<std::size_t>(expected));
  }
  // Records one message; true once the expected number has arrived.
  bool add(std::string_view payload) {
    const auto now = steady::now();
    if (!times_path_.empty()) {
      const auto id = number_after(payload, "\"id\":");
      const auto ts = number_after(payload, "\"ts_us\":");
      if (id && ts) times_.push_back({*id, *ts, wall_us()});
    }
    if (count_ == 0) first_ = now;
    last_ = now;
    return ++count_ >= expected_;
  }
  bool complete() const { return count_ >= expected_; }
  // Reports the run (or the shortfall) and writes --times; the process's exit status.
  int finish() const {
    if (!complete()) {
      std::fprintf(stderr, "e2e_mqtt_load: only %lld of %lld messages within the timeout\n", count_,
                   expected_);
      return 1;
    }
    // The file first: "received" tells the caller (e2e_bench, tests) that --times is complete.
    if (!times_path_.empty()) {
      std::FILE* f = std::fopen(times_path_.c_str(), "w");
      if (f == nullptr) {
        std::perror(times_path_.c_str());
        return 1;
      }
      for (const auto& [id, ts, t] : times_)
        std::fprintf(f, "%lld %lld %lld\n", static_cast<long long>(id), static_cast<long long>(ts),
                     static_cast<long long>(t));
      if (std::fclose(f) != 0) {
        std::perror(times_path_.c_str());
        return 1;
      }
    }
    report("received", count_, first_, last_);
    return 0;
  }

 private:
  long long expected_;
  std::string times_path_;
  std::vector<std::array<std::int64_t, 3>> times_;  // id, ts_us, t_us
  long long count_ = 0;
  steady::time_point first_{}, last_{};
};

void say_subscribed() {
  std::printf("e2e_mqtt_load: subscribed\n");
  std::fflush(stdout);
}

// --client lean: reads PUBLISHes in chunks and acknowledges each chunk's QoS 1 messages with one write.
int run_sub_lean(const args& a, arrivals& got) {
  const int qos = static_cast<int>(a.num("qos", 1));
  if (qos > 1) {
    std::cerr << "e2e_mqtt_load: --client lean does QoS 0 and 1 only\n";
    return 2;
  }
  const auto deadline = steady::now() + std::chrono::seconds(a.num("timeout", 60));
  lean_mqtt::connection c(a.get("uri", "tcp://127.0.0.1:1883"), a.get("client-id", "e2e-load-sub"));
  c.subscribe(a.get("filter", "sensors/#"), qos);
  say_subscribed();
  std::string acks;
  const auto on_publish = [&](const lean_mqtt::publish_view& m, std::uint16_t id) {
    if (m.qos == 1) lean_mqtt::connection::append_puback(acks, id);
    got.add(m.payload);
  };
  while (!got.complete()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) break;
    c.read_some(
        std::min<std::chrono::milliseconds>(left, std::chrono::seconds(1)), [](std::uint16_t) {}, on_publish);
    if (!acks.empty()) c.flush(acks);
  }
  return got.finish();
}

int run_sub(const args& a) {
  arrivals got(a.num("messages", 1000), a.get("times", ""));
  if (a.get("client", "paho") == "lean") return run_sub_lean(a, got);
  const int qos = static_cast<int>(a.num("qos", 1));
  mqtt::async_client cli(a.get("uri", "tcp://127.0.0.1:1883"), a.get("client-id", "e2e-load-sub"),
                         mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
  std::mutex m;
  std::condition_variable cv;
  cli.set_message_callback([&](const mqtt::const_message_ptr& msg) {
    std::lock_guard lock(m);
    if (got.add(msg->get_payload_str())) cv.notify_all();
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
  say_subscribed();
  std::unique_lock lock(m);
  cv.wait_for(lock, std::chrono::seconds(a.num("timeout", 60)), [&] { return got.complete(); });
  const int status = got.finish();
  lock.unlock();
  try {
    cli.disconnect()->wait();
  } catch (const mqtt::exception&) {
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  args a;
  static const std::set<std::string> known{"uri",       "client-id", "devices", "messages", "first-id",
                                           "rate",      "window",    "qos",     "pad",      "topic",
                                           "reconnect", "timeout",   "times",   "filter",   "client"};
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
  const std::string client = a.get("client", "paho");
  if (client != "paho" && client != "lean") {
    std::cerr << "e2e_mqtt_load: --client is paho or lean, not " << client << "\n";
    return usage();
  }
  try {
    if (mode == "pub") return client == "lean" ? run_pub_lean(a) : run_pub(a);
    if (mode == "sub") return run_sub(a);
  } catch (const std::exception& e) {
    std::cerr << "e2e_mqtt_load: " << e.what() << "\n";
    return 1;
  }
  return usage();
}
