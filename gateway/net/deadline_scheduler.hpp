#pragma once
// One Asio timer for many protocol objects (design.md §3, net layer): each owner registers a slot and tells
// the scheduler its next deadline; the scheduler keeps a min-heap of deadlines and arms a single steady_timer
// at the earliest one. 10,000 endpoints cost 10,000 heap entries, not 10,000 armed Asio timers.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "gateway/net/deadline_heap.hpp"

namespace gw::net {

class deadline_scheduler {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using slot = deadline_heap::slot;
  using callback = std::function<void(time_point now)>;

  explicit deadline_scheduler(boost::asio::any_io_executor executor);
  deadline_scheduler(const deadline_scheduler&) = delete;
  deadline_scheduler& operator=(const deadline_scheduler&) = delete;
  ~deadline_scheduler();

  // Registers `on_due`, called on the executor when the slot's deadline has passed (once per schedule()).
  slot add(callback on_due);
  // Forgets the slot; its callback is never called again, even if it was due in this same round.
  void remove(slot s);
  // Replaces the slot's deadline; nullopt disarms it. Cheap: O(log n), and the Asio timer is re-armed only
  // when the earliest deadline changes.
  void schedule(slot s, std::optional<time_point> deadline);

  std::size_t armed() const { return heap_.armed(); }
  std::size_t slots() const { return callbacks_.size() - free_.size(); }

 private:
  void arm();
  void on_timer(time_point now);

  boost::asio::steady_timer timer_;
  deadline_heap heap_;
  std::vector<callback> callbacks_;
  std::vector<slot> free_;
  std::optional<time_point> armed_at_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace gw::net
