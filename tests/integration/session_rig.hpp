#pragma once
// Test rig for the session integration tests and the session benchmark: real gw::session::device_session
// objects (one boost::asio::io_context, one net::deadline_scheduler, one auth_gate) driven against cloudsim
// (tests/support/cloudsim_fixture.hpp), plus a UDP relay that records every datagram both ways.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/coap/codec.hpp"
#include "gateway/coap/message.hpp"
#include "gateway/dtls/context.hpp"
#include "gateway/net/deadline_scheduler.hpp"
#include "gateway/session/auth_gate.hpp"
#include "gateway/session/device_session.hpp"
#include "tests/support/cloudsim_fixture.hpp"

namespace gw::test {

using namespace std::chrono_literals;

// Short back-offs so failures resolve in a test's time budget, as gateway/app/gateway.cpp's
// make_session_options would build them from a config with these values. ACK_TIMEOUT stays at RFC 7252's 2 s
// (random factor 1.0) so a loaded CI machine does not cause retransmissions that cloudsim would count as new
// requests (libcoap does not deduplicate); tests that inject faults shorten it (Californium lockstep: 150
// ms).
inline std::shared_ptr<session::session_options> fast_options(session::security_mode mode) {
  auto o = std::make_shared<session::session_options>();
  o->fsm.mode = mode;
  o->fsm.retry_backoff = {100ms, 400ms, session::jitter_mode::none};
  o->fsm.publish_backoff = {50ms, 200ms, session::jitter_mode::none};
  o->coap.ack_timeout = 2s;
  o->coap.ack_random_factor = 1.0;
  o->coap.max_retransmit = 4;
  std::error_code ec;
  std::string detail;
  if (mode == session::security_mode::dtls_psk) {
    dtls::context_config dc;
    dc.kind = dtls::context_config::kind::psk;
    o->dtls_psk = dtls::context::create(dc, ec, &detail);
  }
  return o;
}

inline std::shared_ptr<dtls::context> certificate_context(const std::string& ca_file) {
  dtls::context_config dc;
  dc.kind = dtls::context_config::kind::certificate;
  dc.ca_file = ca_file;
  std::error_code ec;
  return dtls::context::create(dc, ec);
}

inline session::device_identity identity_of(const std::string& device_name, const std::string& secret,
                                            session::security_mode mode, std::uint16_t port,
                                            std::string host = "localhost") {
  session::device_identity id;
  id.product_key = cloudsim_process::product_key;
  id.device_name = device_name;
  id.id = id.product_key + "/" + device_name;
  id.device_secret = crypto::secret(secret);
  id.client_id = id.product_key + "." + device_name;
  id.mode = mode;
  id.host = std::move(host);
  id.address = "127.0.0.1";
  id.port = port;
  return id;
}

inline session::device_identity sim_identity(int i, session::security_mode mode, std::uint16_t port) {
  return identity_of(cloudsim_process::device_name(i), cloudsim_process::device_secret(i), mode, port);
}

inline std::string user_topic(const session::device_identity& id) {
  return "/" + id.product_key + "/" + id.device_name + "/user/update";
}

inline std::vector<std::uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

// One device_session and what it reported.
struct rig_device {
  std::unique_ptr<session::device_session> session;
  std::vector<session::message_handle> acked;
  std::vector<std::string> platform_ids;
  std::vector<std::pair<session::message_handle, std::string>> dead;
  std::vector<std::pair<std::chrono::steady_clock::time_point, session::state_changed>> states;
  bool ready() const {
    const auto s = session->state();
    return s == session::device_state::ready || s == session::device_state::renewing;
  }
};

class session_rig {
 public:
  explicit session_rig(double auth_rate = 1000.0, std::uint32_t burst = 100)
      : gate_(scheduler_, auth_rate, burst) {}
  session_rig(const session_rig&) = delete;
  session_rig& operator=(const session_rig&) = delete;
  ~session_rig() {
    for (auto& d : devices_) d->session->stop();
    devices_.clear();
  }

