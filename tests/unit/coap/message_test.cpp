#include "gateway/coap/message.hpp"

#include <gtest/gtest.h>

#include "tests/unit/coap/wire.hpp"

namespace gw::coap {
namespace {

using test::bytes;
using test::hex;

TEST(CoapMessage, CodeHelpers) {
  EXPECT_EQ(code_class(code::unauthorized), 4u);
  EXPECT_EQ(code_detail(code::unauthorized), 1u);
  EXPECT_EQ(to_string(code::unauthorized), "4.01");
  EXPECT_EQ(to_string(code::content), "2.05");
  EXPECT_EQ(to_string(code::request_entity_too_large), "4.13");
  EXPECT_EQ(to_string(code::service_unavailable), "5.03");
  EXPECT_EQ(to_string(code::post), "0.02");
  EXPECT_EQ(to_string(code::empty), "0.00");
  EXPECT_EQ(code::post, 0x02);
  EXPECT_EQ(code::content, 0x45);
  EXPECT_EQ(code::internal_server_error, 0xA0);
  EXPECT_TRUE(is_request(code::get));
  EXPECT_FALSE(is_request(code::empty));
  EXPECT_TRUE(is_response(code::changed));
  EXPECT_TRUE(is_response(code::bad_request));
  EXPECT_TRUE(is_response(code::internal_server_error));
  EXPECT_FALSE(is_response(make_code(1, 0)));
  EXPECT_FALSE(is_response(make_code(7, 31)));
  EXPECT_TRUE(is_success(code::created));
  EXPECT_FALSE(is_success(code::not_found));
}

// option_value keeps up to 40 bytes inline and longer values on the heap; both behave as plain bytes when
// copied, moved and reassigned across the boundary.
TEST(CoapOptionValue, InlineAndHeapValuesCopyMoveAndCompareAsBytes) {
  bytes short_bytes(option_value::inline_capacity, 0xab);  // the longest inline value
  bytes long_bytes(option_value::inline_capacity + 1);
  for (std::size_t i = 0; i < long_bytes.size(); ++i) long_bytes[i] = static_cast<std::uint8_t>(i);
  const option_value empty;
  const option_value small(short_bytes);
  const option_value big(long_bytes);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(small, short_bytes);
  EXPECT_EQ(big, long_bytes);
  EXPECT_EQ(big.size(), option_value::inline_capacity + 1);
  EXPECT_EQ(big[40], 40);
  EXPECT_FALSE(small == big);
  EXPECT_EQ((option_value{0x01, 0x02}), hex("01 02"));

  option_value a = big;  // heap copy: its own bytes
  EXPECT_NE(a.data(), big.data());
  EXPECT_EQ(a, big);
  option_value b = std::move(a);  // heap move: takes the buffer
  EXPECT_EQ(b, long_bytes);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  option_value c = small;
  option_value d = std::move(c);  // inline move copies the bytes
  EXPECT_EQ(d, short_bytes);
  d = big;  // inline -> heap
  EXPECT_EQ(d, long_bytes);
  d = small;  // heap -> inline
  EXPECT_EQ(d, short_bytes);
  d = d;  // NOLINT(misc-redundant-expression): self-assignment keeps the value
  EXPECT_EQ(d, short_bytes);
  d = option_value(long_bytes);
  d = std::move(b);
  EXPECT_EQ(d, long_bytes);
}

TEST(CoapMessage, OptionsStaySortedAndRepeatsKeepOrder) {
  message m(message_type::con, code::post);
  m.add_option(option_number::auth_token, "tok");
  m.add_option(option_number::uri_path, "topic");
  m.add_uint_option(option_number::content_format, 50);
  m.add_option(option_number::uri_path, "a");
  m.add_option(option_number::uri_host, "h");
  ASSERT_EQ(m.options().size(), 5u);
  EXPECT_EQ(m.options()[0].number, option_number::uri_host);
  EXPECT_EQ(m.options()[1].number, option_number::uri_path);
  EXPECT_EQ(m.options()[1].value, test::ascii("topic"));
  EXPECT_EQ(m.options()[2].value, test::ascii("a"));
  EXPECT_EQ(m.options()[3].number, option_number::content_format);
  EXPECT_EQ(m.options()[4].number, option_number::auth_token);
  EXPECT_EQ(m.find_options(option_number::uri_path).size(), 2u);
  EXPECT_EQ(m.find_option(option_number::accept), nullptr);
  ASSERT_NE(m.find_option(option_number::auth_token), nullptr);
  EXPECT_EQ(m.find_option(option_number::auth_token)->value, test::ascii("tok"));
  m.remove_options(option_number::uri_path);
  EXPECT_EQ(m.options().size(), 3u);
}

TEST(CoapMessage, UintOptionsAreMinimalBigEndian) {
  // RFC 7252 §3.2: 0 is the empty value, no leading zero bytes.
  message m;
  m.add_uint_option(option_number::content_format, 0);
  m.add_uint_option(option_number::accept, 50);
  m.add_uint_option(option_number::max_age, 256);
  m.add_uint_option(option_number::size1, 0x01020304);
  EXPECT_EQ(m.find_option(option_number::content_format)->value, bytes{});
  EXPECT_EQ(m.find_option(option_number::accept)->value, hex("32"));
  EXPECT_EQ(m.find_option(option_number::max_age)->value, hex("01 00"));
  EXPECT_EQ(m.find_option(option_number::size1)->value, hex("01 02 03 04"));
  EXPECT_EQ(m.uint_option(option_number::content_format), 0u);
  EXPECT_EQ(m.uint_option(option_number::max_age), 256u);
  EXPECT_EQ(m.uint_option(option_number::size1), 0x01020304u);
  EXPECT_EQ(m.uint_option(option_number::uri_query), std::nullopt);
  EXPECT_EQ(m.content_format(), content_format::text_plain);
  m.add_option(option_number::if_match, hex("01 02 03 04 05 06 07 08 09"));
  EXPECT_EQ(m.uint_option(option_number::if_match), std::nullopt);
}

TEST(CoapMessage, ContentFormatRejectsOversizedValue) {
  message m;
  EXPECT_EQ(m.content_format(), std::nullopt);
  m.add_option(option_number::content_format, hex("00 00 32"));
  EXPECT_EQ(m.content_format(), std::nullopt);
}

TEST(CoapMessage, UriPathSplitsAndJoins) {
  message m;
  m.set_uri_path("/topic//a1B2c3D4e5F/sensor-001/user/update/");
  auto segments = m.find_options(option_number::uri_path);
  ASSERT_EQ(segments.size(), 5u);
  EXPECT_EQ(segments[0].value, test::ascii("topic"));
  EXPECT_EQ(segments[4].value, test::ascii("update"));
  EXPECT_EQ(m.uri_path(), "topic/a1B2c3D4e5F/sensor-001/user/update");
  m.set_uri_path("auth");
  EXPECT_EQ(m.uri_path(), "auth");
  m.set_uri_path("/");
  EXPECT_EQ(m.uri_path(), "");
  EXPECT_TRUE(m.options().empty());
}

TEST(CoapMessage, TokenIsAtMostEightBytes) {
  message m;
  EXPECT_TRUE(m.set_token(hex("01 02 03 04 05 06 07 08")));
  EXPECT_EQ(m.token().size(), 8u);
  EXPECT_FALSE(m.set_token(hex("01 02 03 04 05 06 07 08 09")));
  EXPECT_EQ(bytes(m.token().begin(), m.token().end()), hex("01 02 03 04 05 06 07 08"));
  EXPECT_TRUE(m.set_token({}));
  EXPECT_TRUE(m.token().empty());
}

TEST(CoapMessage, EmptyAckAndRst) {
  const message ack = make_empty_ack(0xBEEF);
  EXPECT_EQ(ack.type(), message_type::ack);
  EXPECT_TRUE(ack.is_empty());
  EXPECT_EQ(ack.message_id(), 0xBEEF);
  const message rst = make_rst(7);
  EXPECT_EQ(rst.type(), message_type::rst);
  EXPECT_TRUE(rst.is_empty());
  EXPECT_EQ(rst.message_id(), 7);
}

TEST(CoapMessage, EqualityComparesEveryField) {
  message a(message_type::con, code::post, 1);
  a.set_token(hex("aa"));
  a.set_payload("x");
  message b = a;
  EXPECT_EQ(a, b);
  b.set_token(hex("ab"));
  EXPECT_NE(a, b);
  b = a;
  b.set_message_id(2);
  EXPECT_NE(a, b);
  b = a;
  b.add_option(option_number::accept, "");
  EXPECT_NE(a, b);
  b = a;
  b.set_payload("y");
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gw::coap
