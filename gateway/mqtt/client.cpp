#include "gateway/mqtt/client.hpp"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "gateway/mqtt/error.hpp"
#include "gateway/util/handoff.hpp"

namespace gw::mqtt {

namespace detail {

// Deliveries handed to the owner and not yet stored, shared by the Paho thread (waiting while there are
// max_unstored unjournaled or max_backlog journaled ones) and the owners of store_acks (completing).
struct store_window {
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t unstored = 0;  // not journaled: exposed to a crash until stored
  std::size_t backlog = 0;   // journaled: durable, held in memory until stored
};

// One delivery's completion.
struct store_state {
  store_state(std::shared_ptr<store_window> w, bool j) : window(std::move(w)), journaled(j) {}
  std::shared_ptr<store_window> window;
  bool journaled;
  bool done = false;  // guarded by window->mutex

  void complete() noexcept {
    {
      std::lock_guard lock(window->mutex);
      if (done) return;
      done = true;
      --(journaled ? window->backlog : window->unstored);
    }
    window->cv.notify_all();
  }
};

}  // namespace detail

store_ack& store_ack::operator=(store_ack&& other) noexcept {
  if (this != &other) {
    if (state_) state_->complete();
    state_ = std::move(other.state_);
  }
  return *this;
}

store_ack::~store_ack() {
  if (state_) state_->complete();
}

void store_ack::stored() noexcept {
  if (state_) std::exchange(state_, nullptr)->complete();
}

void store_ack::rejected() noexcept {
  if (state_) std::exchange(state_, nullptr)->complete();
}

namespace {

// Paho counts reconnect intervals in whole seconds; 0 would retry in a tight loop.
client_options normalized(client_options o) {
  o.reconnect_min = std::max(o.reconnect_min, std::chrono::seconds(1));
  o.reconnect_max = std::max(o.reconnect_max, o.reconnect_min);
  o.max_unstored = std::max<std::size_t>(o.max_unstored, 1);
  o.max_backlog = std::max<std::size_t>(o.max_backlog, 1);
  return o;
}

bool uri_implies_tls(const std::string& uri) {
  return uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0 || uri.rfind("wss://", 0) == 0;
}

}  // namespace

class client::impl : public std::enable_shared_from_this<impl> {
 public:
  impl(boost::asio::any_io_executor ex, client_options opts)
      : ex_(std::move(ex)),
        opts_(normalized(std::move(opts))),
        timer_(ex_),
        cli_(opts_.uri, opts_.client_id,
             ::mqtt::create_options(opts_.protocol_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1),
             nullptr /* no Paho persistence: the gateway's queue is the store */) {}

  ~impl() {
    try {
      cli_.disable_callbacks();
    } catch (const ::mqtt::exception&) {
    }
  }

  void install_callbacks() {
    // Raw `this`: shutdown() waits for a running callback and disables them before *this goes away.
    cli_.set_connected_handler([this](const std::string& cause) { on_paho_connected(cause); });
    cli_.set_connection_lost_handler([this](const std::string& cause) { on_paho_connection_lost(cause); });
    cli_.set_message_callback([this](const ::mqtt::const_message_ptr& m) { on_paho_message(m); });
  }

  void start() {
    install_callbacks();
    do_connect();
  }

  void do_connect() {
    if (closing_.load()) return;
    try {
      cli_.connect(make_connect_options(opts_), nullptr, connect_listener_);
    } catch (const ::mqtt::exception& e) {
      spdlog::warn("mqtt: connect to {} refused locally: {}", opts_.uri, e.what());
      schedule_retry();
    }
  }

  // The first connect failed (Paho reconnects by itself only after a success): retry with backoff.
  void on_connect_failed(const std::string& why) {
    spdlog::warn("mqtt: connect to {} failed: {}", opts_.uri, why);
    boost::asio::post(ex_, [w = weak_from_this()] {
      if (auto self = w.lock()) self->schedule_retry();
    });
  }