  rig_device& add(session::device_identity identity, std::shared_ptr<const session::session_options> options,
                  std::uint64_t seed = 0) {
    auto d = std::make_unique<rig_device>();
    rig_device* raw = d.get();
    session::session_events ev;
    ev.acked = [raw](session::message_handle h, std::string pid) {
      raw->acked.push_back(h);
      raw->platform_ids.push_back(std::move(pid));
    };
    ev.dead_lettered = [raw](session::message_handle h, std::string reason, std::uint8_t) {
      raw->dead.emplace_back(h, std::move(reason));
    };
    if (record_states) {
      ev.state_changed = [raw](const session::state_changed& c) {
        raw->states.emplace_back(c.at, c);  // the FSM's input time: observers run later
      };
    }
    if (extra_events) extra_events(ev);
    const std::uint64_t id = next_gate_id_++;
    d->session = std::make_unique<session::device_session>(
        io_.get_executor(), scheduler_, gate_, id, std::move(identity), std::move(options), std::move(ev),
        seed == 0 ? 0x5eed0000ULL + id : seed);
    devices_.push_back(std::move(d));
    return *raw;
  }

  // Runs the loop until `done()` holds or `timeout` passes (no sleeps: one handler at a time).
  template <typename Pred>
  bool run_until(Pred done, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    io_.restart();
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= end) return false;
      if (io_.run_one_for(end - now) == 0 && io_.stopped()) return done();
    }
    return true;
  }

  bool all_ready() const {
    for (const auto& d : devices_) {
      if (!d->ready()) return false;
    }
    return true;
  }
  std::size_t acked_total() const {
    std::size_t n = 0;
    for (const auto& d : devices_) n += d->acked.size();
    return n;
  }

  boost::asio::io_context& io() { return io_; }
  net::deadline_scheduler& scheduler() { return scheduler_; }
  // Called with each new device's events before its session is created (tests add hooks).
  std::function<void(session::session_events&)> extra_events;
  // false: state changes are not kept (the memory benchmark measures the sessions, not this log).
  bool record_states = true;
  std::vector<std::unique_ptr<rig_device>>& devices() { return devices_; }

 private:
  boost::asio::io_context io_;
  net::deadline_scheduler scheduler_{io_.get_executor()};
  session::auth_gate gate_;
  std::uint64_t next_gate_id_ = 1;
  std::vector<std::unique_ptr<rig_device>> devices_;
};

// A UDP relay between one device and cloudsim that records every datagram (device -> cloud in `up`,
// cloud -> device in `down`), so a test can check the bytes the gateway put on the wire.
class udp_relay {
 public:
  using udp = boost::asio::ip::udp;
  udp_relay(boost::asio::io_context& io, std::uint16_t target_port)
      : front_(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
        back_(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
        target_(boost::asio::ip::make_address("127.0.0.1"), target_port) {
    do_front();
    do_back();
  }
  std::uint16_t port() const { return front_.local_endpoint().port(); }

  std::vector<std::vector<std::uint8_t>> up;
  std::vector<std::vector<std::uint8_t>> down;

 private:
  void do_front() {
    front_.async_receive_from(
        boost::asio::buffer(front_buf_), sender_, [this](boost::system::error_code ec, std::size_t n) {
          if (ec) return;
          client_ = sender_;
          up.emplace_back(front_buf_.begin(), front_buf_.begin() + static_cast<std::ptrdiff_t>(n));
          boost::system::error_code ignored;
          back_.send_to(boost::asio::buffer(front_buf_.data(), n), target_, 0, ignored);
          do_front();
        });
  }
  void do_back() {
    back_.async_receive(boost::asio::buffer(back_buf_), [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      down.emplace_back(back_buf_.begin(), back_buf_.begin() + static_cast<std::ptrdiff_t>(n));
      boost::system::error_code ignored;
      if (client_) front_.send_to(boost::asio::buffer(back_buf_.data(), n), *client_, 0, ignored);
      do_back();
    });
  }

  udp::socket front_;
  udp::socket back_;
  udp::endpoint target_;
  udp::endpoint sender_;
  std::optional<udp::endpoint> client_;
  std::array<std::uint8_t, 2048> front_buf_{};
  std::array<std::uint8_t, 2048> back_buf_{};
};

}  // namespace gw::test
