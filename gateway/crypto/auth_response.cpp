#include "gateway/crypto/auth_response.hpp"

#include <limits>
#include <nlohmann/json.hpp>

#include "gateway/crypto/error.hpp"

namespace gw::crypto {
namespace {

// Reads one required string member; returns an error code or {} and stores into `out`.
std::error_code read_string(const nlohmann::json& obj, const char* key, std::size_t limit, std::string& out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return error::missing_field;
  if (!it->is_string()) return error::wrong_type;
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return error::empty_field;
  if (s.size() > limit) return error::oversize;
  out = s;
  return {};
}

}  // namespace

auth_response parse_auth_response(std::string_view payload, auth_mode mode, std::error_code& ec) noexcept {
  ec.clear();
  if (payload.size() > max_auth_response_bytes) {
    ec = error::oversize;
    return {};
  }
  try {
    // allow_exceptions = false: syntax errors yield a discarded value. The try still guards allocation
    // failures and anything nlohmann may throw on hostile input (input size bounds depth and memory).
    const auto doc = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      ec = error::bad_json;
      return {};
    }
    auth_response out;
    if ((ec = read_string(doc, "token", max_token_bytes, out.token))) {
      return {};
    }
    if (mode == auth_mode::aes) {
      if ((ec = read_string(doc, "random", max_random_bytes, out.random))) {
        return {};
      }
      const auto it = doc.find("seqOffset");
      if (it == doc.end()) {
        ec = error::missing_field;
        return {};
      }
      if (it->is_number_unsigned()) {
        const auto v = it->get<std::uint64_t>();
        if (v > std::numeric_limits<std::uint32_t>::max()) {
          ec = error::wrong_type;
          return {};
        }
        out.seq_offset = static_cast<std::uint32_t>(v);
      } else if (it->is_number_integer() && it->get<std::int64_t>() >= 0) {
        out.seq_offset = static_cast<std::uint32_t>(it->get<std::int64_t>());
      } else {
        ec = error::wrong_type;
        return {};
      }
    }
    return out;
  } catch (...) {
    ec = error::bad_json;
    return {};
  }
}

}  // namespace gw::crypto
