#pragma once
// The Asio side of the gateway-wide auth/handshake rate limit: wraps auth_scheduler (token bucket + FIFO) and
// wakes each waiting device through the shared deadline_scheduler when its slot is granted (issue #5 item 4).

#include <functional>
#include <unordered_map>
#include <vector>

#include "gateway/net/deadline_scheduler.hpp"
#include "gateway/session/token_bucket.hpp"

namespace gw::session {

class auth_gate {
 public:
  using device_id = auth_scheduler::device_id;
  using clock = std::chrono::steady_clock;

  auth_gate(net::deadline_scheduler& scheduler, double rate_per_s, std::uint32_t burst);
  auth_gate(const auth_gate&) = delete;
  auth_gate& operator=(const auth_gate&) = delete;
  ~auth_gate();

  // Queues `id` (FIFO); `granted` runs once, on the loop, when the bucket admits it. A second request for a
  // device that is already waiting replaces its callback and keeps its place.
  void request(device_id id, std::function<void(clock::time_point)> granted);
  void cancel(device_id id);
  std::size_t waiting() const { return waiters_.size(); }

 private:
  void on_timer(clock::time_point now);

  net::deadline_scheduler& scheduler_;
  net::deadline_scheduler::slot slot_;
  auth_scheduler queue_;
  std::unordered_map<device_id, std::function<void(clock::time_point)>> waiters_;
  std::vector<device_id> granted_;
};

}  // namespace gw::session
