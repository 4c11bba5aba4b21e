// Integration tests of gw::mqtt::client against a real Mosquitto started by the test (tests/support).
#include "gateway/mqtt/client.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gateway/mqtt/error.hpp"
#include "tests/support/mosquitto_fixture.hpp"

namespace gw::mqtt {
namespace {

using namespace std::chrono_literals;
using test::mosquitto_fixture;

// Runs the loop until `done` holds or `timeout` passes; returns done().
bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ioc.run_one_for(50ms);
  }
  return true;
}

client_options options_for(const mosquitto_fixture& broker, const std::string& id) {
  client_options o;
  o.uri = broker.uri();
  o.client_id = id;
  o.reconnect_min = 1s;
  o.reconnect_max = 2s;
  o.status_topic = "gw-test/" + id + "/status";
  return o;
}

// A plain Paho client standing in for sensors (publisher) or for an operator watching topics.
struct peer {
  explicit peer(const mosquitto_fixture& broker, const std::string& id, bool buffer_while_down = false)
      : cli(broker.uri(), id, make_create_options(buffer_while_down)) {
    cli.start_consuming();
    auto opts = ::mqtt::connect_options_builder()
                    .clean_session(false)
                    .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(2))
                    .finalize();
    cli.connect(opts)->wait_for(10s);
  }
  static ::mqtt::create_options make_create_options(bool buffer) {
    ::mqtt::create_options c(MQTTVERSION_3_1_1, 10000);  // room for a burst of publishes in flight
    if (buffer) c.set_send_while_disconnected(true);
    return c;
  }
  ~peer() {
    try {
      cli.disconnect()->wait_for(2s);
    } catch (const ::mqtt::exception&) {
    }
  }
  ::mqtt::async_client cli;
};

// Sockets of this process connected to 127.0.0.1:port.
std::set<int> sockets_to(std::uint16_t port) {
  std::set<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  while (dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_in peer_addr{};
    socklen_t len = sizeof peer_addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer_addr), &len) == 0 &&
        peer_addr.sin_family == AF_INET && ntohs(peer_addr.sin_port) == port) {
      fds.insert(fd);
    }
  }
  ::closedir(d);
  return fds;
}

TEST(MqttClient, PublishBeforeConnectFailsWithNotConnected) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), options_for(broker, "gw-not-connected"));
  EXPECT_EQ(c.publish("x", "y", 1, false), make_error_code(error::not_connected));
  EXPECT_FALSE(c.connected());
}

TEST(MqttClient, ReceivesThousandQos1MessagesInOrderThroughTheLoop) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), options_for(broker, "gw-order"));
  std::vector<std::string> got;
  int connects = 0;
  const auto loop_thread = std::this_thread::get_id();
  bool wrong_thread = false;
  c.set_message_handler([&](inbound_message m, store_ack ack) {
    wrong_thread |= std::this_thread::get_id() != loop_thread;
    EXPECT_EQ(m.qos, 1);
    got.push_back(std::move(m.payload));
    ack.stored();
  });
  c.set_connection_handler([&](bool up, const std::string&) { connects += up ? 1 : 0; });
  // The intake-thread hook runs once, on Paho's thread, before that thread's first delivery (which the
  // journal hook sees first).
  std::atomic<int> intake_hooks{0};
  std::atomic<int> journaled_before_hook{0};
  std::thread::id intake_thread;
  c.set_intake_thread_hook([&] {
    intake_thread = std::this_thread::get_id();
    ++intake_hooks;
  });
  c.set_journal([&](const inbound_message&) -> std::uint64_t {
    if (intake_hooks.load() == 0) ++journaled_before_hook;
    return 0;  // not journaled: the unstored window applies, as without a journal
  });
  c.subscribe("sensors/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return connects == 1; }));
  ASSERT_TRUE(broker.wait_for_log("gw-order 1 sensors/#", 10s));

  // The publisher runs in its own process: Paho C serves all clients of a process from one receive thread, so
  // an in-process publisher would wait for its PUBACKs while the adapter's callback waits for the store.
  const auto pub =
      test::run_command("seq 0 999 | mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                        " -i sensor-publisher -q 1 -t sensors/dev1/t -l 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;
  ASSERT_TRUE(run_until(
      ioc, [&] { return got.size() >= 1000; }, 60s))
      << got.size();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], std::to_string(i));
  EXPECT_FALSE(wrong_thread);
  EXPECT_EQ(c.stats().messages, 1000u);
  EXPECT_EQ(c.stats().store_timeouts, 0u);
  EXPECT_EQ(intake_hooks.load(), 1);
  EXPECT_EQ(journaled_before_hook.load(), 0);
  EXPECT_NE(intake_thread, loop_thread);
}

