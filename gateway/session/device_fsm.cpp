#include "gateway/session/device_fsm.hpp"

#include <algorithm>
#include <utility>

#include "gateway/session/error.hpp"

namespace gw::session {
namespace {

constexpr std::uint64_t seq_space = std::uint64_t{1} << 32U;

bool is_dtls(security_mode m) noexcept {
  return m == security_mode::dtls || m == security_mode::dtls_psk;
}

// Distinct streams for the FSM's own draws and each backoff (same seed, different sequences).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  prng p(seed ^ (stream * 0xD1B54A32D192ED03ULL));
  return p.next();
}

}  // namespace

device_fsm::device_fsm(device_fsm_config config, std::uint64_t seed)
    : config_(config),
      rng_(derive_seed(seed, 1)),
      retry_backoff_(config.retry_backoff, derive_seed(seed, 2)),
      publish_backoff_(config.publish_backoff, derive_seed(seed, 3)) {
  if (config_.max_in_flight == 0) {
    config_.max_in_flight = 1;
  }
}

// ---- inputs ----

void device_fsm::start(time_point now) {
  if (started_ && !stopped_) {
    return;
  }
  started_ = true;
  stopped_ = false;
  failed_ = false;
  auth_rejections_ = 0;
  consecutive_timeouts_ = 0;
  retry_backoff_.reset();
  publish_backoff_.reset();
  pump(now);
  settle(now, "start");
}

void device_fsm::stop(time_point now) {
  if (!started_ || stopped_) {
    return;
  }
  if (auth_ == auth_state::waiting_slot) {
    emit(cancel_auth_slot{});
  }
  // Everything handed in goes back to the owner's queue, in queue order.
  std::vector<queued> back(pending_.begin(), pending_.end());
  for (const auto& s : in_flight_) {
    back.push_back(s.msg);
  }
  std::sort(back.begin(), back.end(), [](const queued& a, const queued& b) { return a.order < b.order; });
  for (const auto& q : back) {
    emit(retry_later{q.handle});
  }
  pending_.clear();
  in_flight_.clear();
  if (transport_ != transport_state::down) {
    emit(close_transport{});
  }
  stopped_ = true;
  transport_ = transport_state::down;
  auth_ = auth_state::none;
  retry_at_.reset();
  renew_at_.reset();
  publish_hold_.reset();
  token_.clear();
  token_usable_ = false;
  settle(now, "stop");
}

void device_fsm::transport_up(time_point now) {
  if (stopped_ || failed_ || transport_ != transport_state::opening) {
    return;
  }
  transport_ = transport_state::up;
  if (config_.mode == security_mode::plain) {
    retry_backoff_.reset();
    stats_.consecutive_failures = 0;
    stats_.last_success = now;
  } else if (is_dtls(config_.mode) && !token_usable_) {
    // The handshake slot also covers the /auth that follows it (one slot per device bring-up).
    send_auth_now();
  }
  pump(now);
  settle(now, is_dtls(config_.mode) ? "DTLS handshake done" : "transport up");
}

void device_fsm::transport_failed(time_point now, std::error_code reason, bool timed_out) {
  if (!started_ || stopped_ || failed_ || transport_ == transport_state::down) {
    return;
  }
  drop_transport(now, make_error_code(error::transport_failed), "transport failed: " + reason.message(),
                 timed_out);
}

void device_fsm::auth_slot_granted(time_point now) {
  if (stopped_ || failed_ || auth_ != auth_state::waiting_slot) {
    return;
  }
  if (slot_for_handshake_) {
    auth_ = auth_state::none;
    transport_ = transport_state::opening;
    emit(open_transport{});
  } else {
    send_auth_now();
  }
  pump(now);
  settle(now, "auth slot granted");
}

void device_fsm::auth_response(time_point now, answer outcome, std::optional<auth_grant> grant) {
  if (stopped_ || failed_ || auth_ != auth_state::in_flight) {
    return;
  }
  if (count_timeout(now, outcome)) {
    ++stats_.auth_failures;
    return;
  }
  auth_ = auth_state::none;
  const verdict v = decide(phase::auth, outcome, config_.policy);
  if (v.action == policy_action::delivered) {
    if (!grant || grant->token.empty()) {
      const verdict invalid{policy_action::retry_with_backoff, true, "2.05 | auth | body unparsable"};
      auth_failed(now, invalid, make_error_code(error::auth_response_invalid), outcome,
                  "auth response invalid: " + describe(outcome) + " without a token");
      return;
    }
    token_ = std::move(grant->token);
    token_usable_ = true;
    ++token_generation_;
    token_time_ = now;
    // spec §5.3: first seq = seqOffset + 1 (default) or seqOffset (§12 #4 switch); reset on every auth.
    next_seq_ = config_.first_seq_equals_offset ? grant->seq_offset : grant->seq_offset + 1U;
    seqs_used_ = 0;
    renew_at_ = now + config_.token_refresh_after;
    retry_at_.reset();
    retry_backoff_.reset();
    auth_rejections_ = 0;
    ++stats_.auth_count;
    stats_.consecutive_failures = 0;
    stats_.last_success = now;
    pump(now);
    settle(now, "authenticated");
    return;
  }
  switch (v.action) {
    case policy_action::auth_give_up:
      give_up(now, make_error_code(error::auth_config_error), outcome,
              "auth refused: " + describe(outcome) + " (config error)");
      return;
    case policy_action::auth_long_backoff:
      auth_failed(now, v, make_error_code(error::auth_rejected), outcome,
                  "auth rejected: " + describe(outcome));
      return;
    default:
      auth_failed(now, v, make_error_code(error::auth_unavailable), outcome,
                  "auth unavailable: " + describe(outcome));
      return;
  }
}

