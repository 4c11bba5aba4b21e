// Loopback interop: our client against libcoap's coap-server-openssl (DTLS on port+1), started by the test
// with a test PKI made by tests/support/make_test_certs.sh. Real sockets and the real clock (bounded), since
// the peer runs on its own clock.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/crypto/psk.hpp"
#include "gateway/dtls/client.hpp"
#include "tests/support/process.hpp"

namespace gw::dtls {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

const crypto::secret device_secret{std::string_view("0123456789abcdef0123456789abcdef")};

class DtlsInterop : public ::testing::Test {
 protected:
  // One test PKI for the suite (RSA key generation is the slow part).
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::scratch_dir>("gw-dtls");
    const auto script = (test::source_dir() / "tests/support/make_test_certs.sh").string();
    const auto r = test::run_command("bash " + script + " " + dir_->path().string());
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  // Starts coap-server-openssl with `args`; DTLS then listens on 127.0.0.1:port_+1.
  void start_server(std::vector<std::string> args) {
    const auto port = test::free_udp_port();
    std::vector<std::string> argv{"coap-server-openssl", "-A", "127.0.0.1", "-p",
                                  std::to_string(port),  "-v", "7"};
    argv.insert(argv.end(), args.begin(), args.end());
    start_peer(argv, "created DTLS endpoint", static_cast<std::uint16_t>(port + 1));
  }

  // Starts `openssl s_server` (DTLS 1.2) with `args` on a free port.
  void start_s_server(std::vector<std::string> args) {
    const auto port = test::free_udp_port();
    // s_server in DTLS mode quits on stdin EOF even with -ign_eof: feed it a pipe that stays open while it
    // runs (the writer dies of SIGPIPE within 5 s after s_server exits; exec keeps s_server's PID stoppable).
    std::string cmd = "exec openssl s_server -dtls1_2 -accept 127.0.0.1:" + std::to_string(port);
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 0< <(while echo; do sleep 5; done)";
    start_peer({"bash", "-c", cmd}, "ACCEPT", port);
  }

  void start_peer(const std::vector<std::string>& argv, const char* ready, std::uint16_t dtls_port) {
    server_.start(argv, dir_->path() / "peer.log");
    ASSERT_NE(server_.wait_for_output(ready, 10s), std::string::npos) << server_.output();
    port_ = dtls_port;
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to), 0);
  }

  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
  }

  static std::string path(const char* name) { return (dir_->path() / name).string(); }

  // Drives `c` over the socket until `done` holds, it fails or closes, or `bound` passes.
  void run_until(client& c, const std::function<bool()>& done, steady::duration bound = 15s) {
    const auto give_up = steady::now() + bound;
    std::vector<std::uint8_t> d;
    std::vector<std::uint8_t> buf(65536);
    while (!done() && c.current_state() != client::state::failed && steady::now() < give_up) {
      while (c.poll_transmit(d)) {
        (void)::send(fd_, d.data(), d.size(), 0);
      }
      if (done()) break;
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - steady::now());
      if (auto deadline = c.next_deadline()) {
        wait =
            std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - steady::now()));
      }
      pollfd p{fd_, POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, wait.count())));
      if (n > 0) {
        const ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
        if (got > 0) c.on_datagram(steady::now(), {buf.data(), static_cast<std::size_t>(got)});
      }
      if (auto deadline = c.next_deadline(); deadline && steady::now() >= *deadline) {
        c.on_timer(steady::now());
      }
    }
    while (c.poll_transmit(d)) {
      (void)::send(fd_, d.data(), d.size(), 0);
    }
  }

  std::unique_ptr<client> make_cert_client(const std::string& ca, const std::string& host) {
    std::error_code ec;
    std::string detail;
    context_config cc;
    cc.ca_file = ca;
    auto ctx = context::create(cc, ec, &detail);
    EXPECT_FALSE(ec) << detail;
    client_config cfg;
    cfg.host = host;
    auto c = client::create(ctx, cfg, ec);
    EXPECT_FALSE(ec) << ec.message();
    return c;
  }

  static inline std::unique_ptr<test::scratch_dir> dir_;
  test::child_process server_;
  std::uint16_t port_ = 0;
  int fd_ = -1;
};

bool connected(const client& c) {
  return c.current_state() == client::state::connected;
}

// CoAP GET /.well-known/core, CON, MID 0x1234, no token (RFC 7252 §3): 40 01 12 34, Uri-Path ".well-known"
// (delta 11, length 11: bb), Uri-Path "core" (delta 0, length 4: 04).
std::vector<std::uint8_t> well_known_core_get() {
  std::vector<std::uint8_t> m{0x40, 0x01, 0x12, 0x34, 0xBB};
  const std::string a = ".well-known";
  m.insert(m.end(), a.begin(), a.end());
  m.push_back(0x04);
  const std::string b = "core";
  m.insert(m.end(), b.begin(), b.end());
  return m;
}

