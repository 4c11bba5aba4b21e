#pragma once

#include "gateway/coap/exchange.hpp"
#include "gateway/coap/prng.hpp"
#include "gateway/coap/transmission_params.hpp"

namespace gw::coap {

/// Californium's ReliabilityLayer: CON retransmission timing (RFC 7252 §4.2, §4.8). Pure: it updates the
/// exchange's deadline and tells the caller what to do; the caller sends and reports.
class reliability_layer {
 public:
  enum class action {
    retransmit,  ///< resend exchange.datagram; the deadline was moved to the next timeout
    fail,  ///< give up: error::timeout (or separate_response_timeout when the CON had been acknowledged)
  };

  explicit reliability_layer(const transmission_params& params) noexcept : params_(params) {}

  /// RFC 7252 §4.2: initial timeout uniformly random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR].
  duration initial_timeout(prng& random) const noexcept;

  /// First transmission at `now`: CON arms the retransmission timer; NON waits MAX_TRANSMIT_WAIT for a
  /// response.
  void on_first_send(exchange& ex, time_point now, prng& random) const noexcept;

  /// An empty ACK arrived (RFC 7252 §5.2.2): stop retransmitting, wait separate_response_timeout from `now`.
  void on_empty_ack(exchange& ex, time_point now) const noexcept;

  /// The exchange's deadline passed at `now`. While retransmissions remain, doubles the timeout and sets the
  /// deadline to now + timeout (RFC 7252 §4.2); otherwise the exchange has failed after its last wait.
  action on_deadline(exchange& ex, time_point now) const noexcept;

  /// The peer was seen answering again (another exchange to it succeeded): an exchange that is already in
  /// back-off (awaiting_ack, retransmitted at least once) is retransmitted at `now` and its schedule restarts
  /// from the initial ACK_TIMEOUT range; it still counts as a retransmission. Deliberately shortens RFC 7252
  /// §4.2's back-off, only on positive evidence that the path works. At most one such extra transmission
  /// beyond MAX_RETRANSMIT, so an exchange's life stays bounded. `working_since`: when the copy that was
  /// answered left (the answer's time minus its RTT); an exchange whose last copy left at or after it is
  /// skipped, because that copy travelled on a working path and its answer is on its way: a resend would only
  /// be a duplicate at the peer. False (nothing changed) otherwise.
  bool on_path_recovered(exchange& ex, time_point now, prng& random,
                         time_point working_since = time_point::max()) const noexcept;

 private:
  transmission_params params_;
};

}  // namespace gw::coap
