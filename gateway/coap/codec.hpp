#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "gateway/coap/error.hpp"
#include "gateway/coap/message.hpp"

namespace gw::coap {

/// Parses one datagram (RFC 7252 §3). On success `out` holds exactly the datagram's message; on error `out`
/// is valid but unspecified and the code is a gw::coap::error. Never throws except std::bad_alloc, never
/// reads past the span.
std::error_code decode(std::span<const std::uint8_t> datagram, message& out) noexcept;

/// Serializes `msg` (RFC 7252 §3, §3.1) by APPENDING to `out`; clear `out` first for a fresh datagram.
/// Options are written in the message's (sorted) order with minimal delta/length extensions.
void encode(const message& msg, std::vector<std::uint8_t>& out);

/// Exact number of bytes encode() appends for `msg`.
std::size_t encoded_size(const message& msg) noexcept;

}  // namespace gw::coap
