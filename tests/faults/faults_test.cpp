// Fault scenarios with exact ledgers (issue #9 item 3): the built mqtt-coap-gateway between a real Mosquitto
// and cloudsim (tests/support fixtures), fed by e2e_mqtt_load (payload {"id":i,...}, message i to device
// i % N). Each scenario publishes a known set, injects its fault, lets the system recover and prints its
// ledger (tests/faults/ledger.hpp): published = delivered + dead-lettered + counted drops, duplicates apart.
// Any unexplained difference fails the scenario. Suite `Faults` is the CI size (label faults, each <= ~20 s);
// `FaultsLong` runs the same scenarios with more devices and messages (label faults-long, outside CI).
//   ctest --test-dir build/<dir> -L faults -LE long      # CI sizes
//   ctest --test-dir build/<dir> -L faults-long          # long sizes
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/faults/ledger.hpp"
#include "tests/support/cloudsim_fixture.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/mosquitto_fixture.hpp"
#include "tests/support/process.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

std::string fixed(double v, int decimals = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Scenario size: CI or long.
struct sizes {
  int devices;
  long long messages;
  long long rate;  // msg/s the publisher paces to (0 = as fast as the broker acknowledges)
};

// Mosquitto, cloudsim (AES) and the gateway with its health endpoint on a free port; the ledger's counters
// are collected per gateway run (end_run) because a restarted gateway starts from zero.
struct rig {
  rig(const std::string& name, sizes s, gateway_options g = {}, cloudsim_options c = {})
      : size(s),
        sim(with_devices(std::move(c), s.devices)),
        gw(broker.uri(), sim.aes_port(), with_devices(std::move(g), s.devices)) {
    book.scenario = name;
  }

  static gateway_options with_devices(gateway_options o, int n) {
    o.devices = n;
    o.health_http = "127.0.0.1:0";
    return o;
  }
  static cloudsim_options with_devices(cloudsim_options o, int n) {
    o.devices = n;
    return o;
  }

  // Starts the gateway and waits until every device is ready; false (with the output in the failure) if not.
  ::testing::AssertionResult start_gateway() {
    const auto t0 = steady::now();
    gw.start();
    const bool ready = gw.wait_ready();
    book.notes["ready"] += (book.notes["ready"].empty() ? "" : ", ") + fixed(seconds_since(t0), 2) + " s";
    if (!ready) return ::testing::AssertionFailure() << "gateway not ready:\n" << gw.output();
    port = gw.http_port();
    if (port == 0) return ::testing::AssertionFailure() << "no health endpoint:\n" << gw.output();
    return ::testing::AssertionSuccess();
  }

  // Adds this run's drop counters to the ledger. Call right before the run ends (stop or kill).
  void end_run() {
    const auto m = scrape_metrics(port);
    EXPECT_FALSE(m.empty()) << "could not scrape /metrics of the gateway run";
    book.drops += drops_from_metrics(m);
  }

  void start_publisher(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = extra;
    if (size.rate > 0) args.insert(args.end(), {"--rate", std::to_string(size.rate)});
    gw::test::start_publisher(pub, broker.uri(), size.devices, 0, size.messages, args);
  }

  // Waits for the publisher; the ledger's `published` is what the broker acknowledged to it.
  ::testing::AssertionResult wait_published(std::chrono::milliseconds timeout = 60s) {
    if (!gw::test::wait_published(pub, timeout))
      return ::testing::AssertionFailure() << "publisher did not finish:\n" << pub.output();
    book.published = size.messages;
    return ::testing::AssertionSuccess();
  }

  // Waits until every published id reached cloudsim, or until the system is quiet: the gateway's queue is
  // empty and no record arrived for `quiet` (a message lost before the queue never arrives; waiting the whole
  // timeout for it would only slow the failure down). Then fills the ledger's delivery part.
  void wait_delivered(std::chrono::milliseconds timeout = 60s, std::chrono::milliseconds quiet = 3s) {
    const auto deadline = steady::now() + timeout;
    auto last_change = steady::now();
    std::size_t last_size = 0;
    std::size_t want = static_cast<std::size_t>(size.messages);
    std::vector<cloudsim_record> recs;
    for (;;) {
      recs = sim.wait_for_records(want, 500ms);
      book.delivery = check_delivery(recs, size.devices, 0, size.messages);
      if (book.delivery.missing == 0 || steady::now() >= deadline) break;
      if (recs.size() != last_size) {
        last_size = recs.size();
        last_change = steady::now();
      } else if (steady::now() - last_change >= quiet) {
        const auto m = scrape_metrics(port);
        const auto depth = m.find("gw_queue_messages");
        if (depth != m.end() && depth->second == 0) break;
      }
      want = recs.size() + book.delivery.missing;
    }
    if (book.delivery.missing > 0) {
      std::vector<bool> seen(static_cast<std::size_t>(size.messages));
      for (const auto& rec : recs) {
        auto j = nlohmann::json::parse(rec.payload, nullptr, false);
        if (j.is_object() && j.contains("id") && j["id"].is_number_integer()) {
          const auto id = j["id"].get<long long>();
          if (id >= 0 && id < size.messages) seen[static_cast<std::size_t>(id)] = true;
        }
      }
      std::string ids;
      int listed = 0;
      for (long long id = 0; id < size.messages && listed < 10; ++id) {
        if (!seen[static_cast<std::size_t>(id)]) {
          ids += (listed++ ? ", " : "") + std::to_string(id);
        }
      }
      book.notes["missing ids"] = ids + (book.delivery.missing > 10 ? ", ..." : "");
    }
  }

  // Stops the gateway (adds its counters first), counts dead letters, stops cloudsim and reads its stats
  // file (per-device counters); prints the ledger and checks it.
  void finish() {
    end_run();
    const auto t0 = steady::now();
    EXPECT_EQ(gw.stop(), 0) << gw.output();
    book.notes["stop"] = fixed(seconds_since(t0), 2) + " s (SIGTERM to exit)";
    const auto dead = count_dead_letters(gw);
    EXPECT_TRUE(dead.has_value()) << "dead-letter list failed";
    book.dead_lettered = dead.value_or(0);
    sim.stop();
    std::ifstream in(sim.stats_path());
    sim_stats = nlohmann::json::parse(in, nullptr, false);
    if (sim_stats.is_object() && sim_stats.contains("duplicates_by")) {
      book.dup_by_seq = sim_stats["duplicates_by"].value("seq", 0u);
      book.dup_by_id = sim_stats["duplicates_by"].value("id", 0u);
    }
    std::cout << book << std::flush;
    EXPECT_EQ(book.published, size.messages) << "the publisher did not finish";
    if (book.crash_window > 0) {
      EXPECT_GE(book.unexplained(), 0) << "more delivered than published (see the ledger above)";
      EXPECT_LE(book.unexplained(), book.crash_window)
          << "loss beyond the crash window (see the ledger above)";
    } else {
      EXPECT_EQ(book.unexplained(), 0) << "unexplained loss (see the ledger above)";
    }
    EXPECT_EQ(book.delivery.out_of_order, 0u) << book.delivery;
    EXPECT_EQ(book.delivery.unexpected, 0u) << book.delivery;
  }

  sizes size;
  mosquitto_fixture broker;
  cloudsim_process sim;
  gateway_process gw;
  child_process pub;
  std::uint16_t port = 0;
  ledger book;
  nlohmann::json sim_stats;
};

// ---- scenarios ----

// The cloud goes away under load and comes back having forgotten every token and session (cloudsim
// `restart` + `silent S`): the backlog stays queued and drains, every device re-authenticates.
void cloud_outage(sizes z, int silent_s) {
  rig r("cloud outage (" + std::to_string(silent_s) + " s silent, tokens forgotten)", z,
        {.ack_timeout = "500ms"});
  ASSERT_TRUE(r.start_gateway());
  r.start_publisher();
  ASSERT_GE(r.sim.wait_for_records(static_cast<std::size_t>(z.messages / 5), 20s).size(),
            static_cast<std::size_t>(z.messages / 5));
  ASSERT_EQ(r.sim.command("restart").rfind("ok", 0), 0u);
  ASSERT_EQ(r.sim.command("silent " + std::to_string(silent_s)).rfind("ok", 0), 0u);
  const auto back = steady::now() + std::chrono::seconds(silent_s);
  ASSERT_TRUE(r.wait_published());
  r.wait_delivered();
  const double drain = std::chrono::duration<double>(steady::now() - back).count();
  r.book.notes["recovery"] = fixed(drain) + " s from the cloud's return to the last first delivery";
  ::testing::Test::RecordProperty("recovery_s", fixed(drain, 2));
  r.finish();
}

// Mosquitto restarts mid-stream (SIGTERM, persistence kept): the gateway reconnects and resubscribes; the
// publisher connects again and republishes what the broker had not acknowledged (at least once: a repeat
// the broker had taken arrives as a duplicate).
void broker_restart(sizes z) {
  rig r("broker restart", z);
  ASSERT_TRUE(r.start_gateway());
  r.start_publisher({"--reconnect", "1", "--client-id", "faults-reconnecting-pub"});
  ASSERT_GE(r.sim.wait_for_records(static_cast<std::size_t>(z.messages / 3), 20s).size(),
            static_cast<std::size_t>(z.messages / 3));
  const auto t0 = steady::now();
  r.broker.restart();
  EXPECT_TRUE(r.broker.wait_for_log("e2e-gateway 1 sensors/", 20s)) << r.broker.output();
  r.book.notes["resubscribed"] = fixed(seconds_since(t0), 2) + " s after the restart began";
  ASSERT_TRUE(r.wait_published());
  r.wait_delivered();
  EXPECT_TRUE(r.gw.wait_for_log("mqtt: connection lost", 5s)) << r.gw.output();
  r.finish();
}

// SIGKILL of the gateway under load, then a restart on the same queue: the durable backlog resumes.
// Messages in flight at the kill may arrive twice (duplicates). Paho acknowledges a delivery when the
// gateway's callback returns; with the intake journal (the default) that is after the message is in the
// journal file, so nothing may be lost (crash window 0: any loss fails the scenario). Without the journal up
// to mqtt.max_unstored - 1 (63) deliveries would be exposed (docs/architecture.md; ledger::crash_window).
void gateway_sigkill(sizes z) {
  rig r("gateway SIGKILL under load", z);
  r.book.crash_window = 0;  // queue.intake_journal on
  ASSERT_TRUE(r.start_gateway());
  r.start_publisher();
  ASSERT_GE(r.sim.wait_for_records(static_cast<std::size_t>(z.messages / 3), 20s).size(),
            static_cast<std::size_t>(z.messages / 3));
  r.end_run();  // the killed run's counters, read just before the kill
  r.gw.kill_hard();
  const auto t0 = steady::now();
  ASSERT_TRUE(r.start_gateway());
  r.book.notes["restart"] = fixed(seconds_since(t0), 2) + " s from SIGKILL to every device ready again";
  ASSERT_TRUE(r.wait_published());
  r.wait_delivered();
  r.finish();
}

// 20 % of the requests and 20 % of the answers are lost (cloudsim drop-requests / drop-responses) from the
// first /auth on: CoAP retransmission recovers; lost answers turn into duplicates, never into loss.
void datagram_loss(sizes z) {
  rig r("20 % datagram loss, both directions", z,
        {.ack_timeout = "200ms", .max_retransmit = 4, .backoff_initial = "100ms", .backoff_max = "1s"},
        {.extra_args = {"--drop-requests", "0.2", "--drop-responses", "0.2"}});
  ASSERT_TRUE(r.start_gateway());
  const auto t0 = steady::now();
  r.start_publisher();
  ASSERT_TRUE(r.wait_published());
  r.wait_delivered();
  r.book.notes["drain"] = fixed(seconds_since(t0)) + " s from the first publish to the last first delivery";
  r.finish();
  const auto& faults = r.sim_stats["faults"];
  std::cout << "  cloudsim faults  " << faults.dump() << "\n";
  EXPECT_FALSE(faults.empty()) << r.sim_stats.dump();
}

// Every token expires at once under load (cloudsim expire-tokens): each device gets 4.01 on its next
// publish, re-authenticates once and resends; nothing is lost, and no device authenticates more than twice.
void token_expiry_storm(sizes z) {
  rig r("token expiry storm (every token at once)", z);
  ASSERT_TRUE(r.start_gateway());
  r.start_publisher();
  ASSERT_GE(r.sim.wait_for_records(static_cast<std::size_t>(z.messages / 4), 20s).size(),
            static_cast<std::size_t>(z.messages / 4));
  EXPECT_EQ(r.sim.command("expire-tokens"), "ok expired " + std::to_string(z.devices));
  ASSERT_TRUE(r.wait_published());
  r.wait_delivered();
  r.finish();
  const auto& per = r.sim_stats["per_device"];
  ASSERT_EQ(per.size(), static_cast<std::size_t>(z.devices)) << r.sim_stats.dump();
  std::size_t twice = 0;
  for (const auto& [id, d] : per.items()) {
    EXPECT_EQ(d.value("auth_ok", 0), 2) << id << " should authenticate once, then once after the expiry";
    twice += d.value("auth_ok", 0) == 2;
  }
  std::cout << "  re-auth          " << twice << " of " << z.devices
            << " devices re-authenticated exactly once\n";
  EXPECT_EQ(r.sim_stats.value("auth_failed_total", 0), 0) << r.sim_stats.dump();
}

// A small tmpfs mounted on the queue directory (root only), unmounted by the destructor.
class tmpfs_mount {
 public:
  tmpfs_mount(const std::filesystem::path& at, const std::string& size) : at_(at) {
    std::filesystem::create_directories(at_);
    const std::string opts = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", at_.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~tmpfs_mount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
  std::string error_;
};

// Fills the file system of `file` up to ENOSPC, then gives back `slack` bytes; returns the file's size.
std::uintmax_t fill_leaving(const std::filesystem::path& file, std::uintmax_t slack) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> chunk(std::size_t{64} * 1024, 'f');
  std::uintmax_t size = 0;
  for (std::size_t len = chunk.size(); len > 0;) {
    const ssize_t n = ::write(fd, chunk.data(), len);
    if (n > 0) {
      size += static_cast<std::uintmax_t>(n);
    } else {
      len /= 2;  // ENOSPC: finish with smaller writes down to the last byte
    }
  }
  size = size > slack ? size - slack : 0;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) size = 0;
  ::close(fd);
  return size;
}