TEST(MqttClient, NextMessageWaitsUntilThePreviousIsStored) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  auto opts = options_for(broker, "gw-window");
  opts.store_timeout = 60s;
  client c(ioc.get_executor(), opts);
  std::vector<std::string> got;
  std::vector<store_ack> held;
  bool up = false;
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    got.push_back(m.payload);
    held.push_back(std::move(ack));
  });
  c.set_connection_handler([&](bool u, const std::string&) { up = u; });
  c.subscribe("w/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return up; }));
  ASSERT_TRUE(broker.wait_for_log("gw-window 1 w/#", 10s));
  // Out of process: an in-process Paho client would share the adapter's (blocked) receive thread.
  const auto pub =
      test::run_command("printf 'first\\nsecond\\n' | mosquitto_pub -h 127.0.0.1 -p " +
                        std::to_string(broker.port()) + " -i window-publisher -q 1 -t w/a -l 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;

  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 1; }));
  // Bounded observation: while "first" is not stored, Paho must not hand over "second".
  ioc.run_for(300ms);
  EXPECT_EQ(got.size(), 1u);
  held.front().stored();
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 2; }));
  EXPECT_EQ(got[1], "second");
  held.back().stored();
}

// max_unstored 3: three deliveries are handed over while none is stored, the fourth waits for a completion.
TEST(MqttClient, UnstoredWindowBoundsDeliveriesAwaitingTheirStore) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  auto opts = options_for(broker, "gw-window3");
  opts.store_timeout = 60s;
  opts.max_unstored = 3;
  client c(ioc.get_executor(), opts);
  std::vector<std::string> got;
  std::vector<store_ack> held;
  bool up = false;
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    got.push_back(m.payload);
    held.push_back(std::move(ack));
  });
  c.set_connection_handler([&](bool u, const std::string&) { up = u; });
  c.subscribe("w/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return up; }));
  ASSERT_TRUE(broker.wait_for_log("gw-window3 1 w/#", 10s));
  const auto pub =
      test::run_command("printf '1\\n2\\n3\\n4\\n5\\n' | mosquitto_pub -h 127.0.0.1 -p " +
                        std::to_string(broker.port()) + " -i window3-publisher -q 1 -t w/a -l 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;

  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 3; }));
  ioc.run_for(300ms);  // bounded observation: the fourth must not come while three are unstored
  EXPECT_EQ(got.size(), 3u);
  held[0].stored();
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 4; }));
  ioc.run_for(300ms);
  EXPECT_EQ(got.size(), 4u);
  held[1].rejected();  // a rejection frees its place too
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 5; }));
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  for (auto& a : held) a.stored();
}

// The journal hook (gateway: bridge::intake_journal): a delivery it made durable does not wait in the
// max_unstored window (1 here) but counts against max_backlog (2); one it could not journal (returns 0) waits
// in max_unstored as before. The hook sees every delivery first, in order, and its number reaches the
// handler.
TEST(MqttClient, JournaledDeliveriesAreBoundedByMaxBacklogNotByTheUnstoredWindow) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  auto opts = options_for(broker, "gw-journal");
  opts.store_timeout = 60s;
  opts.max_unstored = 1;
  opts.max_backlog = 2;
  client c(ioc.get_executor(), opts);
  std::atomic<std::uint64_t> next_seq{1};
  std::atomic<bool> journal_works{true};
  c.set_journal([&](const inbound_message& m) -> std::uint64_t {
    EXPECT_EQ(m.journal_seq, 0u);
    return journal_works.load() ? next_seq++ : 0;
  });
  std::vector<std::string> got;
  std::vector<std::uint64_t> seqs;
  std::vector<store_ack> held;
  bool up = false;
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    got.push_back(m.payload);
    seqs.push_back(m.journal_seq);
    held.push_back(std::move(ack));
  });
  c.set_connection_handler([&](bool u, const std::string&) { up = u; });
  c.subscribe("j/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return up; }));
  ASSERT_TRUE(broker.wait_for_log("gw-journal 1 j/#", 10s));
  const auto pub =
      test::run_command("printf '1\\n2\\n3\\n4\\n' | mosquitto_pub -h 127.0.0.1 -p " +
                        std::to_string(broker.port()) + " -i journal-publisher -q 1 -t j/a -l 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;

  // Two journaled deliveries pass the max_unstored window of 1; the third waits for max_backlog.
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 2; }));
  ioc.run_for(300ms);  // bounded observation: the third must not come while two journaled ones are unstored
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(c.stats().journaled_unstored, 2u);
  EXPECT_EQ(c.stats().unstored, 0u);
  // The journal fails from now on: the third comes once a place frees, unjournaled, and holds the window
  // of 1.
  journal_works = false;
  held[0].stored();
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 3; }));
  ioc.run_for(300ms);
  EXPECT_EQ(got.size(), 3u) << "an unjournaled delivery waits in max_unstored (1)";
  EXPECT_EQ(seqs.back(), 0u);
  EXPECT_EQ(c.stats().unstored, 1u);
  held[2].stored();
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 4; }));
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(c.stats().journaled, 2u);
  for (auto& a : held) a.stored();
}