TEST_F(DtlsInterop, CertificateHandshakeAndCoapRoundTrip) {
  start_server({"-c", path("server.pem"), "-j", path("server.key"), "-n"});
  auto c = make_cert_client(path("ca.pem"), "a1B2c3D4e5F.coap.cn-shanghai.link.aliyuncs.com");
  ASSERT_NE(c, nullptr);
  c->start(steady::now());
  run_until(*c, [&] { return connected(*c); });
  ASSERT_EQ(c->current_state(), client::state::connected) << c->last_error_detail();

  ASSERT_FALSE(c->send(well_known_core_get()));
  std::vector<std::uint8_t> reply;
  run_until(*c, [&] { return c->poll_plaintext(reply); });
  ASSERT_GE(reply.size(), 4u);
  EXPECT_EQ(reply[0] & 0xF0, 0x60);  // v1, ACK
  EXPECT_EQ(reply[1], 0x45);         // 2.05 Content
  EXPECT_EQ(reply[2], 0x12);
  EXPECT_EQ(reply[3], 0x34);
  c->close();
  run_until(*c, [] { return true; });
}

TEST_F(DtlsInterop, IpLiteralHostIsCheckedAgainstIpSan) {
  start_server({"-c", path("server.pem"), "-j", path("server.key"), "-n"});
  auto c = make_cert_client(path("ca.pem"), "127.0.0.1");
  ASSERT_NE(c, nullptr);
  c->start(steady::now());
  run_until(*c, [&] { return connected(*c); });
  EXPECT_EQ(c->current_state(), client::state::connected) << c->last_error_detail();
}

TEST_F(DtlsInterop, WrongCaFailsWithVerifyError) {
  start_server({"-c", path("server.pem"), "-j", path("server.key"), "-n"});
  auto c = make_cert_client(path("wrong-ca.pem"), "localhost");
  ASSERT_NE(c, nullptr);
  c->start(steady::now());
  run_until(*c, [&] { return connected(*c); });
  EXPECT_EQ(c->current_state(), client::state::failed);
  EXPECT_EQ(c->last_error(), error::verify_failed);
  EXPECT_NE(c->last_error_detail().find("local issuer"), std::string::npos) << c->last_error_detail();
}

TEST_F(DtlsInterop, WrongHostNameFailsWithVerifyError) {
  start_server({"-c", path("server.pem"), "-j", path("server.key"), "-n"});
  auto c = make_cert_client(path("ca.pem"), "b9Z9z9Z9z9Z.coap.cn-beijing.link.aliyuncs.com");
  ASSERT_NE(c, nullptr);
  c->start(steady::now());
  run_until(*c, [&] { return connected(*c); });
  EXPECT_EQ(c->current_state(), client::state::failed);
  EXPECT_EQ(c->last_error(), error::verify_failed);
  EXPECT_NE(c->last_error_detail().find("hostname mismatch"), std::string::npos) << c->last_error_detail();
}

std::string hex_of(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : s) {
    out += digits[ch >> 4];
    out += digits[ch & 15];
  }
  return out;
}

// Spec §8/§12 #10: the PSK is the 64 ASCII bytes; s_server takes it as hex and offers only
// PSK-AES128-CBC-SHA, so success also proves the suite. (libcoap 4.3.1's server accepts no PSK CBC suite: "no
// shared cipher".)
TEST_F(DtlsInterop, PskHandshakeWithSServer) {
  auto creds = crypto::make_psk_credentials("a1B2c3D4e5F", "sensor-001", device_secret);
  start_s_server({"-nocert", "-cipher", "PSK-AES128-CBC-SHA", "-psk_identity", creds.identity, "-psk",
                  hex_of(creds.key.view())});
  std::error_code ec;
  context_config cc;
  cc.kind = context_config::kind::psk;
  auto ctx = context::create(cc, ec);
  ASSERT_FALSE(ec);
  client_config cfg;
  cfg.psk = std::move(creds);
  auto c = client::create(ctx, cfg, ec);
  ASSERT_NE(c, nullptr);
  c->start(steady::now());
  run_until(*c, [&] { return connected(*c); });
  ASSERT_EQ(c->current_state(), client::state::connected) << c->last_error_detail();
  const std::string line = "hello from gw::dtls\n";
  ASSERT_FALSE(c->send({reinterpret_cast<const std::uint8_t*>(line.data()), line.size()}));
  run_until(*c, [] { return true; });
  EXPECT_NE(server_.wait_for_output("hello from gw::dtls", 10s), std::string::npos) << server_.output();
}

TEST_F(DtlsInterop, WrongPskFails) {
  start_s_server({"-nocert", "-cipher", "PSK-AES128-CBC-SHA", "-psk", hex_of(std::string(64, 'B'))});
  auto creds = crypto::make_psk_credentials("a1B2c3D4e5F", "sensor-001", device_secret);
  std::error_code ec;
  context_config cc;
  cc.kind = context_config::kind::psk;
  client_config cfg;
  cfg.psk = std::move(creds);
  auto c = client::create(context::create(cc, ec), cfg, ec);
  ASSERT_NE(c, nullptr);
  c->start(steady::now());
  run_until(
      *c, [&] { return connected(*c); }, 10s);
  EXPECT_EQ(c->current_state(), client::state::failed);
  EXPECT_EQ(c->last_error(), error::alert_received) << c->last_error_detail();
}

}  // namespace
}  // namespace gw::dtls
