#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace gw::coap::test {

using bytes = std::vector<std::uint8_t>;

/// "44 02 12 34" -> {0x44, 0x02, 0x12, 0x34}; spaces are ignored.
inline bytes hex(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  bytes out;
  int high = -1;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

inline bytes ascii(std::string_view text) {
  return bytes(text.begin(), text.end());
}

/// Concatenates byte pieces, so a wire image reads as its fields.
inline bytes cat(std::initializer_list<bytes> pieces) {
  bytes out;
  for (const bytes& p : pieces) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace gw::coap::test