TEST(MqttClient, StoreTimeoutLetsDeliveryContinueAndIsCounted) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  auto opts = options_for(broker, "gw-timeout");
  opts.store_timeout = 100ms;
  client c(ioc.get_executor(), opts);
  std::vector<store_ack> held;  // never completed
  bool up = false;
  c.set_message_handler([&](const inbound_message&, store_ack ack) { held.push_back(std::move(ack)); });
  c.set_connection_handler([&](bool u, const std::string&) { up = u; });
  c.subscribe("s/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return up; }));
  ASSERT_TRUE(broker.wait_for_log("gw-timeout 1 s/#", 10s));
  peer pub(broker, "timeout-publisher");
  for (int i = 0; i < 3; ++i) pub.cli.publish("s/x", "m", 1, false)->wait_for(10s);
  ASSERT_TRUE(run_until(ioc, [&] { return held.size() == 3; }));
  ASSERT_TRUE(run_until(
      ioc, [&] { return c.stats().store_timeouts >= 2; }, 10s));
}

TEST(MqttClient, BrokerRestartReconnectsAndDeliversWhatWasPublishedMeanwhile) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), options_for(broker, "gw-restart"));
  std::vector<std::string> got;
  int ups = 0;
  int downs = 0;
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    got.push_back(m.payload);
    ack.stored();
  });
  c.set_connection_handler([&](bool up, const std::string&) { (up ? ups : downs) += 1; });
  c.subscribe("r/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return ups == 1; }));
  ASSERT_TRUE(broker.wait_for_log("gw-restart 1 r/#", 10s));

  // A persistent QoS 1 publisher that buffers while the broker is away.
  peer pub(broker, "restart-publisher", /*buffer_while_down=*/true);
  // No waiting on tokens here: this Paho client shares the adapter's receive thread, which the loop must
  // free.
  auto before = pub.cli.publish("r/x", "before", 1, false);
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() == 1 && before->is_complete(); }));

  broker.stop();
  ASSERT_TRUE(run_until(ioc, [&] { return downs == 1; }));
  std::vector<::mqtt::delivery_token_ptr> pending;
  pending.reserve(50);
  for (int i = 0; i < 50; ++i)
    pending.push_back(pub.cli.publish("r/x", "during-" + std::to_string(i), 1, false));
  broker.start();

  ASSERT_TRUE(run_until(
      ioc, [&] { return ups >= 2 && got.size() >= 51; }, 60s))
      << got.size();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i + 1)], "during-" + std::to_string(i));
  EXPECT_GE(c.stats().connects, 2u);
}

