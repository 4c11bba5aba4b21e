#include "tests/cloudsim/sim_crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cctype>
#include <memory>

namespace gw::cloudsim {
namespace {

// spec §5.2: the fixed IV of every encryption.
constexpr unsigned char iv[16] = {'5', '4', '3', 'y', 'h', 'j', 'y', '9',
                                  '7', 'a', 'e', '7', 'f', 'y', 'f', 'g'};

struct ctx_deleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

std::string hmac_raw(const EVP_MD* md, std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string to_hex(std::string_view bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool equal_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> hmac_hex(std::string_view method, std::string_view key, std::string_view message) {
  const EVP_MD* md = nullptr;
  if (method.empty() || method == "hmacmd5") {
    md = EVP_md5();
  } else if (method == "hmacsha1") {
    md = EVP_sha1();
  } else if (method == "hmacsha256") {
    md = EVP_sha256();
  } else {
    return std::nullopt;
  }
  return to_hex(hmac_raw(md, key, message));
}

std::string hmac_sha256_hex_upper(std::string_view key, std::string_view message) {
  return to_hex(hmac_raw(EVP_sha256(), key, message), true);
}

aes_key derive_key(std::string_view device_secret, std::string_view random) {
  std::string input(device_secret);
  input += ',';
  input += random;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  aes_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = digest[8 + i];
  return key;
}

std::string aes_encrypt(const aes_key& key, std::string_view plaintext) {
  std::unique_ptr<EVP_CIPHER_CTX, ctx_deleter> ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + 16, '\0');
  int n1 = 0;
  int n2 = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, key.data(), iv);
  EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n1,
                    reinterpret_cast<const unsigned char*>(plaintext.data()),
                    static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n1, &n2);
  out.resize(static_cast<std::size_t>(n1 + n2));
  return out;
}

std::optional<std::string> aes_decrypt(const aes_key& key, std::string_view ciphertext) {
  if (ciphertext.empty() || ciphertext.size() % 16 != 0) return std::nullopt;
  std::unique_ptr<EVP_CIPHER_CTX, ctx_deleter> ctx(EVP_CIPHER_CTX_new());
  std::string out(ciphertext.size() + 16, '\0');
  int n1 = 0;
  int n2 = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, key.data(), iv) != 1) return std::nullopt;
  if (EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n1,
                        reinterpret_cast<const unsigned char*>(ciphertext.data()),
                        static_cast<int>(ciphertext.size())) != 1) {
    return std::nullopt;
  }
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n1, &n2) != 1) {
    return std::nullopt;
  }
  out.resize(static_cast<std::size_t>(n1 + n2));
  return out;
}

}  // namespace gw::cloudsim
