#include "gateway/dtls/client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "gateway/crypto/psk.hpp"
#include "memory_peer.hpp"

namespace gw::dtls {
namespace {

using namespace std::chrono_literals;

const crypto::secret device_secret{std::string_view("0123456789abcdef0123456789abcdef")};

std::shared_ptr<context> psk_context() {
  std::error_code ec;
  context_config cfg;
  cfg.kind = context_config::kind::psk;
  auto ctx = context::create(cfg, ec);
  EXPECT_FALSE(ec) << ec.message();
  return ctx;
}

client_config psk_config() {
  client_config cfg;
  cfg.psk = crypto::make_psk_credentials("a1B2c3D4e5F", "sensor-001", device_secret);
  return cfg;
}

std::vector<std::uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

test::memory_peer spec_peer() {
  const auto creds = crypto::make_psk_credentials("a1B2c3D4e5F", "sensor-001", device_secret);
  return test::memory_peer(creds.identity, std::string(creds.key.view()));
}

// A DTLS handshake record: content type 22, record version DTLS 1.2 {254, 253} or, for the first
// ClientHello, DTLS 1.0 {254, 255} (RFC 6347 §4.1, §4.2.1).
bool is_dtls12_handshake(const std::vector<std::uint8_t>& d) {
  return d.size() > 13 && d[0] == 22 && d[1] == 0xFE && (d[2] == 0xFD || d[2] == 0xFF);
}

TEST(DtlsContext, MissingCaFileIsRefusedWithReason) {
  std::error_code ec;
  std::string detail;
  context_config cfg;
  cfg.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(context::create(cfg, ec, &detail), nullptr);
  EXPECT_EQ(ec, error::bad_ca_file);
  EXPECT_NE(detail.find("/nonexistent/ca.pem"), std::string::npos);
}

// cloud.ca_file "" (the example config's default) means the system trust store, as documented.
TEST(DtlsContext, EmptyCaFileUsesTheSystemStore) {
  std::error_code ec;
  context_config cfg;
  cfg.ca_file.clear();
  EXPECT_NE(context::create(cfg, ec), nullptr) << ec.message();
  EXPECT_FALSE(ec);
}

TEST(DtlsContext, BadCipherListIsRefused) {
  std::error_code ec;
  context_config cfg;
  cfg.kind = context_config::kind::psk;
  cfg.cipher_list = "NO-SUCH-CIPHER";
  EXPECT_EQ(context::create(cfg, ec), nullptr);
  EXPECT_EQ(ec, error::bad_cipher_list);
}

TEST(DtlsClient, CreateChecksConfig) {
  std::error_code ec;
  auto ctx = psk_context();
  EXPECT_EQ(client::create(ctx, client_config{}, ec), nullptr);  // psk mode without credentials
  EXPECT_EQ(ec, error::bad_config);
  EXPECT_EQ(client::create(nullptr, psk_config(), ec), nullptr);
  EXPECT_EQ(ec, error::bad_config);
  auto c = client::create(ctx, psk_config(), ec);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->current_state(), client::state::idle);
  EXPECT_FALSE(c->next_deadline());
  EXPECT_EQ(c->send(bytes_of("x")), error::not_connected);
}

TEST(DtlsClient, PskHandshakeAndApplicationDataInMemory) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  ASSERT_NE(c, nullptr);
  auto peer = spec_peer();
  const auto t0 = time_point{} + 100s;
  c->start(t0);
  EXPECT_EQ(c->current_state(), client::state::handshaking);
  EXPECT_EQ(c->next_deadline(), t0 + 2s);
  peer.pump(*c, t0);
  ASSERT_EQ(c->current_state(), client::state::connected) << c->last_error_detail();
  EXPECT_TRUE(peer.connected());
  EXPECT_FALSE(c->next_deadline());
  EXPECT_GT(c->max_plaintext(), 1000u);
  EXPECT_LE(c->max_plaintext(), 1200u);

  ASSERT_FALSE(c->send(bytes_of("hello")));
  std::vector<std::uint8_t> d;
  ASSERT_TRUE(c->poll_transmit(d));
  EXPECT_EQ(d[0], 23);  // application_data record
  EXPECT_TRUE(peer.on_datagram(d).empty());
  EXPECT_EQ(peer.received(), "hello");
  EXPECT_FALSE(c->poll_transmit(d));

  c->on_datagram(t0, peer.write("world"));
  std::vector<std::uint8_t> plain;
  ASSERT_TRUE(c->poll_plaintext(plain));
  EXPECT_EQ(plain, bytes_of("world"));
  EXPECT_FALSE(c->poll_plaintext(plain));

  // Every datagram respects the MTU.
  EXPECT_EQ(c->send(std::vector<std::uint8_t>(1300, 'x')), error::message_too_long);

  c->close();
  EXPECT_EQ(c->current_state(), client::state::closed);
  ASSERT_TRUE(c->poll_transmit(d));
  peer.on_datagram(d);
  EXPECT_TRUE(peer.got_close_notify());
}

TEST(DtlsClient, PeerCloseNotifyClosesSession) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  auto peer = spec_peer();
  c->start(time_point{});
  peer.pump(*c, time_point{});
  ASSERT_EQ(c->current_state(), client::state::connected);
  c->on_datagram(time_point{}, peer.close());
  EXPECT_EQ(c->current_state(), client::state::closed);
  EXPECT_EQ(c->last_error(), error::peer_closed);
  EXPECT_EQ(c->send(bytes_of("x")), error::not_connected);
}

