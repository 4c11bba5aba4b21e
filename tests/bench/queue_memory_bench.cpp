// Queue index memory (issue #6, "memory bounded under overload"): the durable queue keeps an index entry of
// every queued message in memory (payloads only for the first few per device), so during a cloud outage the
// gateway's heap grows with the backlog. This enqueues M messages over D devices, one topic pair per device
// as a route gives, waits until they are durable, and reports the heap held per queued message (glibc
// mallinfo2: uordblks after - before, divided by M).
//
//   queue_memory_bench [--messages 1000000] [--devices 100] [--max-bytes B]
//
// --max-bytes B makes it exit 1 when the per-message figure exceeds B (used by the `bench` ctest entry).
// Heap figures need glibc's allocator: under ASan mallinfo2 does not see the allocations.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "gateway/bridge/durable_queue.hpp"

int main(int argc, char** argv) {
  long long messages = 1'000'000;
  int devices = 100;
  double max_bytes = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--messages") == 0) {
      messages = std::atoll(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--devices") == 0) {
      devices = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--max-bytes") == 0) {
      max_bytes = std::atof(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: queue_memory_bench [--messages M] [--devices D] [--max-bytes B]\n");
      return 2;
    }
  }
  if (messages <= 0 || devices <= 0) {
    std::fprintf(stderr, "queue_memory_bench: --messages and --devices must be positive\n");
    return 2;
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("queue_memory_bench_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  gw::bridge::queue_options o;
  o.dir = dir;
  std::error_code ec;
  const std::size_t before = mallinfo2().uordblks;
  auto q = gw::bridge::durable_queue::open(o, ec);
  if (ec) {
    std::fprintf(stderr, "queue_memory_bench: open: %s\n", ec.message().c_str());
    return 1;
  }
  char name[32];
  for (long long i = 0; i < messages; ++i) {
    gw::bridge::queued_message m;
    std::snprintf(name, sizeof name, "sensor-%04lld", i % devices);
    m.device_id = name;
    m.mqtt_topic = "sensors/" + m.device_id + "/update";
    m.cloud_topic = "/a1B2c3D4e5F/" + m.device_id + "/user/update";
    const std::string payload = "{\"id\":" + std::to_string(i) + ",\"ts_us\":1795729712000000}";
    m.payload.assign(payload.begin(), payload.end());
    q->enqueue(std::move(m), nullptr, ec);
    if (ec) {
      std::fprintf(stderr, "queue_memory_bench: enqueue %lld: %s\n", i, ec.message().c_str());
      return 1;
    }
  }
  q->flush();
  const std::size_t after = mallinfo2().uordblks;
  const double per_message = static_cast<double>(after - before) / static_cast<double>(messages);
  std::printf("queue_memory_bench: %lld messages over %d devices queued: heap %.1f MiB, %.0f B per message\n",
              messages, devices, static_cast<double>(after - before) / 1048576.0, per_message);
  q.reset();
  std::filesystem::remove_all(dir);
  if (max_bytes > 0 && per_message > max_bytes) {
    std::fprintf(stderr, "queue_memory_bench: %.0f B per message is over --max-bytes %.0f\n", per_message,
                 max_bytes);
    return 1;
  }
  return 0;
}
