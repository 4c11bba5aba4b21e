#include "gateway/crypto/aes.hpp"

#include <gtest/gtest.h>

#include "gateway/crypto/hex.hpp"

namespace gw::crypto {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

aes_key spec_key() {
  return derive_aes_key(secret(std::string_view("0123456789abcdef0123456789abcdef")), "abcdef1234567890");
}

TEST(Aes, Spec10KeyDerivation) {
  EXPECT_EQ(to_hex(spec_key().bytes()), "beec8b55e1a9f614bb95b08f0ba6810c");
}

TEST(Aes, Spec10Seq101) {
  EXPECT_EQ(to_hex(encrypt_seq(spec_key(), 101)), "c72056b7ed69aacba82615a951225dfa");
}

TEST(Aes, SeqOfAnyWidthIsOneBlock) {
  const auto k = spec_key();
  const auto max = encrypt_seq(k, 4294967295u);
  const auto dec = decrypt(k, max);
  ASSERT_TRUE(dec);
  EXPECT_EQ(*dec, bytes_of("4294967295"));
  const auto zero = decrypt(k, encrypt_seq(k, 0));
  ASSERT_TRUE(zero);
  EXPECT_EQ(*zero, bytes_of("0"));
}

TEST(Aes, Spec10Payloads) {
  const auto k = spec_key();
  EXPECT_EQ(to_hex(encrypt(k, std::string_view(R"({"temp":21.5})"))), "d966afbbef6a80984a95065cc34d5631");
  EXPECT_EQ(to_hex(encrypt(k, std::string_view(R"({"temp":21.5000})"))),
            "a581a894d42ab0a070854497583dfbdaa4ec72a54c101cad5640d6597f03a3f4");
}

TEST(Aes, EmptyInputIsOneFullPadBlock) {
  const auto k = spec_key();
  const auto c = encrypt(k, std::string_view());
  ASSERT_EQ(c.size(), 16u);
  const auto p = decrypt(k, c);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->empty());
}

TEST(Aes, RoundTripManySizes) {
  const auto k = spec_key();
  for (std::size_t n = 0; n < 100; ++n) {
    std::vector<std::uint8_t> plain(n);
    for (std::size_t i = 0; i < n; ++i) plain[i] = static_cast<std::uint8_t>(i * 7 + n);
    const auto c = encrypt(k, plain);
    EXPECT_EQ(c.size(), (n / 16 + 1) * 16);
    const auto p = decrypt(k, c);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, plain);
  }
}

TEST(Aes, NotCiphertextGivesNullopt) {
  const auto k = spec_key();
  EXPECT_FALSE(decrypt(k, bytes_of("Token invalid")));  // plaintext error text (spec §5.2, issue #97)
  EXPECT_FALSE(decrypt(k, {}));
  // 16 bytes whose decryption ends in an invalid pad: the plaintext "0123456789abcdef" is not ciphertext.
  EXPECT_FALSE(decrypt(k, bytes_of("0123456789abcdef")));
  // Wrong key: padding check fails on the spec vector.
  const auto other = derive_aes_key(secret(std::string_view("x")), "y");
  const auto c = *from_hex("d966afbbef6a80984a95065cc34d5631");
  EXPECT_FALSE(decrypt(other, c));
  const auto ok = decrypt(k, c);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, bytes_of(R"({"temp":21.5})"));
}

TEST(Aes, KeyFromBytesNeedsSixteen) {
  EXPECT_FALSE(aes_key::from_bytes(bytes_of("short")));
  const auto k = aes_key::from_bytes(*from_hex("beec8b55e1a9f614bb95b08f0ba6810c"));
  ASSERT_TRUE(k);
  EXPECT_EQ(to_hex(encrypt_seq(*k, 101)), "c72056b7ed69aacba82615a951225dfa");
}

// The per-thread cipher context caches the last key: switching keys and failed decryptions must not leak
// state.
TEST(Aes, KeySwitchingAndFailuresDoNotLeakState) {
  const auto k = spec_key();
  const auto other = derive_aes_key(secret(std::string_view("x")), "y");
  const auto good = *from_hex("d966afbbef6a80984a95065cc34d5631");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(to_hex(encrypt_seq(k, 101)), "c72056b7ed69aacba82615a951225dfa");
    EXPECT_NE(to_hex(encrypt_seq(other, 101)), "c72056b7ed69aacba82615a951225dfa");
    EXPECT_FALSE(decrypt(k, bytes_of("0123456789abcdef")));  // bad padding, same key as below
    const auto p = decrypt(k, good);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, bytes_of(R"({"temp":21.5})"));
    EXPECT_EQ(to_hex(encrypt(k, std::string_view(R"({"temp":21.5})"))), "d966afbbef6a80984a95065cc34d5631");
  }
}

}  // namespace
}  // namespace gw::crypto
