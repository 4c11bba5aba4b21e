#include "gateway/app/state_change_log.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <vector>

namespace gw::app {

bool state_change_log::record(time_point now, std::string_view from, std::string_view to) {
  if (window_start_ && now >= *window_start_ + options_.window && summarised_ == 0) {
    window_start_.reset();  // a quiet window ended without a summary: nothing to flush, start afresh
  }
  if (!window_start_) {
    window_start_ = now;
    logged_ = 0;
  }
  if (logged_ < options_.burst) {
    ++logged_;
    return true;
  }
  ++summarised_;
  ++transitions_[{std::string(from), std::string(to)}];
  return false;
}

std::optional<state_change_log::time_point> state_change_log::next_flush() const {
  if (!window_start_ || summarised_ == 0) return std::nullopt;
  return *window_start_ + options_.window;
}

std::optional<std::string> state_change_log::flush(time_point now) {
  const auto due = next_flush();
  if (!due || now < *due) return std::nullopt;
  // Most frequent transitions first, so the line reads as "what happened" at a glance.
  std::vector<std::pair<std::size_t, const std::pair<std::string, std::string>*>> order;
  order.reserve(transitions_.size());
  for (const auto& [t, n] : transitions_) order.emplace_back(n, &t);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string parts;
  for (const auto& [n, t] : order) {
    if (!parts.empty()) parts += ", ";
    parts += fmt::format("{} -> {}: {}", t->first, t->second, n);
  }
  auto line = fmt::format("devices: {} more state changes in {} ms ({}); single lines at debug level",
                          summarised_, options_.window.count(), parts);
  window_start_.reset();
  logged_ = 0;
  summarised_ = 0;
  transitions_.clear();
  return line;
}

}  // namespace gw::app
