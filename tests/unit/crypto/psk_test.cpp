#include "gateway/crypto/psk.hpp"

#include <gtest/gtest.h>

namespace gw::crypto {
namespace {

TEST(Psk, Spec10Vector) {
  const auto c = make_psk_credentials("a1B2c3D4e5F", "sensor-001",
                                      secret(std::string_view("0123456789abcdef0123456789abcdef")));
  EXPECT_EQ(c.identity, "devicename|hmacsha256|a1B2c3D4e5F&sensor-001|2524608000000");
  EXPECT_EQ(c.key.view(), "AA11DD428787D21DBACFED5887A69BBCC09F134F4CEB76F2394495801CB41FB0");
  EXPECT_EQ(c.key.size(), 64u);
}

TEST(Psk, TimestampIsPartOfIdentityAndKey) {
  const secret s(std::string_view("0123456789abcdef0123456789abcdef"));
  const auto a = make_psk_credentials("pk", "dn", s, 1);
  const auto b = make_psk_credentials("pk", "dn", s, 2);
  EXPECT_EQ(a.identity, "devicename|hmacsha256|pk&dn|1");
  EXPECT_FALSE(a.key == b.key);
}

}  // namespace
}  // namespace gw::crypto
