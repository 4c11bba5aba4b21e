#pragma once
// Items passed from producer threads to one consumer in runs. The producer that puts the first item of a run
// is told so and wakes the consumer (e.g. one asio::post); items put before the consumer takes the run join
// it, so a burst costs one wake-up, not one per item. Used for the Paho thread's deliveries
// (gw::mqtt::client) and the queue writer's store completions (gw::app::gateway): issue #6,
// docs/benchmarks.md. Header-only, standard library only: usable from every layer.
//
// Contract: put() from any thread; take() from the consumer, which must run after every put() that returned
// true (or the run waits for the next one). Items come out in the order their put() took the lock.

#include <mutex>
#include <utility>
#include <vector>

namespace gw::util {

template <typename T>
class handoff {
 public:
  // True if `item` starts a run: the caller must then make the consumer take().
  bool put(T item) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(item));
    return items_.size() == 1;
  }

  // Every item put since the last take(), oldest first; the next put() starts a new run.
  std::vector<T> take() {
    std::vector<T> run;
    std::lock_guard lock(mutex_);
    run.swap(items_);
    return run;
  }

 private:
  std::mutex mutex_;
  std::vector<T> items_;
};

}  // namespace gw::util
