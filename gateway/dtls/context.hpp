#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <system_error>

using SSL_CTX = struct ssl_ctx_st;

namespace gw::dtls {

struct context_config {
  enum class kind { certificate, psk };
  kind kind = kind::certificate;
  std::string ca_file;      ///< PEM bundle (certificate mode; spec §8: GlobalSign Root CA by default)
  std::string cipher_list;  ///< empty: library defaults plus RSA AES-CBC suites (certificate),
                            ///< PSK-AES128-CBC-SHA first, then AEAD PSK suites (psk; see context.cpp)
  std::size_t mtu = 1200;   ///< largest datagram the client writes (UDP payload bytes)
};

// One SSL_CTX (DTLS 1.2 only, spec §8) shared by many clients. Immutable after create(): to reload the CA
// bundle, create a new context; clients keep the one they were created with.
class context {
 public:
  // Errors: bad_ca_file, bad_cipher_list, openssl_failure; `detail` (if given) receives the reason text.
  static std::shared_ptr<context> create(const context_config& config, std::error_code& ec,
                                         std::string* detail = nullptr);

  context(const context&) = delete;
  context& operator=(const context&) = delete;
  ~context();

  const context_config& config() const noexcept { return config_; }
  SSL_CTX* native_handle() const noexcept { return ctx_; }

 private:
  context(context_config config, SSL_CTX* ctx) : config_(std::move(config)), ctx_(ctx) {}

  context_config config_;
  SSL_CTX* ctx_;
};

// "file:line: reason" text of the OpenSSL error queue (emptied); empty if nothing queued.
std::string drain_openssl_errors();

}  // namespace gw::dtls
