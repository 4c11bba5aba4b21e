#include "gateway/session/device_session.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "gateway/crypto/auth_request.hpp"
#include "gateway/crypto/auth_response.hpp"
#include "gateway/crypto/hex.hpp"
#include "gateway/crypto/psk.hpp"
#include "gateway/dtls/error.hpp"

namespace gw::session {

namespace {

std::int64_t system_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// spec §5.4: option 2090's encoding is undocumented; keep it as text when printable, else hex.
std::string platform_message_id(const coap::message& response) {
  const auto* opt = response.find_option(coap::option_number::message_id);
  if (opt == nullptr) return {};
  const bool printable =
      std::all_of(opt->value.begin(), opt->value.end(), [](std::uint8_t c) { return c >= 0x20 && c < 0x7f; });
  if (printable) return std::string(opt->value.begin(), opt->value.end());
  return crypto::to_hex(opt->value);
}

// The printable text of a reply payload, at most 128 bytes (an error's diagnostic such as "Token invalid",
// spec §5.2 / issue #97); empty if there is none or it is binary.
std::string printable_text(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t max_reply_text = 128;
  const bool printable = !bytes.empty() && std::all_of(bytes.begin(), bytes.end(),
                                                       [](std::uint8_t c) { return c >= 0x20 && c < 0x7f; });
  if (!printable) return {};
  return std::string(bytes.begin(),
                     bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), max_reply_text)));
}

answer to_answer(const coap::response_event& ev) {
  if (!ev.ec) return answer::response(ev.response.code());
  if (ev.ec == coap::error::reset) return answer::reset();
  return answer::timeout();  // timeout, separate_response_timeout: delivery unknown (spec §6 last row)
}

// One datagram buffer per thread for every session on it, instead of one per session (an idle device would
// keep its largest datagram's capacity: ~250 B in aes mode, a DTLS flight in dtls modes). Only used between
// a poll_* call and the send/on_datagram that consumes it; no callback to the owner runs in between.
std::vector<std::uint8_t>& scratch() {
  thread_local std::vector<std::uint8_t> buffer;
  return buffer;
}

