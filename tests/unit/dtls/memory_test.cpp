// Per-session memory of gw::dtls::client (glibc mallinfo2 in-use bytes), against in-process PSK servers.
// The figure is printed and recorded as test properties; the bound only catches a regression by a wide
// margin.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "gateway/crypto/psk.hpp"
#include "gateway/dtls/client.hpp"
#include "memory_peer.hpp"

namespace gw::dtls {
namespace {

std::size_t in_use() {
  return mallinfo2().uordblks;
}

TEST(DtlsMemory, BytesPerConnectedClient) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "mallinfo2 does not see AddressSanitizer's allocator";
#endif
  constexpr std::size_t n = 200;
  const crypto::secret device_secret{std::string_view("0123456789abcdef0123456789abcdef")};
  const auto creds = crypto::make_psk_credentials("a1B2c3D4e5F", "sensor-001", device_secret);
  std::error_code ec;
  context_config cc;
  cc.kind = context_config::kind::psk;
  auto ctx = context::create(cc, ec);
  ASSERT_FALSE(ec);
  client_config cfg;
  cfg.psk = crypto::psk_credentials{creds.identity, creds.key.clone()};
  const std::vector<std::uint8_t> msg(100, 'x');
  const time_point t0{};

  {  // Warm up OpenSSL's lazily built tables so they are not charged to the clients.
    auto c = client::create(ctx, cfg, ec);
    test::memory_peer p(creds.identity, std::string(creds.key.view()));
    c->start(t0);
    p.pump(*c, t0);
    ASSERT_EQ(c->current_state(), client::state::connected);
  }

  std::vector<std::unique_ptr<test::memory_peer>> peers;
  for (std::size_t i = 0; i < n; ++i) {
    peers.push_back(std::make_unique<test::memory_peer>(creds.identity, std::string(creds.key.view())));
  }
  const std::size_t before_create = in_use();
  std::vector<std::unique_ptr<client>> clients;
  for (std::size_t i = 0; i < n; ++i) {
    clients.push_back(client::create(ctx, cfg, ec));
    ASSERT_NE(clients.back(), nullptr);
  }
  const std::size_t after_create = in_use();

  std::vector<std::uint8_t> d;
  for (std::size_t i = 0; i < n; ++i) {
    clients[i]->start(t0);
    peers[i]->pump(*clients[i], t0);
    ASSERT_EQ(clients[i]->current_state(), client::state::connected) << clients[i]->last_error_detail();
    ASSERT_FALSE(clients[i]->send(msg));  // one message each way, as a live session would have seen
    ASSERT_TRUE(clients[i]->poll_transmit(d));
    peers[i]->on_datagram(d);
    clients[i]->on_datagram(t0, peers[i]->write("reply"));
    ASSERT_TRUE(clients[i]->poll_plaintext(d));
  }
  peers.clear();
  const std::size_t connected = in_use();
  clients.clear();
  const std::size_t after_free = in_use();

  const double idle_per_client = static_cast<double>(after_create - before_create) / n;
  const double connected_per_client = static_cast<double>(connected - after_free) / n;
  std::printf(
      "gw::dtls::client memory: created %.0f B/client, connected (idle) %.0f B/client (%.1f KiB), n=%zu\n",
      idle_per_client, connected_per_client, connected_per_client / 1024, n);
  ::testing::Test::RecordProperty("created_bytes_per_client", static_cast<int>(idle_per_client));
  ::testing::Test::RecordProperty("connected_bytes_per_client", static_cast<int>(connected_per_client));
  EXPECT_GT(connected_per_client, 1000.0);
  EXPECT_LT(connected_per_client, 96.0 * 1024);
}

}  // namespace
}  // namespace gw::dtls
