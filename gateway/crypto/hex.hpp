#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw::crypto {

enum class hex_case { lower, upper };

// Hex text of `bytes`, two characters per byte.
std::string to_hex(std::span<const std::uint8_t> bytes, hex_case c = hex_case::lower);

// Bytes of hex text (either case); nullopt on odd length or a non-hex character.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) noexcept;

}  // namespace gw::crypto
