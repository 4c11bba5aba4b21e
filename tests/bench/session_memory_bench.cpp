// Session memory and bring-up time (issue #5): brings N device_sessions to ready against cloudsim and reports
// the heap held per idle ready device (glibc mallinfo2: uordblks after - before, divided by N) and the time
// from start() to the last device ready. The auth gate runs at --rate per second (burst = rate / 10).
//
//   session_memory_bench --mode aes --devices 10000 --rate 2000
//   session_memory_bench --mode psk --devices 2000 --rate 500
//
// --max-bytes B makes it exit 1 when the per-device figure exceeds B (used by the `bench` ctest entries).
// Heap figures need glibc's allocator: under ASan mallinfo2 does not see the allocations (reported as such).

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/integration/session_rig.hpp"

namespace {

using namespace std::chrono_literals;
using gw::session::security_mode;

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

// CPU seconds (user + system) this process used so far: the gateway side only, cloudsim is a child process.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds (user + system) of another process, from /proc/<pid>/stat fields 14 and 15 (proc(5)).
double cpu_seconds_of(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* p = std::strrchr(buf, ')');  // the command name may contain spaces
  if (n == 0 || p == nullptr) return 0;
  unsigned long long utime = 0, stime = 0;
  // After ")": state (field 3) ... utime is field 14, stime field 15.
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int usage() {
  std::fprintf(stderr,
               "usage: session_memory_bench [--mode aes|psk] [--devices N] [--rate AUTHS_PER_S] "
               "[--max-bytes B] [--timeout S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "aes";
  int devices = 1000;
  double rate = 2000;
  double max_bytes = 0;
  int timeout_s = 120;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    if (a == "--mode") {
      mode = v;
    } else if (a == "--devices") {
      devices = std::atoi(v);
    } else if (a == "--rate") {
      rate = std::atof(v);
    } else if (a == "--max-bytes") {
      max_bytes = std::atof(v);
    } else if (a == "--timeout") {
      timeout_s = std::atoi(v);
    } else {
      return usage();
    }
  }
  if ((mode != "aes" && mode != "psk") || devices <= 0 || rate <= 0) return usage();
  const bool psk = mode == "psk";
  const security_mode sm = psk ? security_mode::dtls_psk : security_mode::aes;

  gw::test::cloudsim_process sim({.devices = devices, .aes = !psk, .psk = psk, .extra_args = {}});
  const std::uint16_t port = psk ? sim.psk_port() : sim.aes_port();
  auto opts = gw::test::fast_options(sm);
  opts->coap.ack_timeout = 2s;  // production default: bring-up under load must not trigger retransmissions
  opts->coap.ack_random_factor = 1.5;
  opts->fsm.retry_backoff = {1000ms, 30000ms, gw::session::jitter_mode::equal};

  // Identities (names, secrets) are configuration the gateway holds anyway; build them before measuring.
  std::vector<gw::session::device_identity> ids;
  ids.reserve(static_cast<std::size_t>(devices));
  for (int i = 0; i < devices; ++i) ids.push_back(gw::test::sim_identity(i, sm, port));

  const auto burst = static_cast<std::uint32_t>(std::max(1.0, rate / 10));
  gw::test::session_rig rig(rate, burst);
  rig.devices().reserve(static_cast<std::size_t>(devices));
  rig.record_states = false;
  malloc_trim(0);
  const std::size_t before = heap_in_use();
  for (auto& id : ids) rig.add(std::move(id), opts);
  const std::size_t constructed = heap_in_use();
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  const double sim_cpu0 = cpu_seconds_of(sim.process().pid());
  for (auto& d : rig.devices()) d->session->start();
  const bool ok = rig.run_until([&] { return rig.all_ready(); }, std::chrono::seconds(timeout_s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const double sim_cpu = cpu_seconds_of(sim.process().pid()) - sim_cpu0;
  // Let in-flight bookkeeping settle (empty ACK exchanges, DTLS buffers): run what is ready, no waiting.
  rig.io().poll();
  const std::size_t after = heap_in_use();
  if (!ok) {
    int ready = 0;
    for (auto& d : rig.devices()) ready += d->ready() ? 1 : 0;
    std::fprintf(stderr, "only %d of %d devices ready after %d s\n", ready, devices, timeout_s);
    return 1;
  }
  const double per_device = static_cast<double>(after - before) / devices;
  const double per_device_constructed = static_cast<double>(constructed - before) / devices;
  const auto st = sim.stats();
  std::printf(
      "mode=%s devices=%d rate=%.0f/s burst=%u ready_in=%.2f s (%.0f devices/s; cpu: gateway %.2f s, "
      "cloudsim %.2f s) "
      "heap_per_ready_device=%.0f B "
      "(%.2f KiB; constructed, not started: %.0f B; sizeof(device_session)=%zu B) auth_ok=%d "
      "retransmissions=%llu\n",
      mode.c_str(), devices, rate, burst, secs, devices / secs, cpu, sim_cpu, per_device, per_device / 1024,
      per_device_constructed, sizeof(gw::session::device_session), st["auth_ok"].get<int>(), [&] {
        unsigned long long n = 0;
        for (auto& d : rig.devices()) n += d->session->stats().retransmissions;
        return n;
      }());
  if (before == 0 && after == 0) {
    std::printf("mallinfo2 reports nothing (sanitizer allocator?): heap figures not available\n");
    return 0;
  }
  if (max_bytes > 0 && per_device > max_bytes) {
    std::fprintf(stderr, "heap per ready device %.0f B exceeds --max-bytes %.0f\n", per_device, max_bytes);
    return 1;
  }
  return 0;
}
