#pragma once

#include <system_error>

namespace gw::session {

// Errors the session layer reports in device health and state changes (never thrown).
enum class error {
  auth_rejected = 1,      ///< The cloud refused /auth (4.xx); the device backs off and alerts.
  auth_response_invalid,  ///< /auth answered 2.xx but the body could not be parsed or had no token.
  auth_unavailable,       ///< /auth got 5.xx, RST or no ACK; retried with backoff.
  auth_config_error,      ///< /auth refused for a reason only a config change fixes; the device gives up.
  too_many_rejections,    ///< /auth refused max_auth_rejections times in a row; the device gives up.
  publish_rejected,       ///< A publish was refused permanently and dead-lettered.
  publish_unavailable,    ///< A publish got 5.xx or no ACK; retried with backoff.
  token_rejected,    ///< A publish got 4.01/4.02 (token invalid or expired); the device re-authenticates.
  transport_failed,  ///< The socket or DTLS session failed; reopened after backoff.
  no_answer,  ///< reconnect_after_timeouts exchanges in a row got no answer; the transport was reopened.
};

const std::error_category& session_category() noexcept;

inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), session_category()};
}

}  // namespace gw::session

template <>
struct std::is_error_code_enum<gw::session::error> : std::true_type {};
