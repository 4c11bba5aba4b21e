#pragma once
// A FIFO that costs nothing until used: a vector plus a head index. libstdc++'s std::deque allocates ~600
// bytes even when empty, and every idle device session holds several queues (endpoint transmit/event/queue,
// FSM actions/pending), which put an idle AES device at ~6.8 KiB instead of the <= 4 KiB aim
// (docs/benchmarks.md). Header-only, standard library only: usable from every layer.
//
// Contract: the deque subset the protocol layers use (push_back, front/back, pop_front, iteration over the
// live elements, erase, insert, clear). pop_front is amortised O(1): the dead prefix is compacted once it is
// larger than the live part. Capacity is released when the queue drains after a burst, so an idle owner holds
// nothing.

#include <cstddef>
#include <utility>
#include <vector>

namespace gw::util {

template <typename T>
class fifo {
 public:
  using iterator = typename std::vector<T>::iterator;
  using const_iterator = typename std::vector<T>::const_iterator;

  bool empty() const noexcept { return head_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }

  void push_back(T value) { items_.push_back(std::move(value)); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }

  void pop_front() {
    items_[head_] = T{};  // release what the element owns now, not at compaction
    ++head_;
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= 16 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > release_above) std::vector<T>().swap(items_);
  }

  iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return items_.end(); }

  iterator erase(const_iterator pos) {
    auto it = items_.erase(pos);
    if (empty()) {
      clear();
      return end();
    }
    return it;
  }
  iterator insert(const_iterator pos, T value) { return items_.insert(pos, std::move(value)); }

 private:
  static constexpr std::size_t release_above = 8;  // elements kept allocated once drained

  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace gw::util
