#include "gateway/app/subscription_record.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace gw::app {

std::optional<subscription_record> parse_subscription_record(std::string_view text, std::error_code& ec) {
  ec.clear();
  // The file may be damaged or hostile: parse without exceptions, then check every field's type.
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto bad = [&] {
    ec = std::make_error_code(std::errc::bad_message);
    return std::nullopt;
  };
  if (!j.is_object()) return bad();
  const auto id = j.find("client_id");
  const auto filters = j.find("filters");
  if (id == j.end() || !id->is_string() || filters == j.end() || !filters->is_array()) return bad();
  subscription_record r;
  r.client_id = id->get<std::string>();
  for (const auto& f : *filters) {
    if (!f.is_string()) return bad();
    r.filters.push_back(f.get<std::string>());
  }
  return r;
}

std::string encode_subscription_record(const subscription_record& record) {
  const nlohmann::json j = {{"client_id", record.client_id}, {"filters", record.filters}};
  // Invalid UTF-8 is replaced, not thrown: a filter came from the operator's file as bytes.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<subscription_record> read_subscription_record(const std::filesystem::path& file,
                                                            std::error_code& ec) {
  ec.clear();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code xec;
    if (std::filesystem::exists(file, xec)) {
      ec = std::make_error_code(std::errc::permission_denied);
    } else if (xec) {
      ec = xec;
    }
    return std::nullopt;  // none yet: ec clear
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_subscription_record(text.str(), ec);
}

void write_subscription_record(const std::filesystem::path& file, const subscription_record& record,
                               std::error_code& ec) {
  ec.clear();
  auto tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << encode_subscription_record(record);
    out.flush();
    if (!out) {
      out.close();
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      ec = std::make_error_code(std::errc::io_error);
      return;
    }
  }
  std::filesystem::rename(tmp, file, ec);
}

std::vector<std::string> stale_filters(const subscription_record& previous, const std::string& client_id,
                                       const std::vector<std::string>& wanted) {
  std::vector<std::string> out;
  if (previous.client_id != client_id) return out;
  for (const auto& f : previous.filters) {
    if (std::find(wanted.begin(), wanted.end(), f) == wanted.end() &&
        std::find(out.begin(), out.end(), f) == out.end()) {
      out.push_back(f);
    }
  }
  return out;
}

}  // namespace gw::app
