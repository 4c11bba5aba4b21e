#pragma once
// The thin Asio shell around a sans-io gw::coap::endpoint for plain CoAP over UDP: datagrams in from the
// udp_link, deadlines through the shared deadline_scheduler, responses out through per-request callbacks.
// Used by plain-mode sessions and by the interop tests; DTLS sessions put gw::dtls between link and endpoint.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "gateway/coap/endpoint.hpp"
#include "gateway/net/deadline_scheduler.hpp"
#include "gateway/net/udp_link.hpp"

namespace gw::net {

class coap_client {
 public:
  using response_handler = std::function<void(const coap::response_event&)>;

  coap_client(boost::asio::any_io_executor executor, deadline_scheduler& scheduler,
              coap::transmission_params params, std::uint16_t first_message_id, std::uint64_t random_seed);
  coap_client(const coap_client&) = delete;
  coap_client& operator=(const coap_client&) = delete;
  ~coap_client();

  udp_link& link() { return link_; }
  // Sends a request; `on_response` runs once on the executor with the response or the error
  // (coap::error::timeout, reset, ...). Never runs if the client is destroyed first.
  coap::request_id request(coap::message msg, response_handler on_response);
  void cancel(coap::request_id id);
  const coap::endpoint& endpoint() const { return endpoint_; }

 private:
  void pump();  // flush transmits, deliver events, re-arm the deadline

  udp_link link_;
  deadline_scheduler& scheduler_;
  deadline_scheduler::slot slot_;
  coap::endpoint endpoint_;
  std::unordered_map<coap::request_id, response_handler> pending_;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace gw::net
