#pragma once

#include <system_error>

namespace gw::coap {

// Every way a datagram can be malformed (RFC 7252 §3, §4.1) and every way a request can end without a
// response.
enum class error {
  truncated_header = 1,     ///< fewer than the 4 fixed header bytes (RFC 7252 §3)
  bad_version,              ///< version field is not 1 (RFC 7252 §3: "MUST be silently ignored")
  bad_token_length,         ///< TKL is 9..15, reserved (RFC 7252 §3)
  truncated_token,          ///< datagram ends inside the token
  truncated_option,         ///< datagram ends inside an option header, extension or value (RFC 7252 §3.1)
  reserved_option_nibble,   ///< delta or length nibble 15 outside the 0xFF payload marker (RFC 7252 §3.1)
  empty_payload,            ///< payload marker followed by zero bytes (RFC 7252 §3: message format error)
  option_number_overflow,   ///< accumulated option number exceeds 65535
  non_empty_empty_message,  ///< code 0.00 with a token, options or payload (RFC 7252 §4.1)
  timeout,    ///< no ACK after MAX_RETRANSMIT retransmissions, or no response in time (§4.2, §4.8)
  reset,      ///< the peer answered the request with RST (RFC 7252 §4.2, §4.3)
  cancelled,  ///< the request was cancelled locally (never reported as an event by endpoint)
  separate_response_timeout,  ///< empty ACK received, but no separate response in time (RFC 7252 §5.2.2)
};

const std::error_category& coap_category() noexcept;

std::error_code make_error_code(error e) noexcept;

}  // namespace gw::coap

template <>
struct std::is_error_code_enum<gw::coap::error> : std::true_type {};
