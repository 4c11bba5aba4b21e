#include "gateway/dtls/client.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>

#include "gateway/dtls/error.hpp"

namespace gw::dtls {
namespace {

bool is_ip_literal(const std::string& host) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, host.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf.data()) == 1;
}

client* self(const SSL* ssl) {
  return static_cast<client*>(SSL_get_app_data(ssl));
}

}  // namespace

int client::bio_write(BIO* bio, const char* data, int len) {
  auto* c = static_cast<client*>(BIO_get_data(bio));
  if (c == nullptr || len < 0) {
    return -1;
  }
  const auto* p = reinterpret_cast<const std::uint8_t*>(data);
  c->out_.emplace_back(p, p + len);
  if (c->state_ == state::handshaking) {
    c->writing_.emplace_back(p, p + len);
  }
  return len;
}

long client::bio_ctrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    // BIO_CTRL_DGRAM_GET_MTU_OVERHEAD falls here too: no IP/UDP overhead is subtracted, because
    // context_config::mtu already counts UDP payload bytes.
    default:
      return 0;
  }
}

unsigned int client::timer_cb(SSL* ssl, unsigned int timer_us) {
  client* c = self(ssl);
  if (c == nullptr) {
    return 1'000'000;
  }
  // timer_us == 0: a new flight starts its timer; otherwise OpenSSL is retransmitting (spec §8: 2 s -> 8 s).
  c->arm_retransmit(timer_us == 0 ? c->initial_retransmit_
                                  : std::min(c->retransmit_timeout_ * 2, c->max_retransmit_));
  return static_cast<unsigned int>(std::chrono::microseconds(c->retransmit_timeout_).count());
}

unsigned int client::psk_cb(SSL* ssl, const char* /*hint*/, char* identity, unsigned int max_identity_len,
                            unsigned char* psk, unsigned int max_psk_len) {
  client* c = self(ssl);
  if (c == nullptr || !c->psk_) {
    return 0;
  }
  const std::string& id = c->psk_->identity;
  const auto key = c->psk_->key.bytes();
  if (id.size() + 1 > max_identity_len || key.size() > max_psk_len) {
    return 0;
  }
  std::memcpy(identity, id.c_str(), id.size() + 1);
  std::memcpy(psk, key.data(), key.size());
  return static_cast<unsigned int>(key.size());
}

void client::info_cb(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) != 0 && (ret >> 8) == SSL3_AL_FATAL) {
    if (client* c = self(ssl)) {
      c->fatal_alert_ = ret & 0xFF;
    }
  }
}

std::unique_ptr<client> client::create(std::shared_ptr<context> ctx, const client_config& config,
                                       std::error_code& ec) {
  ec.clear();
  if (!ctx) {
    ec = error::bad_config;
    return nullptr;
  }
  const auto& cc = ctx->config();
  const bool psk = cc.kind == context_config::kind::psk;
  if (psk ? (!config.psk || config.psk->identity.empty() || config.psk->key.empty()) : config.host.empty()) {
    ec = error::bad_config;
    return nullptr;
  }
  if (config.initial_retransmit.count() <= 0 || config.max_retransmit < config.initial_retransmit ||
      config.max_retransmit > std::chrono::minutes(60)) {
    ec = error::bad_config;
    return nullptr;
  }

  static BIO_METHOD* const out_method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gw_dtls_datagram_out");
    if (m != nullptr) {
      BIO_meth_set_write(m, &client::bio_write);
      BIO_meth_set_ctrl(m, &client::bio_ctrl);
      BIO_meth_set_create(m, [](BIO* b) {
        BIO_set_init(b, 1);
        return 1;
      });
    }
    return m;
  }();

  ERR_clear_error();
  SSL* ssl = SSL_new(ctx->native_handle());
  if (ssl == nullptr || out_method == nullptr) {
    SSL_free(ssl);
    ec = error::openssl_failure;
    return nullptr;
  }
  std::unique_ptr<client> c(new client(std::move(ctx), ssl, config));

  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(out_method);
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    ec = error::openssl_failure;
    return nullptr;
  }
  // An empty memory BIO must mean "retry later", not end of file.
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_data(wbio, c.get());
  SSL_set_bio(ssl, rbio, wbio);
  c->rbio_ = rbio;

  SSL_set_app_data(ssl, c.get());
  SSL_set_connect_state(ssl);
  DTLS_set_timer_cb(ssl, &client::timer_cb);
  SSL_set_info_callback(ssl, &client::info_cb);
  bool ok = DTLS_set_link_mtu(ssl, static_cast<long>(c->ctx_->config().mtu)) == 1;

  if (psk) {
    SSL_set_psk_client_callback(ssl, &client::psk_cb);
  } else if (is_ip_literal(config.host)) {
    ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), config.host.c_str()) == 1;
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = ok && SSL_set1_host(ssl, config.host.c_str()) == 1 &&
         SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(config.host.c_str())) == 1;  // SNI, RFC 6066 §3
  }
  if (!ok) {
    ERR_clear_error();
    ec = error::bad_config;  // MTU below the DTLS minimum, or a host name OpenSSL refuses
    return nullptr;
  }
  return c;
}