// A reload removes a route: unsubscribe() sends UNSUBSCRIBE on the running connection; made while the broker
// is away, it is sent on the next connect (the persistent session kept the subscription), and the filter is
// not subscribed again.
TEST(MqttClient, UnsubscribeNowOrOnTheNextConnect) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), options_for(broker, "gw-unsub"));
  int ups = 0;
  int downs = 0;
  c.set_message_handler([&](const inbound_message&, store_ack ack) { ack.stored(); });
  c.set_connection_handler([&](bool up, const std::string&) { (up ? ups : downs) += 1; });
  c.subscribe("a/#", 1);
  c.subscribe("b/#", 1);
  c.subscribe("c/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return ups == 1; }));
  ASSERT_TRUE(broker.wait_for_log("gw-unsub 1 c/#", 10s));

  c.unsubscribe("a/#");
  ASSERT_TRUE(broker.wait_for_log("gw-unsub a/#", 10s)) << broker.output();  // log_type unsubscribe
  EXPECT_EQ(c.subscriptions(), (std::vector<std::string>{"b/#", "c/#"}));

  broker.stop();  // persistence keeps the session and its subscriptions b/# and c/#
  ASSERT_TRUE(run_until(ioc, [&] { return downs == 1; }));
  c.unsubscribe("b/#");
  broker.start();
  ASSERT_TRUE(run_until(
      ioc, [&] { return ups >= 2; }, 60s));
  ASSERT_TRUE(broker.wait_for_log("gw-unsub b/#", 10s)) << broker.output();
  ASSERT_TRUE(broker.wait_for_log("gw-unsub 1 c/#", 10s)) << broker.output();
  EXPECT_EQ(broker.output().find("gw-unsub 1 b/#"), std::string::npos) << broker.output();
  EXPECT_EQ(c.subscriptions(), (std::vector<std::string>{"c/#"}));
}

