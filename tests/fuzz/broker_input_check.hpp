#pragma once

// The property broker_input_fuzz and the bridge_fuzz_corpus_replay test check on every input: what the broker
// hands the gateway (a topic and a payload, routed and re-encoded), what an /auth answer carries (parsed in
// both modes) and an AES-mode payload from the cloud (decrypted). Input layout: byte 0 = topic length n
// (clipped to what follows), bytes 1..n = the topic, the rest = the payload.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gateway/bridge/error.hpp"
#include "gateway/bridge/payload.hpp"
#include "gateway/bridge/router.hpp"
#include "gateway/crypto/aes.hpp"
#include "gateway/crypto/auth_response.hpp"

namespace gw::bridge::fuzz {

inline const std::map<std::string, device_info, std::less<>>& fuzz_devices() {
  static const std::map<std::string, device_info, std::less<>> devices = {{"pk/dev", {"pk", "dev"}},
                                                                          {"pk/a", {"pk", "a"}}};
  return devices;
}

// Route 0 is the example configuration's; route 1 re-encodes JSON; route 2 takes everything else.
inline const router& fuzz_router() {
  static const router r = [] {
    route_error err;
    auto made = router::make(
        {
            {"sensors/+device/#rest", "pk/${device}", "/${productKey}/${deviceName}/user/${rest}",
             payload_format::raw},
            {"cbor/+device", "pk/${device}", "/${productKey}/${deviceName}/user/cbor", payload_format::cbor},
            {"#", "pk/dev", "/pk/dev/user/${topic}", payload_format::raw},
        },
        [](std::string_view id) -> const device_info* {
          auto it = fuzz_devices().find(id);
          return it == fuzz_devices().end() ? nullptr : &it->second;
        },
        err);
    return std::move(*made);
  }();
  return r;
}

inline bool check_route(std::string_view topic) {
  std::error_code ec;
  const auto res = fuzz_router().route(topic, ec);
  if (ec == error::no_route || ec == error::unknown_device) return true;
  if (ec) return ec == error::bad_topic && !is_valid_cloud_topic(res.cloud_topic);
  if (!is_valid_cloud_topic(res.cloud_topic) || !fuzz_devices().contains(res.device_id)) return false;
  if (res.route_index == 0) {  // sensors/<name>/<rest> -> /pk/<name>/user/<rest>, bytes unchanged
    constexpr std::string_view prefix = "sensors/";
    const auto name_end = topic.find('/', prefix.size());
    const auto name = topic.substr(prefix.size(), name_end - prefix.size());
    const auto rest = name_end == std::string_view::npos ? std::string_view{} : topic.substr(name_end + 1);
    if (res.device_id != "pk/" + std::string(name)) return false;
    if (res.cloud_topic != "/pk/" + std::string(name) + "/user/" + std::string(rest)) return false;
  }
  return true;
}

inline bool check_payload(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> out;
  if (encode_payload(payload_format::raw, payload, out) || !std::ranges::equal(out, payload)) {
    return false;
  }
  const auto ec = encode_payload(payload_format::cbor, payload, out);
  if (ec) return out.empty() && (ec == error::not_json || ec == error::too_deep || ec == error::oversize);
  // The CBOR says what the JSON said.
  try {
    const auto json = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
    const auto back = nlohmann::json::from_cbor(out, true, false);
    return !json.is_discarded() && !back.is_discarded() && json == back;
  } catch (...) {
    return false;
  }
}

inline bool check_auth_response(std::span<const std::uint8_t> payload) {
  for (const auto mode : {crypto::auth_mode::dtls, crypto::auth_mode::aes}) {
    std::error_code ec;
    const auto a = crypto::parse_auth_response(payload, mode, ec);
    if (ec) {
      if (!a.token.empty() || !a.random.empty() || a.seq_offset) return false;
      continue;
    }
    if (payload.size() > crypto::max_auth_response_bytes) return false;
    if (a.token.empty() || a.token.size() > crypto::max_token_bytes) return false;
    if (mode == crypto::auth_mode::aes &&
        (a.random.empty() || a.random.size() > crypto::max_random_bytes || !a.seq_offset)) {
      return false;
    }
  }
  return true;
}

// An AES-mode payload from the cloud (spec §5.2): what decrypts encrypts back to the same bytes (CBC with the
// fixed IV and PKCS#7 is a bijection onto validly padded input), and what is encrypted decrypts back.
inline bool check_aes_payload(std::span<const std::uint8_t> payload) {
  static const std::array<std::uint8_t, crypto::aes_key::size> raw{1, 2,  3,  4,  5,  6,  7,  8,
                                                                   9, 10, 11, 12, 13, 14, 15, 16};
  static const auto key = *crypto::aes_key::from_bytes(raw);
  if (const auto plain = crypto::decrypt(key, payload)) {
    if (!std::ranges::equal(crypto::encrypt(key, *plain), payload)) return false;
    if (!check_auth_response(*plain)) return false;  // an AES-mode /auth answer is parsed after decryption
  }
  const auto sealed = crypto::encrypt(key, payload);
  const auto opened = crypto::decrypt(key, sealed);
  return sealed.size() % 16 == 0 && opened && std::ranges::equal(*opened, payload);
}

// Returns false if a contract was broken; crashes and sanitizer reports are caught by the harness.
inline bool check_broker_input(std::span<const std::uint8_t> data) {
  const std::size_t n = data.empty() ? 0 : std::min<std::size_t>(data[0], data.size() - 1);
  const std::string_view topic =
      data.empty() ? std::string_view{} : std::string_view(reinterpret_cast<const char*>(data.data()) + 1, n);
  const auto payload = data.empty() ? data : data.subspan(1 + n);
  return check_route(topic) && check_payload(payload) && check_auth_response(payload) &&
         check_aes_payload(payload);
}

}  // namespace gw::bridge::fuzz
