#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw::coap {

/// RFC 7252 §3: the 2-bit Type field.
enum class message_type : std::uint8_t { con = 0, non = 1, ack = 2, rst = 3 };

/// Code byte layout c.dd (RFC 7252 §3): 3-bit class, 5-bit detail.
constexpr std::uint8_t make_code(unsigned cls, unsigned detail) noexcept {
  return static_cast<std::uint8_t>(((cls & 0x7u) << 5) | (detail & 0x1fu));
}
constexpr unsigned code_class(std::uint8_t c) noexcept {
  return c >> 5;
}
constexpr unsigned code_detail(std::uint8_t c) noexcept {
  return c & 0x1fu;
}
/// RFC 7252 §12.1: 0.01..0.31 are requests.
constexpr bool is_request(std::uint8_t c) noexcept {
  return code_class(c) == 0 && c != 0;
}
/// RFC 7252 §12.1.2: classes 2, 4 and 5 are responses; 1, 3, 6, 7 are reserved.
constexpr bool is_response(std::uint8_t c) noexcept {
  return code_class(c) == 2 || code_class(c) == 4 || code_class(c) == 5;
}
constexpr bool is_success(std::uint8_t c) noexcept {
  return code_class(c) == 2;
}

/// "c.dd", e.g. "4.01".
std::string to_string(std::uint8_t code);

/// RFC 7252 §12.1.1 / §12.1.2 registry entries used by the gateway.
namespace code {
inline constexpr std::uint8_t empty = make_code(0, 0);
inline constexpr std::uint8_t get = make_code(0, 1);
inline constexpr std::uint8_t post = make_code(0, 2);
inline constexpr std::uint8_t put = make_code(0, 3);
inline constexpr std::uint8_t delete_ = make_code(0, 4);
inline constexpr std::uint8_t created = make_code(2, 1);
inline constexpr std::uint8_t deleted = make_code(2, 2);
inline constexpr std::uint8_t valid = make_code(2, 3);
inline constexpr std::uint8_t changed = make_code(2, 4);
inline constexpr std::uint8_t content = make_code(2, 5);
inline constexpr std::uint8_t bad_request = make_code(4, 0);
inline constexpr std::uint8_t unauthorized = make_code(4, 1);
inline constexpr std::uint8_t bad_option = make_code(4, 2);
inline constexpr std::uint8_t forbidden = make_code(4, 3);
inline constexpr std::uint8_t not_found = make_code(4, 4);
inline constexpr std::uint8_t method_not_allowed = make_code(4, 5);
inline constexpr std::uint8_t not_acceptable = make_code(4, 6);
inline constexpr std::uint8_t precondition_failed = make_code(4, 12);
inline constexpr std::uint8_t request_entity_too_large = make_code(4, 13);
inline constexpr std::uint8_t unsupported_content_format = make_code(4, 15);
inline constexpr std::uint8_t internal_server_error = make_code(5, 0);
inline constexpr std::uint8_t not_implemented = make_code(5, 1);
inline constexpr std::uint8_t bad_gateway = make_code(5, 2);
inline constexpr std::uint8_t service_unavailable = make_code(5, 3);
inline constexpr std::uint8_t gateway_timeout = make_code(5, 4);
inline constexpr std::uint8_t proxying_not_supported = make_code(5, 5);
}  // namespace code

/// Option numbers: RFC 7252 §12.2 plus the Alibaba platform's private ones (spec §5.1, §5.4, §12).
namespace option_number {
inline constexpr std::uint16_t if_match = 1;
inline constexpr std::uint16_t uri_host = 3;
inline constexpr std::uint16_t etag = 4;
inline constexpr std::uint16_t if_none_match = 5;
inline constexpr std::uint16_t uri_port = 7;
inline constexpr std::uint16_t location_path = 8;
inline constexpr std::uint16_t uri_path = 11;
inline constexpr std::uint16_t content_format = 12;
inline constexpr std::uint16_t max_age = 14;
inline constexpr std::uint16_t uri_query = 15;
inline constexpr std::uint16_t accept = 17;
inline constexpr std::uint16_t location_query = 20;
inline constexpr std::uint16_t proxy_uri = 35;
inline constexpr std::uint16_t proxy_scheme = 39;
inline constexpr std::uint16_t size1 = 60;
inline constexpr std::uint16_t legacy_auth_token = 61;  ///< spec §12: iotkit v3.x puts the auth token here
inline constexpr std::uint16_t auth_token = 2088;       ///< spec §5.1
inline constexpr std::uint16_t aes_seq = 2089;          ///< spec §5.1: AES(decimal seq), 16 bytes
inline constexpr std::uint16_t message_id = 2090;       ///< spec §5.4: platform message id, opaque
}  // namespace option_number

/// RFC 7252 §12.3 content formats the gateway names.
namespace content_format {
inline constexpr std::uint16_t text_plain = 0;
inline constexpr std::uint16_t octet_stream = 42;
inline constexpr std::uint16_t json = 50;
inline constexpr std::uint16_t cbor = 60;
}  // namespace content_format

/// An option's value bytes. Up to inline_capacity bytes live inside the object, longer values on the heap.
/// Every option the platform exchanges fits inline (auth tokens are 32-35 bytes, spec §4; the AES seq option
/// 16, spec §5.1), so building or decoding a message costs no allocation per option: with a vector each,
/// options were ~16 of the ~55 allocations the loop made per forwarded message (docs/benchmarks.md).
class option_value {
 public:
  static constexpr std::size_t inline_capacity = 40;

