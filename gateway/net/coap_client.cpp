#include "gateway/net/coap_client.hpp"

#include <utility>

namespace gw::net {

coap_client::coap_client(boost::asio::any_io_executor executor, deadline_scheduler& scheduler,
                         coap::transmission_params params, std::uint16_t first_message_id,
                         std::uint64_t random_seed)
    : link_(std::move(executor)),
      scheduler_(scheduler),
      slot_(scheduler.add([this](deadline_scheduler::time_point now) {
        endpoint_.on_timer(now);
        pump();
      })),
      endpoint_(params, first_message_id, random_seed) {
  link_.on_receive([this](std::span<const std::uint8_t> datagram) {
    endpoint_.on_datagram(coap::clock::now(), datagram);
    pump();
  });
}

coap_client::~coap_client() {
  link_.on_receive(nullptr);
  scheduler_.remove(slot_);
}

coap::request_id coap_client::request(coap::message msg, response_handler on_response) {
  const auto id = endpoint_.send(coap::clock::now(), std::move(msg));
  pending_.emplace(id, std::move(on_response));
  pump();
  return id;
}

void coap_client::cancel(coap::request_id id) {
  endpoint_.cancel(id);
  pending_.erase(id);
  pump();
}

void coap_client::pump() {
  while (endpoint_.poll_transmit(scratch_)) (void)link_.send(scratch_);
  while (auto ev = endpoint_.poll_event()) {
    auto it = pending_.find(ev->id);
    if (it == pending_.end()) continue;
    auto handler = std::move(it->second);
    pending_.erase(it);
    if (handler) handler(*ev);
  }
  scheduler_.schedule(slot_, endpoint_.next_deadline());
}

}  // namespace gw::net
