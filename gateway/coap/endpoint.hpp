#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "gateway/coap/deduplicator.hpp"
#include "gateway/coap/error.hpp"
#include "gateway/coap/exchange.hpp"
#include "gateway/coap/matcher.hpp"
#include "gateway/coap/message.hpp"
#include "gateway/coap/prng.hpp"
#include "gateway/coap/reliability_layer.hpp"
#include "gateway/coap/transmission_params.hpp"
#include "gateway/util/fifo.hpp"

namespace gw::coap {

struct response_event {
  request_id id;
  std::error_code ec;        // empty on a response; coap::error::{timeout, reset, cancelled,
                             // separate_response_timeout} otherwise
  message response;          // valid when !ec
  unsigned retransmissions;  // how many times the request was re-sent
  duration rtt;              // first send -> response (or failure)
  // When the copy that was answered left, as far as the endpoint knows: the last transmission of a request
  // still awaiting its ACK; the response's own time after an empty ACK (which copy was ACKed is unknown).
  time_point answered_copy_sent{};
};

/// Counters since construction. `sent` counts every datagram queued for the wire (requests, retransmissions,
/// ACKs, RSTs); `retransmitted`, `acks_sent`, `rsts_sent` are parts of it. `received` counts every datagram
/// given to on_datagram; `malformed` and `duplicates` are parts of it. `timeouts` counts error::timeout and
/// error::separate_response_timeout failures, `resets` error::reset ones.
struct endpoint_stats {
  std::uint64_t sent, retransmitted, received, malformed, duplicates, acks_sent, rsts_sent, timeouts, resets;
};

/// Sans-io CoAP client endpoint for one peer (RFC 7252 §4, §5): the caller feeds datagrams and time, and
/// drains datagrams to send and response events. Not thread-safe; never throws on network input.
///
/// Incoming: ACK/RST are matched by MID; a piggybacked response (ACK with the request's token) completes the
/// request; an empty ACK switches it to waiting for a separate response; a CON response is ACKed and
/// delivered once (a repeat is re-ACKed only); a NON response is delivered once; a response for no known
/// token is answered with RST if CON and ignored otherwise; an empty CON (ping) and any CON request get RST
/// (spec §7: we are a client); malformed datagrams are counted and dropped.
class endpoint {
 public:
  endpoint(transmission_params params, std::uint16_t first_message_id, std::uint64_t random_seed);

  /// Queues `request` (its MID and token are overwritten at first transmission). type con is retransmitted,
  /// non is not; ack/rst are sent as con. Sent at once if fewer than NSTART requests are outstanding.
  request_id send(time_point now, message request);
  /// Forgets the request; no event is reported for it. A queued request that may now start is sent at the
  /// next call taking `now`; next_deadline() reports the last known time meanwhile, so the driver calls
  /// on_timer.
  void cancel(request_id id);
  void on_datagram(time_point now, std::span<const std::uint8_t> datagram) noexcept;
  void on_timer(time_point now);
  /// The caller has positive evidence that the peer answers again (another endpoint to the same host:port
  /// got a response after timeouts). Every request already in CON back-off is retransmitted now, once, and
  /// its schedule restarts from the initial ACK_TIMEOUT range (reliability_layer::on_path_recovered).
  /// Requests whose last copy left at or after `working_since` are left alone (see on_path_recovered).
  /// Returns how many requests were retransmitted.
  std::size_t retransmit_now(time_point now, time_point working_since = time_point::max());
  /// True if some request is in CON back-off (retransmitted at least once, still unanswered).
  bool backing_off() const noexcept;
  /// Earliest retransmit / response-wait / dedup expiry; nullopt when nothing is pending.
  std::optional<time_point> next_deadline() const;
  /// Moves the next datagram to send into `datagram` (replacing its contents); false if there is none.
  bool poll_transmit(std::vector<std::uint8_t>& datagram);
  std::optional<response_event> poll_event();
  const endpoint_stats& stats() const { return stats_; }
  std::size_t outstanding() const { return outstanding_.size(); }  // sent, awaiting answer
  std::size_t queued() const { return queued_.size(); }            // waiting behind NSTART

 private:
  exchange* find_outstanding(request_id id) noexcept;
  void start_queued(time_point now);
  void transmit_first(time_point now, exchange& ex);
  void complete(time_point now, request_id id, std::error_code ec, message response);
  void send_empty(message_type type, std::uint16_t mid);
  void handle(time_point now, message&& msg);
  void handle_response(time_point now, message&& msg);

  transmission_params params_;
  reliability_layer reliability_;
  matcher matcher_;
  deduplicator deduplicator_;
  prng random_;
  std::uint16_t next_mid_;
  request_id next_id_ = 1;
  std::vector<exchange> outstanding_;
  util::fifo<exchange> queued_;
  util::fifo<std::vector<std::uint8_t>> transmit_;
  util::fifo<response_event> events_;
  endpoint_stats stats_{};
  time_point last_now_{};
  bool start_pending_ = false;
};

}  // namespace gw::coap
