#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::bridge {

// How a route's payload is sent to the cloud.
enum class payload_format {
  raw,   ///< bytes pass through unchanged (default)
  cbor,  ///< payload must be JSON; it is re-encoded as CBOR (RFC 8949) with nlohmann::json::to_cbor
};

// One `routes:` entry of the configuration (shared/design.md §4), already parsed from YAML.
//   from:   MQTT filter; `+name` captures one level, `#name` (last level only) the rest; plain `+`/`#`
//   allowed. device: device id template, e.g. "${device}" or a fixed "a1B2c3/dev1"; variables: captures,
//   ${topic}. to:     cloud topic template starting with '/'; variables: ${productKey}, ${deviceName},
//   ${topic}, captures.
struct route_config {
  std::string from;
  std::string device;
  std::string to;
  payload_format format = payload_format::raw;
};

// A validation failure of one route; the config loader prefixes file and line.
struct route_error {
  std::size_t index = 0;  ///< position of the route in the list
  std::string field;      ///< "from", "device" or "to"
  std::string message;    ///< names the problem, e.g. "'#' must be the last level"
};

// Named captures of one match: capture name -> value. Unnamed wildcards capture nothing.
using captures = std::map<std::string, std::string, std::less<>>;

// An MQTT topic filter with optional named captures (MQTT 3.1.1 §4.7).
class topic_filter {
 public:
  // Parses `text`; on failure returns nullopt and sets `error_message`.
  static std::optional<topic_filter> parse(std::string_view text, std::string& error_message);

  // Matches a concrete topic. MQTT 3.1.1 §4.7.1.2: "a/#" also matches "a" (the rest is then empty);
  // §4.7.2: a filter starting with a wildcard does not match topics starting with '$'.
  bool match(std::string_view topic, captures& out) const;

  // The filter as it is subscribed: captures stripped ("sensors/+device/#rest" -> "sensors/+/#").
  const std::string& subscription() const noexcept { return subscription_; }

  // Capture names in order of appearance.
  std::vector<std::string> capture_names() const;

 private:
  enum class kind { literal, one, rest };
  struct level {
    kind k;
    std::string text;  // literal text or capture name (may be empty)
  };
  std::vector<level> levels_;
  std::string subscription_;
};

// A "${var}" string template. Literal '$' not followed by '{' is kept as is.
class topic_template {
 public:
  // Parses `text`, accepting only variables in `allowed`; on failure returns nullopt and sets
  // `error_message`.
  static std::optional<topic_template> parse(std::string_view text, const std::vector<std::string>& allowed,
                                             std::string& error_message);

  // Substitutes every variable through `value(name)`.
  template <class Lookup>
  std::string expand(Lookup&& value) const {
    std::string out;
    for (const auto& p : parts_) {
      if (p.is_var) {
        out += value(std::string_view{p.text});
      } else {
        out += p.text;
      }
    }
    return out;
  }

  bool is_literal() const noexcept { return parts_.size() <= 1 && (parts_.empty() || !parts_[0].is_var); }

 private:
  struct part {
    bool is_var;
    std::string text;
  };
  std::vector<part> parts_;
};

// A cloud topic is valid when it starts with '/', has no empty segment, no '+' or '#', and is <= 255 bytes.
bool is_valid_cloud_topic(std::string_view topic) noexcept;

// Maximum cloud topic length in bytes.
inline constexpr std::size_t max_cloud_topic_length = 255;

}  // namespace gw::bridge
