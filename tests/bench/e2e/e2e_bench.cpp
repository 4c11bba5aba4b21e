// e2e_bench: end-to-end throughput of the whole gateway (issue #6 benchmark). For each mode (plain, aes) and
// device count (1, 100, 1000) it starts Mosquitto, cloudsim and the built mqtt-coap-gateway (durable queue
// on, tests/support fixtures), publishes M messages from the separate load process e2e_mqtt_load (QoS 1, a
// window of 100 unacknowledged: Paho C scans its in-flight list, 1000 is slower), and reports:
//   - msg/s reaching cloudsim: (M - 1) / (last - first receive time in cloudsim's JSONL);
//   - gateway CPU per message: utime + stime of /proc/<pid>/stat over the run (from the first publish to the
//     last delivery) / M; RSS (VmRSS) at the end and its peak (VmHWM);
//   - every message arrived once (first deliveries) and duplicates.
// Then the Mosquitto-only ceiling (e2e_mqtt_load pub -> broker -> e2e_mqtt_load sub, QoS 1, same M) and the
// added latency p50/p99 at a steady 1,000 msg/s (100 AES devices): cloudsim's receive time minus the send
// timestamp in the payload (ms resolution, both on this machine's wall clock).
//
//   e2e_bench [--messages M] [--devices 1,100,1000] [--modes plain,aes] [--latency-seconds S]
// Prints a Markdown table (docs/benchmarks.md). Exit status 1 if a run lost messages.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace {

using namespace std::chrono_literals;
using gw::test::child_process;

struct proc_sample {
  double cpu_s = 0;  // utime + stime
  long rss_kib = 0;
  long hwm_kib = 0;
};

proc_sample sample(int pid) {
  proc_sample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command name (which may hold spaces) start after the last ')'; utime and stime are the
  // 14th and 15th fields of the line (proc(5)).
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stol(line.substr(6));
  }
  return s;
}

struct result {
  std::string mode;
  int devices = 0;
  long long messages = 0;
  double msg_per_s = 0;
  double cpu_us_per_msg = 0;
  long rss_kib = 0;
  long hwm_kib = 0;
  gw::test::delivery_report report;
};

result run_gateway(const std::string& mode, int devices, long long messages) {
  result r;
  r.mode = mode;
  r.devices = devices;
  r.messages = messages;
  gw::test::mosquitto_fixture broker;
  gw::test::cloudsim_process sim({.devices = devices, .aes = mode == "aes", .plain = mode == "plain"});
  gw::test::gateway_process gw(broker.uri(), mode == "aes" ? sim.aes_port() : sim.plain_port(),
                               {.devices = devices, .mode = mode, .ack_timeout = "2s"});
  gw.start();
  if (!gw.wait_ready(120s)) throw std::runtime_error("gateway not ready:\n" + gw.output());
  const auto before = sample(gw.pid());
  child_process pub;
  gw::test::start_publisher(pub, broker.uri(), devices, 0, messages, {"--window", "100"});
  if (!gw::test::wait_published(pub, 600s)) throw std::runtime_error("publisher failed:\n" + pub.output());
  const auto recs = gw::test::wait_for_first_deliveries(sim, devices, 0, messages, 600s);
  const auto after = sample(gw.pid());
  r.report = gw::test::check_delivery(recs, devices, 0, messages);
  if (recs.size() > 1) {
    const auto [lo, hi] = std::minmax_element(recs.begin(), recs.end(),
                                              [](const auto& a, const auto& b) { return a.t_ms < b.t_ms; });
    const double span_s = static_cast<double>(hi->t_ms - lo->t_ms) / 1000.0;
    r.msg_per_s = span_s > 0 ? static_cast<double>(recs.size() - 1) / span_s : 0;
  }
  r.cpu_us_per_msg = (after.cpu_s - before.cpu_s) * 1e6 / static_cast<double>(messages);
  r.rss_kib = after.rss_kib;
  r.hwm_kib = after.hwm_kib;
  gw.stop();
  return r;
}

