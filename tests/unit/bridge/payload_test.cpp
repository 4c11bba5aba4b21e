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

// Limits before parsing (payload.hpp): 100,000 nested arrays overflowed the stack in nlohmann's CBOR writer.
TEST(BridgePayloadTest, CborRefusesDeepNestingAndHugeJsonBeforeParsing) {
  std::vector<std::uint8_t> out{1};
  const auto nested = [](std::size_t depth, char open, char close) {
    std::string s(depth, open);
    s.append(depth, close);
    return bytes(s);
  };
  EXPECT_FALSE(encode_payload(payload_format::cbor, nested(max_json_depth, '[', ']'), out));
  EXPECT_EQ(encode_payload(payload_format::cbor, nested(max_json_depth + 1, '[', ']'), out), error::too_deep);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(encode_payload(payload_format::cbor, nested(100000, '[', ']'), out), error::too_deep);
  std::string objects;
  for (std::size_t i = 0; i <= max_json_depth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(max_json_depth + 1, '}');
  EXPECT_EQ(encode_payload(payload_format::cbor, bytes(objects), out), error::too_deep);
  // Brackets inside strings, escaped quotes included, are text.
  const std::string text = "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
  ASSERT_FALSE(encode_payload(payload_format::cbor, bytes(text), out));
  EXPECT_EQ(nlohmann::json::from_cbor(out), nlohmann::json::parse(text));

  std::string big = "[" + std::string(max_json_input, ' ') + "]";
  EXPECT_EQ(encode_payload(payload_format::cbor, bytes(big), out), error::oversize);
  EXPECT_TRUE(out.empty());
  big.erase(1, 2);  // max_json_input bytes: parsed
  EXPECT_FALSE(encode_payload(payload_format::cbor, bytes(big), out));
  EXPECT_EQ(out, std::vector<std::uint8_t>{0x80});  // RFC 8949: the empty array
}

TEST(BridgePayloadTest, SizeCheck) {
  EXPECT_FALSE(check_payload_size(1024));
  EXPECT_EQ(check_payload_size(1025), error::oversize);
  EXPECT_FALSE(check_payload_size(2048, 4096));
  EXPECT_EQ(oversize_reason(2048), "oversize 2048 > 1024");
}

}  // namespace
}  // namespace gw::bridge
