#include "gateway/crypto/secret.hpp"

#include <gtest/gtest.h>

#include <type_traits>

namespace gw::crypto {
namespace {

static_assert(!std::is_copy_constructible_v<secret>);
static_assert(std::is_nothrow_move_constructible_v<secret>);

TEST(Secret, RedactedNeverShowsBytes) {
  const secret s(std::string_view("supersecretvalue"));
  EXPECT_EQ(s.redacted(), "<secret: 16 bytes>");
  EXPECT_EQ(s.redacted().find("super"), std::string::npos);
}

TEST(Secret, MoveLeavesSourceEmpty) {
  secret a(std::string_view("abc"));
  secret b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.view(), "abc");
  secret c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.view(), "abc");
}

TEST(Secret, CloneAndCompare) {
  const secret a(std::string_view("abc"));
  const secret b = a.clone();
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == secret(std::string_view("abd")));
  EXPECT_FALSE(a == secret(std::string_view("ab")));
}

}  // namespace
}  // namespace gw::crypto