template <typename T>
std::optional<T> earliest(std::optional<T> a, std::optional<T> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

device_session::device_session(const boost::asio::any_io_executor& executor,
                               net::deadline_scheduler& scheduler, auth_gate& gate, std::uint64_t gate_id,
                               device_identity identity, std::shared_ptr<const session_options> options,
                               session_events events, std::uint64_t seed)
    : executor_(executor),
      scheduler_(scheduler),
      slot_(scheduler.add([this](clock::time_point now) { on_timer(now); })),
      gate_(gate),
      gate_id_(gate_id),
      identity_(std::move(identity)),
      options_(std::move(options)),
      events_(std::move(events)),
      seed_(seed),
      next_mid_(static_cast<std::uint16_t>(seed >> 16)),
      fsm_(options_->fsm, seed),
      link_(executor) {
  link_.on_receive([this](std::span<const std::uint8_t> d) { on_datagram(d); });
}

device_session::~device_session() {
  link_.on_receive(nullptr);
  link_.close();
  gate_.cancel(gate_id_);
  scheduler_.remove(slot_);
}

void device_session::start() {
  const auto now = clock::now();
  fsm_.start(now);
  pump(now);
}

void device_session::stop() {
  const auto now = clock::now();
  fsm_.stop(now);
  pump(now);
  gate_.cancel(gate_id_);
}

void device_session::offer(outbound_message message) {
  const auto now = clock::now();
  const message_handle handle = message.handle;
  messages_.insert_or_assign(handle, std::move(message));
  fsm_.message_available(now, handle);
  pump(now);
}

std::vector<message_handle> device_session::offered_handles() const {
  std::vector<message_handle> out;
  out.reserve(messages_.size());
  for (const auto& [handle, message] : messages_) out.push_back(handle);
  std::sort(out.begin(), out.end());
  return out;
}

session_stats device_session::stats() const {
  session_stats s = stats_;
  if (endpoint_) s.retransmissions += endpoint_->stats().retransmitted - retransmissions_before_;
  return s;
}

bool device_session::resume(clock::time_point now, clock::time_point working_since) {
  bool worked = false;
  if (endpoint_ && endpoint_->retransmit_now(now, working_since) > 0) worked = true;
  if (fsm_.path_recovered(now)) worked = true;
  if (worked) pump(now);
  return worked;
}

void device_session::pump(clock::time_point now) {
  if (pumping_) return;  // re-entered from an action: the outer loop picks the new work up
  pumping_ = true;
  for (;;) {
    bool worked = false;
    while (auto action = fsm_.poll_action()) {
      execute(now, *action);
      worked = true;
    }
    worked |= flush_wire(now);
    if (!worked) break;
  }
  pumping_ = false;
  std::optional<clock::time_point> deadline = fsm_.next_deadline();
  if (endpoint_) deadline = earliest(deadline, endpoint_->next_deadline());
  if (dtls_) deadline = earliest(deadline, dtls_->next_deadline());
  scheduler_.schedule(slot_, deadline);
}

void device_session::execute(clock::time_point now, device_action& action) {
  std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, open_transport>) {
          do_open_transport();
        } else if constexpr (std::is_same_v<T, close_transport>) {
          do_close_transport();
        } else if constexpr (std::is_same_v<T, request_auth_slot>) {
          gate_.request(gate_id_, [this](clock::time_point t) {
            fsm_.auth_slot_granted(t);
            pump(t);
          });
        } else if constexpr (std::is_same_v<T, cancel_auth_slot>) {
          gate_.cancel(gate_id_);
        } else if constexpr (std::is_same_v<T, session::send_auth>) {
          do_send_auth(now, a);
        } else if constexpr (std::is_same_v<T, session::send_publish>) {
          do_send_publish(now, a);
        } else if constexpr (std::is_same_v<T, ack_message>) {
          auto id = platform_ids_.extract(a.handle);
          replies_.erase(a.handle);
          messages_.erase(a.handle);
          if (events_.acked) events_.acked(a.handle, id.empty() ? std::string{} : std::move(id.mapped()));
        } else if constexpr (std::is_same_v<T, dead_letter>) {
          messages_.erase(a.handle);
          std::string reason = a.reason;
          if (auto reply = replies_.extract(a.handle); !reply.empty()) reason += ": " + reply.mapped();
          if (events_.dead_lettered) events_.dead_lettered(a.handle, std::move(reason), a.outcome.code);
        } else if constexpr (std::is_same_v<T, retry_later>) {
          // The FSM keeps the message at the head of its queue and sends it again itself.
        } else if constexpr (std::is_same_v<T, state_changed>) {
          if (events_.state_changed) events_.state_changed(a);
        }
      },
      action);
}

void device_session::reset_endpoint() {
  if (endpoint_) stats_.retransmissions += endpoint_->stats().retransmitted - retransmissions_before_;
  // A fresh endpoint per transport: new MIDs, nothing left over from a session the server forgot.
  next_mid_ = static_cast<std::uint16_t>(next_mid_ + 0x4000);
  endpoint_ = std::make_unique<coap::endpoint>(options_->coap, next_mid_, seed_ + transport_generation_);
  retransmissions_before_ = 0;
  requests_.clear();
}

void device_session::do_open_transport() {
  const std::uint64_t generation = ++transport_generation_;
  reset_endpoint();
  dtls_.reset();
  dtls_was_connected_ = false;
  dtls_failed_reported_ = false;
  const std::string& where = identity_.address.empty() ? identity_.host : identity_.address;
  // The host is resolved again on every (re)connect: DNS may change (issue #5 item 6).
  link_.async_connect(where, identity_.port, [this, generation](std::error_code ec) {
    if (generation != transport_generation_) return;
    const auto now = clock::now();
    if (ec) {
      fsm_.transport_failed(now, ec);
      pump(now);
      return;
    }
    if (identity_.mode == security_mode::dtls || identity_.mode == security_mode::dtls_psk) {
      dtls::client_config cc;
      cc.host = identity_.host;
      std::shared_ptr<dtls::context> ctx;
      if (identity_.mode == security_mode::dtls_psk) {
        cc.psk = crypto::make_psk_credentials(identity_.product_key, identity_.device_name,
                                              identity_.device_secret, options_->psk_timestamp);
        ctx = options_->dtls_psk;
      } else {
        ctx = options_->dtls_certificate;
      }
      std::error_code cec;
      if (ctx) dtls_ = dtls::client::create(ctx, cc, cec);
      if (!dtls_) {
        fsm_.transport_failed(now, cec ? cec : std::make_error_code(std::errc::invalid_argument));
        pump(now);
        return;
      }
      dtls_->start(now);
    } else {
      fsm_.transport_up(now);
    }
    pump(now);
  });
}

