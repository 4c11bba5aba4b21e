#include "gateway/bridge/route.hpp"

#include <algorithm>
#include <set>

namespace gw::bridge {
namespace {

std::vector<std::string_view> split_levels(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_name(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_name_char);
}

}  // namespace

std::optional<topic_filter> topic_filter::parse(std::string_view text, std::string& error_message) {
  if (text.empty()) {
    error_message = "empty MQTT filter";
    return std::nullopt;
  }
  topic_filter f;
  std::set<std::string, std::less<>> names;
  auto levels = split_levels(text);
  for (std::size_t i = 0; i < levels.size(); ++i) {
    auto lv = levels[i];
    level out{kind::literal, std::string{lv}};
    if (!lv.empty() && (lv[0] == '+' || lv[0] == '#')) {
      out.k = lv[0] == '+' ? kind::one : kind::rest;
      out.text = std::string{lv.substr(1)};
      if (!is_name(out.text)) {
        error_message = "level '" + std::string{lv} +
                        "': a wildcard must fill the whole level, and a capture name " +
                        "may use only letters, digits and '_'";
        return std::nullopt;
      }
      if (out.k == kind::rest && i + 1 != levels.size()) {
        error_message = "'#' must be the last level";
        return std::nullopt;
      }
      if (!out.text.empty() && !names.insert(out.text).second) {
        error_message = "duplicate capture name '" + out.text + "'";
        return std::nullopt;
      }
    } else if (lv.find_first_of("+#") != std::string_view::npos) {
      error_message =
          "level '" + std::string{lv} + "': '+' and '#' must fill a whole level (MQTT 3.1.1 §4.7.1)";
      return std::nullopt;
    }
    if (i != 0) f.subscription_ += '/';
    f.subscription_ += out.k == kind::literal ? out.text : std::string(1, out.k == kind::one ? '+' : '#');
    f.levels_.push_back(std::move(out));
  }
  return f;
}

bool topic_filter::match(std::string_view topic, captures& out) const {
  out.clear();
  if (topic.empty()) return false;
  if (topic[0] == '$' && levels_[0].k != kind::literal) return false;
  // Walks the topic's levels in step with the filter's instead of splitting it first: this runs for every
  // message, and the split cost allocations.
  constexpr auto npos = std::string_view::npos;
  std::size_t pos = 0;  // where the topic's next level starts; npos once every level is consumed
  for (const auto& lv : levels_) {
    if (lv.k == kind::rest) {  // the rest, possibly empty ("a/#" matches "a": MQTT 3.1.1 §4.7.1.2)
      if (!lv.text.empty())
        out.emplace(lv.text, pos == npos ? std::string{} : std::string{topic.substr(pos)});
      return true;
    }
    if (pos == npos) return false;
    const auto slash = topic.find('/', pos);
    const auto here = topic.substr(pos, slash == npos ? npos : slash - pos);
    pos = slash == npos ? npos : slash + 1;
    if (lv.k == kind::one) {
      if (!lv.text.empty()) out.emplace(lv.text, std::string{here});
    } else if (lv.text != here) {
      return false;
    }
  }
  return pos == npos;
}

std::vector<std::string> topic_filter::capture_names() const {
  std::vector<std::string> names;
  for (const auto& lv : levels_) {
    if (lv.k != kind::literal && !lv.text.empty()) names.push_back(lv.text);
  }
  return names;
}

std::optional<topic_template> topic_template::parse(std::string_view text,
                                                    const std::vector<std::string>& allowed,
                                                    std::string& error_message) {
  if (text.empty()) {
    error_message = "empty template";
    return std::nullopt;
  }
  topic_template t;
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        error_message = "unterminated '${' in template";
        return std::nullopt;
      }
      auto name = text.substr(i + 2, close - i - 2);
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        error_message = "unknown variable '${" + std::string{name} + "}'";
        return std::nullopt;
      }
      if (!literal.empty()) t.parts_.push_back({false, std::move(literal)});
      literal.clear();
      t.parts_.push_back({true, std::string{name}});
      i = close + 1;
    } else {
      literal += text[i++];
    }
  }
  if (!literal.empty()) t.parts_.push_back({false, std::move(literal)});
  return t;
}

bool is_valid_cloud_topic(std::string_view topic) noexcept {
  if (topic.size() < 2 || topic.size() > max_cloud_topic_length || topic[0] != '/') return false;
  if (topic.find_first_of("+#") != std::string_view::npos) return false;
  // No empty segment: no "//" and no trailing '/'.
  return topic.find("//") == std::string_view::npos && topic.back() != '/';
}

}  // namespace gw::bridge
