#include "gateway/crypto/sign.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "gateway/crypto/auth_request.hpp"
#include "gateway/crypto/error.hpp"

namespace gw::crypto {
namespace {

// Spec §10 inputs.
const secret device_secret{std::string_view("0123456789abcdef0123456789abcdef")};
constexpr std::string_view aes_ts_string =
    "clientIda1B2c3D4e5F.sensor-001deviceNamesensor-001productKeya1B2c3D4e5Fseq1timestamp1700000000000";

auth_request_params spec_params() {
  auth_request_params p;
  p.product_key = "a1B2c3D4e5F";
  p.device_name = "sensor-001";
  p.client_id = "a1B2c3D4e5F.sensor-001";
  p.timestamp = "1700000000000";
  p.seq = "1";
  return p;
}

TEST(SignMethod, ParsesAndPrints) {
  for (auto m : {sign_method::hmacmd5, sign_method::hmacsha1, sign_method::hmacsha256}) {
    EXPECT_EQ(parse_sign_method(to_string(m)), m);
  }
  EXPECT_FALSE(parse_sign_method("HMACMD5"));
  EXPECT_FALSE(parse_sign_method("hmacsha512"));
  EXPECT_FALSE(parse_sign_method(""));
}

TEST(SignString, SortsByByteValueAndExcludesFields) {
  const std::vector<sign_field> fields{{"timestamp", "1700000000000"},
                                       {"sign", "x"},
                                       {"productKey", "a1B2c3D4e5F"},
                                       {"signmethod", "hmacsha1"},
                                       {"deviceName", "sensor-001"},
                                       {"version", "1.0"},
                                       {"clientId", "a1B2c3D4e5F.sensor-001"},
                                       {"resources", "r"},
                                       {"seq", "1"}};
  EXPECT_EQ(make_sign_string(fields), aes_ts_string);
}

TEST(SignString, UpperCaseKeysSortBeforeLowerCase) {
  const std::vector<sign_field> fields{{"b", "2"}, {"Z", "1"}, {"a", "0"}};
  EXPECT_EQ(make_sign_string(fields), "Z1a0b2");
}

TEST(Sign, Spec10VectorsAllMethods) {
  EXPECT_EQ(hmac_hex(sign_method::hmacmd5, device_secret, aes_ts_string), "252f44c635ae4ffc4dc342790cf43996");
  EXPECT_EQ(hmac_hex(sign_method::hmacsha1, device_secret, aes_ts_string),
            "1237203efeddc3b2c26b52b3e207c0ed312d7922");
  EXPECT_EQ(hmac_hex(sign_method::hmacsha256, device_secret, aes_ts_string),
            "278da3478938d822cd29c8632912a7ae9c555a375a3502fb135a700eae6a5405");
}

TEST(AuthRequest, Spec10AuthJsonIsExact202Bytes) {
  auto p = spec_params();
  p.method = sign_method::hmacsha1;
  std::error_code ec;
  const auto r = make_auth_request(p, device_secret, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.sign_string, aes_ts_string);
  EXPECT_EQ(r.sign, "1237203efeddc3b2c26b52b3e207c0ed312d7922");
  const std::string expected =
      R"({"productKey":"a1B2c3D4e5F","deviceName":"sensor-001","clientId":"a1B2c3D4e5F.sensor-001",)"
      R"("timestamp":"1700000000000","seq":"1","signmethod":"hmacsha1",)"
      R"("sign":"1237203efeddc3b2c26b52b3e207c0ed312d7922"})";
  EXPECT_EQ(r.json, expected);
  EXPECT_EQ(r.json.size(), 202u);
}

TEST(AuthRequest, AesModeMd5AndSha256) {
  auto p = spec_params();
  std::error_code ec;
  p.method = sign_method::hmacmd5;
  EXPECT_EQ(make_auth_request(p, device_secret, ec).sign, "252f44c635ae4ffc4dc342790cf43996");
  p.method = sign_method::hmacsha256;
  const auto r = make_auth_request(p, device_secret, ec);
  EXPECT_EQ(r.sign, "278da3478938d822cd29c8632912a7ae9c555a375a3502fb135a700eae6a5405");
  EXPECT_NE(r.json.find(R"("signmethod":"hmacsha256")"), std::string::npos);
}

TEST(AuthRequest, IotkitFormWithoutTimestampOrSignmethod) {
  auto p = spec_params();
  p.timestamp.reset();
  p.send_signmethod = false;
  std::error_code ec;
  const auto r = make_auth_request(p, device_secret, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(r.sign_string, "clientIda1B2c3D4e5F.sensor-001deviceNamesensor-001productKeya1B2c3D4e5Fseq1");
  EXPECT_EQ(r.sign, "73271bf4d2964bd617c8b36f35374738");
  EXPECT_EQ(r.json.find("signmethod"), std::string::npos);
  EXPECT_EQ(r.json.find("timestamp"), std::string::npos);
}

TEST(AuthRequest, DtlsFormWithoutSeq) {
  auto p = spec_params();
  p.seq.reset();
  std::error_code ec;
  p.method = sign_method::hmacmd5;
  auto r = make_auth_request(p, device_secret, ec);
  EXPECT_EQ(r.sign_string,
            "clientIda1B2c3D4e5F.sensor-001deviceNamesensor-001productKeya1B2c3D4e5Ftimestamp1700000000000");
  EXPECT_EQ(r.sign, "4a7627a6ed81945155736c653ddd8f43");
  EXPECT_EQ(r.json.find("\"seq\""), std::string::npos);
  p.method = sign_method::hmacsha1;
  r = make_auth_request(p, device_secret, ec);
  EXPECT_EQ(r.sign, "b9da5e014a2c4ba15a6c28bf9b2075b6e9c1cef1");
}

TEST(AuthRequest, Spec12CapturedIotkitAuth) {
  auth_request_params p;
  p.product_key = "a1B2c3D4e5F";
  p.device_name = "sensor-001";
  p.client_id = "a1B2c3D4e5F.sensor-001";
  p.seq = "2686";
  p.send_signmethod = false;
  std::error_code ec;
  const auto r = make_auth_request(p, device_secret, ec);
  EXPECT_EQ(r.sign, "f76bc3caa9d8a52f6c32822d60efbfab");
  // Field order differs from the SDK's (spec §4.2: order irrelevant); content is the same.
  EXPECT_EQ(r.json,
            R"({"productKey":"a1B2c3D4e5F","deviceName":"sensor-001","clientId":"a1B2c3D4e5F.sensor-001",)"
            R"("seq":"2686","sign":"f76bc3caa9d8a52f6c32822d60efbfab"})");
}

TEST(AuthRequest, AckModeIsSignedAndSent) {
  auto p = spec_params();
  p.ack_mode = 1;
  std::error_code ec;
  const auto r = make_auth_request(p, device_secret, ec);
  EXPECT_EQ(r.sign_string,
            "ackMode1clientIda1B2c3D4e5F.sensor-001deviceNamesensor-001productKeya1B2c3D4e5F"
            "seq1timestamp1700000000000");
  EXPECT_NE(r.json.find(R"("seq":"1","ackMode":1,"signmethod")"), std::string::npos);
}

TEST(AuthRequest, EscapesJsonSpecialCharacters) {
  auto p = spec_params();
  p.client_id = "a\"b\\c\x01";
  std::error_code ec;
  const auto r = make_auth_request(p, device_secret, ec);
  ASSERT_FALSE(ec);
  EXPECT_NE(r.json.find(R"("clientId":"a\"b\\c\u0001")"), std::string::npos);
  // The sign covers the raw characters, not the escaped text.
  EXPECT_NE(r.sign_string.find("clientIda\"b\\c\x01"), std::string::npos);
}

TEST(AuthRequest, RefusesBadInput) {
  std::error_code ec;
  auto p = spec_params();
  p.client_id = std::string(65, 'c');
  make_auth_request(p, device_secret, ec);
  EXPECT_EQ(ec, error::client_id_too_long);
  p.client_id = std::string(64, 'c');
  make_auth_request(p, device_secret, ec);
  EXPECT_FALSE(ec);
  p.device_name = "\xff\xfe";
  make_auth_request(p, device_secret, ec);
  EXPECT_EQ(ec, error::invalid_utf8);
  p.device_name = "";
  make_auth_request(p, device_secret, ec);
  EXPECT_EQ(ec, error::missing_identity);
}

}  // namespace
}  // namespace gw::crypto
