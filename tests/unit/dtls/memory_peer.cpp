#include "memory_peer.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace gw::dtls::test {
namespace {

SSL* as_ssl(void* p) {
  return static_cast<SSL*>(p);
}
BIO* as_bio(void* p) {
  return static_cast<BIO*>(p);
}

unsigned int server_psk_cb(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_len) {
  auto* self = static_cast<std::pair<std::string, std::string>*>(SSL_get_app_data(ssl));
  if (self == nullptr || identity == nullptr || self->first != identity || self->second.size() > max_len) {
    return 0;
  }
  std::memcpy(psk, self->second.data(), self->second.size());
  return static_cast<unsigned int>(self->second.size());
}

}  // namespace

memory_peer::memory_peer(std::string identity, std::string psk)
    : identity_(std::move(identity)), psk_(std::move(psk)) {
  SSL_CTX* ctx = SSL_CTX_new(DTLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CBC-SHA");
  SSL_CTX_set_psk_server_callback(ctx, &server_psk_cb);
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU);
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_mtu(ssl, 1200);
  SSL_set_accept_state(ssl);
  auto* creds = new std::pair<std::string, std::string>(identity_, psk_);
  SSL_set_app_data(ssl, creds);
  ctx_ = ctx;
  ssl_ = ssl;
  rbio_ = rbio;
  wbio_ = wbio;
}

memory_peer::~memory_peer() {
  delete static_cast<std::pair<std::string, std::string>*>(SSL_get_app_data(as_ssl(ssl_)));
  SSL_free(as_ssl(ssl_));
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

std::vector<std::uint8_t> memory_peer::drain() {
  std::vector<std::uint8_t> out;
  std::array<std::uint8_t, 4096> buf{};
  int n = 0;
  while ((n = BIO_read(as_bio(wbio_), buf.data(), static_cast<int>(buf.size()))) > 0) {
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  return out;
}

std::vector<std::uint8_t> memory_peer::on_datagram(const std::vector<std::uint8_t>& datagram) {
  BIO_write(as_bio(rbio_), datagram.data(), static_cast<int>(datagram.size()));
  ERR_clear_error();
  if (!SSL_is_init_finished(as_ssl(ssl_))) {
    (void)SSL_do_handshake(as_ssl(ssl_));
  }
  if (SSL_is_init_finished(as_ssl(ssl_))) {
    std::array<char, 4096> buf{};
    for (;;) {
      const int n = SSL_read(as_ssl(ssl_), buf.data(), static_cast<int>(buf.size()));
      if (n > 0) {
        received_.append(buf.data(), static_cast<std::size_t>(n));
        continue;
      }
      if (SSL_get_error(as_ssl(ssl_), n) == SSL_ERROR_ZERO_RETURN) close_notify_ = true;
      break;
    }
  }
  ERR_clear_error();
  return drain();
}

bool memory_peer::connected() const {
  return SSL_is_init_finished(as_ssl(ssl_)) == 1;
}

std::vector<std::uint8_t> memory_peer::write(const std::string& plaintext) {
  if (SSL_write(as_ssl(ssl_), plaintext.data(), static_cast<int>(plaintext.size())) <= 0) {
    throw std::runtime_error("server SSL_write failed");
  }
  return drain();
}

std::vector<std::uint8_t> memory_peer::close() {
  (void)SSL_shutdown(as_ssl(ssl_));
  return drain();
}

int memory_peer::pump(client& c, time_point now) {
  int exchanges = 0;
  std::vector<std::uint8_t> d;
  while (c.poll_transmit(d)) {
    const auto reply = on_datagram(d);
    ++exchanges;
    if (!reply.empty()) {
      c.on_datagram(now, reply);
    }
  }
  return exchanges;
}

}  // namespace gw::dtls::test
