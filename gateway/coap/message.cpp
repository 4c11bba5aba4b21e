#include "gateway/coap/message.hpp"

#include <algorithm>
#include <utility>

namespace gw::coap {

std::string to_string(std::uint8_t c) {
  const unsigned detail = code_detail(c);
  std::string s;
  s.reserve(4);
  s.push_back(static_cast<char>('0' + code_class(c)));
  s.push_back('.');
  s.push_back(static_cast<char>('0' + detail / 10));
  s.push_back(static_cast<char>('0' + detail % 10));
  return s;
}

bool message::set_token(std::span<const std::uint8_t> t) noexcept {
  if (t.size() > max_token_length) return false;
  std::copy(t.begin(), t.end(), token_.begin());
  std::fill(token_.begin() + static_cast<std::ptrdiff_t>(t.size()), token_.end(), std::uint8_t{0});
  token_length_ = static_cast<std::uint8_t>(t.size());
  return true;
}

void option_value::assign(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > inline_capacity) {
    auto heap = std::make_unique_for_overwrite<std::uint8_t[]>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), heap.get());
    heap_ = std::move(heap);
  } else {
    std::copy(bytes.begin(), bytes.end(), inline_.begin());
    heap_.reset();
  }
  size_ = bytes.size();
}

void option_value::take(option_value& other) noexcept {
  heap_ = std::move(other.heap_);
  if (!heap_) std::copy_n(other.inline_.begin(), other.size_, inline_.begin());
  size_ = std::exchange(other.size_, 0);
}

void message::add_option(std::uint16_t number, std::span<const std::uint8_t> value) {
  // A request carries ~10 options (spec §5: Uri-Path segments, formats, token, seq): one allocation for them.
  if (options_.capacity() == 0) options_.reserve(12);
  auto pos = std::upper_bound(options_.begin(), options_.end(), number,
                              [](std::uint16_t n, const option& o) { return n < o.number; });
  options_.insert(pos, option{number, option_value(value)});
}

void message::add_option(std::uint16_t number, std::string_view value) {
  add_option(number, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(value.data()),
                                                   value.size()));
}

void message::add_uint_option(std::uint16_t number, std::uint64_t value) {
  std::array<std::uint8_t, 8> bytes{};
  std::size_t n = 0;
  for (std::uint64_t v = value; v != 0; v >>= 8) ++n;
  for (std::size_t i = 0; i < n; ++i) bytes[n - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  add_option(number, std::span<const std::uint8_t>(bytes.data(), n));
}

void message::remove_options(std::uint16_t number) {
  std::erase_if(options_, [number](const option& o) { return o.number == number; });
}

std::span<const option> message::find_options(std::uint16_t number) const noexcept {
  auto [first, last] = std::equal_range(options_.begin(), options_.end(), option{number, {}},
                                        [](const option& a, const option& b) { return a.number < b.number; });
  return {first, last};
}

const option* message::find_option(std::uint16_t number) const noexcept {
  auto found = find_options(number);
  return found.empty() ? nullptr : &found.front();
}

std::optional<std::uint64_t> message::uint_option(std::uint16_t number) const noexcept {
  const option* o = find_option(number);
  if (o == nullptr || o->value.size() > 8) return std::nullopt;
  std::uint64_t v = 0;
  for (std::uint8_t b : o->value) v = (v << 8) | b;
  return v;
}

std::optional<std::uint16_t> message::content_format() const noexcept {
  const option* o = find_option(option_number::content_format);
  if (o == nullptr || o->value.size() > 2) return std::nullopt;  // RFC 7252 §5.10: uint, 0-2 bytes
  auto v = uint_option(option_number::content_format);
  return static_cast<std::uint16_t>(*v);
}

void message::set_uri_path(std::string_view path) {
  remove_options(option_number::uri_path);
  while (!path.empty()) {
    const auto slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (!segment.empty()) add_option(option_number::uri_path, segment);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
}

std::string message::uri_path() const {
  std::string out;
  for (const option& o : find_options(option_number::uri_path)) {
    if (!out.empty()) out.push_back('/');
    out.append(o.value.begin(), o.value.end());
  }
  return out;
}

bool message::operator==(const message& other) const noexcept {
  return type_ == other.type_ && code_ == other.code_ && message_id_ == other.message_id_ &&
         std::ranges::equal(token(), other.token()) && options_ == other.options_ &&
         payload_ == other.payload_;
}

message make_empty_ack(std::uint16_t message_id) noexcept {
  return message(message_type::ack, code::empty, message_id);
}

message make_rst(std::uint16_t message_id) noexcept {
  return message(message_type::rst, code::empty, message_id);
}

}  // namespace gw::coap
