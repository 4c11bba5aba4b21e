#include "gateway/bridge/payload.hpp"

#include <nlohmann/json.hpp>

#include "gateway/bridge/error.hpp"

namespace gw::bridge {
namespace {

// Whether no array or object in `in` opens deeper than `max_depth` (brackets inside strings do not count).
// Only a bound for the parser: malformed input is the parser's to refuse.
bool nesting_within(std::span<const std::uint8_t> in, std::size_t max_depth) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const std::uint8_t c : in) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace

std::error_code encode_payload(payload_format format, std::span<const std::uint8_t> in,
                               std::vector<std::uint8_t>& out) noexcept {
  out.clear();
  try {
    if (format == payload_format::raw) {
      out.assign(in.begin(), in.end());
      return {};
    }
    if (in.size() > max_json_input) return error::oversize;
    if (!nesting_within(in, max_json_depth)) return error::too_deep;
    // Parse without exceptions: an invalid document comes back as a discarded value.
    auto doc = nlohmann::json::parse(in.begin(), in.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return error::not_json;
    nlohmann::json::to_cbor(doc, out);
    return {};
  } catch (...) {  // bad_alloc, or a to_cbor failure: report, never throw on the data plane.
    out.clear();
    return error::not_json;
  }
}

std::error_code check_payload_size(std::size_t size, std::size_t max) noexcept {
  if (size > max) return error::oversize;
  return {};
}

std::string oversize_reason(std::size_t size, std::size_t max) {
  return "oversize " + std::to_string(size) + " > " + std::to_string(max);
}

}  // namespace gw::bridge