  void schedule_retry() {
    if (closing_.load()) return;
    const auto delay = std::min<std::chrono::milliseconds>(
        opts_.reconnect_max, opts_.reconnect_min * (1LL << std::min(retries_, 16)));
    ++retries_;
    timer_.expires_after(delay);
    timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
      auto self = w.lock();
      if (ec || !self || self->cli_.is_connected()) return;
      self->do_connect();
    });
  }

  void stop() {
    if (closing_.exchange(true)) return;
    timer_.cancel();
    retry_timers_.clear();  // pending waits end now (operation_aborted): the loop can finish
    wake_waiters();
    try {
      if (cli_.is_connected() && !opts_.status_topic.empty()) {
        cli_.publish(opts_.status_topic, opts_.offline_payload.data(), opts_.offline_payload.size(), 1, true);
      }
      disconnect_token_ = cli_.disconnect(std::chrono::milliseconds(1000));
    } catch (const ::mqtt::exception&) {
      // Not connected: nothing to disconnect.
    }
  }

  // Called by ~client: after it, no Paho callback runs or will run.
  void shutdown() {
    stop();
    if (disconnect_token_) {
      try {
        disconnect_token_->wait_for(std::chrono::seconds(2));
      } catch (const ::mqtt::exception&) {
      }
    }
    std::unique_lock lock(mutex_);
    idle_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return in_callback_ == 0; });
    lock.unlock();
    try {
      cli_.disable_callbacks();
    } catch (const ::mqtt::exception&) {
    }
  }

  void subscribe(std::string filter, int qos) {
    {
      std::lock_guard lock(mutex_);
      subscriptions_.emplace_back(filter, qos);
      std::erase(unsubscribe_on_connect_, filter);
    }
    if (cli_.is_connected()) {
      try {
        send_subscribe(filter, qos);
      } catch (const ::mqtt::exception& e) {
        // The connected handler subscribes again on the next connect.
        spdlog::warn("mqtt: subscribe {} failed: {}", filter, e.what());
      }
    }
  }

  void unsubscribe(const std::string& filter) {
    {
      std::lock_guard lock(mutex_);
      std::erase_if(subscriptions_, [&](const auto& s) { return s.first == filter; });
      std::erase(unsubscribe_on_connect_, filter);
    }
    bool sent = false;
    if (cli_.is_connected()) {
      try {
        cli_.unsubscribe(filter);
        sent = true;
      } catch (const ::mqtt::exception& e) {
        spdlog::warn("mqtt: unsubscribe {} failed: {}", filter, e.what());
      }
    }
    if (!sent) {
      // A persistent session keeps the subscription on the broker while we are away: send it on the next
      // connect.
      std::lock_guard lock(mutex_);
      unsubscribe_on_connect_.push_back(filter);
    }
  }

  std::vector<std::string> subscriptions() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& s : subscriptions_) out.push_back(s.first);
    return out;
  }

  std::error_code publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
    if (closing_.load()) return error::stopped;
    if (!cli_.is_connected()) return error::not_connected;
    try {
      cli_.publish(topic, payload.data(), payload.size(), qos, retain);
    } catch (const ::mqtt::exception& e) {
      return e.get_return_code() == MQTTASYNC_DISCONNECTED ? error::not_connected : error::publish_failed;
    }
    return {};
  }

  client_stats stats() const {
    client_stats s;
    {
      std::lock_guard lock(mutex_);
      s = stats_;
    }
    std::lock_guard lock(window_->mutex);
    s.unstored = window_->unstored;
    s.journaled_unstored = window_->backlog;
    return s;
  }

  bool connected() const { return cli_.is_connected(); }

  message_handler on_message_;
  connection_handler on_connection_;
  journal_hook journal_;                 // called on the Paho thread; set before start()
  intake_thread_hook on_intake_thread_;  // ditto

 private:
  // RAII count of running Paho callbacks; false if the client is closing and the callback must return at
  // once.
  class callback_scope {
   public:
    explicit callback_scope(impl& i) : i_(i) {
      std::lock_guard lock(i_.mutex_);
      ++i_.in_callback_;
    }
    ~callback_scope() {
      {
        std::lock_guard lock(i_.mutex_);
        --i_.in_callback_;
      }
      i_.idle_cv_.notify_all();
    }
    callback_scope(const callback_scope&) = delete;
    callback_scope& operator=(const callback_scope&) = delete;

   private:
    impl& i_;
  };

  void on_paho_connected(const std::string& cause) {
    callback_scope scope(*this);
    if (closing_.load()) return;
    std::vector<std::pair<std::string, int>> subs;
    std::vector<std::string> unsubs;
    {
      std::lock_guard lock(mutex_);
      subs = subscriptions_;
      unsubs = std::exchange(unsubscribe_on_connect_, {});
      ++stats_.connects;
    }
    for (const auto& filter : unsubs) {
      try {
        cli_.unsubscribe(filter);
      } catch (const ::mqtt::exception& e) {
        spdlog::warn("mqtt: unsubscribe {} failed: {}", filter, e.what());
      }
    }
    // Resubscribe on every (re)connect: a broker that lost its state (no persistence) forgets subscriptions.
    for (const auto& [filter, qos] : subs) {
      try {
        send_subscribe(filter, qos);
      } catch (const ::mqtt::exception& e) {
        spdlog::warn("mqtt: subscribe {} failed: {}", filter, e.what());
      }
    }
    // "online" at QoS 0: every connect publishes it again, so a QoS 1 retry buys nothing, and it keeps the
    // gateway free of outbound QoS 1 messages while connected. Paho C 1.3.11 can resend an in-flight QoS 1
    // PUBLISH whose topic it freed when the connection broke during the write; the broker then drops every
    // reconnect as malformed, for ever (seen with the test publisher, tests/bench/e2e/mqtt_load.cpp).
    if (!opts_.status_topic.empty()) {
      try {
        cli_.publish(opts_.status_topic, opts_.online_payload.data(), opts_.online_payload.size(), 0, true);
      } catch (const ::mqtt::exception& e) {
        spdlog::warn("mqtt: publishing online status failed: {}", e.what());
      }
    }
    spdlog::info("mqtt: connected to {} as {}", opts_.uri, opts_.client_id);
    boost::asio::post(ex_, [w = weak_from_this(), cause] {
      auto self = w.lock();
      if (!self) return;
      self->retries_ = 0;
      self->retry_timers_.clear();  // this connect subscribed to every filter again
      if (self->on_connection_) self->on_connection_(true, cause);
    });
  }

  void on_paho_connection_lost(const std::string& cause) {
    callback_scope scope(*this);
    {
      std::lock_guard lock(mutex_);
      ++stats_.connection_losses;
    }
    if (closing_.load()) return;
    spdlog::warn("mqtt: connection to {} lost: {}", opts_.uri, cause.empty() ? "(no cause)" : cause);
    boost::asio::post(ex_, [w = weak_from_this(), cause] {
      auto self = w.lock();
      if (self && self->on_connection_) self->on_connection_(false, cause);
    });
  }

  // Paho thread. Blocks until the owner's handler has stored the message (see client.hpp).
  void on_paho_message(const ::mqtt::const_message_ptr& m) {
    callback_scope scope(*this);
    if (closing_.load() || !m) return;
    // Once per thread and client (Paho's receive thread may outlive a client and serve the next one).
    static thread_local std::uint64_t intake_thread_of = 0;
    if (intake_thread_of != serial_) {
      intake_thread_of = serial_;
      if (on_intake_thread_) on_intake_thread_();
    }
    inbound_message msg{m->get_topic(), m->get_payload_str(), m->get_qos(), m->is_retained(),
                        m->is_duplicate()};
    if (journal_) msg.journal_seq = journal_(msg);
    const bool journaled = msg.journal_seq != 0;
    auto state = std::make_shared<detail::store_state>(window_, journaled);
    {
      std::lock_guard lock(window_->mutex);
      ++(journaled ? window_->backlog : window_->unstored);
    }
    {
      std::lock_guard lock(mutex_);
      ++stats_.messages;
      if (journaled) ++stats_.journaled;
    }
    // One post per run of deliveries, not per delivery: while the loop has not yet taken the inbox, later
    // deliveries join it. That spares the Paho thread the loop's wake-up (an epoll_ctl and a futex) for most
    // messages, and the loop takes a run of them in one handler (issue #6, docs/benchmarks.md).
    if (inbox_.put({std::move(msg), store_ack(std::move(state))})) {
      boost::asio::post(ex_, [w = weak_from_this()] {
        if (auto self = w.lock()) self->drain_inbox();
      });
    }
    // Return to Paho (which then acknowledges this PUBLISH and reads the next) only while fewer than
    // max_unstored unjournaled deliveries are not yet durable (with max_unstored 1 that is "this one is
    // stored") and fewer than max_backlog journaled ones are not yet stored.
    bool done = false;
    {
      std::unique_lock lock(window_->mutex);
      done = window_->cv.wait_for(lock, opts_.store_timeout, [&] {
        return (window_->unstored < opts_.max_unstored && window_->backlog < opts_.max_backlog) ||
               closing_.load();
      });
    }
    if (!done) {
      std::lock_guard lock(mutex_);
      ++stats_.store_timeouts;
    }
    if (!done) {
      spdlog::warn(
          "mqtt: the queue took no delivery within {} ms; taking the next one (the message on {} is "
          "acknowledged and {})",
          opts_.store_timeout.count(), m->get_topic(),
          journaled ? "in the intake journal" : "not yet durable");
    }
  }

  // Executor: hands the inbox's deliveries to the owner in arrival order. A delivery still in the inbox when
  // the client goes is completed by its store_ack's destructor, so the Paho thread never waits for it.
  void drain_inbox() {
    for (auto& d : inbox_.take()) {
      if (on_message_) on_message_(std::move(d.msg), std::move(d.ack));
    }
  }

  void wake_waiters() {
    {
      std::lock_guard lock(window_->mutex);
    }  // a waiter between its predicate check and its wait sees closing_
    window_->cv.notify_all();
  }

  // Executor. After opts_.subscribe_retry, asks again for a refused filter that is still wanted, on the same
  // connection (a reconnect clears the timers: its connect subscribed to everything).
  void retry_subscription_later(const std::string& filter) {
    if (closing_.load()) return;
    auto& t = retry_timers_[filter];
    t = std::make_unique<boost::asio::steady_timer>(ex_, opts_.subscribe_retry);
    t->async_wait([w = weak_from_this(), filter](const boost::system::error_code& ec) {
      auto self = w.lock();
      if (ec || !self || self->closing_.load() || !self->cli_.is_connected()) return;
      const auto qos = self->wanted_qos(filter);
      if (!qos) return;  // unsubscribed meanwhile
      spdlog::info("mqtt: asking again for the refused subscription to {}", filter);
      try {
        self->send_subscribe(filter, *qos);
      } catch (const ::mqtt::exception& e) {
        spdlog::warn("mqtt: subscribe {} failed: {}", filter, e.what());
      }
    });
  }

  // The QoS subscribe() asked for `filter`, or nullopt once it was unsubscribed. Thread-safe.
  std::optional<int> wanted_qos(const std::string& filter) const {
    std::lock_guard lock(mutex_);
    for (const auto& [f, qos] : subscriptions_) {
      if (f == filter) return qos;
    }
    return std::nullopt;
  }

  // The SUBACK's verdict is only known later, on Paho's thread (subscribe_listener).
  void send_subscribe(const std::string& filter, int qos) {
    cli_.subscribe(filter, qos, nullptr, subscribe_listener_);
  }

  // Paho thread. MQTT 3.1.1 §3.9.3 / 5.0 §3.9.3: a SUBACK return code of 0x80 or more refuses the filter (an
  // ACL, a bad filter); Paho C reports that for a one-filter SUBSCRIBE as a failure. A broker may also grant
  // a lower QoS than asked: QoS 0 means a message lost between broker and gateway is not sent again.
  void on_subscribe_result(const ::mqtt::token& tok, bool paho_success) {
    callback_scope scope(*this);
    const auto topics = tok.get_topics();
    const std::string filter = topics && !topics->empty() ? (*topics)[0] : std::string("?");
    int code = static_cast<int>(tok.get_reason_code());
    if (paho_success) {
      try {
        const auto codes = tok.get_subscribe_response().get_reason_codes();
        if (!codes.empty()) code = static_cast<int>(codes.front());
      } catch (const ::mqtt::exception&) {
        // No response body (cannot happen after a success): keep the token's reason code.
      }
    }
    const bool granted = paho_success && code < 0x80;
    // A failure is the broker's refusal only with a SUBACK code; MQTT 3.1.1 failures carry Paho's placeholder
    // reason code (0xff) and MQTT_BAD_SUBSCRIBE as return code. Anything else (the connection broke before
    // the SUBACK) is no verdict: the next connect subscribes again.
    const bool refused =
        !granted && (opts_.protocol_version == 5 ? code >= 0x80 && code <= 0xff
                                                 : tok.get_return_code() == MQTT_BAD_SUBSCRIBE);
    if (!granted && !refused) {
      spdlog::warn(
          "mqtt: the subscription to {} did not complete (return code {}); it is sent again on the next "
          "connect",
          filter, tok.get_return_code());
      return;
    }
    const int asked = wanted_qos(filter).value_or(code);  // unsubscribed meanwhile: nothing to compare
    {
      std::lock_guard lock(mutex_);
      ++(granted ? stats_.subscriptions_granted : stats_.subscriptions_refused);
      if (granted && code < asked) ++stats_.subscriptions_downgraded;
    }
    if (refused) {
      boost::asio::post(ex_, [w = weak_from_this(), filter] {
        if (auto self = w.lock()) self->retry_subscription_later(filter);
      });
      const std::string why = opts_.protocol_version == 5
                                  ? fmt::format("reason code 0x{:02x}", code)
                                  : fmt::format("return code 0x{:02x}", MQTT_BAD_SUBSCRIBE);
      spdlog::error("mqtt: {} refused the subscription to {} ({}): its messages do not reach the gateway",
                    opts_.uri, filter, why);
    } else if (code < asked) {
      spdlog::warn(
          "mqtt: subscribed to {} with QoS {} granted, {} asked: the broker will not resend a message "
          "it lost on the way to the gateway",
          filter, code, asked);
    } else {
      spdlog::info("mqtt: subscribed to {} (QoS {})", filter, code);
    }
  }

  class subscribe_listener : public ::mqtt::iaction_listener {
   public:
    explicit subscribe_listener(impl& i) : i_(i) {}
    void on_failure(const ::mqtt::token& tok) override { i_.on_subscribe_result(tok, false); }
    void on_success(const ::mqtt::token& tok) override { i_.on_subscribe_result(tok, true); }

   private:
    impl& i_;
  };

  class connect_listener : public ::mqtt::iaction_listener {
   public:
    explicit connect_listener(impl& i) : i_(i) {}
    void on_failure(const ::mqtt::token& tok) override {
      i_.on_connect_failed("return code " + std::to_string(tok.get_return_code()));
    }
    void on_success(const ::mqtt::token&) override {}

   private:
    impl& i_;
  };

  boost::asio::any_io_executor ex_;
  client_options opts_;
  boost::asio::steady_timer timer_;  // first-connect retries; used on the executor only
  int retries_ = 0;                  // executor only
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> retry_timers_;  // executor only
  connect_listener connect_listener_{*this};
  subscribe_listener subscribe_listener_{*this};
  ::mqtt::async_client cli_;
  ::mqtt::token_ptr disconnect_token_;
  std::atomic<bool> closing_{false};
  // Tells clients apart for the intake-thread hook (an address may be reused by the next client).
  const std::uint64_t serial_ = [] {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }();

  mutable std::mutex mutex_;  // guards the members below
  std::condition_variable idle_cv_;
  int in_callback_ = 0;
  std::vector<std::pair<std::string, int>> subscriptions_;
  std::vector<std::string> unsubscribe_on_connect_;  // unsubscribe() while disconnected
  std::shared_ptr<detail::store_window> window_ = std::make_shared<detail::store_window>();
  // Deliveries from the Paho thread not yet taken by the executor (drain_inbox).
  struct pending_delivery {
    inbound_message msg;
    store_ack ack;
  };
  util::handoff<pending_delivery> inbox_;
  client_stats stats_;
};