TEST(MqttClient, ResubscribesWhenTheBrokerLostItsState) {
  mosquitto_fixture broker;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), options_for(broker, "gw-resub"));
  std::vector<std::string> got;
  int ups = 0;
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    got.push_back(m.payload);
    ack.stored();
  });
  c.set_connection_handler([&](bool up, const std::string&) { ups += up ? 1 : 0; });
  c.subscribe("q/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return ups == 1; }));
  ASSERT_TRUE(broker.wait_for_log("gw-resub 1 q/#", 10s));

  // A crash that loses the broker's persistence: no session, no subscription survives.
  broker.kill_hard();
  std::filesystem::remove(broker.dir() / "mosquitto.db");
  broker.start();
  ASSERT_TRUE(run_until(
      ioc, [&] { return ups >= 2; }, 60s));
  ASSERT_TRUE(broker.wait_for_log("gw-resub 1 q/#", 10s));  // this run's output only

  const auto pub = test::run_command("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                                     " -i resub-publisher -q 1 -t q/x -m after 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;
  ASSERT_TRUE(run_until(ioc, [&] { return !got.empty(); }));
  EXPECT_EQ(got.back(), "after");
}

// Mosquitto 2.0 grants every SUBSCRIBE (its ACL only filters deliveries), so the SUBACK verdicts come from
// this minimal broker: one connection; CONNECT -> CONNACK accepted, SUBSCRIBE -> SUBACK with
// `verdict(filter)`, PINGREQ -> PINGRESP. MQTT 3.1.1 §3.2, §3.8, §3.9 and 5.0 (an empty property list after
// the variable header).
class suback_broker {
 public:
  suback_broker(int version, std::function<std::uint8_t(const std::string&)> verdict)
      : version_(version), verdict_(std::move(verdict)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 1) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("suback_broker: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~suback_broker() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    const int c = conn_fd_.load();
    if (c >= 0) ::shutdown(c, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  suback_broker(const suback_broker&) = delete;
  suback_broker& operator=(const suback_broker&) = delete;
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  // A verdict that closes the connection instead of answering the SUBSCRIBE.
  static constexpr std::uint8_t drop_connection = 0xfe;

 private:
  bool read_exact(int fd, std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  // Connections one after another (the client reconnects after drop_connection).
  void serve() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      conn_fd_ = fd;
      serve_one(fd);
    }
  }
  void serve_one(int fd) {
    for (;;) {
      std::uint8_t type = 0;
      if (!read_exact(fd, &type, 1)) break;
      std::size_t len = 0;
      for (int shift = 0;; shift += 7) {  // remaining length, MQTT §2.2.3
        std::uint8_t b = 0;
        if (shift > 21 || !read_exact(fd, &b, 1)) return close_conn(fd);
        len |= static_cast<std::size_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) break;
      }
      std::vector<std::uint8_t> body(len);
      if (len > 0 && !read_exact(fd, body.data(), len)) break;
      std::vector<std::uint8_t> out;
      switch (type >> 4) {
        case 1:  // CONNECT
          out = version_ == 5 ? std::vector<std::uint8_t>{0x20, 3, 0, 0, 0}
                              : std::vector<std::uint8_t>{0x20, 2, 0, 0};
          break;
        case 8: {  // SUBSCRIBE: packet id, [properties], one filter + options
          if (len < 2) return close_conn(fd);
          std::size_t at = 2;
          if (version_ == 5) at += 1 + body[2];  // property length < 128 from Paho here
          if (at + 2 > len) return close_conn(fd);
          const std::size_t flen = (body[at] << 8) | body[at + 1];
          if (at + 2 + flen > len) return close_conn(fd);
          const std::string filter(body.begin() + static_cast<long>(at + 2),
                                   body.begin() + static_cast<long>(at + 2 + flen));
          const std::uint8_t verdict = verdict_(filter);
          if (verdict == drop_connection) return close_conn(fd);
          out = {0x90, static_cast<std::uint8_t>(version_ == 5 ? 4 : 3), body[0], body[1]};
          if (version_ == 5) out.push_back(0);
          out.push_back(verdict);
          break;
        }
        case 12:  // PINGREQ
          out = {0xd0, 0};
          break;
        case 14:  // DISCONNECT
          return close_conn(fd);
        default:  // PUBLISH and the rest: not expected here
          break;
      }
      if (!out.empty() && ::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) break;
    }
    close_conn(fd);
  }
  void close_conn(int fd) {
    conn_fd_ = -1;
    ::close(fd);
  }

  int version_;
  std::function<std::uint8_t(const std::string&)> verdict_;
  int listen_fd_ = -1;
  std::atomic<int> conn_fd_{-1};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A filter the broker refuses is reported (an error log and a count), not left silently without messages; a
// downgraded QoS is a warning but granted. MQTT 3.1.1 refuses with 0x80, MQTT 5 with e.g. 0x87.
class MqttClientSubscribe : public ::testing::TestWithParam<int> {};

// A client of GetParam()'s protocol version against a suback_broker; `ups` counts its connects.
struct suback_rig {
  suback_rig(int version, std::function<std::uint8_t(const std::string&)> verdict, const std::string& id,
             const std::function<void(client_options&)>& tune = {})
      : broker(version, std::move(verdict)), c(ioc.get_executor(), options(version, id, tune)) {
    c.set_message_handler([](const inbound_message&, store_ack ack) { ack.stored(); });
    c.set_connection_handler([this](bool up, const std::string&) { ups += up ? 1 : 0; });
  }
  client_options options(int version, const std::string& id,
                         const std::function<void(client_options&)>& tune) {
    client_options o;
    o.uri = broker.uri();
    o.client_id = id;
    o.protocol_version = version;
    if (tune) tune(o);
    return o;
  }
  suback_broker broker;
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
  client c;
  int ups = 0;
};

TEST_P(MqttClientSubscribe, RefusedFilterIsCountedGrantedOnesAreNot) {
  const int version = GetParam();
  suback_rig r(
      version,
      [&](const std::string& filter) -> std::uint8_t {
        if (filter.starts_with("denied/")) return version == 5 ? 0x87 : 0x80;
        return filter.starts_with("qos0/") ? 0 : 1;
      },
      "gw-suback");
  r.c.subscribe("allowed/#", 1);
  r.c.subscribe("denied/#", 1);
  r.c.subscribe("qos0/#", 1);
  r.c.start();
  ASSERT_TRUE(run_until(r.ioc, [&] {
    const auto s = r.c.stats();
    return s.subscriptions_granted + s.subscriptions_refused >= 3;
  }));
  EXPECT_EQ(r.ups, 1);
  EXPECT_EQ(r.c.stats().subscriptions_granted, 2u);
  EXPECT_EQ(r.c.stats().subscriptions_refused, 1u);
  EXPECT_EQ(r.c.stats().subscriptions_downgraded, 1u);  // qos0/#: a warning, still granted
  // The client keeps the refused filter: it asks again after subscribe_retry (60 s) and on every connect.
  EXPECT_EQ(r.c.subscriptions(), (std::vector<std::string>{"allowed/#", "denied/#", "qos0/#"}));
  // stop() cancels that pending retry: with the work guard gone the loop runs out of work and returns.
  r.c.stop();
  r.work.reset();
  r.ioc.run_for(10s);
  EXPECT_TRUE(r.ioc.stopped());
}

// A refused filter is asked for again after subscribe_retry on the same connection: a broker whose ACL was
// fixed grants it without a reconnect.
TEST_P(MqttClientSubscribe, RefusedFilterIsAskedAgainAndThenGranted) {
  std::atomic<int> asked{0};
  suback_rig r(
      GetParam(),
      [&](const std::string&) -> std::uint8_t {
        return asked.fetch_add(1) == 0 ? 0x80 : 1;  // 0x80: a refusal in both versions
      },
      "gw-suback-retry", [](client_options& o) { o.subscribe_retry = 200ms; });
  r.c.subscribe("late/#", 1);
  r.c.start();
  ASSERT_TRUE(run_until(r.ioc, [&] { return r.c.stats().subscriptions_granted >= 1; }));
  EXPECT_EQ(r.c.stats().subscriptions_refused, 1u);
  EXPECT_EQ(asked.load(), 2);
  EXPECT_EQ(r.ups, 1);  // the same connection
}

// A SUBSCRIBE that fails because the connection broke is not a refusal: nothing is counted as refused, and
// the next connect subscribes again and is granted.
TEST_P(MqttClientSubscribe, ConnectionLostBeforeTheSubackIsNotARefusal) {
  std::atomic<int> seen{0};
  suback_rig r(
      GetParam(),
      [&](const std::string&) -> std::uint8_t {
        return seen.fetch_add(1) == 0 ? suback_broker::drop_connection : 1;
      },
      "gw-suback-drop", [](client_options& o) { o.reconnect_min = o.reconnect_max = 1s; });
  r.c.subscribe("a/#", 1);
  r.c.start();
  ASSERT_TRUE(run_until(r.ioc, [&] { return r.c.stats().subscriptions_granted >= 1; }));
  EXPECT_GE(r.ups, 2);
  EXPECT_EQ(r.c.stats().subscriptions_refused, 0u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, MqttClientSubscribe, ::testing::Values(4, 5));

// The persistent session (3.1.1: clean session off; 5: clean start off + session expiry) keeps QoS 1 messages
// published while the gateway is away.
class MqttClientSession : public ::testing::TestWithParam<int> {};

TEST_P(MqttClientSession, KeepsMessagesPublishedWhileAway) {
  mosquitto_fixture broker;
  const std::string id = "gw-session-v" + std::to_string(GetParam());
  auto opts = options_for(broker, id);
  opts.protocol_version = GetParam();
  std::vector<std::string> got;
  {
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    client c(ioc.get_executor(), opts);
    bool up = false;
    c.set_message_handler([&](const inbound_message& m, store_ack ack) {
      got.push_back(m.payload);
      ack.stored();
    });
    c.set_connection_handler([&](bool u, const std::string&) { up = u; });
    c.subscribe("p/#", 1);
    c.start();
    ASSERT_TRUE(run_until(ioc, [&] { return up; }));
    ASSERT_TRUE(broker.wait_for_log(id + " 1 p/#", 10s));
  }  // the client disconnects and is destroyed
  const auto pub =
      test::run_command("seq 1 20 | mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                        " -i away-publisher -q 1 -t p/x -l 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;

  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), opts);
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    got.push_back(m.payload);
    ack.stored();
  });
  c.subscribe("p/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return got.size() >= 20; })) << got.size();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], std::to_string(i + 1));
}

INSTANTIATE_TEST_SUITE_P(Protocols, MqttClientSession, ::testing::Values(4, 5));

// Debian's packaged mosquitto keeps at most 1000 queued messages per offline session: what an operator with
// the stock config loses during a long gateway outage (the fixture's default, 100000, avoids it).
TEST(MqttClient, DebianDefaultQueueLimitDropsTheBacklogBeyondIt) {
  mosquitto_fixture::options bo;
  bo.max_queued_messages = 1000;
  mosquitto_fixture broker(bo);
  auto opts = options_for(broker, "gw-debian-limit");
  std::size_t got = 0;
  {
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    client c(ioc.get_executor(), opts);
    bool up = false;
    c.set_connection_handler([&](bool u, const std::string&) { up = u; });
    c.subscribe("d/#", 1);
    c.start();
    ASSERT_TRUE(run_until(ioc, [&] { return up; }));
    ASSERT_TRUE(broker.wait_for_log("gw-debian-limit 1 d/#", 10s));
  }
  const auto pub =
      test::run_command("seq 1 1500 | mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                        " -i backlog-publisher -q 1 -t d/x -l 2>&1");
  ASSERT_EQ(pub.status, 0) << pub.output;

  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), opts);
  std::string last;
  c.set_message_handler([&](const inbound_message& m, store_ack ack) {
    ++got;
    last = m.payload;
    ack.stored();
  });
  c.subscribe("d/#", 1);
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return got >= 1000; })) << got;
  ioc.run_for(500ms);  // bounded: nothing beyond the limit may follow
  EXPECT_LT(got, 1500u);
  EXPECT_NE(last, "1500");
}

