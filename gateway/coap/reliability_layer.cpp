#include "gateway/coap/reliability_layer.hpp"

namespace gw::coap {

duration reliability_layer::initial_timeout(prng& random) const noexcept {
  const double factor = params_.ack_random_factor < 1.0 ? 1.0 : params_.ack_random_factor;
  const double spread = static_cast<double>(params_.ack_timeout.count()) * (factor - 1.0);
  const auto jitter = static_cast<duration::rep>(spread * random.next_unit());
  return params_.ack_timeout + duration(jitter);
}

void reliability_layer::on_first_send(exchange& ex, time_point now, prng& random) const noexcept {
  ex.first_sent = now;
  ex.retransmissions = 0;
  ex.acknowledged = false;
  if (ex.request.type() == message_type::con) {
    ex.current = exchange::state::awaiting_ack;
    ex.timeout = initial_timeout(random);
    ex.deadline = now + ex.timeout;
  } else {
    ex.current = exchange::state::awaiting_response;
    ex.timeout = params_.max_transmit_wait();
    ex.deadline = now + ex.timeout;
  }
}

void reliability_layer::on_empty_ack(exchange& ex, time_point now) const noexcept {
  ex.current = exchange::state::awaiting_response;
  ex.acknowledged = true;
  ex.deadline = now + params_.separate_response_timeout;
}

reliability_layer::action reliability_layer::on_deadline(exchange& ex, time_point now) const noexcept {
  if (ex.current != exchange::state::awaiting_ack || ex.retransmissions >= params_.max_retransmit) {
    return action::fail;
  }
  ++ex.retransmissions;
  ex.timeout *= 2;
  ex.deadline = now + ex.timeout;
  return action::retransmit;
}

bool reliability_layer::on_path_recovered(exchange& ex, time_point now, prng& random,
                                          time_point working_since) const noexcept {
  if (ex.current != exchange::state::awaiting_ack || ex.retransmissions == 0 ||
      ex.retransmissions > params_.max_retransmit) {
    return false;
  }
  if (ex.last_sent() >= working_since) return false;  // its last copy left on a working path
  ++ex.retransmissions;
  ex.timeout = initial_timeout(random);
  ex.deadline = now + ex.timeout;
  return true;
}

}  // namespace gw::coap