TEST(DtlsClient, WrongPskFailsWithAlert) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  const auto creds = crypto::make_psk_credentials("a1B2c3D4e5F", "sensor-001", device_secret);
  test::memory_peer peer(creds.identity, std::string(64, 'A'));
  c->start(time_point{});
  peer.pump(*c, time_point{});
  EXPECT_EQ(c->current_state(), client::state::failed);
  EXPECT_EQ(c->last_error(), error::alert_received) << c->last_error_detail();
  EXPECT_FALSE(c->last_error_detail().empty());
  EXPECT_FALSE(c->next_deadline());
}

TEST(DtlsClient, GarbageDatagramsAreIgnored) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  c->start(time_point{});
  std::vector<std::uint8_t> d;
  ASSERT_TRUE(c->poll_transmit(d));
  c->on_datagram(time_point{}, bytes_of("not a dtls record at all"));
  c->on_datagram(time_point{}, std::vector<std::uint8_t>(13, 0));
  c->on_datagram(time_point{}, {});
  EXPECT_EQ(c->current_state(), client::state::handshaking);
  // The handshake still completes afterwards.
  auto peer = spec_peer();
  c->on_datagram(time_point{}, peer.on_datagram(d));
  peer.pump(*c, time_point{});
  EXPECT_EQ(c->current_state(), client::state::connected) << c->last_error_detail();
}

// Spec §8: flight retransmission 2 s doubling to 8 s; the handshake gives up after 60 s (virtual time).
TEST(DtlsClient, SilentPeerRetransmitsOnScheduleThenTimesOut) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  ASSERT_NE(c, nullptr);
  const auto t0 = time_point{} + 1000s;
  c->start(t0);
  std::vector<std::uint8_t> hello;
  ASSERT_TRUE(c->poll_transmit(hello));
  EXPECT_TRUE(is_dtls12_handshake(hello));
  EXPECT_LE(hello.size(), 1200u);
  std::vector<std::uint8_t> d;
  EXPECT_FALSE(c->poll_transmit(d));

  // Not yet due: nothing happens.
  c->on_timer(t0 + 1999ms);
  EXPECT_FALSE(c->poll_transmit(d));

  std::vector<std::chrono::seconds> sends;
  while (auto deadline = c->next_deadline()) {
    c->on_timer(*deadline);
    int n = 0;
    while (c->poll_transmit(d)) {
      EXPECT_TRUE(is_dtls12_handshake(d));
      ++n;
    }
    if (n > 0) {
      EXPECT_EQ(n, 1);
      sends.push_back(std::chrono::duration_cast<std::chrono::seconds>(*deadline - t0));
    }
    ASSERT_LT(sends.size(), 20u);
  }
  const std::vector<std::chrono::seconds> expected{2s, 6s, 14s, 22s, 30s, 38s, 46s, 54s};
  EXPECT_EQ(sends, expected);
  EXPECT_EQ(c->current_state(), client::state::failed);
  EXPECT_EQ(c->last_error(), error::handshake_timeout);
}

TEST(DtlsClient, HandshakeTimeoutIsConfigurable) {
  std::error_code ec;
  auto cfg = psk_config();
  cfg.handshake_timeout = 5s;
  cfg.initial_retransmit = 1s;
  cfg.max_retransmit = 2s;
  auto c = client::create(psk_context(), cfg, ec);
  const auto t0 = time_point{};
  c->start(t0);
  std::vector<time_point> deadlines;
  while (auto deadline = c->next_deadline()) {
    deadlines.push_back(*deadline);
    c->on_timer(*deadline);
    ASSERT_LT(deadlines.size(), 10u);
  }
  const std::vector<time_point> expected{t0 + 1s, t0 + 3s, t0 + 5s};
  EXPECT_EQ(deadlines, expected);
  EXPECT_EQ(c->last_error(), error::handshake_timeout);
}

TEST(DtlsClient, LostClientFlightIsRecoveredByRetransmission) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  auto peer = spec_peer();
  const auto t0 = time_point{};
  c->start(t0);
  std::vector<std::uint8_t> d;
  ASSERT_TRUE(c->poll_transmit(d));  // the ClientHello is lost
  c->on_timer(t0 + 2s);              // ClientHello again
  peer.pump(*c, t0 + 2s);
  EXPECT_EQ(c->current_state(), client::state::connected) << c->last_error_detail();
}

// Idle sessions free their record buffers between calls (memory per session); every path must restore them.
TEST(DtlsClient, ManyMessagesBothWaysWithBuffersReleasedBetweenCalls) {
  std::error_code ec;
  auto c = client::create(psk_context(), psk_config(), ec);
  auto peer = spec_peer();
  c->start(time_point{});
  peer.pump(*c, time_point{});
  ASSERT_EQ(c->current_state(), client::state::connected);
  std::vector<std::uint8_t> d;
  std::string expected_at_peer;
  for (int i = 0; i < 50; ++i) {
    const std::string up = "up-" + std::to_string(i);
    const std::string down = "down-" + std::to_string(i);
    if (i % 3 != 2) {
      ASSERT_FALSE(c->send(bytes_of(up)));
      ASSERT_TRUE(c->poll_transmit(d));
      peer.on_datagram(d);
      expected_at_peer += up;
    }
    if (i % 2 == 0) {
      c->on_datagram(time_point{}, peer.write(down));
      ASSERT_TRUE(c->poll_plaintext(d));
      EXPECT_EQ(d, bytes_of(down));
    }
  }
  EXPECT_EQ(peer.received(), expected_at_peer);
  c->close();
  ASSERT_TRUE(c->poll_transmit(d));
  peer.on_datagram(d);
  EXPECT_TRUE(peer.got_close_notify());
}

}  // namespace
}  // namespace gw::dtls
