#include "gateway/crypto/auth_response.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "gateway/crypto/error.hpp"

namespace gw::crypto {
namespace {

TEST(AuthResponse, ParsesSpecAesExample) {
  std::error_code ec;
  const auto r = parse_auth_response(
      R"({"random":"ad2b3a5eb51d64f7","seqOffset":1,"token":"MZ8m37hp01w1SSqoDFzo0010500d00.ad2b"})",
      auth_mode::aes, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.token, "MZ8m37hp01w1SSqoDFzo0010500d00.ad2b");
  EXPECT_EQ(r.random, "ad2b3a5eb51d64f7");
  EXPECT_EQ(r.seq_offset, 1u);
}

TEST(AuthResponse, ParsesSpecDtlsExample) {
  std::error_code ec;
  const auto r = parse_auth_response(R"({"token":"f13102810756432e85dfd351eeb41c04"})", auth_mode::dtls, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(r.token, "f13102810756432e85dfd351eeb41c04");
  EXPECT_FALSE(r.seq_offset);
}

TEST(AuthResponse, AesModeNeedsRandomAndSeqOffset) {
  std::error_code ec;
  parse_auth_response(R"({"token":"t"})", auth_mode::aes, ec);
  EXPECT_EQ(ec, error::missing_field);
  parse_auth_response(R"({"token":"t","random":"r"})", auth_mode::aes, ec);
  EXPECT_EQ(ec, error::missing_field);
  parse_auth_response(R"({"token":"t","random":"r","seqOffset":"1"})", auth_mode::aes, ec);
  EXPECT_EQ(ec, error::wrong_type);
  parse_auth_response(R"({"token":"t","random":"r","seqOffset":-1})", auth_mode::aes, ec);
  EXPECT_EQ(ec, error::wrong_type);
  parse_auth_response(R"({"token":"t","random":"r","seqOffset":4294967296})", auth_mode::aes, ec);
  EXPECT_EQ(ec, error::wrong_type);
  parse_auth_response(R"({"token":"t","random":"r","seqOffset":1.5})", auth_mode::aes, ec);
  EXPECT_EQ(ec, error::wrong_type);
  const auto r =
      parse_auth_response(R"({"token":"t","random":"r","seqOffset":4294967295})", auth_mode::aes, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(r.seq_offset, 4294967295u);
}

TEST(AuthResponse, RejectsWrongTypesAndSizes) {
  std::error_code ec;
  parse_auth_response(R"({"token":5})", auth_mode::dtls, ec);
  EXPECT_EQ(ec, error::wrong_type);
  parse_auth_response(R"({"token":""})", auth_mode::dtls, ec);
  EXPECT_EQ(ec, error::empty_field);
  parse_auth_response(R"({"token":")" + std::string(513, 'a') + R"("})", auth_mode::dtls, ec);
  EXPECT_EQ(ec, error::oversize);
  const auto r = parse_auth_response(R"({"token":")" + std::string(512, 'a') + R"("})", auth_mode::dtls, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(r.token.size(), 512u);
  parse_auth_response(R"({"token":"t","random":")" + std::string(65, 'a') + R"(","seqOffset":1})",
                      auth_mode::aes, ec);
  EXPECT_EQ(ec, error::oversize);
  parse_auth_response(std::string(5000, ' '), auth_mode::dtls, ec);
  EXPECT_EQ(ec, error::oversize);
}

TEST(AuthResponse, HostileInputsNeverThrow) {
  const std::string inputs[] = {"",
                                "null",
                                "[]",
                                "\"token\"",
                                "{",
                                "{\"token\":\"a\"",
                                "{\"token\":\"\\ud800\"}",
                                "{\"token\":\"\xff\"}",
                                std::string(2000, '['),
                                std::string(2000, '{'),
                                "{\"token\":\"a\"}garbage",
                                std::string("{\"token\":\"a\0b\"}", 16),
                                "Token invalid"};
  for (const auto& in : inputs) {
    std::error_code ec;
    EXPECT_NO_THROW(parse_auth_response(in, auth_mode::aes, ec));
    EXPECT_TRUE(ec) << in.substr(0, 40);
  }
}

TEST(AuthResponse, RandomBytesNeverThrow) {
  std::mt19937 rng(12345);
  std::string base =
      R"({"random":"ad2b3a5eb51d64f7","seqOffset":1,"token":"MZ8m37hp01w1SSqoDFzo0010500d00.ad2b"})";
  for (int i = 0; i < 5000; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      s[rng() % s.size()] = static_cast<char>(rng() & 0xFF);
    }
    std::error_code ec;
    EXPECT_NO_THROW(parse_auth_response(s, auth_mode::aes, ec));
  }
}

}  // namespace
}  // namespace gw::crypto
