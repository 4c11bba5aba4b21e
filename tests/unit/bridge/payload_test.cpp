#include "gateway/bridge/payload.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "gateway/bridge/error.hpp"

namespace gw::bridge {
namespace {

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST(BridgePayloadTest, RawPassesThroughUnchanged) {
  auto in = bytes("not json \xff\x00 at all");
  std::vector<std::uint8_t> out;
  EXPECT_FALSE(encode_payload(payload_format::raw, in, out));
  EXPECT_EQ(out, in);
}

TEST(BridgePayloadTest, CborReencodesJson) {
  auto in = bytes(R"({"temp": 21.5, "ok": true})");
  std::vector<std::uint8_t> out;
  ASSERT_FALSE(encode_payload(payload_format::cbor, in, out));
  EXPECT_EQ(nlohmann::json::from_cbor(out), nlohmann::json::parse(in));
  // RFC 8949 §3.1: a map of 2 pairs starts with major type 5, length 2.
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0], 0xa2);
}

TEST(BridgePayloadTest, CborRefusesNonJson) {
  std::vector<std::uint8_t> out{1, 2, 3};
  EXPECT_EQ(encode_payload(payload_format::cbor, bytes("{\"a\":"), out), error::not_json);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(encode_payload(payload_format::cbor, bytes(""), out), error::not_json);
  EXPECT_EQ(encode_payload(payload_format::cbor, bytes("\xff\xfe"), out), error::not_json);
}

TEST(BridgePayloadTest, SizeCheck) {
  EXPECT_FALSE(check_payload_size(1024));
  EXPECT_EQ(check_payload_size(1025), error::oversize);
  EXPECT_FALSE(check_payload_size(2048, 4096));
  EXPECT_EQ(oversize_reason(2048), "oversize 2048 > 1024");
}

}  // namespace
}  // namespace gw::bridge
