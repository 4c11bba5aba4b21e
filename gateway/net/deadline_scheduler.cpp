#include "gateway/net/deadline_scheduler.hpp"

#include <boost/asio/error.hpp>
#include <utility>

namespace gw::net {

deadline_scheduler::deadline_scheduler(boost::asio::any_io_executor executor) : timer_(std::move(executor)) {}

deadline_scheduler::~deadline_scheduler() {
  *alive_ = false;
}

deadline_scheduler::slot deadline_scheduler::add(callback on_due) {
  if (!free_.empty()) {
    const slot s = free_.back();
    free_.pop_back();
    callbacks_[s] = std::move(on_due);
    return s;
  }
  callbacks_.push_back(std::move(on_due));
  return static_cast<slot>(callbacks_.size() - 1);
}

void deadline_scheduler::remove(slot s) {
  if (s >= callbacks_.size() || !callbacks_[s]) return;
  heap_.set(s, std::nullopt);
  callbacks_[s] = nullptr;
  free_.push_back(s);
  arm();
}

void deadline_scheduler::schedule(slot s, std::optional<time_point> deadline) {
  if (s >= callbacks_.size() || !callbacks_[s]) return;
  heap_.set(s, deadline);
  arm();
}

void deadline_scheduler::arm() {
  const auto earliest = heap_.earliest();
  if (earliest == armed_at_) return;
  armed_at_ = earliest;
  if (!earliest) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*earliest);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted || !*alive) return;
    on_timer(clock::now());
  });
}

void deadline_scheduler::on_timer(time_point now) {
  armed_at_.reset();
  // Callbacks may schedule, add or remove slots (including their own): pop one at a time.
  while (auto s = heap_.pop_due(now)) {
    if (*s < callbacks_.size() && callbacks_[*s]) {
      auto cb = callbacks_[*s];  // copy: the callback may remove its own slot
      cb(now);
    }
  }
  arm();
}

}  // namespace gw::net
