#include "gateway/net/deadline_heap.hpp"

#include <utility>

namespace gw::net {

void deadline_heap::set(slot s, std::optional<time_point> deadline) {
  if (s >= position_.size()) position_.resize(s + 1, npos);
  const std::uint32_t at = position_[s];
  if (!deadline) {
    if (at != npos) erase_at(at);
    return;
  }
  if (at == npos) {
    heap_.push_back({*deadline, s});
    position_[s] = static_cast<std::uint32_t>(heap_.size() - 1);
    sift_up(heap_.size() - 1);
    return;
  }
  const bool earlier = *deadline < heap_[at].deadline;
  heap_[at].deadline = *deadline;
  if (earlier) {
    sift_up(at);
  } else {
    sift_down(at);
  }
}

std::optional<deadline_heap::time_point> deadline_heap::earliest() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline;
}

std::optional<deadline_heap::slot> deadline_heap::pop_due(time_point now) {
  if (heap_.empty() || heap_.front().deadline > now) return std::nullopt;
  const slot s = heap_.front().owner;
  erase_at(0);
  return s;
}

void deadline_heap::swap_at(std::size_t a, std::size_t b) {
  std::swap(heap_[a], heap_[b]);
  position_[heap_[a].owner] = static_cast<std::uint32_t>(a);
  position_[heap_[b].owner] = static_cast<std::uint32_t>(b);
}

void deadline_heap::sift_up(std::size_t i) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!(heap_[i].deadline < heap_[parent].deadline)) break;
    swap_at(i, parent);
    i = parent;
  }
}

void deadline_heap::sift_down(std::size_t i) {
  for (;;) {
    const std::size_t l = 2 * i + 1;
    const std::size_t r = l + 1;
    std::size_t m = i;
    if (l < heap_.size() && heap_[l].deadline < heap_[m].deadline) m = l;
    if (r < heap_.size() && heap_[r].deadline < heap_[m].deadline) m = r;
    if (m == i) return;
    swap_at(i, m);
    i = m;
  }
}

void deadline_heap::erase_at(std::size_t i) {
  const std::size_t last = heap_.size() - 1;
  position_[heap_[i].owner] = npos;
  if (i != last) {
    heap_[i] = heap_[last];
    position_[heap_[i].owner] = static_cast<std::uint32_t>(i);
  }
  heap_.pop_back();
  if (i < heap_.size()) {
    sift_up(i);
    sift_down(i);
  }
}

}  // namespace gw::net
