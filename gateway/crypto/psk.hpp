#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/crypto/secret.hpp"

namespace gw::crypto {

// LinkSDK's fixed DTLS-PSK timestamp (spec §8).
inline constexpr std::uint64_t default_psk_timestamp = 2524608000000ULL;

// DTLS-PSK credentials of one device (spec §8, §12 #10).
struct psk_credentials {
  std::string identity;  ///< `devicename|hmacsha256|${pk}&${dn}|${timestamp}` (not secret)
  secret key;  ///< 64 ASCII bytes: upper-case hex HMAC-SHA256(secret, "id${pk}&${dn}timestamp${ts}")
};

psk_credentials make_psk_credentials(std::string_view product_key, std::string_view device_name,
                                     const secret& device_secret,
                                     std::uint64_t timestamp = default_psk_timestamp);

}  // namespace gw::crypto