std::string sqlite_integrity(const std::filesystem::path& db) {
  sqlite3* h = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      result.clear();
      while (sqlite3_step(st) == SQLITE_ROW) {
        if (!result.empty()) result += "; ";
        result += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      }
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(h);
  return result;
}

// The queue directory runs out of space under load (a 4 MiB tmpfs filled by a file of ours): the gateway
// reports it (log, /metrics, /readyz), holds what it accepted without failing it, takes no more from the
// broker (which keeps it), and delivers everything once the filler file is deleted. The database passes
// PRAGMA integrity_check afterwards.
void disk_full(sizes z) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs on the queue directory needs root";
  rig r("disk full on queue.dir (4 MiB tmpfs)", z);
  tmpfs_mount fs(r.gw.queue_dir(), "4m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs on the queue directory: " << fs.error();
  ASSERT_TRUE(r.start_gateway());
  const auto filler = r.gw.queue_dir() / "filler";
  ASSERT_GT(fill_leaving(filler, std::uintmax_t{256} * 1024), 0u);
  r.start_publisher();

  // The error is reported: one log line, the metric, and readiness.
  ASSERT_TRUE(r.gw.wait_for_log("queue: writing to", 20s)) << r.gw.output();
  const auto full_at = steady::now();
  auto m = scrape_metrics(r.port);
  EXPECT_EQ(m["gw_queue_storage_failing"], 1) << "metrics while full";
  EXPECT_GT(m["gw_queue_write_errors_total"], 0);
  std::string body;
  EXPECT_EQ(http_get(r.port, "/readyz", body), 503);
  EXPECT_NE(body.find("queue storage failing: queue database full"), std::string::npos) << body;
  // The broker keeps what the gateway cannot store: the publisher finishes, the gateway took only what it
  // holds plus what it had stored.
  ASSERT_TRUE(r.wait_published());
  m = scrape_metrics(r.port);
  EXPECT_EQ(m["gw_queue_storage_failing"], 1) << "still full after the publisher finished";
  const auto received = static_cast<long long>(m["gw_mqtt_messages_received_total"]);
  const auto held = static_cast<long long>(m["gw_queue_held_messages"]);
  EXPECT_LT(received, z.messages) << "the gateway took every message although it could not store them";
  // What it holds is in the intake journal (durable, acknowledged), while the journal could still write on
  // the full disk, or waits in the acknowledgement window: at most mqtt.max_unstored unjournaled
  // deliveries, plus one per store_timeout.
  const auto unjournaled = static_cast<long long>(m["gw_mqtt_unstored_deliveries{journaled=\"false\"}"]);
  const auto journaled = static_cast<long long>(m["gw_mqtt_unstored_deliveries{journaled=\"true\"}"]);
  EXPECT_LE(unjournaled, 64 + 1 + static_cast<long long>(seconds_since(full_at) / 5))
      << "unjournaled: mqtt.max_unstored, plus one per store_timeout";
  EXPECT_LE(held, unjournaled + journaled) << "held messages the MQTT side does not account for";
  r.book.notes["while full"] = "gateway received " + std::to_string(received) + ", held " +
                               std::to_string(held) + " (" + std::to_string(journaled) +
                               " journaled), left with the broker " + std::to_string(z.messages - received);

  // Space returns.
  std::filesystem::remove(filler);
  const auto t0 = steady::now();
  r.wait_delivered();
  r.book.notes["recovery"] =
      fixed(seconds_since(t0)) + " s from deleting the filler to the last first delivery";
  EXPECT_TRUE(r.gw.wait_for_log("queue: writing to " + r.gw.queue_dir().string() + " works again", 10s))
      << r.gw.output();
  m = scrape_metrics(r.port);
  EXPECT_EQ(m["gw_queue_storage_failing"], 0)
      << run_command("ls -la '" + r.gw.queue_dir().string() + "'; df '" + r.gw.queue_dir().string() + "'")
             .output
      << m["gw_queue_write_errors_total"];
  EXPECT_EQ(m["gw_queue_held_messages"], 0);
  r.finish();
  EXPECT_EQ(sqlite_integrity(r.gw.queue_dir() / "queue.db"), "ok");
}

