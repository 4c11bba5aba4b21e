#include "gateway/session/auth_gate.hpp"

#include <utility>

namespace gw::session {

auth_gate::auth_gate(net::deadline_scheduler& scheduler, double rate_per_s, std::uint32_t burst)
    : scheduler_(scheduler),
      slot_(scheduler.add([this](clock::time_point now) { on_timer(now); })),
      queue_(token_bucket(rate_per_s, burst, clock::now())) {}

auth_gate::~auth_gate() {
  scheduler_.remove(slot_);
}

void auth_gate::request(device_id id, std::function<void(clock::time_point)> granted) {
  waiters_[id] = std::move(granted);
  queue_.enqueue(id);
  // Grant on the next turn of the loop, never inside the caller's stack (the caller is mid-way through its
  // own action loop).
  scheduler_.schedule(slot_, queue_.next_deadline(clock::now()));
}

void auth_gate::cancel(device_id id) {
  queue_.cancel(id);
  waiters_.erase(id);
}

void auth_gate::on_timer(clock::time_point now) {
  granted_.clear();
  queue_.poll(now, granted_);
  for (device_id id : granted_) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    auto cb = std::move(it->second);
    waiters_.erase(it);
    cb(now);
  }
  scheduler_.schedule(slot_, queue_.next_deadline(now));
}

}  // namespace gw::session