client::client(std::shared_ptr<context> ctx, SSL* ssl, const client_config& config)
    : ctx_(std::move(ctx)),
      ssl_(ssl),
      handshake_timeout_(config.handshake_timeout),
      initial_retransmit_(config.initial_retransmit),
      max_retransmit_(config.max_retransmit) {
  if (config.psk) {
    psk_.emplace(crypto::psk_credentials{config.psk->identity, config.psk->key.clone()});
  }
}

client::~client() {
  SSL_free(ssl_);
}

void client::arm_retransmit(std::chrono::milliseconds duration) {
  retransmit_timeout_ = duration;
  retransmit_at_ = now_ + duration;
}

void client::start(time_point now) {
  if (state_ != state::idle) {
    return;
  }
  now_ = now;
  started_ = now;
  state_ = state::handshaking;
  drive_handshake();
}

void client::drive_handshake() {
  writing_.clear();
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    state_ = state::connected;
    record_peer_not_after();
    retransmit_at_.reset();
    flight_.clear();
    writing_.clear();
    drain_application_data();  // the datagram that finished the handshake may carry application data
    return;
  }
  const int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    if (!writing_.empty()) {
      flight_ = std::move(writing_);
      writing_.clear();
    }
    return;
  }
  classify_failure(e);
}

void client::drain_application_data() {
  thread_local std::array<std::uint8_t, 16384> buffer;
  while (state_ == state::connected) {
    ERR_clear_error();
    const int r = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
    if (r > 0) {
      in_.emplace_back(buffer.begin(), buffer.begin() + r);
      continue;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      release_buffers();
      return;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      state_ = state::closed;
      error_ = error::peer_closed;
      detail_ = "close_notify received";
      return;
    }
    classify_failure(e);
  }
}

void client::record_peer_not_after() {
  peer_not_after_.reset();
  const X509* cert = SSL_get0_peer_certificate(ssl_);  // null in PSK mode: no certificate is sent
  if (cert == nullptr) return;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return;
  peer_not_after_ = static_cast<std::int64_t>(::timegm(&tm));
}

void client::classify_failure(int ssl_error) {
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    fail(error::verify_failed, X509_verify_cert_error_string(verify));
  } else if (fatal_alert_ >= 0) {
    fail(error::alert_received, std::string("fatal alert: ") + SSL_alert_desc_string_long(fatal_alert_));
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    fail(error::peer_closed, "close_notify received during the handshake");
  } else {
    std::string why = drain_openssl_errors();
    fail(error::protocol_error, why.empty() ? "SSL error " + std::to_string(ssl_error) : why);
  }
}

void client::release_buffers() {
  // Idle sessions keep no record buffers (~17 KiB read + ~1.3 KiB write); refused while data is pending.
  if (SSL_free_buffers(ssl_) == 1) {
    buffers_released_ = true;
  }
}

