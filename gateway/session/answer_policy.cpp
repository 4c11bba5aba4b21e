#include "gateway/session/answer_policy.hpp"

#include <cstdio>

namespace gw::session {
namespace {

using codes::code_class;

constexpr verdict row(policy_action a, bool alert, std::string_view spec_row) noexcept {
  return {a, alert, spec_row};
}

verdict decide_auth(answer a) noexcept {
  using enum policy_action;
  switch (a.kind) {
    case answer_kind::timeout:
      // spec §6 row "no ACK after MAX_RETRANSMIT | both": retry with back-off.
      return row(retry_with_backoff, false, "no ACK after MAX_RETRANSMIT | both | retry with back-off");
    case answer_kind::reset:
      // spec §6 row "RST | both | re-auth": for /auth itself that is a new /auth, after back-off.
      return row(retry_with_backoff, false, "RST | both | re-auth (auth: new /auth after back-off)");
    case answer_kind::response:
      break;
  }
  switch (a.code) {
    // spec §6 row "4.00 | both": auth: config error, back off, alert.
    case codes::bad_request:
      return row(auth_long_backoff, true, "4.00 | auth | config error, back off, alert");
    // spec §6 row "4.01 | auth": bad sign / unknown or disabled device: no fast retry, long back-off, alert.
    case codes::unauthorized:
      return row(auth_long_backoff, true, "4.01 | auth | no fast retry; long back-off, alert");
    // spec §6 row "4.03 | both": forbidden (disabled device, inferred). No message to dead-letter on /auth;
    // the device may be re-enabled in the console, so back off long (max_auth_rejections makes it fail in the
    // end).
    case codes::forbidden:
      return row(auth_long_backoff, true, "4.03 | auth | forbidden; long back-off, alert");
    // spec §6 row "4.04 | both": path not found: wrong endpoint, a config error.
    case codes::not_found:
      return row(auth_give_up, true, "4.04 | auth | not found; config error");
    // spec §6 row "4.05 | both": method not allowed: a bug.
    case codes::method_not_allowed:
      return row(auth_give_up, true, "4.05 | auth | method not allowed; bug");
    // spec §6 row "4.06 | both": Accept not supported: config error, alert.
    case codes::not_acceptable:
      return row(auth_give_up, true, "4.06 | auth | Accept not supported; config error");
    // spec §6 row "4.13 / 4.14": too large / URI too long; on /auth only config (names) can cause it.
    case codes::request_entity_too_large:
    case codes::request_uri_too_long:
      return row(auth_give_up, true, "4.13/4.14 | auth | too large; config error");
    // spec §6 row "4.15 | both": Content-Format not supported: config error.
    case codes::unsupported_content_format:
      return row(auth_give_up, true, "4.15 | auth | Content-Format not supported; config error");
    // spec §6 row "5.00 | auth": auth server error: retry with back-off.
    case codes::internal_server_error:
      return row(retry_with_backoff, false, "5.00 | auth | retry with back-off");
    default:
      break;
  }
  switch (code_class(a.code)) {
    // spec §6 row "2.05 | auth": success; any 2.xx is accepted, the body decides.
    case 2:
      return row(delivered, false, "2.05 | auth | success, store token");
    // Not in spec §6: any other 4.xx on /auth is a refusal like 4.01.
    case 4:
      return row(auth_long_backoff, true, "4.xx | auth | refused; long back-off, alert");
    // spec §6 row "5.xx": server error: retry with back-off.
    case 5:
      return row(retry_with_backoff, false, "5.xx | auth | retry with back-off");
    // Not a response code (RFC 7252 §12.1): a protocol violation by the peer; retry, alert.
    default:
      return row(retry_with_backoff, true, "non-response code | auth | retry with back-off, alert");
  }
}

verdict decide_publish(answer a, const answer_policy_config& config, bool resent) noexcept {
  using enum policy_action;
  // spec §6 rows 4.00/4.01/4.02/RST on publish: "re-auth, resend once; repeat → dead-letter".
  const auto reauth_once = [resent](std::string_view spec_row) noexcept {
    return resent ? row(dead_letter, false, spec_row) : row(reauth_and_resend_once, false, spec_row);
  };
  switch (a.kind) {
    case answer_kind::timeout:
      // spec §6 row "no ACK after MAX_RETRANSMIT | both": delivery unknown; retry, never dead-letter.
      return row(retry_with_backoff, false, "no ACK after MAX_RETRANSMIT | publish | retry with back-off");
    case answer_kind::reset:
      // spec §6 row "RST | both": the server has no state for us: re-auth, resend once.
      return reauth_once("RST | publish | re-auth, resend once; repeat -> dead-letter");
    case answer_kind::response:
      break;
  }
  switch (a.code) {
    // spec §6 row "4.00 | both": payload invalid (undecryptable → stale key, inferred): re-auth + resend
    // once.
    case codes::bad_request:
      return reauth_once("4.00 | publish | re-auth + resend once, then dead-letter");
    // spec §6 row "4.01 | publish": token invalid/expired.
    case codes::unauthorized:
      return reauth_once("4.01 | publish | re-auth, resend once; repeat -> dead-letter");
    // spec §6 row "4.02 | publish": same as 4.01 on publish (switch: treat_4_02_as_token_invalid).
    case codes::bad_option:
      if (config.treat_4_02_as_token_invalid) {
        return reauth_once("4.02 | publish | same as 4.01 on publish");
      }
      return row(dead_letter, false, "4.02 | publish | bad option (treat_4_02_as_token_invalid off)");
    // spec §6 row "4.03 | both": forbidden: dead-letter, no retry.
    case codes::forbidden:
      return row(dead_letter, false, "4.03 | publish | dead-letter, no retry");
    // spec §6 row "4.04 | both": topic not found: dead-letter.
    case codes::not_found:
      return row(dead_letter, false, "4.04 | publish | dead-letter");
    // spec §6 row "4.05 | both": method not allowed: a bug; dead-letter.
    case codes::method_not_allowed:
      return row(dead_letter, true, "4.05 | publish | bug; dead-letter");
    // spec §6 row "4.06 | both": Accept not supported: config error; dead-letter, alert.
    case codes::not_acceptable:
      return row(dead_letter, true, "4.06 | publish | config error; dead-letter, alert");
    // spec §6 row "4.13 / 4.14 | publish": entity too large / URI too long: dead-letter.
    case codes::request_entity_too_large:
    case codes::request_uri_too_long:
      return row(dead_letter, false, "4.13/4.14 | publish | dead-letter");
    // spec §6 row "4.15 | both": Content-Format not supported: config error; dead-letter, alert.
    case codes::unsupported_content_format:
      return row(dead_letter, true, "4.15 | publish | config error; dead-letter, alert");
    default:
      break;
  }
  switch (code_class(a.code)) {
    // spec §6 row "2.xx | publish": delivered.
    case 2:
      return row(delivered, false, "2.xx | publish | delivered");
    // design.md §2: other 4.xx are permanent rejections: dead-letter with the reason.
    case 4:
      return row(dead_letter, false, "4.xx | publish | permanent; dead-letter");
    // spec §6 row "5.xx | publish": retry with exponential back-off; never dead-letter.
    case 5:
      return row(retry_with_backoff, false, "5.xx | publish | retry with back-off, never dead-letter");
    // Not a response code: delivery unknown, so retry like a timeout (at-least-once); alert.
    default:
      return row(retry_with_backoff, true, "non-response code | publish | retry with back-off, alert");
  }
}

}  // namespace

verdict decide(phase p, answer a, const answer_policy_config& config, bool resent_after_reauth) noexcept {
  return p == phase::auth ? decide_auth(a) : decide_publish(a, config, resent_after_reauth);
}

std::string_view code_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0x41:
      return "Created";
    case 0x42:
      return "Deleted";
    case 0x43:
      return "Valid";
    case 0x44:
      return "Changed";
    case 0x45:
      return "Content";
    case 0x5f:
      return "Continue";
    case 0x80:
      return "Bad Request";
    case 0x81:
      return "Unauthorized";
    case 0x82:
      return "Bad Option";
    case 0x83:
      return "Forbidden";
    case 0x84:
      return "Not Found";
    case 0x85:
      return "Method Not Allowed";
    case 0x86:
      return "Not Acceptable";
    case 0x88:
      return "Request Entity Incomplete";
    case 0x89:
      return "Conflict";
    case 0x8c:
      return "Precondition Failed";
    case 0x8d:
      return "Request Entity Too Large";
    case 0x8e:
      return "Request-URI Too Long";
    case 0x8f:
      return "Unsupported Content-Format";
    case 0x96:
      return "Unprocessable Entity";
    case 0x9d:
      return "Too Many Requests";
    case 0xa0:
      return "Internal Server Error";
    case 0xa1:
      return "Not Implemented";
    case 0xa2:
      return "Bad Gateway";
    case 0xa3:
      return "Service Unavailable";
    case 0xa4:
      return "Gateway Timeout";
    case 0xa5:
      return "Proxying Not Supported";
    default:
      return "";
  }
}

std::string describe(answer a) {
  switch (a.kind) {
    case answer_kind::timeout:
      return "no ACK after MAX_RETRANSMIT";
    case answer_kind::reset:
      return "RST";
    case answer_kind::response:
      break;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "%u.%02u", codes::code_class(a.code), codes::code_detail(a.code));
  std::string out(buf);
  if (const auto name = code_name(a.code); !name.empty()) {
    out += ' ';
    out += name;
  }
  return out;
}

std::string_view to_string(policy_action a) noexcept {
  switch (a) {
    case policy_action::delivered:
      return "delivered";
    case policy_action::reauth_and_resend_once:
      return "reauth_and_resend_once";
    case policy_action::dead_letter:
      return "dead_letter";
    case policy_action::retry_with_backoff:
      return "retry_with_backoff";
    case policy_action::auth_long_backoff:
      return "auth_long_backoff";
    case policy_action::auth_give_up:
      return "auth_give_up";
  }
  return "?";
}

std::string_view to_string(phase p) noexcept {
  return p == phase::auth ? "auth" : "publish";
}

}  // namespace gw::session
