#include "gateway/coap/deduplicator.hpp"

#include <gtest/gtest.h>

namespace gw::coap {
namespace {

using namespace std::chrono_literals;
const time_point t0{};

TEST(CoapDeduplicator, RemembersForLifetime) {
  deduplicator d(247s, 8);
  EXPECT_FALSE(d.contains(t0, 5));
  d.remember(t0, 5);
  EXPECT_TRUE(d.contains(t0 + 246s, 5));
  EXPECT_FALSE(d.contains(t0 + 247s, 5));
  EXPECT_FALSE(d.contains(t0, 6));
  EXPECT_EQ(d.next_expiry(), t0 + 247s);
  d.expire(t0 + 246s);
  EXPECT_EQ(d.size(), 1u);
  d.expire(t0 + 247s);
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.next_expiry(), std::nullopt);
}

TEST(CoapDeduplicator, BoundedForgetsOldestFirst) {
  deduplicator d(247s, 3);
  for (std::uint16_t mid = 1; mid <= 5; ++mid) d.remember(t0 + std::chrono::seconds(mid), mid);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_FALSE(d.contains(t0 + 10s, 1));
  EXPECT_FALSE(d.contains(t0 + 10s, 2));
  EXPECT_TRUE(d.contains(t0 + 10s, 3));
  EXPECT_TRUE(d.contains(t0 + 10s, 5));
  EXPECT_EQ(d.next_expiry(), t0 + 3s + 247s);
}

TEST(CoapDeduplicator, ZeroCapacityRemembersNothing) {
  deduplicator d(247s, 0);
  d.remember(t0, 1);
  EXPECT_FALSE(d.contains(t0, 1));
  EXPECT_EQ(d.size(), 0u);
}

}  // namespace
}  // namespace gw::coap
