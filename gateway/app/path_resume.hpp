#pragma once
// Issue #6 item 4, "after an outage the backlog drains as fast as the cloud accepts": groups the device
// sessions by cloud endpoint (host:port). When one session of a group is answered after timeouts (positive
// evidence that the path works again), every session of the group is asked to resume
// (device_session::resume: retransmit what waits in CON back-off now, end back-offs caused by silence),
// paced at `rate_per_s` wake-ups through the deadline scheduler, so 10,000 devices do not fire in one loop
// turn. Config: cloud.coap.resume_on_answer / resume_rate_per_s.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/net/deadline_scheduler.hpp"

namespace gw::app {

class path_resume {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  // Asks one session to resume; true if it had something to resume (counts against the rate).
  // `working_since`: when the copy that was answered left (the round's evidence), for
  // device_session::resume.
  using resume_fn = std::function<bool(time_point now, time_point working_since)>;

  // `min_interval`: a new round of a group starts at most this often (the CoAP ACK_TIMEOUT is a good value:
  // sessions resumed by the last round are then at most one initial timeout into their new schedule).
  path_resume(net::deadline_scheduler& scheduler, double rate_per_s, clock::duration min_interval);
  // A reload changed cloud.coap.ack_timeout: later rounds use the new interval.
  void set_min_interval(clock::duration min_interval) { min_interval_ = min_interval; }
  path_resume(const path_resume&) = delete;
  path_resume& operator=(const path_resume&) = delete;
  ~path_resume();

  // The group of `endpoint` ("host:port"), created on first use.
  std::size_t group(const std::string& endpoint);
  struct member {
    std::size_t group = 0;
    std::size_t index = 0;
  };
  // Reuses the slot of a removed member, so reloads that replace sessions do not grow the group.
  member add(std::size_t group, resume_fn fn);
  // Forgets a member (its session is destroyed, e.g. the device was removed or replaced by a reload). Call it
  // before the session goes: a round calls every live member. Removing twice is harmless.
  void remove(member m);
  // Live members of `group` (0 for an unknown group).
  std::size_t members(std::size_t group) const;
  // A session of `group` was answered after timeouts; the answered copy left at `working_since`, which the
  // round passes to every member it calls. Never resumes anyone synchronously.
  void answered(std::size_t group, time_point now, time_point working_since = time_point::max());

  std::uint64_t rounds() const { return rounds_; }
  std::uint64_t resumed() const { return resumed_; }

 private:
  struct group_state {
    std::string endpoint;
    std::vector<resume_fn> members;  // removed members are empty and their index is in `free`
    std::vector<std::size_t> free;
    std::optional<time_point> last_round;
    time_point working_since = time_point::max();
    bool active = false;
    std::size_t cursor = 0;
    std::size_t resumed = 0;  // in the current round
  };
  void on_tick(time_point now);

  net::deadline_scheduler& scheduler_;
  net::deadline_scheduler::slot slot_;
  clock::duration tick_;
  std::size_t per_tick_;
  clock::duration min_interval_;
  std::unordered_map<std::string, std::size_t> by_endpoint_;
  std::vector<group_state> groups_;
  std::uint64_t rounds_ = 0;
  std::uint64_t resumed_ = 0;
};

}  // namespace gw::app
