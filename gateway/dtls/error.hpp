#pragma once

#include <system_error>

namespace gw::dtls {

// Every way a DTLS context or session can fail. client::last_error_detail() carries the reason text
// (X509 verify reason, alert description, OpenSSL error string).
enum class error {
  bad_config =
      1,        ///< inconsistent configuration (e.g. certificate mode without a host, psk mode without keys)
  bad_ca_file,  ///< CA bundle missing, unreadable or holding no certificate
  bad_cipher_list,    ///< OpenSSL accepted none of the configured cipher suites
  openssl_failure,    ///< OpenSSL could not allocate or set up an object
  verify_failed,      ///< server certificate chain or name did not verify (spec §8)
  handshake_timeout,  ///< no completed handshake within the configured total time (spec §8: 2 s -> 8 s)
  alert_received,     ///< the peer sent a fatal alert
  protocol_error,     ///< local protocol failure (bad message, no shared cipher, internal error)
  peer_closed,        ///< the peer sent close_notify
  not_connected,      ///< send() before the handshake completed or after the session ended
  message_too_long,   ///< plaintext larger than one record fits in the path MTU
};

const std::error_category& dtls_category() noexcept;

std::error_code make_error_code(error e) noexcept;

}  // namespace gw::dtls

template <>
struct std::is_error_code_enum<gw::dtls::error> : std::true_type {};