void device_fsm::message_available(time_point now, message_handle handle) {
  if (stopped_) {
    return;
  }
  pending_.push_back({handle, next_order_++, false});
  pump(now);
  settle(now, "message available");
}

void device_fsm::publish_result(time_point now, message_handle handle, answer outcome) {
  if (stopped_) {
    return;
  }
  const auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                               [handle](const sent& s) { return s.msg.handle == handle; });
  if (it == in_flight_.end()) {
    return;  // stale: already requeued by a transport failure or stop
  }
  const sent entry = *it;
  in_flight_.erase(it);
  const bool stale_token = entry.token_generation != token_generation_;
  const verdict v = decide(phase::publish, outcome, config_.policy, entry.msg.resent_after_reauth);
  std::string reason = "publish " + describe(outcome);

  switch (v.action) {
    case policy_action::delivered:
      emit(ack_message{handle});
      ++stats_.messages_acked;
      stats_.last_success = now;
      stats_.consecutive_failures = 0;
      publish_backoff_.reset();
      break;

    case policy_action::dead_letter:
      if (stale_token && decide(phase::publish, outcome, config_.policy, false).action ==
                             policy_action::reauth_and_resend_once) {
        // Sent with a token we already replaced: not evidence against the new one; resend with it.
        requeue(entry.msg);
        ++stats_.messages_retried;
        break;
      }
      emit(dead_letter{handle, outcome, describe(outcome)});
      ++stats_.messages_dead_lettered;
      ++stats_.consecutive_failures;
      record_error(now, make_error_code(error::publish_rejected), outcome,
                   "publish rejected: " + describe(outcome));
      break;

    case policy_action::reauth_and_resend_once: {
      queued msg = entry.msg;
      ++stats_.messages_retried;
      if (stale_token) {
        requeue(msg);
        break;
      }
      msg.resent_after_reauth = true;
      requeue(msg);
      ++stats_.consecutive_failures;
      record_error(now, make_error_code(error::token_rejected), outcome,
                   "token rejected: " + describe(outcome));
      if (config_.mode != security_mode::plain && token_usable_) {
        // spec §6: re-auth at once (through the auth slot); publishes wait for the new token.
        token_usable_ = false;
        renew_at_.reset();
        ++stats_.reauth_count;
      }
      break;
    }

    case policy_action::retry_with_backoff:
    default:
      requeue(entry.msg);
      ++stats_.messages_retried;
      ++stats_.consecutive_failures;
      publish_hold_ = now + publish_backoff_.next();
      hold_after_timeout_ = outcome.kind == answer_kind::timeout;
      record_error(now, make_error_code(error::publish_unavailable), outcome,
                   "publish unavailable: " + describe(outcome));
      break;
  }
  if (count_timeout(now, outcome)) {
    return;
  }
  pump(now);
  settle(now, std::move(reason));
}

void device_fsm::timer(time_point now) {
  if (!started_ || stopped_ || failed_) {
    return;
  }
  std::string reason = "timer";
  if (retry_at_ && now >= *retry_at_) {
    retry_at_.reset();
    reason = "backoff elapsed";
  }
  if (publish_hold_ && now >= *publish_hold_) {
    publish_hold_.reset();
  }
  if (renew_at_ && now >= *renew_at_ && token_usable_) {
    reason = "token renewal due";
  }
  pump(now);
  settle(now, std::move(reason));
}

bool device_fsm::path_recovered(time_point now) {
  if (!started_ || stopped_ || failed_ || !waiting_after_timeout()) {
    return false;
  }
  if (retry_at_ && retry_after_timeout_) {
    retry_at_.reset();
  }
  if (publish_hold_ && hold_after_timeout_) {
    publish_hold_.reset();
  }
  pump(now);
  settle(now, "cloud answers again");
  return true;
}

