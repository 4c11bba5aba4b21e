#include "gateway/bridge/fair_scheduler.hpp"

#include <algorithm>
#include <functional>

namespace gw::bridge {

fair_scheduler::fair_scheduler(std::size_t per_device, std::size_t global_cap)
    : per_device_(std::max<std::size_t>(per_device, 1)), cap_(std::max<std::size_t>(global_cap, 1)) {}

fair_scheduler::device_index fair_scheduler::add_device() {
  if (!free_.empty()) {
    // Reuse the lowest freed index. A stale entry of the removed device may still be in the ring; the new
    // owner simply inherits that place (in_ring stays as it was, so the index is never queued twice).
    std::pop_heap(free_.begin(), free_.end(), std::greater<>{});
    const device_index d = free_.back();
    free_.pop_back();
    auto& s = devices_[d];
    s.in_flight = 0;
    s.removed = false;
    return d;
  }
  devices_.emplace_back();
  return devices_.size() - 1;
}

void fair_scheduler::push(device_index d) {
  auto& s = devices_[d];
  if (s.in_ring || s.removed) return;
  s.in_ring = true;
  ring_.push_back(d);
}

void fair_scheduler::wake(device_index d) {
  if (d < devices_.size()) push(d);
}

void fair_scheduler::settled(device_index d) {
  if (d >= devices_.size()) return;
  auto& s = devices_[d];
  if (s.in_flight > 0) {
    --s.in_flight;
    --in_flight_;
  }
  push(d);  // it may have more queued
}

void fair_scheduler::take_back(device_index d) {
  if (d >= devices_.size()) return;
  auto& s = devices_[d];
  in_flight_ -= s.in_flight;
  s.in_flight = 0;
}

void fair_scheduler::remove(device_index d) {
  if (d >= devices_.size() || devices_[d].removed) return;
  take_back(d);
  devices_[d].removed = true;
  free_.push_back(d);
  std::push_heap(free_.begin(), free_.end(), std::greater<>{});
}

void fair_scheduler::set_cap(std::size_t global_cap) {
  cap_ = std::max<std::size_t>(global_cap, 1);
}

}  // namespace gw::bridge