double mosquitto_ceiling(long long messages) {
  gw::test::mosquitto_fixture broker;
  child_process sub;
  sub.start({gw::test::mqtt_load_binary().string(), "sub", "--uri", broker.uri(), "--messages",
             std::to_string(messages), "--timeout", "300"});
  if (sub.wait_for_output("e2e_mqtt_load: subscribed", 10s) == std::string::npos) return 0;
  child_process pub;
  gw::test::start_publisher(pub, broker.uri(), 100, 0, messages, {"--window", "100"});
  const auto at = sub.wait_for_output("e2e_mqtt_load: received", 300s);
  gw::test::wait_published(pub, 60s);
  if (at == std::string::npos) return 0;
  const auto out = sub.output();
  const auto open = out.find('(', at);
  return open == std::string::npos ? 0 : std::stod(out.substr(open + 1));
}

struct latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  long long n = 0;
};

latency added_latency(int seconds) {
  const long long messages = 1000LL * seconds;
  gw::test::mosquitto_fixture broker;
  gw::test::cloudsim_process sim({.devices = 100});
  gw::test::gateway_process gw(broker.uri(), sim.aes_port(), {.devices = 100, .ack_timeout = "2s"});
  gw.start();
  if (!gw.wait_ready(120s)) throw std::runtime_error("gateway not ready:\n" + gw.output());
  child_process pub;
  gw::test::start_publisher(pub, broker.uri(), 100, 0, messages, {"--rate", "1000"});
  gw::test::wait_published(pub, std::chrono::seconds(seconds * 3 + 30));
  const auto recs = gw::test::wait_for_first_deliveries(sim, 100, 0, messages, 120s);
  std::vector<double> ms;
  for (const auto& r : recs) {
    auto j = nlohmann::json::parse(r.payload, nullptr, false);
    if (r.dup || j.is_discarded() || !j.contains("ts_us")) continue;
    ms.push_back((static_cast<double>(r.t_us) - j["ts_us"].get<double>()) / 1000.0);
  }
  gw.stop();
  latency l;
  if (ms.empty()) return l;
  std::sort(ms.begin(), ms.end());
  l.n = static_cast<long long>(ms.size());
  l.p50_ms = ms[ms.size() / 2];
  l.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  l.max_ms = ms.back();
  return l;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  long long messages = 50000;
  std::vector<std::string> devices{"1", "100", "1000"};
  std::vector<std::string> modes{"plain", "aes"};
  int latency_seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--messages")
      messages = std::stoll(v);
    else if (k == "--devices")
      devices = split(v);
    else if (k == "--modes")
      modes = split(v);
    else if (k == "--latency-seconds")
      latency_seconds = std::stoi(v);
    else {
      std::cerr << "usage: e2e_bench [--messages M] [--devices 1,100,1000] [--modes plain,aes] "
                   "[--latency-seconds S]\n";
      return 2;
    }
  }
  bool lost = false;
  try {
    std::printf(
        "| mode | devices | messages | msg/s at cloudsim | gateway CPU us/msg | RSS end / peak MiB | "
        "delivery |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    for (const auto& mode : modes) {
      for (const auto& d : devices) {
        const auto r = run_gateway(mode, std::stoi(d), messages);
        std::ostringstream rep;
        rep << r.report;
        lost = lost || !r.report.all_once_in_order();
        std::printf("| %s | %d | %lld | %.0f | %.1f | %.1f / %.1f | %s |\n", r.mode.c_str(), r.devices,
                    r.messages, r.msg_per_s, r.cpu_us_per_msg, r.rss_kib / 1024.0, r.hwm_kib / 1024.0,
                    rep.str().c_str());
        std::fflush(stdout);
      }
    }
    std::printf("\nMosquitto only (pub -> broker -> sub, QoS 1, %lld messages): %.0f msg/s\n", messages,
                mosquitto_ceiling(messages));
    std::fflush(stdout);
    if (latency_seconds > 0) {
      const auto l = added_latency(latency_seconds);
      std::printf(
          "Added latency at 1,000 msg/s, 100 AES devices, %lld messages: p50 %.1f ms, p99 %.1f ms, max %.1f "
          "ms\n",
          l.n, l.p50_ms, l.p99_ms, l.max_ms);
    }
  } catch (const std::exception& e) {
    std::cerr << "e2e_bench: " << e.what() << "\n";
    return 1;
  }
  return lost ? 1 : 0;
}
