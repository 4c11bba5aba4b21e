#include "gateway/coap/endpoint.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

#include "gateway/coap/codec.hpp"

namespace gw::coap {

endpoint::endpoint(transmission_params params, std::uint16_t first_message_id, std::uint64_t random_seed)
    : params_(params),
      reliability_(params),
      deduplicator_(params.exchange_lifetime, params.max_dedup_entries),
      random_(random_seed),
      next_mid_(first_message_id) {
  params_.token_length = std::clamp<std::size_t>(params_.token_length, 1, message::max_token_length);
  params_.nstart = std::max(params_.nstart, 1u);
}

request_id endpoint::send(time_point now, message request) {
  last_now_ = std::max(last_now_, now);
  if (request.type() != message_type::non) request.set_type(message_type::con);
  exchange ex;
  ex.id = next_id_++;
  ex.request = std::move(request);
  queued_.push_back(std::move(ex));
  const request_id id = queued_.back().id;
  start_queued(now);
  return id;
}

void endpoint::cancel(request_id id) {
  auto q = std::find_if(queued_.begin(), queued_.end(), [id](const exchange& e) { return e.id == id; });
  if (q != queued_.end()) {
    queued_.erase(q);
    return;
  }
  auto o =
      std::find_if(outstanding_.begin(), outstanding_.end(), [id](const exchange& e) { return e.id == id; });
  if (o == outstanding_.end()) return;
  matcher_.remove_mid(o->request.message_id());
  matcher_.remove_token(o->request.token());
  outstanding_.erase(o);
  if (!queued_.empty()) start_pending_ = true;
}

exchange* endpoint::find_outstanding(request_id id) noexcept {
  auto it =
      std::find_if(outstanding_.begin(), outstanding_.end(), [id](const exchange& e) { return e.id == id; });
  return it == outstanding_.end() ? nullptr : &*it;
}

void endpoint::start_queued(time_point now) {
  start_pending_ = false;
  while (outstanding_.size() < params_.nstart && !queued_.empty()) {
    exchange ex = std::move(queued_.front());
    queued_.pop_front();
    transmit_first(now, ex);
    outstanding_.push_back(std::move(ex));
  }
}

void endpoint::transmit_first(time_point now, exchange& ex) {
  ex.request.set_message_id(next_mid_++);
  // RFC 7252 §5.3.1: tokens are random and unique among this endpoint's outstanding requests.
  std::array<std::uint8_t, message::max_token_length> token{};
  const std::span<const std::uint8_t> token_view(token.data(), params_.token_length);
  do {
    const std::uint64_t bits = random_.next();
    for (std::size_t i = 0; i < token.size(); ++i) token[i] = static_cast<std::uint8_t>(bits >> (8 * i));
  } while (!matcher_.add_token(token_view, ex.id));
  ex.request.set_token(token_view);
  matcher_.add_mid(ex.request.message_id(), ex.id);

  ex.datagram.clear();
  encode(ex.request, ex.datagram);
  reliability_.on_first_send(ex, now, random_);
  transmit_.push_back(ex.datagram);
  ++stats_.sent;
}

void endpoint::complete(time_point now, request_id id, std::error_code ec, message response) {
  auto it =
      std::find_if(outstanding_.begin(), outstanding_.end(), [id](const exchange& e) { return e.id == id; });
  if (it == outstanding_.end()) return;
  matcher_.remove_mid(it->request.message_id());
  matcher_.remove_token(it->request.token());
  const time_point copy_sent = it->acknowledged ? now : it->last_sent();
  events_.push_back(
      response_event{id, ec, std::move(response), it->retransmissions, now - it->first_sent, copy_sent});
  outstanding_.erase(it);
  if (ec == error::reset) ++stats_.resets;
  if (ec == error::timeout || ec == error::separate_response_timeout) ++stats_.timeouts;
  start_queued(now);
}

void endpoint::send_empty(message_type type, std::uint16_t mid) {
  std::vector<std::uint8_t> datagram;
  encode(message(type, code::empty, mid), datagram);
  transmit_.push_back(std::move(datagram));
  ++stats_.sent;
  if (type == message_type::ack) ++stats_.acks_sent;
  if (type == message_type::rst) ++stats_.rsts_sent;
}

void endpoint::on_datagram(time_point now, std::span<const std::uint8_t> datagram) noexcept {
  last_now_ = std::max(last_now_, now);
  ++stats_.received;
  message msg;
  if (decode(datagram, msg)) {
    ++stats_.malformed;
    return;
  }
  handle(now, std::move(msg));
  if (start_pending_) start_queued(now);
}

void endpoint::handle(time_point now, message&& msg) {
  const std::uint16_t mid = msg.message_id();
  switch (msg.type()) {
    case message_type::ack: {
      auto id = matcher_.find_mid(mid);
      exchange* ex = id ? find_outstanding(*id) : nullptr;
      if (ex == nullptr || ex->current != exchange::state::awaiting_ack) return;
      if (msg.is_empty()) {
        // RFC 7252 §5.2.2: the response will follow separately; the MID is done.
        matcher_.remove_mid(mid);
        reliability_.on_empty_ack(*ex, now);
        return;
      }
      // RFC 7252 §5.3.2: a piggybacked response matches by MID and token.
      if (!is_response(msg.code()) || !std::ranges::equal(msg.token(), ex->request.token())) return;
      complete(now, *id, {}, std::move(msg));
      return;
    }
    case message_type::rst: {
      // RFC 7252 §4.2/§4.3: RST rejects our CON or NON with that MID.
      auto id = matcher_.find_mid(mid);
      if (id) complete(now, *id, error::reset, message{});
      return;
    }
    case message_type::con:
      // spec §7 / RFC 7252 §4.2: pings, requests (we are a client) and reserved codes are rejected.
      if (msg.is_empty() || !is_response(msg.code())) {
        send_empty(message_type::rst, mid);
        return;
      }
      if (deduplicator_.contains(now, mid)) {
        // RFC 7252 §4.5: acknowledge the repeat again, deliver it once.
        ++stats_.duplicates;
        send_empty(message_type::ack, mid);
        return;
      }
      handle_response(now, std::move(msg));
      return;
    case message_type::non:
      if (!is_response(msg.code())) return;
      if (deduplicator_.contains(now, mid)) {
        ++stats_.duplicates;
        return;
      }
      handle_response(now, std::move(msg));
      return;
  }
}

void endpoint::handle_response(time_point now, message&& msg) {
  const bool confirmable = msg.type() == message_type::con;
  auto id = matcher_.find_token(msg.token());
  if (!id || find_outstanding(*id) == nullptr) {
    // RFC 7252 §5.3.2: an unexpected CON response is rejected with RST; a NON one is silently ignored.
    if (confirmable) send_empty(message_type::rst, msg.message_id());
    return;
  }
  if (confirmable) send_empty(message_type::ack, msg.message_id());
  deduplicator_.remember(now, msg.message_id());
  complete(now, *id, {}, std::move(msg));
}

void endpoint::on_timer(time_point now) {
  last_now_ = std::max(last_now_, now);
  deduplicator_.expire(now);
  std::vector<request_id> due;
  for (const exchange& ex : outstanding_) {
    if (ex.deadline <= now) due.push_back(ex.id);
  }
  for (request_id id : due) {
    exchange* ex = find_outstanding(id);
    if (ex == nullptr) continue;
    if (reliability_.on_deadline(*ex, now) == reliability_layer::action::retransmit) {
      transmit_.push_back(ex->datagram);  // RFC 7252 §4.2: the identical datagram
      ++stats_.sent;
      ++stats_.retransmitted;
    } else {
      complete(now, id, ex->acknowledged ? error::separate_response_timeout : error::timeout, message{});
    }
  }
  if (start_pending_) start_queued(now);
}

std::size_t endpoint::retransmit_now(time_point now, time_point working_since) {
  last_now_ = std::max(last_now_, now);
  std::size_t count = 0;
  for (exchange& ex : outstanding_) {
    if (!reliability_.on_path_recovered(ex, now, random_, working_since)) continue;
    transmit_.push_back(ex.datagram);  // RFC 7252 §4.2: the identical datagram
    ++stats_.sent;
    ++stats_.retransmitted;
    ++count;
  }
  return count;
}

bool endpoint::backing_off() const noexcept {
  return std::ranges::any_of(outstanding_, [](const exchange& ex) {
    return ex.current == exchange::state::awaiting_ack && ex.retransmissions > 0;
  });
}

std::optional<time_point> endpoint::next_deadline() const {
  std::optional<time_point> earliest = deduplicator_.next_expiry();
  for (const exchange& ex : outstanding_) {
    if (!earliest || ex.deadline < *earliest) earliest = ex.deadline;
  }
  if (start_pending_ && (!earliest || last_now_ < *earliest)) earliest = last_now_;
  return earliest;
}

bool endpoint::poll_transmit(std::vector<std::uint8_t>& datagram) {
  if (transmit_.empty()) return false;
  datagram = std::move(transmit_.front());
  transmit_.pop_front();
  return true;
}

std::optional<response_event> endpoint::poll_event() {
  if (events_.empty()) return std::nullopt;
  response_event event = std::move(events_.front());
  events_.pop_front();
  return event;
}

}  // namespace gw::coap
