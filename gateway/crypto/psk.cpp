#include "gateway/crypto/psk.hpp"

#include <openssl/crypto.h>

#include "gateway/crypto/hex.hpp"
#include "gateway/crypto/sign.hpp"

namespace gw::crypto {

psk_credentials make_psk_credentials(std::string_view product_key, std::string_view device_name,
                                     const secret& device_secret, std::uint64_t timestamp) {
  const std::string ts = std::to_string(timestamp);
  std::string pk_dn;
  pk_dn.append(product_key).append("&").append(device_name);

  psk_credentials out;
  out.identity = "devicename|hmacsha256|" + pk_dn + "|" + ts;
  std::string raw = hmac_raw(sign_method::hmacsha256, device_secret.bytes(), "id" + pk_dn + "timestamp" + ts);
  std::string hex = to_hex({reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()}, hex_case::upper);
  out.key = secret(std::string_view(hex));
  OPENSSL_cleanse(raw.data(), raw.size());
  OPENSSL_cleanse(hex.data(), hex.size());
  return out;
}

}  // namespace gw::crypto