// ---- CI sizes (label faults): each scenario well under 20 s on the loaded 2-core machine ----

TEST(Faults, CloudOutage) {
  cloud_outage({.devices = 10, .messages = 3000, .rate = 1000}, 3);
}
TEST(Faults, BrokerRestart) {
  broker_restart({.devices = 10, .messages = 3000, .rate = 1000});
}
TEST(Faults, GatewaySigkillUnderLoad) {
  gateway_sigkill({.devices = 10, .messages = 3000, .rate = 1000});
}
TEST(Faults, DatagramLossTwentyPercent) {
  datagram_loss({.devices = 50, .messages = 300, .rate = 300});
}
TEST(Faults, TokenExpiryStorm) {
  token_expiry_storm({.devices = 20, .messages = 2000, .rate = 500});
}
TEST(Faults, DiskFullOnQueueDir) {
  disk_full({.devices = 5, .messages = 1500, .rate = 500});
}

// ---- long sizes (label faults-long, outside CI) ----

TEST(FaultsLong, CloudOutage) {
  cloud_outage({.devices = 100, .messages = 30000, .rate = 1000}, 15);
}
TEST(FaultsLong, BrokerRestart) {
  broker_restart({.devices = 100, .messages = 30000, .rate = 2000});
}
TEST(FaultsLong, GatewaySigkillUnderLoad) {
  gateway_sigkill({.devices = 100, .messages = 30000, .rate = 2000});
}
TEST(FaultsLong, DatagramLossTwentyPercent) {
  datagram_loss({.devices = 200, .messages = 6000, .rate = 1000});
}
TEST(FaultsLong, TokenExpiryStorm) {
  token_expiry_storm({.devices = 500, .messages = 20000, .rate = 1000});
}
TEST(FaultsLong, DiskFullOnQueueDir) {
  disk_full({.devices = 50, .messages = 15000, .rate = 1000});
}

}  // namespace
}  // namespace gw::test