void device_session::do_close_transport() {
  ++transport_generation_;
  link_.close();
  if (dtls_) dtls_.reset();
  if (endpoint_) {
    stats_.retransmissions += endpoint_->stats().retransmitted - retransmissions_before_;
    retransmissions_before_ = endpoint_->stats().retransmitted;
  }
  requests_.clear();
}

void device_session::do_send_auth(clock::time_point now, const session::send_auth& a) {
  crypto::auth_request_params p;
  p.product_key = identity_.product_key;
  p.device_name = identity_.device_name;
  p.client_id = identity_.client_id;
  if (options_->send_timestamp) {
    p.timestamp = std::to_string(options_->wall_clock_ms ? options_->wall_clock_ms() : system_ms());
  }
  if (!a.seq.empty()) p.seq = a.seq;
  p.ack_mode = options_->ack_mode;
  p.send_signmethod = options_->send_signmethod;
  p.method = options_->sign;
  std::error_code ec;
  const auto request = crypto::make_auth_request(p, identity_.device_secret, ec);
  if (ec || !endpoint_) {
    // A request we cannot even build (e.g. clientId over 64 chars) is a configuration error: spec §6 treats
    // the platform's 4.00 on /auth the same way (back off, alert).
    fsm_.auth_response(now, answer::response(codes::bad_request), std::nullopt);
    return;
  }
  coap::message msg(coap::message_type::con, coap::code::post);
  msg.set_uri_path("auth");
  if (options_->send_uri_host) msg.add_option(coap::option_number::uri_host, identity_.host);
  msg.add_uint_option(coap::option_number::content_format, 50);  // spec §4.1: /auth is JSON
  if (options_->accept) msg.add_uint_option(coap::option_number::accept, 50);
  msg.set_payload(request.json);
  const auto id = endpoint_->send(now, std::move(msg));
  requests_.emplace_back(id, pending_request{request_kind::auth, 0});
}

void device_session::do_send_publish(clock::time_point now, const session::send_publish& p) {
  auto it = messages_.find(p.handle);
  if (it == messages_.end() || !endpoint_) {
    fsm_.publish_result(now, p.handle, answer::timeout());
    return;
  }
  const outbound_message& m = it->second;
  coap::message msg(coap::message_type::con, coap::code::post);
  // spec §5.1: Uri-Path "topic" then each segment of the MQTT topic.
  msg.set_uri_path("topic" + (m.cloud_topic.starts_with('/') ? m.cloud_topic : "/" + m.cloud_topic));
  if (options_->send_uri_host) msg.add_option(coap::option_number::uri_host, identity_.host);
  msg.add_uint_option(coap::option_number::content_format, options_->content_format);
  if (options_->accept) msg.add_uint_option(coap::option_number::accept, *options_->accept);
  if (!p.token.empty()) msg.add_option(options_->token_option, p.token);
  if (identity_.mode == security_mode::aes) {
    if (!aes_key_ || !p.seq) {
      fsm_.publish_result(now, p.handle, answer::response(codes::unauthorized));
      return;
    }
    const auto seq = crypto::encrypt_seq(*aes_key_, *p.seq);  // spec §5.2: option 2089 = AES(decimal seq)
    msg.add_option(coap::option_number::aes_seq, std::span<const std::uint8_t>(seq));
    msg.payload() = crypto::encrypt(*aes_key_, m.payload);
  } else {
    msg.set_payload(m.payload);
  }
  const auto id = endpoint_->send(now, std::move(msg));
  requests_.emplace_back(id, pending_request{request_kind::publish, p.handle});
}

void device_session::on_datagram(std::span<const std::uint8_t> datagram) {
  const auto now = clock::now();
  if (dtls_) {
    dtls_->on_datagram(now, datagram);
  } else if (endpoint_) {
    endpoint_->on_datagram(now, datagram);
  }
  pump(now);
}

void device_session::on_timer(clock::time_point now) {
  if (dtls_) {
    if (auto d = dtls_->next_deadline(); d && *d <= now) dtls_->on_timer(now);
  }
  if (endpoint_) {
    if (auto d = endpoint_->next_deadline(); d && *d <= now) endpoint_->on_timer(now);
  }
  if (auto d = fsm_.next_deadline(); d && *d <= now) fsm_.timer(now);
  pump(now);
}

