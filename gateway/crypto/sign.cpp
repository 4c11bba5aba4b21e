#include "gateway/crypto/sign.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "gateway/crypto/hex.hpp"

namespace gw::crypto {
namespace {

const char* digest_name(sign_method m) noexcept {
  switch (m) {
    case sign_method::hmacmd5:
      return "MD5";
    case sign_method::hmacsha1:
      return "SHA1";
    case sign_method::hmacsha256:
      return "SHA256";
  }
  return "MD5";
}

// Fetched once: implicit fetches by name on every call are slow in OpenSSL 3.
EVP_MAC* hmac_algorithm() noexcept {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

struct mac_ctx_deleter {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};

}  // namespace

std::string_view to_string(sign_method m) noexcept {
  switch (m) {
    case sign_method::hmacmd5:
      return "hmacmd5";
    case sign_method::hmacsha1:
      return "hmacsha1";
    case sign_method::hmacsha256:
      return "hmacsha256";
  }
  return "hmacmd5";
}

std::optional<sign_method> parse_sign_method(std::string_view text) noexcept {
  for (auto m : {sign_method::hmacmd5, sign_method::hmacsha1, sign_method::hmacsha256}) {
    if (text == to_string(m)) {
      return m;
    }
  }
  return std::nullopt;
}

std::string make_sign_string(std::span<const sign_field> fields) {
  std::vector<sign_field> kept;
  kept.reserve(fields.size());
  for (const auto& f : fields) {
    if (f.first == "sign" || f.first == "signmethod" || f.first == "version" || f.first == "resources") {
      continue;
    }
    kept.push_back(f);
  }
  // std::string_view compares with char_traits<char>, i.e. as unsigned bytes (byte order, Java TreeMap order
  // for ASCII keys).
  std::sort(kept.begin(), kept.end(),
            [](const sign_field& a, const sign_field& b) { return a.first < b.first; });
  std::string out;
  for (const auto& f : kept) {
    out.append(f.first);
    out.append(f.second);
  }
  return out;
}

std::string hmac_raw(sign_method m, std::span<const std::uint8_t> key, std::string_view message) {
  EVP_MAC* mac = hmac_algorithm();
  if (mac == nullptr) {
    return {};
  }
  std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter> ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) {
    return {};
  }
  std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(m)), 0),
      OSSL_PARAM_construct_end()};
  // An empty key is legal HMAC; OpenSSL wants a non-null pointer.
  static const std::uint8_t empty_key = 0;
  const std::uint8_t* key_ptr = key.empty() ? &empty_key : key.data();
  if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), params.data()) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(message.data()), message.size()) !=
          1) {
    return {};
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  std::size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string hmac_hex(sign_method m, const secret& key, std::string_view message) {
  const std::string raw = hmac_raw(m, key.bytes(), message);
  return to_hex({reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()});
}

}  // namespace gw::crypto
