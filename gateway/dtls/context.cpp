#include "gateway/dtls/context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>

#include "gateway/dtls/error.hpp"

namespace gw::dtls {
namespace {

// Spec §8: the platform's suites are RSA key exchange with AES-CBC (iotkit's mbedTLS build), offered after
// the library defaults. DTLS-PSK: the platform (and Alibaba's SDK, spec §12 #10) uses
// TLS_PSK_WITH_AES_128_CBC_SHA, offered first; the AEAD PSK suites after it cost nothing with a server that
// has only CBC-SHA, and let PSK servers without CBC suites (libcoap 4.3.1, hence tests/cloudsim) accept the
// gateway.
constexpr const char* default_certificate_ciphers =
    "DEFAULT:AES128-SHA256:AES128-SHA:AES256-SHA256:AES256-SHA";
constexpr const char* default_psk_ciphers =
    "PSK-AES128-CBC-SHA:PSK-AES128-GCM-SHA256:PSK-AES128-CCM8:PSK-AES128-CCM";

}  // namespace

std::string drain_openssl_errors() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  while (const unsigned long e = ERR_get_error_all(&file, &line, nullptr, nullptr, nullptr)) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::shared_ptr<context> context::create(const context_config& config, std::error_code& ec,
                                         std::string* detail) {
  ec.clear();
  ERR_clear_error();
  auto fail = [&](error e, std::string why) -> std::shared_ptr<context> {
    ec = e;
    if (detail != nullptr) {
      const std::string ossl = drain_openssl_errors();
      *detail = ossl.empty() ? std::move(why) : why + " (" + ossl + ")";
    } else {
      ERR_clear_error();
    }
    return nullptr;
  };

  SSL_CTX* raw = SSL_CTX_new(DTLS_client_method());
  if (raw == nullptr) {
    return fail(error::openssl_failure, "SSL_CTX_new failed");
  }
  std::shared_ptr<context> ctx(new context(config, raw));

  // Spec §8: DTLS 1.2 only (min = max).
  if (SSL_CTX_set_min_proto_version(raw, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(raw, DTLS1_2_VERSION) != 1) {
    return fail(error::openssl_failure, "cannot pin DTLS 1.2");
  }
  // The owner sets the MTU; OpenSSL must not query a socket it does not have.
  SSL_CTX_set_options(
      raw, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Per-session memory: free record buffers while idle, size the write buffer to one datagram.
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_max_send_fragment(raw, std::clamp<std::size_t>(config.mtu, 512, 16384));
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);

  const bool psk = config.kind == context_config::kind::psk;
  const std::string ciphers = !config.cipher_list.empty()
                                  ? config.cipher_list
                                  : (psk ? default_psk_ciphers : default_certificate_ciphers);
  if (SSL_CTX_set_cipher_list(raw, ciphers.c_str()) != 1) {
    return fail(error::bad_cipher_list, "no usable cipher in \"" + ciphers + "\"");
  }

  if (psk) {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  if (config.ca_file.empty()) {
    // cloud.ca_file "" means the system's trust store (config/gateway.example.yaml); the platform's
    // GlobalSign root (spec §8) is in Debian's ca-certificates.
    if (SSL_CTX_set_default_verify_paths(raw) != 1) {
      return fail(error::bad_ca_file, "cannot load the system's default CA store");
    }
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    return ctx;
  }
  if (SSL_CTX_load_verify_file(raw, config.ca_file.c_str()) != 1) {
    return fail(error::bad_ca_file, "cannot load CA file " + config.ca_file);
  }
  X509_STORE* store = SSL_CTX_get_cert_store(raw);
  const auto* objects = X509_STORE_get0_objects(store);
  bool any_cert = false;
  for (int i = 0; objects != nullptr && i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objects, i)) == X509_LU_X509) {
      any_cert = true;
      break;
    }
  }
  if (!any_cert) {
    return fail(error::bad_ca_file, "CA file " + config.ca_file + " holds no certificate");
  }
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

context::~context() {
  SSL_CTX_free(ctx_);
}

}  // namespace gw::dtls
