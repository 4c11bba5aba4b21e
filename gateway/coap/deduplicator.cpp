#include "gateway/coap/deduplicator.hpp"

#include <algorithm>

namespace gw::coap {

bool deduplicator::contains(time_point now, std::uint16_t mid) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return e.mid == mid && e.expires > now; });
}

void deduplicator::remember(time_point now, std::uint16_t mid) {
  if (capacity_ == 0) return;
  expire(now);
  while (entries_.size() >= capacity_) entries_.pop_front();
  entries_.push_back(entry{mid, now + lifetime_});
}

void deduplicator::expire(time_point now) noexcept {
  while (!entries_.empty() && entries_.front().expires <= now) entries_.pop_front();
}

std::optional<time_point> deduplicator::next_expiry() const noexcept {
  if (entries_.empty()) return std::nullopt;
  return entries_.front().expires;
}

}  // namespace gw::coap