::mqtt::connect_options client::make_connect_options(const client_options& options) {
  const client_options o = normalized(options);
  ::mqtt::connect_options c;
  if (o.protocol_version == 5) {
    c.set_mqtt_version(MQTTVERSION_5);
    c.set_clean_start(o.clean_session);
    ::mqtt::properties props;
    props.add({::mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(o.session_expiry.count())});
    props.add({::mqtt::property::RECEIVE_MAXIMUM, std::max<int>(o.receive_maximum, 1)});
    c.set_properties(props);
  } else {
    c.set_mqtt_version(MQTTVERSION_3_1_1);
    c.set_clean_session(o.clean_session);
  }
  c.set_keep_alive_interval(o.keep_alive);
  c.set_connect_timeout(o.connect_timeout);
  c.set_automatic_reconnect(o.reconnect_min, o.reconnect_max);
  if (!o.username.empty()) c.set_user_name(o.username);
  if (!o.password.empty()) c.set_password(o.password);
  if (!o.status_topic.empty()) {
    c.set_will(::mqtt::will_options(o.status_topic, o.offline_payload, 1, true));
  }
  if (o.tls || uri_implies_tls(o.uri)) {
    ::mqtt::ssl_options ssl;
    if (!o.ca_file.empty()) ssl.set_trust_store(o.ca_file);
    if (!o.cert_file.empty()) ssl.set_key_store(o.cert_file);
    if (!o.key_file.empty()) ssl.set_private_key(o.key_file);
    ssl.set_enable_server_cert_auth(o.tls_verify);
    ssl.set_verify(o.tls_verify);
    c.set_ssl(std::move(ssl));
  }
  return c;
}