void client::restore_buffers() {
  if (!buffers_released_) {
    return;
  }
  // OpenSSL 3.0's DTLS write paths (SSL_write, SSL_shutdown) do not re-create freed buffers and would crash;
  // its read path does (dtls1_read_bytes -> ssl3_setup_buffers). The read BIO is empty between calls, so this
  // zero-length read only sets the buffers up.
  std::uint8_t probe = 0;
  (void)SSL_read(ssl_, &probe, 0);
  ERR_clear_error();
  buffers_released_ = false;
}

void client::fail(error e, std::string detail) {
  state_ = state::failed;
  error_ = e;
  detail_ = std::move(detail);
  retransmit_at_.reset();
  flight_.clear();
  ERR_clear_error();
}

void client::on_datagram(time_point now, std::span<const std::uint8_t> datagram) noexcept {
  if ((state_ != state::handshaking && state_ != state::connected) || datagram.empty() ||
      datagram.size() > 65535) {
    return;
  }
  try {
    now_ = now;
    // One datagram at a time: anything OpenSSL left unread belongs to the previous datagram.
    (void)BIO_reset(rbio_);
    if (BIO_write(rbio_, datagram.data(), static_cast<int>(datagram.size())) !=
        static_cast<int>(datagram.size())) {
      return;
    }
    if (state_ == state::handshaking) {
      drive_handshake();
    } else {
      drain_application_data();
    }
  } catch (...) {
    fail(error::openssl_failure, "out of memory");
  }
}

void client::on_timer(time_point now) {
  if (state_ != state::handshaking) {
    return;
  }
  now_ = now;
  writing_.clear();
  if (now >= started_ + handshake_timeout_) {
    fail(error::handshake_timeout,
         "no DTLS handshake after " + std::to_string(handshake_timeout_.count()) + " ms");
    return;
  }
  if (!retransmit_at_ || now < *retransmit_at_) {
    return;
  }
  ERR_clear_error();
  const int r = DTLSv1_handle_timeout(ssl_);
  if (r < 0) {
    std::string why = drain_openssl_errors();
    fail(error::handshake_timeout, why.empty() ? "OpenSSL gave up retransmitting" : why);
    return;
  }
  if (r > 0 && !writing_.empty()) {
    flight_ = std::move(writing_);  // OpenSSL re-wrote the flight (fresh record numbers); timer_cb re-armed
    writing_.clear();
    return;
  }
  // OpenSSL's own clock says the flight is not due yet (our clock runs ahead of it): re-send it as written.
  for (const auto& d : flight_) {
    out_.push_back(d);
  }
  arm_retransmit(std::min(retransmit_timeout_ * 2, max_retransmit_));
}

std::optional<time_point> client::next_deadline() const {
  if (state_ != state::handshaking) {
    return std::nullopt;
  }
  const time_point give_up = started_ + handshake_timeout_;
  return retransmit_at_ ? std::min(*retransmit_at_, give_up) : give_up;
}

std::size_t client::max_plaintext() const noexcept {
  return state_ == state::connected ? DTLS_get_data_mtu(ssl_) : 0;
}

std::error_code client::send(std::span<const std::uint8_t> plaintext) {
  if (state_ != state::connected) {
    return error::not_connected;
  }
  if (plaintext.size() > max_plaintext()) {
    return error::message_too_long;
  }
  if (plaintext.empty()) {
    return {};
  }
  ERR_clear_error();
  restore_buffers();
  const int r = SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
  if (r > 0) {
    release_buffers();
    return {};
  }
  classify_failure(SSL_get_error(ssl_, r));
  return error_;
}

bool client::poll_transmit(std::vector<std::uint8_t>& datagram) {
  if (out_.empty()) {
    return false;
  }
  datagram = std::move(out_.front());
  out_.pop_front();
  return true;
}

bool client::poll_plaintext(std::vector<std::uint8_t>& datagram) {
  if (in_.empty()) {
    return false;
  }
  datagram = std::move(in_.front());
  in_.pop_front();
  return true;
}

void client::close() {
  if (state_ == state::handshaking || state_ == state::connected) {
    ERR_clear_error();
    restore_buffers();
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  if (state_ != state::failed) {
    state_ = state::closed;
  }
  retransmit_at_.reset();
  flight_.clear();
}

}  // namespace gw::dtls
