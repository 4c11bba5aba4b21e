#include "gateway/crypto/auth_request.hpp"

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "gateway/crypto/error.hpp"

namespace gw::crypto {
namespace {

// RFC 3629 well-formedness (no overlongs, no surrogates, max U+10FFFF).
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// Length in code points (spec §4.1: clientId "≤ 64 chars"); input already valid UTF-8.
std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char ch : s) {
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

auth_request make_auth_request(const auth_request_params& p, const secret& device_secret,
                               std::error_code& ec) {
  ec.clear();
  if (p.product_key.empty() || p.device_name.empty() || p.client_id.empty()) {
    ec = error::missing_identity;
    return {};
  }
  for (const std::string* s : {&p.product_key, &p.device_name, &p.client_id}) {
    if (!valid_utf8(*s)) {
      ec = error::invalid_utf8;
      return {};
    }
  }
  if ((p.timestamp && !valid_utf8(*p.timestamp)) || (p.seq && !valid_utf8(*p.seq))) {
    ec = error::invalid_utf8;
    return {};
  }
  if (utf8_length(p.client_id) > 64) {
    ec = error::client_id_too_long;
    return {};
  }
  const sign_method method = p.send_signmethod ? p.method : sign_method::hmacmd5;
  const std::string ack_text = p.ack_mode ? std::to_string(*p.ack_mode) : std::string();

  std::vector<sign_field> fields{
      {"productKey", p.product_key}, {"deviceName", p.device_name}, {"clientId", p.client_id}};
  if (p.timestamp) fields.emplace_back("timestamp", *p.timestamp);
  if (p.seq) fields.emplace_back("seq", *p.seq);
  // Spec §4.1: ackMode is not in the exclusion list, so it is signed when sent.
  if (p.ack_mode) fields.emplace_back("ackMode", ack_text);

  auth_request out;
  out.sign_string = make_sign_string(fields);
  out.sign = hmac_hex(method, device_secret, out.sign_string);
  if (out.sign.empty()) {
    ec = error::openssl_failure;
    return {};
  }

  nlohmann::ordered_json body = nlohmann::ordered_json::object();
  body["productKey"] = p.product_key;
  body["deviceName"] = p.device_name;
  body["clientId"] = p.client_id;
  if (p.timestamp) body["timestamp"] = *p.timestamp;
  if (p.seq) body["seq"] = *p.seq;
  if (p.ack_mode) body["ackMode"] = *p.ack_mode;
  if (p.send_signmethod) body["signmethod"] = std::string(to_string(method));
  body["sign"] = out.sign;
  // All strings were checked above, so dump() cannot meet invalid UTF-8.
  out.json = body.dump();
  return out;
}

}  // namespace gw::crypto
