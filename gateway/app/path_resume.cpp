#include "gateway/app/path_resume.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace gw::app {
namespace {

// Wake-ups go out in batches every 10 ms (or slower for low rates); a scan step over sessions that have
// nothing to resume costs one check each, at most this many per tick.
constexpr auto base_tick = std::chrono::milliseconds(10);
constexpr std::size_t max_scan_per_tick = 4096;
constexpr std::size_t outage_sessions = 10;

}  // namespace

path_resume::path_resume(net::deadline_scheduler& scheduler, double rate_per_s, clock::duration min_interval)
    : scheduler_(scheduler),
      slot_(scheduler.add([this](time_point now) { on_tick(now); })),
      min_interval_(min_interval) {
  const double rate = std::max(rate_per_s, 1.0);
  const double per_base_tick = rate * std::chrono::duration<double>(base_tick).count();
  if (per_base_tick >= 1.0) {
    tick_ = base_tick;
    per_tick_ = static_cast<std::size_t>(per_base_tick);
  } else {
    tick_ = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / rate));
    per_tick_ = 1;
  }
}

path_resume::~path_resume() {
  scheduler_.remove(slot_);
}

std::size_t path_resume::group(const std::string& endpoint) {
  auto [it, inserted] = by_endpoint_.emplace(endpoint, groups_.size());
  if (inserted) {
    groups_.emplace_back();
    groups_.back().endpoint = endpoint;
  }
  return it->second;
}

path_resume::member path_resume::add(std::size_t group, resume_fn fn) {
  if (group >= groups_.size()) return {group, 0};
  group_state& g = groups_[group];
  if (!g.free.empty()) {
    // A reused slot behind the cursor of a running round is not resumed by that round: its session is new.
    const std::size_t index = g.free.back();
    g.free.pop_back();
    g.members[index] = std::move(fn);
    return {group, index};
  }
  g.members.push_back(std::move(fn));
  return {group, g.members.size() - 1};
}

void path_resume::remove(member m) {
  if (m.group >= groups_.size()) return;
  group_state& g = groups_[m.group];
  if (m.index >= g.members.size() || !g.members[m.index]) return;
  g.members[m.index] = nullptr;
  g.free.push_back(m.index);
}

std::size_t path_resume::members(std::size_t group) const {
  if (group >= groups_.size()) return 0;
  return groups_[group].members.size() - groups_[group].free.size();
}

void path_resume::answered(std::size_t group, time_point now, time_point working_since) {
  if (group >= groups_.size()) return;
  group_state& g = groups_[group];
  if (g.active || (g.last_round && now - *g.last_round < min_interval_)) return;
  g.working_since = working_since;
  g.active = true;
  g.cursor = 0;
  g.resumed = 0;
  g.last_round = now;
  ++rounds_;
  spdlog::debug("cloud {} answers again after timeouts: resuming its {} device session(s) now", g.endpoint,
                members(group));
  scheduler_.schedule(slot_, now);  // on the next loop turn, never from inside the answering session
}

void path_resume::on_tick(time_point now) {
  bool more = false;
  for (group_state& g : groups_) {
    if (!g.active) continue;
    std::size_t woken = 0;
    std::size_t scanned = 0;
    while (g.cursor < g.members.size() && woken < per_tick_ && scanned < max_scan_per_tick) {
      if (g.members[g.cursor] && g.members[g.cursor](now, g.working_since)) ++woken;
      ++g.cursor;
      ++scanned;
    }
    g.resumed += woken;
    resumed_ += woken;
    if (g.cursor < g.members.size()) {
      more = true;
      continue;
    }
    g.active = false;
    // A few resumed sessions are ordinary packet loss (debug); many are the end of an outage (info).
    spdlog::log(g.resumed >= outage_sessions ? spdlog::level::info : spdlog::level::debug,
                "cloud {} answers again after timeouts: {} device session(s) resumed", g.endpoint, g.resumed);
  }
  scheduler_.schedule(slot_, more ? std::optional<time_point>(now + tick_) : std::nullopt);
}

}  // namespace gw::app