bool device_fsm::waiting_after_timeout() const noexcept {
  return (retry_at_ && retry_after_timeout_) || (publish_hold_ && hold_after_timeout_ && !pending_.empty());
}

// ---- outputs ----

std::optional<device_action> device_fsm::poll_action() {
  if (actions_.empty()) {
    return std::nullopt;
  }
  device_action a = std::move(actions_.front());
  actions_.pop_front();
  return a;
}

std::optional<device_fsm::time_point> device_fsm::next_deadline() const noexcept {
  if (!started_ || stopped_ || failed_) {
    return std::nullopt;
  }
  std::optional<time_point> out;
  const auto consider = [&out](const std::optional<time_point>& t) {
    if (t && (!out || *t < *out)) {
      out = t;
    }
  };
  consider(retry_at_);
  if (!pending_.empty()) {
    consider(publish_hold_);
  }
  if (transport_ == transport_state::up && !retry_at_ && token_usable_ && auth_ == auth_state::none) {
    consider(renew_at_);  // only when timer() would act on it: a past deadline must never be reported twice
  }
  return out;
}

device_health device_fsm::health(time_point now) const {
  device_health h = stats_;
  h.state = state_;
  if (token_usable_) {
    h.token_age = now - token_time_;
  }
  h.pending = pending_.size();
  h.in_flight = in_flight_.size();
  return h;
}

// ---- internals ----

bool device_fsm::seq_exhausted() const noexcept {
  return config_.mode == security_mode::aes && seqs_used_ >= seq_space;
}

bool device_fsm::needs_auth(time_point now) const noexcept {
  if (config_.mode == security_mode::plain) {
    return false;
  }
  return !token_usable_ || seq_exhausted() || (renew_at_ && now >= *renew_at_);
}

bool device_fsm::can_publish() const noexcept {
  return transport_ == transport_state::up && (config_.mode == security_mode::plain || token_usable_) &&
         !seq_exhausted() && !publish_hold_ && in_flight_.size() < config_.max_in_flight && !pending_.empty();
}

void device_fsm::pump(time_point now) {
  // Deadlines that passed count as elapsed for any input, not only timer().
  if (retry_at_ && now >= *retry_at_) {
    retry_at_.reset();
  }
  if (publish_hold_ && now >= *publish_hold_) {
    publish_hold_.reset();
  }
  if (!started_ || stopped_ || failed_ || retry_at_) {
    return;
  }
  if (transport_ == transport_state::down) {
    if (is_dtls(config_.mode)) {
      // The global rate limit gates handshake starts too (task: "auth/handshake rate limit").
      if (auth_ == auth_state::none) {
        auth_ = auth_state::waiting_slot;
        slot_for_handshake_ = true;
        emit(request_auth_slot{});
      }
    } else {
      transport_ = transport_state::opening;
      emit(open_transport{});
    }
    return;
  }
  if (transport_ != transport_state::up) {
    return;
  }
  if (auth_ == auth_state::none && needs_auth(now)) {
    auth_ = auth_state::waiting_slot;
    slot_for_handshake_ = false;
    renew_at_.reset();
    emit(request_auth_slot{});
  }
  while (can_publish()) {
    send_next_publish();
  }
}

void device_fsm::send_auth_now() {
  auth_ = auth_state::in_flight;
  ++stats_.auth_attempts;
  std::string seq;
  if (config_.mode == security_mode::aes) {
    // spec §4.1: seq is a decimal string, random 1..9999 (proposed default).
    seq = std::to_string(rng_.uniform(1, 9999));
  }
  emit(send_auth{std::move(seq)});
}

void device_fsm::send_next_publish() {
  const queued msg = pending_.front();
  pending_.pop_front();
  send_publish p;
  p.handle = msg.handle;
  if (config_.mode == security_mode::aes) {
    // spec §5.3: +1 per new request (a resend is a new request), 32-bit, unique within the token.
    p.seq = next_seq_++;
    ++seqs_used_;
  }
  if (config_.mode != security_mode::plain) {
    p.token = token_;
  }
  in_flight_.push_back({msg, token_generation_});
  ++stats_.messages_sent;
  emit(std::move(p));
}

void device_fsm::requeue(const queued& msg) {
  // Keep queue order: insert by the order the owner handed the messages in.
  const auto pos = std::upper_bound(pending_.begin(), pending_.end(), msg.order,
                                    [](std::uint64_t order, const queued& q) { return order < q.order; });
  pending_.insert(pos, msg);
  emit(retry_later{msg.handle});
}

void device_fsm::requeue_in_flight() {
  for (const auto& s : in_flight_) {
    requeue(s.msg);
    ++stats_.messages_retried;
  }
  in_flight_.clear();
}

