#include "gateway/coap/matcher.hpp"

#include <gtest/gtest.h>

#include "tests/unit/coap/wire.hpp"

namespace gw::coap {
namespace {

using test::hex;

TEST(CoapMatcher, MatchesByMid) {
  matcher m;
  m.add_mid(0x1234, 7);
  EXPECT_EQ(m.find_mid(0x1234), request_id{7});
  EXPECT_EQ(m.find_mid(0x1235), std::nullopt);
  m.remove_mid(0x1234);
  EXPECT_EQ(m.find_mid(0x1234), std::nullopt);
  EXPECT_EQ(m.mid_count(), 0u);
}

TEST(CoapMatcher, MatchesByWholeToken) {
  matcher m;
  EXPECT_TRUE(m.add_token(hex("a1 a2 a3 a4"), 1));
  EXPECT_TRUE(m.add_token(hex("a1 a2 a3"), 2));  // a prefix is a different token
  EXPECT_FALSE(m.add_token(hex("a1 a2 a3 a4"), 3));
  EXPECT_EQ(m.find_token(hex("a1 a2 a3 a4")), request_id{1});
  EXPECT_EQ(m.find_token(hex("a1 a2 a3")), request_id{2});
  EXPECT_EQ(m.find_token(hex("a1 a2 a3 a4 00")), std::nullopt);
  EXPECT_EQ(m.find_token(hex("")), std::nullopt);
  EXPECT_EQ(m.find_token(hex("01 02 03 04 05 06 07 08 09")), std::nullopt);
  m.remove_token(hex("a1 a2 a3 a4"));
  EXPECT_EQ(m.find_token(hex("a1 a2 a3 a4")), std::nullopt);
  EXPECT_EQ(m.token_count(), 1u);
}

}  // namespace
}  // namespace gw::coap
