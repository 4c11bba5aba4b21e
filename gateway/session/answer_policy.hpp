#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// The one table of spec §6 (shared/protocol/alibaba-coap.md): what the gateway does with each answer the
// cloud gives to /auth or to a publish. Codes are raw CoAP codes, class << 5 | detail (RFC 7252 §3): 2.05 =
// 0x45.

namespace gw::session {

// Raw CoAP response codes used by the table (RFC 7252 §12.1.2).
namespace codes {
inline constexpr std::uint8_t created = 0x41;                     // 2.01
inline constexpr std::uint8_t changed = 0x44;                     // 2.04
inline constexpr std::uint8_t content = 0x45;                     // 2.05
inline constexpr std::uint8_t bad_request = 0x80;                 // 4.00
inline constexpr std::uint8_t unauthorized = 0x81;                // 4.01
inline constexpr std::uint8_t bad_option = 0x82;                  // 4.02
inline constexpr std::uint8_t forbidden = 0x83;                   // 4.03
inline constexpr std::uint8_t not_found = 0x84;                   // 4.04
inline constexpr std::uint8_t method_not_allowed = 0x85;          // 4.05
inline constexpr std::uint8_t not_acceptable = 0x86;              // 4.06
inline constexpr std::uint8_t precondition_failed = 0x8c;         // 4.12
inline constexpr std::uint8_t request_entity_too_large = 0x8d;    // 4.13
inline constexpr std::uint8_t request_uri_too_long = 0x8e;        // 4.14
inline constexpr std::uint8_t unsupported_content_format = 0x8f;  // 4.15
inline constexpr std::uint8_t internal_server_error = 0xa0;       // 5.00
inline constexpr std::uint8_t not_implemented = 0xa1;             // 5.01
inline constexpr std::uint8_t bad_gateway = 0xa2;                 // 5.02
inline constexpr std::uint8_t service_unavailable = 0xa3;         // 5.03
inline constexpr std::uint8_t gateway_timeout = 0xa4;             // 5.04
inline constexpr std::uint8_t proxying_not_supported = 0xa5;      // 5.05

constexpr std::uint8_t make(unsigned cls, unsigned detail) noexcept {
  return static_cast<std::uint8_t>((cls << 5U) | (detail & 0x1FU));
}
constexpr unsigned code_class(std::uint8_t code) noexcept {
  return code >> 5U;
}
constexpr unsigned code_detail(std::uint8_t code) noexcept {
  return code & 0x1FU;
}
}  // namespace codes

// Which request the answer belongs to.
enum class phase : std::uint8_t { auth, publish };

// How an exchange ended, as reported by the CoAP layer.
enum class answer_kind : std::uint8_t {
  response,  ///< A response with a code arrived (piggybacked or separate).
  timeout,   ///< No ACK after MAX_RETRANSMIT (RFC 7252 §4.2) or no response in time.
  reset,     ///< The server answered with RST (RFC 7252 §4.2): it has no state for the MID.
};

struct answer {
  answer_kind kind = answer_kind::response;
  std::uint8_t code = 0;  ///< Meaningful only when kind == response.

  static constexpr answer response(std::uint8_t c) noexcept { return {answer_kind::response, c}; }
  static constexpr answer timeout() noexcept { return {answer_kind::timeout, 0}; }
  static constexpr answer reset() noexcept { return {answer_kind::reset, 0}; }

  friend constexpr bool operator==(const answer&, const answer&) = default;
};

// What the session does next.
enum class policy_action : std::uint8_t {
  delivered,               ///< 2.xx: auth succeeded / message acknowledged to the queue.
  reauth_and_resend_once,  ///< Publish: fetch a new token at once, resend the message once with it.
  dead_letter,             ///< Publish: permanent rejection; move the message to the dead-letter store.
  retry_with_backoff,      ///< Temporary (5.xx, no ACK): retry after backoff; never dead-letter.
  auth_long_backoff,  ///< Auth refused (bad sign, unknown device...): no fast retry; exponential backoff.
  auth_give_up,       ///< Auth refused for a reason only a config change fixes: the device fails.
};

struct verdict {
  policy_action action = policy_action::retry_with_backoff;
  bool alert = false;           ///< An operator must look (config error or refused identity).
  std::string_view spec_row{};  ///< The spec §6 row that decided, for logs.

  friend constexpr bool operator==(const verdict& a, const verdict& b) noexcept {
    return a.action == b.action && a.alert == b.alert;
  }
};

struct answer_policy_config {
  // spec §6: iotkit re-authenticates on 4.02 and issue #97 shows 4.02 "Token invalid"; false makes 4.02 a
  // permanent rejection of the message instead.
  bool treat_4_02_as_token_invalid = true;
};

// The decision for `a` in phase `p`. `resent_after_reauth` says the message was already resent once after a
// re-authentication caused by it: a repeated reauth_and_resend_once row then becomes dead_letter (spec §6
// "repeat → dead-letter"). Ignored in the auth phase.
verdict decide(phase p, answer a, const answer_policy_config& config = {},
               bool resent_after_reauth = false) noexcept;

// "4.03 Forbidden", "2.05 Content", "5.00 Internal Server Error", "no ACK after MAX_RETRANSMIT", "RST".
std::string describe(answer a);

// Reason phrase of a raw code per RFC 7252 §12.1.2 (and RFC 7959/8132 additions), or "" when unknown.
std::string_view code_name(std::uint8_t code) noexcept;

std::string_view to_string(policy_action a) noexcept;
std::string_view to_string(phase p) noexcept;

}  // namespace gw::session
