#pragma once

#include <system_error>

namespace gw::crypto {

// Every way a crypto-layer input can be refused (spec §4, §5.2).
enum class error {
  bad_json = 1,        ///< auth response is not a JSON object
  missing_field,       ///< auth response lacks token (and random/seqOffset in AES mode), spec §4.3
  wrong_type,          ///< a response field has the wrong JSON type or an out-of-range value
  oversize,            ///< response, token (> 512 B) or random (> 64 B) longer than accepted
  empty_field,         ///< token or random is an empty string
  bad_sign_method,     ///< not one of hmacmd5, hmacsha1, hmacsha256 (spec §4.2)
  invalid_utf8,        ///< an auth request field is not valid UTF-8 (the JSON body could not carry it)
  client_id_too_long,  ///< clientId longer than 64 characters (spec §4.1)
  missing_identity,    ///< productKey, deviceName or clientId is empty
  openssl_failure,     ///< an OpenSSL primitive reported failure (out of memory, missing provider)
};

const std::error_category& crypto_category() noexcept;

std::error_code make_error_code(error e) noexcept;

}  // namespace gw::crypto

template <>
struct std::is_error_code_enum<gw::crypto::error> : std::true_type {};