void device_fsm::drop_transport(time_point now, std::error_code ec, std::string text, bool timed_out) {
  if (auth_ == auth_state::waiting_slot) {
    emit(cancel_auth_slot{});
  }
  if (auth_ != auth_state::none && token_usable_ && !renew_at_) {
    renew_at_ = now;  // the dropped auth was a renewal: renew again once the transport is back
  }
  auth_ = auth_state::none;
  consecutive_timeouts_ = 0;
  requeue_in_flight();
  emit(close_transport{});
  transport_ = transport_state::down;
  retry_at_ = now + retry_backoff_.next();
  retry_after_timeout_ = timed_out;
  ++stats_.consecutive_failures;
  record_error(now, ec, std::nullopt, text);
  pump(now);
  settle(now, std::move(text));
}

bool device_fsm::count_timeout(time_point now, answer outcome) {
  if (outcome.kind != answer_kind::timeout) {
    consecutive_timeouts_ = 0;  // any answer shows the path works
    return false;
  }
  ++consecutive_timeouts_;
  if (config_.reconnect_after_timeouts == 0 || consecutive_timeouts_ < config_.reconnect_after_timeouts ||
      transport_ != transport_state::up) {
    return false;
  }
  drop_transport(
      now, make_error_code(error::no_answer),
      "no answer " + std::to_string(consecutive_timeouts_) + " times in a row: reopening the transport",
      true);
  return true;
}

void device_fsm::auth_failed(time_point now, const verdict& v, std::error_code ec,
                             std::optional<answer> outcome, std::string text) {
  ++stats_.auth_failures;
  ++stats_.consecutive_failures;
  if (v.action == policy_action::auth_long_backoff) {
    ++auth_rejections_;
    if (config_.max_auth_rejections != 0 && auth_rejections_ >= config_.max_auth_rejections) {
      give_up(now, make_error_code(error::too_many_rejections), outcome,
              text + " (" + std::to_string(auth_rejections_) + " times in a row)");
      return;
    }
  }
  record_error(now, ec, outcome, text);
  const time_point next = now + retry_backoff_.next();
  if (token_usable_) {
    renew_at_ = next;  // a failed renewal: keep publishing with the current token, retry the renewal later
  } else {
    retry_at_ = next;
    retry_after_timeout_ = outcome && outcome->kind == answer_kind::timeout;
  }
  pump(now);
  settle(now, std::move(text));
}

void device_fsm::give_up(time_point now, std::error_code ec, std::optional<answer> outcome,
                         std::string text) {
  record_error(now, ec, outcome, text);
  failed_ = true;
  auth_ = auth_state::none;
  token_usable_ = false;
  retry_at_.reset();
  renew_at_.reset();
  publish_hold_.reset();
  requeue_in_flight();
  if (transport_ != transport_state::down) {
    emit(close_transport{});
    transport_ = transport_state::down;
  }
  settle(now, std::move(text));
}

void device_fsm::record_error(time_point now, std::error_code ec, std::optional<answer> outcome,
                              std::string text) {
  stats_.last_error = device_error{ec, outcome, std::move(text), now};
}

device_state device_fsm::compute_state() const noexcept {
  if (stopped_) {
    return device_state::stopped;
  }
  if (failed_) {
    return device_state::failed;
  }
  if (!started_) {
    return device_state::idle;
  }
  if (retry_at_) {
    return device_state::backing_off;
  }
  if (transport_ != transport_state::up) {
    return is_dtls(config_.mode) ? device_state::handshaking : device_state::connecting;
  }
  if (config_.mode == security_mode::plain) {
    return device_state::ready;
  }
  if (token_usable_) {
    return auth_ == auth_state::none ? device_state::ready : device_state::renewing;
  }
  return device_state::authenticating;
}

void device_fsm::settle(time_point now, std::string reason) {
  const device_state next = compute_state();
  if (next != state_) {
    emit(state_changed{state_, next, std::move(reason), now});
    state_ = next;
  }
}

std::string_view to_string(device_state s) noexcept {
  switch (s) {
    case device_state::idle:
      return "idle";
    case device_state::connecting:
      return "connecting";
    case device_state::handshaking:
      return "handshaking";
    case device_state::authenticating:
      return "authenticating";
    case device_state::ready:
      return "ready";
    case device_state::renewing:
      return "renewing";
    case device_state::backing_off:
      return "backing_off";
    case device_state::failed:
      return "failed";
    case device_state::stopped:
      return "stopped";
  }
  return "?";
}

std::string_view to_string(security_mode m) noexcept {
  switch (m) {
    case security_mode::plain:
      return "plain";
    case security_mode::aes:
      return "aes";
    case security_mode::dtls:
      return "dtls";
    case security_mode::dtls_psk:
      return "dtls-psk";
  }
  return "?";
}

}  // namespace gw::session
