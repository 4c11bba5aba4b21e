#include "gateway/coap/codec.hpp"

namespace gw::coap {
namespace {

constexpr std::uint8_t payload_marker = 0xFF;

// RFC 7252 §3.1: size of the extension bytes for a delta or length value.
constexpr std::size_t extension_size(std::size_t v) noexcept {
  return v < 13 ? 0 : v < 269 ? 1 : 2;
}

constexpr std::uint8_t nibble(std::size_t v) noexcept {
  return static_cast<std::uint8_t>(v < 13 ? v : v < 269 ? 13 : 14);
}

void put_extension(std::vector<std::uint8_t>& out, std::size_t v) {
  if (v >= 269) {
    const std::size_t e = v - 269;
    out.push_back(static_cast<std::uint8_t>(e >> 8));
    out.push_back(static_cast<std::uint8_t>(e & 0xFF));
  } else if (v >= 13) {
    out.push_back(static_cast<std::uint8_t>(v - 13));
  }
}

// Reads the extended form of a delta/length nibble (RFC 7252 §3.1). Returns false when truncated.
bool read_extension(std::span<const std::uint8_t> in, std::size_t& pos, unsigned nib,
                    std::size_t& value) noexcept {
  if (nib < 13) {
    value = nib;
    return true;
  }
  if (nib == 13) {
    if (pos + 1 > in.size()) return false;
    value = 13u + in[pos];
    pos += 1;
    return true;
  }
  // nib == 14; 15 is rejected by the caller.
  if (pos + 2 > in.size()) return false;
  value = 269u + ((std::size_t{in[pos]} << 8) | in[pos + 1]);
  pos += 2;
  return true;
}

}  // namespace

std::error_code decode(std::span<const std::uint8_t> in, message& out) noexcept {
  // RFC 7252 §3: Ver(2) T(2) TKL(4) | Code(8) | Message ID(16)
  if (in.size() < 4) return error::truncated_header;
  if ((in[0] >> 6) != 1) return error::bad_version;
  const std::size_t tkl = in[0] & 0x0F;
  if (tkl > message::max_token_length) return error::bad_token_length;
  if (in.size() < 4 + tkl) return error::truncated_token;

  out = message(static_cast<message_type>((in[0] >> 4) & 0x3), in[1],
                static_cast<std::uint16_t>((in[2] << 8) | in[3]));
  out.set_token(in.subspan(4, tkl));

  std::size_t pos = 4 + tkl;
  std::size_t number = 0;
  while (pos < in.size()) {
    const std::uint8_t head = in[pos++];
    if (head == payload_marker) {
      // RFC 7252 §3: a marker followed by a zero-length payload is a format error.
      if (pos == in.size()) return error::empty_payload;
      out.set_payload(in.subspan(pos));
      pos = in.size();
      break;
    }
    const unsigned delta_nib = head >> 4;
    const unsigned length_nib = head & 0x0F;
    if (delta_nib == 15 || length_nib == 15) return error::reserved_option_nibble;
    std::size_t delta = 0;
    std::size_t length = 0;
    if (!read_extension(in, pos, delta_nib, delta)) return error::truncated_option;
    if (!read_extension(in, pos, length_nib, length)) return error::truncated_option;
    number += delta;
    if (number > 0xFFFF) return error::option_number_overflow;
    if (length > in.size() - pos) return error::truncated_option;
    out.add_option(static_cast<std::uint16_t>(number), in.subspan(pos, length));
    pos += length;
  }

  // RFC 7252 §4.1: an Empty message has no token, options or payload.
  if (out.is_empty() && (tkl != 0 || !out.options().empty() || !out.payload().empty())) {
    return error::non_empty_empty_message;
  }
  return {};
}

std::size_t encoded_size(const message& msg) noexcept {
  std::size_t size = 4 + msg.token().size();
  std::size_t previous = 0;
  for (const option& o : msg.options()) {
    const std::size_t delta = o.number - previous;
    size += 1 + extension_size(delta) + extension_size(o.value.size()) + o.value.size();
    previous = o.number;
  }
  if (!msg.payload().empty()) size += 1 + msg.payload().size();
  return size;
}

void encode(const message& msg, std::vector<std::uint8_t>& out) {
  out.reserve(out.size() + encoded_size(msg));
  const auto token = msg.token();
  out.push_back(static_cast<std::uint8_t>(0x40 | (static_cast<unsigned>(msg.type()) << 4) | token.size()));
  out.push_back(msg.code());
  out.push_back(static_cast<std::uint8_t>(msg.message_id() >> 8));
  out.push_back(static_cast<std::uint8_t>(msg.message_id() & 0xFF));
  out.insert(out.end(), token.begin(), token.end());
  std::size_t previous = 0;
  for (const option& o : msg.options()) {
    const std::size_t delta = o.number - previous;
    const std::size_t length = o.value.size();
    out.push_back(static_cast<std::uint8_t>((nibble(delta) << 4) | nibble(length)));
    put_extension(out, delta);
    put_extension(out, length);
    out.insert(out.end(), o.value.begin(), o.value.end());
    previous = o.number;
  }
  if (!msg.payload().empty()) {
    out.push_back(payload_marker);
    out.insert(out.end(), msg.payload().begin(), msg.payload().end());
  }
}

}  // namespace gw::coap