TEST(MqttClient, ConnectOptionsCarryWillSessionAndReconnect) {
  client_options o;
  o.status_topic = "gw/status";
  o.protocol_version = 5;
  const auto c = client::make_connect_options(o);
  EXPECT_EQ(c.get_will_topic(), "gw/status");
  ASSERT_TRUE(c.get_will_message());
  EXPECT_EQ(c.get_will_message()->get_payload_str(), "offline");
  EXPECT_TRUE(c.get_will_message()->is_retained());
  EXPECT_EQ(c.get_will_message()->get_qos(), 1);
  EXPECT_FALSE(c.is_clean_start());
  EXPECT_EQ(c.get_mqtt_version(), MQTTVERSION_5);
  EXPECT_TRUE(c.get_automatic_reconnect());
  EXPECT_EQ(::mqtt::get<uint32_t>(c.get_properties(), ::mqtt::property::SESSION_EXPIRY_INTERVAL),
            7u * 24 * 3600);
  EXPECT_EQ(::mqtt::get<uint16_t>(c.get_properties(), ::mqtt::property::RECEIVE_MAXIMUM), 65535u);
  o.receive_maximum = 100;
  EXPECT_EQ(::mqtt::get<uint16_t>(client::make_connect_options(o).get_properties(),
                                  ::mqtt::property::RECEIVE_MAXIMUM),
            100u);
  o.protocol_version = 4;
  EXPECT_FALSE(client::make_connect_options(o).is_clean_session());
  o.reconnect_min = std::chrono::seconds(0);  // e.g. 500ms truncated: must not become a tight retry loop
  o.reconnect_max = std::chrono::seconds(0);
  EXPECT_EQ(client::make_connect_options(o).get_min_retry_interval(), std::chrono::seconds(1));
  EXPECT_EQ(client::make_connect_options(o).get_max_retry_interval(), std::chrono::seconds(1));
}

