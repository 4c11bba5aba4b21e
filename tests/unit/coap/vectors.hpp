#pragma once

// Byte vectors from shared/protocol/alibaba-coap.md §10 and §12.

#include <string_view>

#include "tests/unit/coap/wire.hpp"

namespace gw::coap::test {

inline constexpr std::string_view auth_json =
    R"({"productKey":"a1B2c3D4e5F","deviceName":"sensor-001","clientId":"a1B2c3D4e5F.sensor-001",)"
    R"("timestamp":"1700000000000","seq":"1","signmethod":"hmacsha1",)"
    R"("sign":"1237203efeddc3b2c26b52b3e207c0ed312d7922"})";

inline constexpr std::string_view auth_token = "T0kEnExAmPlE0123456789abcdef00.abcd";  // 35 B

/// §10 CoAP /auth, 218 B (220 B with Accept 50).
inline bytes auth_vector(bool accept50) {
  return cat({hex("44"),                          // ver 1, CON, TKL 4
              hex("02"),                          // 0.02 POST
              hex("12 34"),                       // MID 0x1234
              hex("a1 a2 a3 a4"),                 // token
              hex("b4"), ascii("auth"),           // Uri-Path (11), len 4
              hex("11 32"),                       // Content-Format (12) = 50
              accept50 ? hex("51 32") : bytes{},  // Accept (17) = 50
              hex("ff"), ascii(auth_json)});
}

inline bytes publish_seq() {
  return hex("c7 20 56 b7 ed 69 aa cb a8 26 15 a9 51 22 5d fa");
}
inline bytes publish_ciphertext() {
  return hex("d9 66 af bb ef 6a 80 98 4a 95 06 5c c3 4d 56 31");
}

/// §10 CoAP publish, 125 B (127 B with Accept 50).
inline bytes publish_vector(bool accept50) {
  return cat({hex("44 02 12 34 a1 a2 a3 a4"),   // CON POST, MID 0x1234, token a1a2a3a4
              hex("b5"), ascii("topic"),        // Uri-Path (delta 11), len 5
              hex("0b"), ascii("a1B2c3D4e5F"),  // Uri-Path (delta 0), len 11
              hex("0a"), ascii("sensor-001"),   // Uri-Path, len 10
              hex("04"), ascii("user"),         // Uri-Path, len 4
              hex("06"), ascii("update"),       // Uri-Path, len 6
              hex("11 32"),                     // Content-Format (12) = 50
              accept50
                  ? hex("51 32 ed 07 0a 16")  // Accept (17) = 50; 2088 = 17 + 269 + 0x070A, len 13 + 0x16
                  : hex("ed 07 0f 16"),       // 2088 = 12 + 269 + 0x070F, len 35 = 13 + 0x16
              ascii(auth_token), hex("1d 03"), publish_seq(),  // 2089 (delta 1), len 16 = 13 + 3
              hex("ff"), publish_ciphertext()});
}

/// §12 captured iotkit /topic: token in option 61, Accept 42. The ciphertext was not recorded; any payload
/// works.
inline bytes iotkit_topic_vector() {
  return cat({hex("44 02 5c b9 06 03 02 01"),  // CON POST, MID 0x5cb9, token 06030201
              hex("b5"), ascii("topic"), hex("0b"), ascii("a1B2c3D4e5F"), hex("0a"), ascii("sensor-001"),
              hex("04"), ascii("user"), hex("06"), ascii("update"),
              hex("11 32"),                        // Content-Format 50
              hex("51 2a"),                        // Accept 42
              hex("dd 1f 16"), ascii(auth_token),  // 61 = 17 + 13 + 0x1f, len 35
              hex("ed 06 df 03"),                  // 2089 = 61 + 269 + 0x06df, len 16
              hex("e1 c9 98 a6 55 8d b3 18 16 9b 0b 67 0b 3c 21 b1"),
              hex("ff 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff")});
}

}  // namespace gw::coap::test
