#include "gateway/crypto/aes.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>
#include <cstring>
#include <memory>

namespace gw::crypto {
namespace {

// Fetched once (an implicit fetch per EVP_*Init is a measurable cost in OpenSSL 3).
const EVP_CIPHER* aes_128_cbc() noexcept {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  return cipher;
}

const EVP_MD* sha256() noexcept {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// One context per thread and direction, keyed with the last key used: a new message with the same key only
// resets the IV (EVP_CipherInit_ex2 with a null key keeps the expanded key schedule), which halves the cost
// of a publish encryption. The cached key copy is wiped when the thread ends.
struct cached_cipher {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::array<std::uint8_t, aes_key::size> key{};
  bool keyed = false;

  cached_cipher() = default;
  cached_cipher(const cached_cipher&) = delete;
  cached_cipher& operator=(const cached_cipher&) = delete;
  ~cached_cipher() {
    OPENSSL_cleanse(key.data(), key.size());
    EVP_CIPHER_CTX_free(ctx);
  }

  // Ready for one CBC operation with `k` and the fixed IV; false if OpenSSL fails.
  bool init(const aes_key& k, bool enc) {
    const auto* iv = reinterpret_cast<const unsigned char*>(aes_iv.data());
    if (ctx == nullptr || aes_128_cbc() == nullptr) {
      return false;
    }
    if (keyed && CRYPTO_memcmp(key.data(), k.bytes().data(), key.size()) == 0) {
      return EVP_CipherInit_ex2(ctx, nullptr, nullptr, iv, enc ? 1 : 0, nullptr) == 1;
    }
    keyed = false;
    if (EVP_CipherInit_ex2(ctx, aes_128_cbc(), k.bytes().data(), iv, enc ? 1 : 0, nullptr) != 1) {
      return false;
    }
    std::memcpy(key.data(), k.bytes().data(), key.size());
    keyed = true;
    return true;
  }
};

// Runs one CBC operation into `out` (sized by the caller to at least in + 16); returns bytes written or -1.
int run_cipher(const aes_key& key, bool enc, const std::uint8_t* in, std::size_t in_len, std::uint8_t* out) {
  thread_local cached_cipher encryptor;
  thread_local cached_cipher decryptor;
  cached_cipher& c = enc ? encryptor : decryptor;
  if (in_len > static_cast<std::size_t>(INT32_MAX - 32) || !c.init(key, enc)) {
    return -1;
  }
  int n1 = 0;
  int n2 = 0;
  if (in_len > 0 && EVP_CipherUpdate(c.ctx, out, &n1, in, static_cast<int>(in_len)) != 1) {
    return -1;
  }
  if (EVP_CipherFinal_ex(c.ctx, out + n1, &n2) != 1) {
    return -1;
  }
  return n1 + n2;
}

}  // namespace

std::optional<aes_key> aes_key::from_bytes(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() != size) {
    return std::nullopt;
  }
  aes_key k;
  std::memcpy(k.bytes_.data(), bytes.data(), size);
  return k;
}

aes_key::~aes_key() {
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

aes_key derive_aes_key(const secret& device_secret, std::string_view random) {
  aes_key k;
  std::array<unsigned char, 32> digest{};
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const char comma = ',';
  if (ctx && sha256() != nullptr && EVP_DigestInit_ex2(ctx.get(), sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), device_secret.bytes().data(), device_secret.size()) == 1 &&
      EVP_DigestUpdate(ctx.get(), &comma, 1) == 1 &&
      EVP_DigestUpdate(ctx.get(), random.data(), random.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) == 1 && len == digest.size()) {
    std::memcpy(k.bytes_.data(), digest.data() + 8, aes_key::size);
  }
  OPENSSL_cleanse(digest.data(), digest.size());
  return k;
}

std::vector<std::uint8_t> encrypt(const aes_key& key, std::span<const std::uint8_t> plaintext) {
  std::vector<std::uint8_t> out(plaintext.size() + 16);
  const int n = run_cipher(key, true, plaintext.data(), plaintext.size(), out.data());
  if (n < 0) {
    return {};
  }
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::vector<std::uint8_t>> decrypt(const aes_key& key,
                                                 std::span<const std::uint8_t> ciphertext) {
  if (ciphertext.empty() || ciphertext.size() % 16 != 0) {
    return std::nullopt;
  }
  std::vector<std::uint8_t> out(ciphertext.size() + 16);
  const int n = run_cipher(key, false, ciphertext.data(), ciphertext.size(), out.data());
  if (n < 0) {
    return std::nullopt;
  }
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::array<std::uint8_t, 16> encrypt_seq(const aes_key& key, std::uint32_t seq) {
  std::array<char, 10> text{};
  const auto res = std::to_chars(text.data(), text.data() + text.size(), seq);
  const auto len = static_cast<std::size_t>(res.ptr - text.data());
  std::array<std::uint8_t, 32> out{};
  std::array<std::uint8_t, 16> block{};
  if (run_cipher(key, true, reinterpret_cast<const std::uint8_t*>(text.data()), len, out.data()) == 16) {
    std::memcpy(block.data(), out.data(), block.size());
  }
  return block;
}

}  // namespace gw::crypto
