#include "gateway/coap/codec.hpp"

#include <gtest/gtest.h>

#include "gateway/coap/error.hpp"
#include "tests/unit/coap/vectors.hpp"

namespace gw::coap {
namespace {

using test::ascii;
using test::bytes;
using test::hex;

bytes encoded(const message& m) {
  bytes out;
  encode(m, out);
  EXPECT_EQ(out.size(), encoded_size(m));
  return out;
}

message decoded(const bytes& wire) {
  message m;
  EXPECT_EQ(decode(wire, m), std::error_code{});
  return m;
}

message auth_request(bool accept50) {
  message m(message_type::con, code::post, 0x1234);
  m.set_token(hex("a1 a2 a3 a4"));
  m.set_uri_path("/auth");
  m.add_uint_option(option_number::content_format, content_format::json);
  if (accept50) m.add_uint_option(option_number::accept, content_format::json);
  m.set_payload(test::auth_json);
  return m;
}

message publish_request(bool accept50) {
  message m(message_type::con, code::post, 0x1234);
  m.set_token(hex("a1 a2 a3 a4"));
  m.set_uri_path("/topic/a1B2c3D4e5F/sensor-001/user/update");
  m.add_option(option_number::aes_seq, test::publish_seq());  // added out of order on purpose
  m.add_option(option_number::auth_token, test::auth_token);
  m.add_uint_option(option_number::content_format, content_format::json);
  if (accept50) m.add_uint_option(option_number::accept, content_format::json);
  m.set_payload(test::publish_ciphertext());
  return m;
}

TEST(CoapCodec, AuthVectorIsByteExact) {
  for (bool accept : {false, true}) {
    const bytes wire = test::auth_vector(accept);
    ASSERT_EQ(wire.size(), accept ? 220u : 218u);
    EXPECT_EQ(encoded(auth_request(accept)), wire);
    EXPECT_EQ(decoded(wire), auth_request(accept));
  }
}

TEST(CoapCodec, PublishVectorIsByteExact) {
  for (bool accept : {false, true}) {
    const bytes wire = test::publish_vector(accept);
    ASSERT_EQ(wire.size(), accept ? 127u : 125u);
    EXPECT_EQ(encoded(publish_request(accept)), wire);
    const message m = decoded(wire);
    EXPECT_EQ(m, publish_request(accept));
    EXPECT_EQ(m.uri_path(), "topic/a1B2c3D4e5F/sensor-001/user/update");
    EXPECT_EQ(m.content_format(), content_format::json);
  }
}

TEST(CoapCodec, IotkitTopicWithLegacyTokenOptionIsByteExact) {
  const bytes wire = test::iotkit_topic_vector();
  const message m = decoded(wire);
  EXPECT_EQ(m.message_id(), 0x5cb9);
  EXPECT_EQ(bytes(m.token().begin(), m.token().end()), hex("06 03 02 01"));
  ASSERT_NE(m.find_option(option_number::legacy_auth_token), nullptr);
  EXPECT_EQ(m.find_option(option_number::legacy_auth_token)->value, ascii(test::auth_token));
  EXPECT_EQ(m.uint_option(option_number::accept), 42u);
  EXPECT_EQ(m.find_option(option_number::aes_seq)->value.size(), 16u);

  message built(message_type::con, code::post, 0x5cb9);
  built.set_token(hex("06 03 02 01"));
  built.set_uri_path("topic/a1B2c3D4e5F/sensor-001/user/update");
  built.add_uint_option(option_number::content_format, 50);
  built.add_uint_option(option_number::accept, 42);
  built.add_option(option_number::legacy_auth_token, test::auth_token);
  built.add_option(option_number::aes_seq, hex("e1 c9 98 a6 55 8d b3 18 16 9b 0b 67 0b 3c 21 b1"));
  built.set_payload(hex("00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff"));
  EXPECT_EQ(encoded(built), wire);
}

TEST(CoapCodec, EncodeAppends) {
  bytes out = hex("aa");
  encode(make_empty_ack(0x0102), out);
  EXPECT_EQ(out, hex("aa 60 00 01 02"));
}

TEST(CoapCodec, EmptyAckAndRstBytes) {
  EXPECT_EQ(encoded(make_empty_ack(0xBEEF)), hex("60 00 be ef"));  // ver 1, ACK, TKL 0, 0.00
  EXPECT_EQ(encoded(make_rst(0x0001)), hex("70 00 00 01"));        // ver 1, RST
}

TEST(CoapCodec, OptionDeltaAndLengthExtensionBoundaries) {
  // RFC 7252 §3.1: 0..12 in the nibble, 13..268 as 13 + 1 byte, 269..65535+269 as 14 + 2 bytes.
  for (std::uint16_t number : {1, 12, 13, 268, 269, 270, 2088, 65535}) {
    for (std::size_t length : {0u, 12u, 13u, 268u, 269u, 1000u}) {
      message m(message_type::non, code::get, 9);
      m.add_option(number, bytes(length, 0x5a));
      const bytes wire = encoded(m);
      message back;
      ASSERT_EQ(decode(wire, back), std::error_code{}) << number << "/" << length;
      EXPECT_EQ(back, m);
    }
  }
  message m(message_type::con, code::get, 0);
  m.add_option(13, "");
  EXPECT_EQ(encoded(m), hex("40 01 00 00 d0 00"));
  m = message(message_type::con, code::get, 0);
  m.add_option(269, bytes(13, 1));
  EXPECT_EQ(encoded(m), test::cat({hex("40 01 00 00 ed 00 00 00"), bytes(13, 1)}));
}

TEST(CoapCodec, RoundTripsEveryTypeAndRepeatedOptions) {
  for (auto type : {message_type::con, message_type::non, message_type::ack, message_type::rst}) {
    message m(type, code::content, 0xFFFF);
    m.set_token(hex("01 02 03 04 05 06 07 08"));
    m.add_option(option_number::uri_query, "a=1");
    m.add_option(option_number::uri_query, "b=2");
    m.add_option(option_number::message_id, hex("00 ff"));
    m.set_payload(bytes(1000, 0x42));
    EXPECT_EQ(decoded(encoded(m)), m);
  }
  EXPECT_EQ(decoded(encoded(make_empty_ack(3))), make_empty_ack(3));
}

struct bad_case {
  const char* name;
  bytes wire;
  error expected;
};

TEST(CoapCodec, RejectsEveryMalformedInput) {
  const bad_case cases[] = {
      {"empty datagram", hex(""), error::truncated_header},
      {"3-byte header", hex("40 01 00"), error::truncated_header},
      {"version 0", hex("00 01 00 00"), error::bad_version},
      {"version 2", hex("80 01 00 00"), error::bad_version},
      {"version 3", hex("c0 01 00 00"), error::bad_version},
      {"TKL 9", hex("49 01 00 00 01 02 03 04 05 06 07 08 09"), error::bad_token_length},
      {"TKL 15", hex("4f 01 00 00"), error::bad_token_length},
      {"token cut", hex("44 01 00 00 01 02 03"), error::truncated_token},
      {"delta nibble 15", hex("40 01 00 00 f1 00"), error::reserved_option_nibble},
      {"length nibble 15", hex("40 01 00 00 1f 00"), error::reserved_option_nibble},
      {"delta ext 1 missing", hex("40 01 00 00 d0"), error::truncated_option},
      {"delta ext 2 cut", hex("40 01 00 00 e0 00"), error::truncated_option},
      {"length ext 1 missing", hex("40 01 00 00 1d"), error::truncated_option},
      {"length ext 2 cut", hex("40 01 00 00 1e 01"), error::truncated_option},
      {"value cut", hex("40 01 00 00 b4 61 75 74"), error::truncated_option},
      {"marker, no payload", hex("40 01 00 00 ff"), error::empty_payload},
      {"marker after option, no payload", hex("40 01 00 00 b1 61 ff"), error::empty_payload},
      {"number > 65535", hex("40 01 00 00 e0 ff ff e0 00 00"), error::option_number_overflow},
      {"number 65536 in one step", test::cat({hex("40 01 00 00 b0"), hex("e0 ff f5")}),
       error::option_number_overflow},
      {"empty with token", hex("61 00 00 01 aa"), error::non_empty_empty_message},
      {"empty with option", hex("60 00 00 01 b0"), error::non_empty_empty_message},
      {"empty with payload", hex("70 00 00 01 ff 01"), error::non_empty_empty_message},
  };
  for (const bad_case& c : cases) {
    message m;
    EXPECT_EQ(decode(c.wire, m), make_error_code(c.expected)) << c.name;
  }
}

TEST(CoapCodec, AcceptsEdgeCases) {
  message m;
  EXPECT_EQ(decode(hex("40 00 00 00"), m), std::error_code{});  // empty CON (ping)
  EXPECT_TRUE(m.is_empty());
  EXPECT_EQ(decode(hex("48 45 00 01 01 02 03 04 05 06 07 08"), m), std::error_code{});
  EXPECT_EQ(m.token().size(), 8u);
  // Highest option number: 65535 = 269 + 0xFFF2 + 0... (delta 65535 from 0).
  EXPECT_EQ(decode(hex("40 01 00 00 e0 fe f2"), m), std::error_code{});
  ASSERT_EQ(m.options().size(), 1u);
  EXPECT_EQ(m.options()[0].number, 65535);
  // Reserved code classes decode; the endpoint decides what to do with them.
  EXPECT_EQ(decode(hex("50 e0 00 00"), m), std::error_code{});
  EXPECT_EQ(m.code(), make_code(7, 0));
}

TEST(CoapCodec, ErrorCategoryNamesEveryValue) {
  EXPECT_STREQ(coap_category().name(), "coap");
  for (int v = static_cast<int>(error::truncated_header);
       v <= static_cast<int>(error::separate_response_timeout); ++v) {
    const std::error_code ec = make_error_code(static_cast<error>(v));
    EXPECT_NE(ec.message(), "unknown coap error") << v;
    EXPECT_TRUE(ec);
  }
  const std::error_code timeout = error::timeout;
  EXPECT_EQ(timeout, error::timeout);
}

}  // namespace
}  // namespace gw::coap