client::client(boost::asio::any_io_executor executor, client_options options) {
  try {
    impl_ = std::make_shared<impl>(std::move(executor), std::move(options));
  } catch (const ::mqtt::exception& e) {
    throw std::invalid_argument(std::string("mqtt client: ") + e.what());
  }
}

client::~client() {
  if (impl_) impl_->shutdown();
}

void client::set_message_handler(message_handler handler) {
  impl_->on_message_ = std::move(handler);
}
void client::set_connection_handler(connection_handler handler) {
  impl_->on_connection_ = std::move(handler);
}
void client::set_journal(journal_hook hook) {
  impl_->journal_ = std::move(hook);
}
void client::set_intake_thread_hook(intake_thread_hook hook) {
  impl_->on_intake_thread_ = std::move(hook);
}
void client::subscribe(std::string filter, int qos) {
  impl_->subscribe(std::move(filter), qos);
}
void client::unsubscribe(const std::string& filter) {
  impl_->unsubscribe(filter);
}
std::vector<std::string> client::subscriptions() const {
  return impl_->subscriptions();
}
void client::start() {
  impl_->start();
}
void client::stop() {
  impl_->stop();
}

std::error_code client::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  return impl_->publish(topic, payload, qos, retain);
}

bool client::connected() const {
  return impl_->connected();
}
client_stats client::stats() const {
  return impl_->stats();
}

}  // namespace gw::mqtt