bool device_session::flush_wire(clock::time_point now) {
  bool worked = false;
  std::vector<std::uint8_t>& buf = scratch();
  if (dtls_) {
    while (dtls_->poll_plaintext(buf)) {
      if (endpoint_) endpoint_->on_datagram(now, buf);
      worked = true;
    }
    const auto st = dtls_->current_state();
    if (st == dtls::client::state::connected && !dtls_was_connected_) {
      dtls_was_connected_ = true;
      stats_.server_cert_not_after = dtls_->peer_not_after();
      fsm_.transport_up(now);
      worked = true;
    } else if ((st == dtls::client::state::failed || st == dtls::client::state::closed) &&
               !dtls_failed_reported_) {
      // A handshake failure, a fatal alert, or the server forgetting us: the FSM backs off and reconnects.
      dtls_failed_reported_ = true;
      auto ec = dtls_->last_error();
      fsm_.transport_failed(now, ec ? ec : std::make_error_code(std::errc::connection_reset),
                            ec == dtls::error::handshake_timeout);
      worked = true;
    }
  }
  if (endpoint_) {
    while (endpoint_->poll_transmit(buf)) {
      if (dtls_) {
        if (dtls_->current_state() == dtls::client::state::connected) (void)dtls_->send(buf);
      } else {
        (void)link_.send(buf);
      }
    }
  }
  if (dtls_) {
    while (dtls_->poll_transmit(buf)) (void)link_.send(buf);
  }
  if (endpoint_) {
    while (auto ev = endpoint_->poll_event()) {
      on_response(now, *ev);
      worked = true;
    }
  }
  return worked;
}

// spec §5.2/§5.4: in AES mode a reply payload is encrypted with the session key; one that does not decrypt
// (not a whole number of blocks, bad padding) is taken as plaintext, as the platform was seen to send error
// text (iotkit garbles or crashes there; we do not).
std::string device_session::reply_text(const coap::message& response) const {
  const auto& payload = response.payload();
  if (payload.empty()) return {};
  if (identity_.mode == security_mode::aes && aes_key_) {
    if (auto plain = crypto::decrypt(*aes_key_, payload)) return printable_text(*plain);
  }
  return printable_text(payload);
}

void device_session::on_response(clock::time_point now, const coap::response_event& ev) {
  auto it = std::find_if(requests_.begin(), requests_.end(), [&](const auto& r) { return r.first == ev.id; });
  if (it == requests_.end()) return;
  const pending_request req = it->second;
  requests_.erase(it);
  if (ev.ec == coap::error::cancelled) return;
  if (!ev.ec) stats_.last_rtt = ev.rtt;
  const answer outcome = to_answer(ev);
  if (outcome.kind == answer_kind::timeout) {
    saw_timeout_ = true;
  } else if (!ev.ec && (saw_timeout_ || ev.retransmissions > 0)) {
    saw_timeout_ = false;
    if (events_.answered_after_timeouts) events_.answered_after_timeouts(now, ev.answered_copy_sent);
  }

  if (req.kind == request_kind::auth) {
    std::optional<auth_grant> grant;
    if (outcome.kind == answer_kind::response && coap::is_success(outcome.code)) {
      std::error_code ec;
      const bool aes = identity_.mode == security_mode::aes;
      // spec §4.3: the auth answer is plaintext JSON in both modes.
      auto parsed = crypto::parse_auth_response(std::span<const std::uint8_t>(ev.response.payload()),
                                                aes ? crypto::auth_mode::aes : crypto::auth_mode::dtls, ec);
      if (!ec) {
        if (aes) aes_key_ = crypto::derive_aes_key(identity_.device_secret, parsed.random);
        grant = auth_grant{std::move(parsed.token), parsed.seq_offset.value_or(0)};
      }
    }
    fsm_.auth_response(now, outcome, std::move(grant));
    return;
  }
  if (outcome.kind == answer_kind::response && coap::is_success(outcome.code)) {
    platform_ids_.insert_or_assign(req.handle, platform_message_id(ev.response));
  }
  if (auto text = reply_text(ev.response); !ev.ec && !text.empty()) {
    replies_.insert_or_assign(req.handle, std::move(text));
  } else {
    replies_.erase(req.handle);
  }
  fsm_.publish_result(now, req.handle, outcome);
}

}  // namespace gw::session
