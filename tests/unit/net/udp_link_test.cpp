#include "gateway/net/udp_link.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <string>
#include <vector>

namespace gw::net {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace std::chrono_literals;

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

// A peer on 127.0.0.1:0 echoes every datagram; the link receives the echoes through its handler.
TEST(UdpLink, SendsToAndReceivesFromItsPeer) {
  asio::io_context io;
  udp::socket peer(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::array<char, 1500> buf{};
  udp::endpoint from;
  std::function<void()> echo = [&] {
    peer.async_receive_from(asio::buffer(buf), from, [&](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      peer.send_to(asio::buffer(buf.data(), n), from);
      echo();
    });
  };
  echo();

  udp_link link(io.get_executor());
  std::vector<std::string> got;
  link.on_receive([&](std::span<const std::uint8_t> d) {
    got.emplace_back(d.begin(), d.end());
    if (got.size() == 3) io.stop();
  });
  std::error_code connect_ec = std::make_error_code(std::errc::io_error);
  link.async_connect("127.0.0.1", peer.local_endpoint().port(), [&](std::error_code ec) {
    connect_ec = ec;
    for (auto s : {"one", "two", "three"}) EXPECT_FALSE(link.send(bytes(s)));
  });
  io.run_for(5s);
  EXPECT_FALSE(connect_ec);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(link.stats().datagrams_sent, 3u);
  EXPECT_EQ(link.stats().datagrams_received, 3u);
}

// A peer that sends 100 datagrams at once: more than one recvmmsg batch and more than one wake-up's bound
// (64), so the rest must come from the re-armed wait. Every datagram arrives, once and in order, and the
// handler sees each one's own length.
TEST(UdpLink, DeliversABurstBeyondOneWakeUpInOrder) {
  asio::io_context io;
  udp::socket peer(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  peer.set_option(asio::socket_base::receive_buffer_size(1 << 20));
  std::array<char, 16> hello{};
  udp::endpoint link_ep;
  constexpr int kBurst = 100;

  udp_link link(io.get_executor());
  std::vector<std::string> got;
  link.on_receive([&](std::span<const std::uint8_t> d) {
    got.emplace_back(d.begin(), d.end());
    if (got.size() == kBurst) io.stop();
  });
  // The link says hello; the peer answers with the burst to the hello's source.
  peer.async_receive_from(asio::buffer(hello), link_ep, [&](boost::system::error_code ec, std::size_t) {
    ASSERT_FALSE(ec);
    for (int i = 0; i < kBurst; ++i) peer.send_to(asio::buffer(std::to_string(i)), link_ep);
  });
  link.async_connect("127.0.0.1", peer.local_endpoint().port(), [&](std::error_code ec) {
    ASSERT_FALSE(ec);
    EXPECT_FALSE(link.send(bytes("hello")));
  });
  io.run_for(5s);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kBurst));
  for (int i = 0; i < kBurst; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], std::to_string(i));
  EXPECT_EQ(link.stats().datagrams_received, static_cast<std::uint64_t>(kBurst));
  EXPECT_EQ(link.stats().receive_errors, 0u);
}

TEST(UdpLink, UnresolvableHostReportsAnError) {
  asio::io_context io;
  udp_link link(io.get_executor());
  std::error_code result;
  bool called = false;
  link.async_connect("no-such-host.invalid", 5683, [&](std::error_code ec) {
    called = true;
    result = ec;
  });
  io.run_for(10s);
  EXPECT_TRUE(called);
  EXPECT_TRUE(result);
  EXPECT_FALSE(link.is_open());
}

TEST(UdpLink, SendOnClosedLinkFailsWithoutThrowing) {
  asio::io_context io;
  udp_link link(io.get_executor());
  EXPECT_EQ(link.send(bytes("x")), std::make_error_code(std::errc::not_connected));
}

// Closing the link while a receive is pending must not call the handler afterwards.
TEST(UdpLink, NoHandlerRunsAfterDestruction) {
  asio::io_context io;
  udp::socket peer(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  int calls = 0;
  {
    udp_link link(io.get_executor());
    ASSERT_FALSE(link.connect(peer.local_endpoint()));
    link.on_receive([&](std::span<const std::uint8_t>) { ++calls; });
    peer.send_to(asio::buffer("late", 4), link.local_endpoint());
  }
  io.run_for(50ms);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace gw::net
