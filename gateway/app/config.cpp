#include "gateway/app/config.hpp"

#include <openssl/crypto.h>

#include <charconv>
#include <limits>

namespace gw::app {

// Copies, then wipes the source: a moved-from std::string may keep the secret in its small buffer.
secret::secret(secret&& other) noexcept : value_(other.value_) {  // NOLINT(performance-move-constructor-init)
  other.wipe();
}

secret& secret::operator=(const secret& other) {
  if (this != &other) {
    wipe();
    value_ = other.value_;
  }
  return *this;
}

secret& secret::operator=(secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = other.value_;
    other.wipe();
  }
  return *this;
}

secret::~secret() {
  wipe();
}

void wipe_string(std::string& s) noexcept {
  // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move): a moved-from string is valid, and its buffer is the point
  if (s.capacity() > 0) OPENSSL_cleanse(s.data(), s.capacity());
  s.clear();
}

void secret::wipe() noexcept {
  wipe_string(value_);
}

std::string_view to_string(cloud_mode m) noexcept {
  switch (m) {
    case cloud_mode::dtls:
      return "dtls";
    case cloud_mode::dtls_psk:
      return "dtls-psk";
    case cloud_mode::aes:
      return "aes";
    case cloud_mode::plain:
      return "plain";
  }
  return "?";
}

std::uint16_t default_port(cloud_mode m) noexcept {
  switch (m) {
    case cloud_mode::dtls:
    case cloud_mode::dtls_psk:
      return 5684;
    case cloud_mode::aes:
      return 5682;
    case cloud_mode::plain:
      return 5683;
  }
  return 5683;
}

config_error::config_error(std::vector<std::string> errors)
    : std::runtime_error([&] {
        std::string text = "invalid configuration (" + std::to_string(errors.size()) + " error" +
                           (errors.size() == 1 ? "" : "s") + "):";
        for (const auto& e : errors) text += "\n  " + e;
        return text;
      }()),
      errors_(std::move(errors)) {}

namespace {

std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) noexcept {
  std::uint64_t n = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first == last || *first < '0' || *first > '9') return std::nullopt;
  auto [ptr, ec] = std::from_chars(first, last, n);
  if (ec != std::errc{}) return std::nullopt;
  return std::pair{n, std::string_view(ptr, static_cast<std::size_t>(last - ptr))};
}

std::optional<std::uint64_t> mul(std::uint64_t a, std::uint64_t b) noexcept {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [n, unit] = *parts;
  std::uint64_t factor = 0;
  if (unit == "ms" || (unit.empty() && n == 0))  // a bare 0 needs no unit
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else if (unit == "d")
    factor = 86'400'000;
  else
    return std::nullopt;
  auto ms = mul(n, factor);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [n, unit] = *parts;
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "B")
    factor = 1;
  else if (unit == "KiB")
    factor = 1ULL << 10;
  else if (unit == "MiB")
    factor = 1ULL << 20;
  else if (unit == "GiB")
    factor = 1ULL << 30;
  else if (unit == "TiB")
    factor = 1ULL << 40;
  else if (unit == "KB" || unit == "kB")
    factor = 1000;
  else if (unit == "MB")
    factor = 1000'000;
  else if (unit == "GB")
    factor = 1000'000'000;
  else
    return std::nullopt;
  return mul(n, factor);
}

unsigned shard_of(std::string_view product_key, std::string_view device_name, unsigned count) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64 of "productKey/deviceName"
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  };
  mix(product_key);
  mix("/");
  mix(device_name);
  return count == 0 ? 0 : static_cast<unsigned>(h % count);
}

bool in_shard(const std::optional<shard_config>& shard, std::string_view product_key,
              std::string_view device_name) {
  return !shard || shard->count <= 1 || shard_of(product_key, device_name, shard->count) == shard->index;
}

}  // namespace gw::app
