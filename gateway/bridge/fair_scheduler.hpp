#pragma once
// gw::bridge::fair_scheduler — which device's queued messages go to the cloud next (issue #6.4): devices are
// served round robin under a global in-flight cap, each with its own in-flight window, so one slow or stalled
// device holds at most its window of the cap and never blocks the others; messages of one device are offered
// in queue order by the caller. Sans-io: no clock, no queue, no threads; the caller reports what happened.
//
//   wake(d)      d may have durable messages to offer (a commit, a start): d joins the ring if it is not in
//   it settled(d)   one of d's offered messages was acked or dead-lettered: frees a slot of d and of the cap
//   run(offer)   hands out slots: pops devices from the ring in order and calls offer(d, n) with n >= 1 (at
//                most d's free window and the cap's free slots); offer returns how many it offered (<= n)
//   take_back(d) everything d had in flight went back to the queue (its session stopped): frees its slots
//   remove(d)    d is gone (a reload removed it): frees its slots; its index is handed out again by
//   add_device set_cap(c)   a reload changed the cap; slots in flight above a lowered cap drain before new
//   ones go out
//
// A device that used every slot it was given may have more: it goes to the back of the ring. One that offered
// fewer has an empty (or not yet durable) backlog and leaves the ring until the next wake(). One whose window
// is full leaves the ring until settled(). So under the cap every device with a backlog gets a turn of at
// most its window before any device gets a second one.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace gw::bridge {

class fair_scheduler {
 public:
  using device_index = std::size_t;

  // per_device >= 1 and global_cap >= 1 (0 is taken as 1).
  fair_scheduler(std::size_t per_device, std::size_t global_cap);

  // Registers one more device: the lowest index a remove() freed, else 0, 1, 2... in call order.
  device_index add_device();

  void wake(device_index d);
  void settled(device_index d);
  void take_back(device_index d);
  void remove(device_index d);
  void set_cap(std::size_t global_cap);

  template <class Offer>
  void run(Offer&& offer) {
    while (in_flight_ < cap_ && !ring_.empty()) {
      const device_index d = ring_.front();
      ring_.pop_front();
      auto& s = devices_[d];
      s.in_ring = false;
      if (s.removed || s.in_flight >= per_device_) continue;  // back in the ring at settled()
      const std::size_t n = std::min(per_device_ - s.in_flight, cap_ - in_flight_);
      const std::size_t given = std::min<std::size_t>(offer(d, n), n);
      s.in_flight += given;
      in_flight_ += given;
      if (given == n && s.in_flight < per_device_) push(d);  // capped by the global cap: more may wait
    }
  }

  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t in_flight(device_index d) const noexcept { return devices_[d].in_flight; }
  std::size_t waiting() const noexcept { return ring_.size(); }  // devices in the ring
  std::size_t cap() const noexcept { return cap_; }
  std::size_t per_device() const noexcept { return per_device_; }

 private:
  struct device_state {
    std::size_t in_flight = 0;
    bool in_ring = false;
    bool removed = false;  // its index waits in free_ for add_device (a stale ring entry is skipped)
  };
  void push(device_index d);

  std::size_t per_device_;
  std::size_t cap_;
  std::size_t in_flight_ = 0;
  std::vector<device_state> devices_;
  std::deque<device_index> ring_;
  std::vector<device_index> free_;  // a min-heap (std::greater): add_device reuses the lowest index
};

}  // namespace gw::bridge