  option_value() noexcept = default;
  option_value(std::span<const std::uint8_t> bytes) { assign(bytes); }  // NOLINT(google-explicit-constructor)
  option_value(std::initializer_list<std::uint8_t> bytes) { assign({bytes.begin(), bytes.size()}); }
  option_value(const option_value& other) { assign(other.bytes()); }
  option_value(option_value&& other) noexcept { take(other); }
  option_value& operator=(const option_value& other) {
    if (this != &other) assign(other.bytes());
    return *this;
  }
  option_value& operator=(option_value&& other) noexcept {
    if (this != &other) take(other);
    return *this;
  }
  ~option_value() = default;

  const std::uint8_t* data() const noexcept { return heap_ ? heap_.get() : inline_.data(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::uint8_t* begin() const noexcept { return data(); }
  const std::uint8_t* end() const noexcept { return data() + size_; }
  std::uint8_t operator[](std::size_t i) const noexcept { return data()[i]; }
  std::span<const std::uint8_t> bytes() const noexcept { return {data(), size_}; }

  friend bool operator==(const option_value& a, const option_value& b) noexcept {
    return std::ranges::equal(a.bytes(), b.bytes());
  }
  friend bool operator==(const option_value& a, const std::vector<std::uint8_t>& b) noexcept {
    return std::ranges::equal(a.bytes(), b);
  }

 private:
  void assign(std::span<const std::uint8_t> bytes);
  void take(option_value& other) noexcept;

  std::unique_ptr<std::uint8_t[]> heap_;  // set iff size_ > inline_capacity
  std::size_t size_ = 0;
  std::array<std::uint8_t, inline_capacity> inline_{};
};

struct option {
  std::uint16_t number = 0;
  option_value value;

  bool operator==(const option&) const = default;
};

/// One CoAP message as a value. Options are kept sorted by number; options with equal numbers keep insertion
/// order (RFC 7252 §5.4.5: repeated options are ordered). The token is stored inline (at most 8 bytes).
class message {
 public:
  static constexpr std::size_t max_token_length = 8;

  message() = default;
  message(message_type type, std::uint8_t code, std::uint16_t message_id = 0) noexcept
      : type_(type), code_(code), message_id_(message_id) {}

  message_type type() const noexcept { return type_; }
  void set_type(message_type t) noexcept { type_ = t; }
  std::uint8_t code() const noexcept { return code_; }
  void set_code(std::uint8_t c) noexcept { code_ = c; }
  std::uint16_t message_id() const noexcept { return message_id_; }
  void set_message_id(std::uint16_t mid) noexcept { message_id_ = mid; }

  std::span<const std::uint8_t> token() const noexcept { return {token_.data(), token_length_}; }
  /// Returns false (and leaves the token unchanged) if t is longer than 8 bytes (RFC 7252 §5.3.1).
  bool set_token(std::span<const std::uint8_t> t) noexcept;

  const std::vector<option>& options() const noexcept { return options_; }
  /// Inserts after every option with a number <= `number`.
  void add_option(std::uint16_t number, std::span<const std::uint8_t> value);
  void add_option(std::uint16_t number, std::string_view value);
  /// RFC 7252 §3.2: uint values are minimal big-endian; 0 is the empty value.
  void add_uint_option(std::uint16_t number, std::uint64_t value);
  void remove_options(std::uint16_t number);
  /// First option with this number, or nullptr.
  const option* find_option(std::uint16_t number) const noexcept;
  /// Every option with this number, in order.
  std::span<const option> find_options(std::uint16_t number) const noexcept;
  /// Value of the first such option read as a big-endian uint; nullopt if absent or longer than 8 bytes.
  std::optional<std::uint64_t> uint_option(std::uint16_t number) const noexcept;
  /// Content-Format (12); nullopt if absent or not a 0..2 byte uint.
  std::optional<std::uint16_t> content_format() const noexcept;

  /// Replaces the Uri-Path options with the '/'-separated segments of path; empty segments are skipped.
  void set_uri_path(std::string_view path);
  /// The Uri-Path segments joined with '/', without a leading '/' ("topic/a/b"); "" when there are none.
  std::string uri_path() const;

  const std::vector<std::uint8_t>& payload() const noexcept { return payload_; }
  std::vector<std::uint8_t>& payload() noexcept { return payload_; }
  void set_payload(std::span<const std::uint8_t> p) { payload_.assign(p.begin(), p.end()); }
  void set_payload(std::string_view p) { payload_.assign(p.begin(), p.end()); }

  /// RFC 7252 §4.1: code 0.00.
  bool is_empty() const noexcept { return code_ == code::empty; }

  bool operator==(const message& other) const noexcept;

 private:
  message_type type_ = message_type::con;
  std::uint8_t code_ = code::empty;
  std::uint16_t message_id_ = 0;
  std::uint8_t token_length_ = 0;
  std::array<std::uint8_t, max_token_length> token_{};
  std::vector<option> options_;
  std::vector<std::uint8_t> payload_;
};

/// RFC 7252 §4.2: the empty ACK that acknowledges a CON with this message id.
message make_empty_ack(std::uint16_t message_id) noexcept;
/// RFC 7252 §4.2/§4.3: the RST that rejects a message with this message id.
message make_rst(std::uint16_t message_id) noexcept;

}  // namespace gw::coap
