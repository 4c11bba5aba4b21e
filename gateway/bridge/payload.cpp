#include "gateway/bridge/payload.hpp"

#include <nlohmann/json.hpp>

#include "gateway/bridge/error.hpp"

namespace gw::bridge {

std::error_code encode_payload(payload_format format, std::span<const std::uint8_t> in,
                               std::vector<std::uint8_t>& out) noexcept {
  out.clear();
  try {
    if (format == payload_format::raw) {
      out.assign(in.begin(), in.end());
      return {};
    }
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
