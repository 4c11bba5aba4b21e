#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "gateway/crypto/secret.hpp"
#include "gateway/crypto/sign.hpp"

namespace gw::crypto {

// Inputs of POST /auth (spec §4.1). Optional fields are left out of both the JSON body and the sign string
// when unset.
struct auth_request_params {
  std::string product_key;
  std::string device_name;
  std::string client_id;                 ///< spec default `${pk}.${dn}`; at most 64 characters
  std::optional<std::string> timestamp;  ///< ms since epoch, decimal text (spec: optional, not validated)
  std::optional<std::string> seq;        ///< AES mode only: decimal text (spec §4.1)
  std::optional<unsigned> ack_mode;      ///< 0 piggybacked / 1 separate; signed as its decimal text if set
  sign_method method = sign_method::hmacmd5;
  bool send_signmethod = true;  ///< false: iotkit form, signmethod omitted (spec §12 #3); needs hmacmd5
};

// The outcome: what was signed, the signature and the exact /auth payload.
struct auth_request {
  std::string sign_string;  ///< spec §4.2 string (contains no secret)
  std::string sign;         ///< lower-case hex HMAC
  std::string json;         ///< UTF-8 body; field order productKey, deviceName, clientId, timestamp, seq,
                            ///< ackMode, signmethod, sign (spec §10 "Auth JSON")
};

// Builds the /auth request. Errors: missing_identity, client_id_too_long, invalid_utf8, openssl_failure.
// send_signmethod = false with a method other than hmacmd5 would not verify (the server assumes hmacmd5),
// so the method is then forced to hmacmd5.
auth_request make_auth_request(const auth_request_params& params, const secret& device_secret,
                               std::error_code& ec);

}  // namespace gw::crypto