TEST(MqttClient, StatusOnlineRetainedAndWillOfflineOnAbruptDisconnect) {
  mosquitto_fixture broker;
  peer watcher(broker, "status-watcher");
  const std::string topic = "gw-test/gw-lwt/status";
  watcher.cli.subscribe(topic, 1)->wait_for(10s);
  const std::set<int> before = sockets_to(broker.port());

  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  client c(ioc.get_executor(), options_for(broker, "gw-lwt"));
  int ups = 0;
  c.set_connection_handler([&](bool up, const std::string&) { ups += up ? 1 : 0; });
  c.start();
  ASSERT_TRUE(run_until(ioc, [&] { return ups == 1; }));

  int status_qos = -1;  // of the last status message the watcher (subscribed at QoS 1) received
  auto next_status = [&]() -> std::string {
    ::mqtt::const_message_ptr m;
    if (!watcher.cli.try_consume_message_for(&m, 10s) || !m) return "<none>";
    status_qos = m->get_qos();
    return m->get_payload_str();
  };
  EXPECT_EQ(next_status(), "online");
  // QoS 0: the gateway keeps no outbound QoS 1 message in flight (gateway/mqtt/client.cpp, Paho C 1.3.11).
  EXPECT_EQ(status_qos, 0);

  // Drop the adapter's TCP connection without DISCONNECT: the broker must publish the will.
  std::set<int> after = sockets_to(broker.port());
  std::vector<int> adapter_fds;
  for (int fd : after) {
    if (before.count(fd) == 0) adapter_fds.push_back(fd);
  }
  ASSERT_EQ(adapter_fds.size(), 1u);
  ::shutdown(adapter_fds.front(), SHUT_RDWR);
  EXPECT_EQ(next_status(), "offline");
  ASSERT_TRUE(run_until(ioc, [&] { return ups == 2; }));
  EXPECT_EQ(next_status(), "online");

  // A later subscriber sees the retained status.
  peer late(broker, "late-watcher");
  late.cli.subscribe(topic, 1)->wait_for(10s);
  ::mqtt::const_message_ptr m;
  ASSERT_TRUE(late.cli.try_consume_message_for(&m, 10s));
  EXPECT_EQ(m->get_payload_str(), "online");
  EXPECT_TRUE(m->is_retained());
}

}  // namespace
}  // namespace gw::mqtt
