#pragma once
// The pure part of deadline_scheduler: a min-heap of (deadline, slot) with O(log n) update and removal
// through a position index. No Asio, no clock: tests drive it with made-up time points.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace gw::net {

class deadline_heap {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using slot = std::uint32_t;

  // Sets (or, with nullopt, clears) the deadline of `s`. Slots are small dense integers chosen by the caller.
  void set(slot s, std::optional<time_point> deadline);
  std::optional<time_point> earliest() const;
  // Removes and returns the slot with the earliest deadline if that deadline is <= now.
  std::optional<slot> pop_due(time_point now);
  std::size_t armed() const { return heap_.size(); }

 private:
  struct entry {
    time_point deadline;
    slot owner;
  };
  static constexpr std::uint32_t npos = UINT32_MAX;
  void swap_at(std::size_t a, std::size_t b);
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  void erase_at(std::size_t i);

  std::vector<entry> heap_;
  std::vector<std::uint32_t> position_;  // slot -> index in heap_, or npos
};

}  // namespace gw::net
