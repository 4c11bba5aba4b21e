#pragma once

#include <cstdint>
#include <vector>

#include "gateway/coap/message.hpp"
#include "gateway/coap/transmission_params.hpp"

namespace gw::coap {

using request_id = std::uint64_t;

/// One request of ours and its progress (Californium's Exchange, client side).
struct exchange {
  enum class state : std::uint8_t {
    queued,             ///< waiting behind NSTART; no MID or token yet
    awaiting_ack,       ///< CON sent, retransmitted until ACK/RST/response (RFC 7252 §4.2)
    awaiting_response,  ///< NON sent, or CON acknowledged by an empty ACK (RFC 7252 §5.2.2)
  };

  request_id id = 0;
  message request;
  std::vector<std::uint8_t> datagram;  ///< encoded request; every retransmission resends exactly these bytes
  state current = state::queued;
  time_point first_sent{};
  time_point deadline{};  ///< next retransmission, or when waiting for a response gives up
  duration timeout{};     ///< current retransmission timeout (doubles per retransmission)
  unsigned retransmissions = 0;
  bool acknowledged = false;  ///< an empty ACK was received (deadline is the separate-response timeout)

  /// When the last copy of the request left (while awaiting its ACK: the deadline is one timeout after it).
  time_point last_sent() const noexcept { return deadline - timeout; }
};

}  // namespace gw::coap
