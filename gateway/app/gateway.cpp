#include "gateway/app/gateway.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "gateway/app/config_mqtt.hpp"
#include "gateway/app/subscription_record.hpp"
#include "gateway/bridge/error.hpp"
#include "gateway/bridge/payload.hpp"
#include "gateway/coap/message.hpp"
#include "gateway/crypto/hex.hpp"
#include "gateway/util/thread_priority.hpp"

namespace gw::app {

namespace {

using clock = std::chrono::steady_clock;

// How many queued messages of one device may be handed to its session at once. The session sends them one
// at a time (NSTART 1, per-device order); the window saves a queue lookup per message and bounds what one
// stalled device holds of cloud.max_in_flight.
constexpr std::size_t offer_window = 8;

// The record of the broker session's filters (subscription_record.hpp), next to the queue.
std::filesystem::path subscription_file(const config& c) {
  return std::filesystem::path(c.queue.dir) / "subscriptions";
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

session::security_mode to_session_mode(cloud_mode m) {
  switch (m) {
    case cloud_mode::dtls:
      return session::security_mode::dtls;
    case cloud_mode::dtls_psk:
      return session::security_mode::dtls_psk;
    case cloud_mode::aes:
      return session::security_mode::aes;
    case cloud_mode::plain:
      return session::security_mode::plain;
  }
  return session::security_mode::plain;
}

crypto::sign_method to_crypto(sign_method m) {
  switch (m) {
    case sign_method::hmacmd5:
      return crypto::sign_method::hmacmd5;
    case sign_method::hmacsha1:
      return crypto::sign_method::hmacsha1;
    case sign_method::hmacsha256:
      return crypto::sign_method::hmacsha256;
  }
  return crypto::sign_method::hmacmd5;
}

session::backoff_config to_backoff(const backoff_config& b) {
  session::backoff_config out;
  out.initial = b.initial;
  out.max = b.max;
  out.jitter = b.jitter ? session::jitter_mode::equal : session::jitter_mode::none;
  return out;
}

// path_resume's group key: the cloud endpoint the session sends to.
std::string endpoint_of(const device_config& d) {
  return (d.address.empty() ? d.host : d.address) + ":" + std::to_string(d.port);
}

// A stable per-device seed: sessions of different devices never share MIDs, tokens or jitter.
std::uint64_t seed_of(std::string_view id, std::uint64_t salt) {
  std::uint64_t h = 1469598103934665603ULL ^ salt;  // FNV-1a
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

std::unordered_map<std::string, bridge::device_info> device_infos_of(const config& cfg) {
  std::unordered_map<std::string, bridge::device_info> infos;
  infos.reserve(cfg.devices.size());
  for (const auto& d : cfg.devices) infos.emplace(d.id, bridge::device_info{d.product_key, d.device_name});
  return infos;
}

std::vector<bridge::route_config> to_bridge_routes(const config& cfg) {
  std::vector<bridge::route_config> routes;
  routes.reserve(cfg.routes.size());
  for (const auto& r : cfg.routes) {
    routes.push_back(
        {r.from, r.device, r.to,
         r.format == payload_format::cbor ? bridge::payload_format::cbor : bridge::payload_format::raw});
  }
  return routes;
}

std::shared_ptr<session::session_options> make_session_options(const config& cfg, cloud_mode mode,
                                                               std::string& error) {
  auto o = std::make_shared<session::session_options>();
  const cloud_config& c = cfg.cloud;
  o->fsm.mode = to_session_mode(mode);
  o->fsm.token_refresh_after = c.auth.token_refresh_after;
  o->fsm.retry_backoff = to_backoff(c.auth.backoff);
  o->fsm.publish_backoff = to_backoff(c.auth.backoff);
  o->fsm.policy.treat_4_02_as_token_invalid = c.treat_4_02_as_token_invalid;
  o->fsm.first_seq_equals_offset = c.first_seq == first_seq_rule::offset;
  o->coap.ack_timeout = c.coap.ack_timeout;
  o->coap.ack_random_factor = c.coap.ack_random_factor;
  o->coap.max_retransmit = c.coap.max_retransmit;
  o->coap.nstart = c.coap.nstart;
  o->sign = to_crypto(c.sign);
  o->send_timestamp = c.send_timestamp;
  o->send_signmethod = c.send_signmethod;
  if (c.ack_mode != 0) o->ack_mode = static_cast<unsigned>(c.ack_mode);
  o->token_option = c.token_option;
  o->accept = c.accept;
  o->content_format = c.content == content_format::cbor ? 60 : 50;
  o->send_uri_host = c.coap.send_uri_host;
  o->psk_timestamp = c.psk_timestamp;
  std::error_code ec;
  std::string detail;
  if (mode == cloud_mode::dtls) {
    dtls::context_config dc;
    dc.kind = dtls::context_config::kind::certificate;
    dc.ca_file = c.ca_file;
    o->dtls_certificate = dtls::context::create(dc, ec, &detail);
    if (!o->dtls_certificate) {
      error = "cloud.ca_file: " + (detail.empty() ? ec.message() : detail);
      return nullptr;
    }
  } else if (mode == cloud_mode::dtls_psk) {
    dtls::context_config dc;
    dc.kind = dtls::context_config::kind::psk;
    o->dtls_psk = dtls::context::create(dc, ec, &detail);
    if (!o->dtls_psk) {
      error = "DTLS-PSK context: " + (detail.empty() ? ec.message() : detail);
      return nullptr;
    }
  }
  return o;
}

namespace {

using options_map = std::unordered_map<int, std::shared_ptr<session::session_options>>;  // by cloud_mode

// The session options of every mode used by the devices this shard serves. A mode found in `current` is kept
// when `keep(mode)` says so, otherwise built anew (dtls reads cloud.ca_file again). nullopt with `error` set
// when one cannot be built.
std::optional<options_map> session_options_by_mode(const config& cfg, const options_map& current,
                                                   const std::function<bool(cloud_mode)>& keep,
                                                   std::string& error) {
  options_map out;
  for (const auto& d : cfg.devices) {
    if (!in_shard(cfg.shard, d.product_key, d.device_name)) continue;
    const int mode = static_cast<int>(d.mode);
    if (out.count(mode) != 0) continue;
    auto old = current.find(mode);
    if (old != current.end() && keep(d.mode)) {
      out.emplace(mode, old->second);
      continue;
    }
    auto o = make_session_options(cfg, d.mode, error);
    if (!o) return std::nullopt;
    out.emplace(mode, std::move(o));
  }
  return out;
}

}  // namespace

gateway::gateway(boost::asio::io_context& io, config cfg)
    : io_(io),
      config_(std::move(cfg)),
      scheduler_(io.get_executor()),
      fair_(offer_window, config_.cloud.max_in_flight),
      housekeeping_(io),
      drain_timer_(io),
      state_log_timer_(io) {
  gate_ = std::make_unique<session::auth_gate>(
      scheduler_, config_.cloud.auth.rate_per_s,
      static_cast<std::uint32_t>(std::max(1.0, config_.cloud.auth.rate_per_s)));

  bridge::queue_options qo;
  qo.dir = config_.queue.dir;
  qo.max_bytes_per_device = config_.queue.max_bytes_per_device;
  qo.max_messages_per_device = config_.queue.max_messages_per_device;
  qo.max_age_ms = config_.queue.max_age.count();
  qo.max_total_bytes = config_.queue.max_total_bytes;
  qo.when_full = config_.queue.when_full == when_full_policy::drop_oldest ? bridge::full_policy::drop_oldest
                                                                          : bridge::full_policy::reject_new;
  qo.sync = config_.queue.sync == sync_mode::full ? bridge::sync_mode::full : bridge::sync_mode::normal;
  std::error_code ec;
  queue_ = bridge::durable_queue::open(qo, ec);
  if (!queue_) throw std::runtime_error("queue.dir " + config_.queue.dir + ": " + ec.message());
  open_intake_journal();

  device_infos_ = device_infos_of(config_);
  bridge::route_error rerr;
  router_ = make_router(config_, rerr);
  if (!router_) {
    throw std::runtime_error("routes[" + std::to_string(rerr.index) + "]." + rerr.field + ": " +
                             rerr.message);
  }

  if (config_.cloud.coap.resume_on_answer) {
    resume_ = std::make_unique<path_resume>(scheduler_, config_.cloud.coap.resume_rate_per_s,
                                            config_.cloud.coap.ack_timeout);
  }
  ca_digest_ = file_digest(config_.cloud.ca_file);
  std::string error;
  auto options = session_options_by_mode(
      config_, {}, [](cloud_mode) { return false; }, error);
  if (!options) throw std::runtime_error(error);
  options_by_mode_ = std::move(*options);
  for (const auto& d : config_.devices) {
    // Other shards' devices stay in device_infos_ (so their topics route, and are skipped, not dead-lettered)
    // but get no session here.
    if (in_shard(config_.shard, d.product_key, d.device_name)) add_device(d);
  }

  // Durations below a second round up (Paho takes whole seconds): see to_client_options.
  const mqtt::client_options mo = to_client_options(config_.mqtt);
  mqtt_ = std::make_unique<mqtt::client>(io_.get_executor(), mo);
  mqtt_->set_message_handler([this](mqtt::inbound_message m, mqtt::store_ack ack) {
    on_mqtt_message(std::move(m), std::move(ack));
  });
  if (journal_) {
    // Paho thread. A failing journal (disk full, I/O) is logged when it starts and when it ends, not per
    // message; gw_intake_journal_failures_total counts each.
    mqtt_->set_journal([j = journal_, failing = std::make_shared<std::atomic<bool>>(false)](
                           const mqtt::inbound_message& m) -> std::uint64_t {
      std::error_code jec;
      const auto seq = j->append(m.topic, m.payload, jec);
      if (!seq && !failing->exchange(true)) {
        spdlog::warn("intake journal: writing failed ({}); deliveries wait for the queue (mqtt.max_unstored)",
                     jec.message());
      } else if (seq && failing->load(std::memory_order_relaxed) && failing->exchange(false)) {
        spdlog::info("intake journal: writing works again");
      }
      return seq;
    });
  }
  if (config_.mqtt.intake_priority > 0) {
    // Paho thread, before its first delivery: every other thread of the process (the loop that routes and
    // delivers, the queue's writer, Paho's send thread...) and those they start later run intake_priority
    // nice steps above the thread that reads the broker. On a saturated host the broker's backlog then
    // moves into the durable queue first, before the broker's per-client queue overflows, and delivery
    // catches up after (docs/architecture.md, "Threads": intake priority).
    mqtt_->set_intake_thread_hook([delta = static_cast<int>(config_.mqtt.intake_priority)] {
      std::error_code nec;
      const int own = util::thread_nice(0, nec);
      if (nec) {
        spdlog::warn("mqtt: intake priority: cannot read the receive thread's nice value: {}", nec.message());
        return;
      }
      const auto r = util::raise_other_threads_nice(own + delta);
      if (r.failed > 0) {
        spdlog::warn("mqtt: intake priority: {} thread(s) kept their priority: {}", r.failed,
                     r.first_error.message());
      }
      if (r.reniced + r.kept > 0) {
        spdlog::info("mqtt: intake priority: {} other thread(s) run at nice {}, the broker's reader at {}",
                     r.reniced + r.kept, std::min(own + delta, 19), own);
      }
    });
  }
  mqtt_->set_connection_handler([this](bool connected, const std::string& cause) {
    mqtt_connected_ = connected;
    if (on_mqtt_connection) on_mqtt_connection(connected);
    if (!connected) spdlog::warn("mqtt: connection lost: {}", cause.empty() ? "unknown cause" : cause);
    // A connect sends the pending UNSUBSCRIBEs before it reports (gw::mqtt::client): forget them now.
    if (connected && !pending_unsubscriptions_.empty()) {
      pending_unsubscriptions_.clear();
      record_subscriptions();
    }
  });
  const std::vector<std::string> wanted = wanted_subscriptions();
  for (const auto& filter : wanted) mqtt_->subscribe(filter, config_.mqtt.qos);
  forget_stale_subscriptions(wanted);
}

void gateway::forget_stale_subscriptions(const std::vector<std::string>& wanted) {
  const auto file = subscription_file(config_);
  std::error_code ec;
  const auto previous = read_subscription_record(file, ec);
  if (ec) {
    spdlog::warn("mqtt: cannot read {}: {}; filters of an earlier configuration stay subscribed",
                 file.string(), ec.message());
  }
  const auto stale =
      previous ? stale_filters(*previous, config_.mqtt.client_id, wanted) : std::vector<std::string>{};
  for (const auto& f : stale) {
    spdlog::info("mqtt: unsubscribing {}: an earlier configuration subscribed to it, no route needs it now",
                 f);
    mqtt_->unsubscribe(f);  // sent on the next connect
    pending_unsubscriptions_.push_back(f);
  }
  record_subscriptions();
}

void gateway::record_subscriptions() {
  const auto file = subscription_file(config_);
  subscription_record r{config_.mqtt.client_id, mqtt_->subscriptions()};
  r.filters.insert(r.filters.end(), pending_unsubscriptions_.begin(), pending_unsubscriptions_.end());
  std::error_code ec;
  write_subscription_record(file, r, ec);
  if (ec) {
    spdlog::warn("mqtt: cannot write {}: {}; a restart with fewer routes may leave their filters subscribed",
                 file.string(), ec.message());
  }
}

std::optional<bridge::router> gateway::make_router(const config& cfg, bridge::route_error& err) {
  // The lookup reads device_infos_ when a message is routed, so a reload swaps the map and the router
  // together.
  return bridge::router::make(
      to_bridge_routes(cfg),
      [this](std::string_view id) -> const bridge::device_info* {
        auto it = device_infos_.find(std::string(id));
        return it == device_infos_.end() ? nullptr : &it->second;
      },
      err);
}

std::vector<std::string> gateway::wanted_subscriptions() const {
  // Subscribe to the routes that can reach a device of this shard: templates (${...} in `device`) and fixed
  // devices this instance serves. The subset is valid because the whole list was.
  const std::vector<bridge::route_config> routes = to_bridge_routes(config_);
  std::vector<bridge::route_config> mine;
  for (std::size_t i = 0; i < config_.routes.size(); ++i) {
    const auto& r = config_.routes[i];
    auto it = device_infos_.find(r.device);
    if (r.device.find("${") == std::string::npos && it != device_infos_.end() &&
        !in_shard(config_.shard, it->second.product_key, it->second.device_name)) {
      continue;
    }
    mine.push_back(routes[i]);
  }
  bridge::route_error rerr;
  auto subscribed = bridge::router::make(
      mine, [](std::string_view) -> const bridge::device_info* { return nullptr; }, rerr);
  return subscribed ? subscribed->subscriptions() : std::vector<std::string>{};
}

std::unique_ptr<session::device_session> gateway::make_session(device_runtime& dev, const device_config& d) {
  session::device_identity ident;
  ident.id = d.id;
  ident.product_key = d.product_key;
  ident.device_name = d.device_name;
  ident.device_secret = crypto::secret(d.device_secret.reveal());
  ident.client_id = d.client_id;
  ident.mode = to_session_mode(d.mode);
  ident.host = d.host;
  ident.address = d.address.empty() ? d.host : d.address;
  ident.port = d.port;
  device_runtime* raw = &dev;
  session::session_events events;
  events.acked = [this, raw](session::message_handle h, std::string pid) {
    on_acked(*raw, h, std::move(pid));
  };
  events.dead_lettered = [this, raw](session::message_handle h, std::string reason, std::uint8_t code) {
    on_dead_lettered(*raw, h, std::move(reason), code);
  };
  events.state_changed = [this, raw](const session::state_changed& c) { on_state_changed(*raw, c); };
  if (resume_) {
    events.answered_after_timeouts = [this, g = resume_->group(endpoint_of(d))](
                                         session::clock_time_point now, session::clock_time_point since) {
      resume_->answered(g, now, since);
    };
  }
  return std::make_unique<session::device_session>(
      io_.get_executor(), scheduler_, *gate_, next_gate_id_++, std::move(ident),
      options_by_mode_.at(static_cast<int>(d.mode)), std::move(events),
      seed_of(d.id, static_cast<std::uint64_t>(wall_ms())));
}

void gateway::join_resume(device_runtime& dev, const device_config& d) {
  if (!resume_) return;
  const std::size_t group = resume_->group(endpoint_of(d));
  dev.resume_member = resume_->add(
      group, [s = dev.session.get()](session::clock_time_point now, session::clock_time_point working_since) {
        return s->resume(now, working_since);
      });
}

device_runtime& gateway::add_device(const device_config& d) {
  auto dev = std::make_unique<device_runtime>();
  dev->id = d.id;
  device_runtime& ref = *dev;
  ref.session = make_session(ref, d);
  ref.slot = fair_.add_device();
  if (ref.slot >= by_slot_.size()) by_slot_.resize(ref.slot + 1, nullptr);
  by_slot_[ref.slot] = &ref;
  join_resume(ref, d);
  by_id_.emplace(d.id, &ref);
  devices_.push_back(std::move(dev));
  return ref;
}

void gateway::leave_resume(device_runtime& dev) {
  if (resume_ && dev.resume_member) resume_->remove(*dev.resume_member);
  dev.resume_member.reset();
}

std::size_t gateway::take_back(device_runtime& dev) {
  leave_resume(dev);
  // The FSM puts what was in flight back as pending (retry_later) and closes the transport; nothing is
  // reported acked, so every offered message is still queued and only its lease has to end.
  dev.session->stop();
  const auto handles = dev.session->offered_handles();
  for (const auto h : handles) queue_->release(h);
  fair_.take_back(dev.slot);
  return handles.size();
}

std::size_t gateway::restart_session(device_runtime& dev, const device_config& d) {
  const std::size_t released = take_back(dev);
  dev.session = make_session(dev, d);
  join_resume(dev, d);
  dev.session->start();
  feed(dev);
  return released;
}

std::optional<reload_result> gateway::reload(config fresh, std::string& error) {
  if (stopped_ || draining_) {
    error = "the gateway is stopping";
    return std::nullopt;
  }
  const std::string digest = file_digest(fresh.cloud.ca_file);
  const bool ca_bytes_changed = fresh.cloud.ca_file == config_.cloud.ca_file && digest != ca_digest_;
  reload_result result;
  result.diff = diff_config(config_, fresh, ca_bytes_changed);  // before the merge: names restart-only keys
  const config_diff& diff = result.diff;
  config next = merge_reloadable(config_, std::move(fresh));

  // 1. Build what can fail, changing nothing yet.
  auto options = session_options_by_mode(
      next, options_by_mode_,
      [&](cloud_mode m) { return diff.session_keys.empty() && !(m == cloud_mode::dtls && diff.ca_changed); },
      error);
  if (!options) return std::nullopt;
  auto infos = device_infos_of(next);
  bridge::route_error rerr;
  // make() does not call the lookup, so the new router can be built now: from the swap below on, its lookup
  // reads the new device_infos_.
  auto router = make_router(next, rerr);
  if (!router) {
    error = next.routes.at(rerr.index).source + ": routes[" + std::to_string(rerr.index) + "]." + rerr.field +
            ": " + rerr.message;
    return std::nullopt;
  }

  // 2. Commit: from here on nothing fails.
  config_ = std::move(next);
  fair_.set_cap(config_.cloud.max_in_flight);
  if (resume_) resume_->set_min_interval(config_.cloud.coap.ack_timeout);
  ca_digest_ = digest;
  options_by_mode_ = std::move(*options);
  device_infos_ = std::move(infos);
  router_ = std::move(router);

  std::unordered_map<std::string, const device_config*> by_config_id;
  for (const auto& d : config_.devices) by_config_id.emplace(d.id, &d);

  // One line per device up to 100 of them; beyond, debug only (the "applied: devices +a -r ~c" line counts).
  const auto level = diff.added.size() + diff.removed.size() + diff.changed.size() <= 100
                         ? spdlog::level::info
                         : spdlog::level::debug;
  for (const auto& id : diff.removed) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    device_runtime& dev = *it->second;
    result.released += take_back(dev);
    const auto depth = queue_->stats(id).depth;
    spdlog::log(
        level,
        "reload: device {} removed; its session stopped, {} queued message(s) stay on disk and resume "
        "if it is configured again",
        id, depth);
    by_id_.erase(it);
    fair_.remove(dev.slot);
    by_slot_[dev.slot] = nullptr;
    std::erase_if(devices_, [&](const auto& p) { return p.get() == &dev; });
  }
  // Unchanged devices whose session gave up (failed: e.g. /auth refused max_auth_rejections times, a secret
  // the operator has since fixed on the platform side) get a new session: a reload retries them. Healthy
  // unchanged sessions are not touched.
  {
    std::unordered_set<std::string> changed_ids;
    for (const auto& change : diff.changed) changed_ids.insert(change.id);
    for (auto& dev : devices_) {
      if (dev->session->state() != session::device_state::failed || changed_ids.count(dev->id) != 0) continue;
      auto cfg_it = by_config_id.find(dev->id);
      if (cfg_it == by_config_id.end()) continue;
      spdlog::info("reload: device {} was failed; its session restarts, {} queued message(s) kept", dev->id,
                   queue_->stats(dev->id).depth);
      result.released += restart_session(*dev, *cfg_it->second);
      result.retried.push_back(dev->id);
    }
  }
  for (const auto& change : diff.changed) {
    auto it = by_id_.find(change.id);
    if (it == by_id_.end()) continue;
    device_runtime& dev = *it->second;
    std::string why;
    for (const auto& w : change.why) why += (why.empty() ? "" : ", ") + w;
    spdlog::log(level, "reload: device {} changed ({}); its session restarts, {} queued message(s) kept",
                change.id, why, queue_->stats(change.id).depth);
    result.released += restart_session(dev, *by_config_id.at(change.id));
  }
  for (const auto& id : diff.added) {
    device_runtime& dev = add_device(*by_config_id.at(id));
    const auto depth = queue_->stats(id).depth;
    spdlog::log(level, "reload: device {} added{}", id,
                depth == 0 ? std::string() : "; resuming " + std::to_string(depth) + " queued message(s)");
    dev.session->start();
    feed(dev);
  }

  // 3. Subscriptions follow the routes, on the running connection.
  const std::vector<std::string> wanted = wanted_subscriptions();
  const std::vector<std::string> current = mqtt_->subscriptions();
  for (const auto& f : current) {
    if (std::find(wanted.begin(), wanted.end(), f) == wanted.end()) {
      mqtt_->unsubscribe(f);
      result.unsubscribed.push_back(f);
    }
  }
  for (const auto& f : wanted) {
    if (std::find(current.begin(), current.end(), f) == current.end()) {
      mqtt_->subscribe(f, config_.mqtt.qos);
      result.subscribed.push_back(f);
    }
  }
  if (!result.subscribed.empty() || !result.unsubscribed.empty()) {
    // While disconnected the UNSUBSCRIBEs wait for the next connect: keep them listed until then.
    if (!mqtt_connected_) {
      pending_unsubscriptions_.insert(pending_unsubscriptions_.end(), result.unsubscribed.begin(),
                                      result.unsubscribed.end());
    }
    record_subscriptions();
  }
  return result;
}

gateway::~gateway() {
  *alive_ = false;
  stop();
}

void gateway::start() {
  spdlog::info("gateway: starting {} device session(s), {} route(s), queue in {}", devices_.size(),
               config_.routes.size(), config_.queue.dir);
  const auto backlog = queue_->devices_with_backlog();
  if (!backlog.empty()) {
    spdlog::info("gateway: resuming the backlog of {} device(s), {} message(s)", backlog.size(),
                 queue_->stats().total.depth);
  }
  for (auto& dev : devices_) dev->session->start();
  for (auto& dev : devices_) fair_.wake(dev->slot);
  dispatch();
  replay_intake_journal();
  mqtt_->start();
  arm_housekeeping();
}

void gateway::stop() {
  if (stopped_) return;
  stopped_ = true;
  housekeeping_.cancel();
  drain_timer_.cancel();
  drain_done_ = nullptr;
  if (mqtt_) mqtt_->stop();
  for (auto& dev : devices_) {
    leave_resume(*dev);
    dev->session->stop();
  }
  // The stop's own state changes may have opened a summary window: write it now, not after the loop ends.
  if (auto summary = state_log_.flush(std::chrono::steady_clock::time_point::max()))
    spdlog::info("{}", *summary);
  state_log_timer_.cancel();
  if (queue_) queue_->flush();
}

void gateway::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  if (stopped_ || draining_) {
    if (done) boost::asio::post(io_, std::move(done));
    return;
  }
  draining_ = true;
  drain_done_ = std::move(done);
  if (mqtt_)
    mqtt_->stop();  // no new messages; those already delivered to us are stored (see on_mqtt_message)
  spdlog::info("gateway: draining {} in-flight message(s), at most {} ms", in_flight(), deadline.count());
  drain_timer_.expires_after(deadline);
  drain_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || !drain_done_) return;
    spdlog::warn("gateway: drain deadline passed with {} message(s) in flight; they stay queued",
                 in_flight());
    std::exchange(drain_done_, nullptr)();
  });
  check_drained();
}

std::size_t gateway::in_flight() const {
  return fair_.in_flight();
}

void gateway::check_drained() {
  if (!draining_ || !drain_done_ || in_flight() != 0) return;
  drain_timer_.cancel();
  boost::asio::post(io_, std::exchange(drain_done_, nullptr));
}

std::size_t gateway::devices_ready() const {
  std::size_t n = 0;
  for (const auto& dev : devices_) {
    const auto s = dev->session->state();
    if (s == session::device_state::ready || s == session::device_state::renewing) ++n;
  }
  return n;
}

void gateway::open_intake_journal() {
  if (!config_.queue.intake_journal) return;
  if (config_.queue.sync == sync_mode::full) {
    spdlog::info(
        "intake journal: off with queue.sync full (it would need an fsync per message); "
        "mqtt.max_unstored bounds what a power loss can lose");
    return;
  }
  std::error_code ec;
  bridge::intake_journal::options jo;
  jo.dir = config_.queue.dir;
  std::unique_ptr<bridge::intake_journal> j =
      bridge::intake_journal::open(jo, queue_->intake_seq_at_open(), ec);
  if (!j) {
    // The queue alone still loses nothing beyond mqtt.max_unstored - 1 on a crash; say so and go on.
    spdlog::warn(
        "intake journal: cannot open it in {}: {}; deliveries wait for the queue (mqtt.max_unstored)",
        config_.queue.dir, ec.message());
    return;
  }
  const auto st = j->stats();
  if (st.dropped_bytes != 0) {
    spdlog::warn(
        "intake journal: cut {} damaged byte(s) at its end (a write cut short by a crash or power loss)",
        st.dropped_bytes);
  }
  journal_ = std::move(j);
}

// Start: the deliveries a stop or crash left in the journal but not in the queue take the normal path now,
// before the broker is asked for more (their acknowledgements went out with the journal write).
void gateway::replay_intake_journal() {
  if (!journal_) return;
  auto records = journal_->take_recovered();
  if (records.empty()) return;
  spdlog::info(
      "intake journal: {} message(s) received before the last stop were not yet queued; queueing them",
      records.size());
  for (auto& r : records) {
    mqtt::inbound_message m;
    m.topic = std::move(r.topic);
    m.payload = std::move(r.payload);
    m.qos = config_.mqtt.qos;
    m.journal_seq = r.seq;
    on_mqtt_message(std::move(m), mqtt::store_ack{});
  }
}

void gateway::on_mqtt_message(mqtt::inbound_message msg, mqtt::store_ack ack) {
  ++counters_.mqtt_received;
  const std::uint64_t seq = msg.journal_seq;
  // Not stored: the broker may forget it (rejected), and so may the journal once the inserts before it are
  // written (a journal file is emptied only when all its records are settled).
  auto give_up = [this, seq](mqtt::store_ack& a) {
    a.rejected();
    if (journal_ && seq != 0) queue_->after_inserts([j = journal_, seq] { j->stored_through(seq); });
  };
  // Even while stopping, a delivered message is stored: the broker already has our PUBACK for it.
  std::error_code ec;
  auto route = router_->route(msg.topic, ec);
  const auto* data = reinterpret_cast<const std::uint8_t*>(msg.payload.data());
  bridge::queued_message q;
  q.mqtt_topic = msg.topic;
  q.received_ms = wall_ms();

  if (ec == bridge::error::no_route) {
    ++counters_.unrouted;
    // E.g. a removed route's filter that the broker keeps for the session while its record was lost
    // (forget_stale_subscriptions).
    if (const auto v = unrouted_log_.occur(clock::now()); v.log) {
      spdlog::warn(
          "route: no route for topic {}: acknowledged and dropped (gw_messages_unrouted_total){}; more "
          "within a minute are logged at debug",
          msg.topic, v.held > 0 ? fmt::format(", {} more since the last warning", v.held) : std::string());
    } else {
      spdlog::debug("route: no route for topic {}", msg.topic);
    }
    last_unrouted_topic_ = msg.topic;
    give_up(ack);
    return;
  }
  std::string reason;
  if (ec) {
    reason = ec.message();
    q.payload.assign(data, data + msg.payload.size());
  } else if (by_id_.find(route.device_id) == by_id_.end() && device_infos_.count(route.device_id) != 0) {
    // A device of another shard (a template route matched): that instance stores and delivers it.
    ++counters_.other_shard;
    spdlog::debug("route: topic {} belongs to device {} of another shard", msg.topic, route.device_id);
    give_up(ack);
    return;
  } else {
    q.device_id = route.device_id;
    q.cloud_topic = route.cloud_topic;
    if (auto pec = bridge::encode_payload(route.format, {data, msg.payload.size()}, q.payload)) {
      reason = pec == bridge::error::oversize
                   ? bridge::oversize_reason(msg.payload.size(), bridge::max_json_input)
                   : pec.message();
      q.payload.assign(data, data + msg.payload.size());
    } else if (bridge::check_payload_size(q.payload.size(), config_.cloud.max_payload)) {
      reason = bridge::oversize_reason(q.payload.size(), config_.cloud.max_payload);
    } else if (q.payload.empty() && config_.cloud.drop_empty_payloads) {
      ++counters_.empty_dropped;
      give_up(ack);
      return;
    }
  }

  // The Paho thread waits on `ack` until the message is durable (see gw::mqtt::client): complete it from the
  // queue's writer thread at once, then continue on the loop.
  auto shared_ack = std::make_shared<mqtt::store_ack>(std::move(ack));
  q.intake_seq = seq;
  auto done = [this, alive = alive_, inbox = stored_, shared_ack, device = q.device_id, journal = journal_,
               seq, dead = !reason.empty()](std::uint64_t, std::error_code wec) {
    if (wec) {
      shared_ack->rejected();
    } else {
      shared_ack->stored();
    }
    if (journal && seq) journal->stored_through(seq);  // stored, or failed for good (counted)
    if (dead && !wec) return;
    if (inbox->put({device, wec})) {
      boost::asio::post(io_, [this, alive] {
        if (*alive) take_stored();
      });
    }
  };

  if (!reason.empty()) {
    ++counters_.dead_lettered_at_entry;
    spdlog::debug("route: topic {} dead-lettered at entry: {}", msg.topic, reason);
    queue_->store_dead_letter(std::move(q), reason, 0, wall_ms(), done, ec);
    if (ec) {
      ++counters_.enqueue_refused;
      give_up(*shared_ack);
    }
    return;
  }
  queue_->enqueue(std::move(q), done, ec);
  if (ec) {
    // reject_new / disk cap: counted by the queue per reason; the broker already has our PUBACK (design.md
    // §2).
    ++counters_.enqueue_refused;
    give_up(*shared_ack);
    return;
  }
  ++counters_.enqueued;
}

// Loop: the stores the writer thread completed since the last run. Each device with a new durable message
// joins the round robin; one dispatch() then serves them all.
void gateway::take_stored() {
  for (const auto& e : stored_->take()) {
    if (e.error) {
      ++counters_.enqueue_refused;
      spdlog::error("queue: storing a message for {} failed: {}", e.device.empty() ? "(no device)" : e.device,
                    e.error.message());
    } else if (auto it = by_id_.find(e.device); it != by_id_.end()) {
      fair_.wake(it->second->slot);
    }
  }
  dispatch();
}

void gateway::feed(device_runtime& dev) {
  fair_.wake(dev.slot);
  dispatch();
}

// Hands out the free slots of cloud.max_in_flight, round robin over the devices with a durable backlog
// (bridge::fair_scheduler). Sessions get their messages after the scheduler's turn, and a call that arrives
// meanwhile (a session settling a message synchronously) only asks for another round, so one device's
// messages are always offered in queue order.
void gateway::dispatch() {
  if (dispatching_) {
    redispatch_ = true;
    return;
  }
  dispatching_ = true;
  std::vector<std::pair<device_runtime*, std::vector<bridge::queued_message>>> offers;
  do {
    redispatch_ = false;
    if (draining_) {
      check_drained();
      break;
    }
    if (stopped_) break;
    offers.clear();
    fair_.run([&](std::size_t slot, std::size_t n) -> std::size_t {
      device_runtime* dev = by_slot_[slot];
      // A refused identity takes no slots (it keeps at most its window from before it failed); a reload
      // that restarts it wakes it again.
      if (dev->session->state() == session::device_state::failed) return 0;
      std::error_code ec;
      auto batch = queue_->peek(dev->id, n, ec);
      if (ec) spdlog::error("queue: reading the backlog of {} failed: {}", dev->id, ec.message());
      const std::size_t got = batch.size();
      if (got > 0) offers.emplace_back(dev, std::move(batch));
      return got;
    });
    for (auto& [dev, batch] : offers) {
      for (auto& m : batch) {
        dev->session->offer({m.id, std::move(m.cloud_topic), std::move(m.payload)});
      }
    }
  } while (redispatch_);
  dispatching_ = false;
}

void gateway::on_acked(device_runtime& dev, std::uint64_t id, std::string platform_id) {
  queue_->ack(id);
  ++counters_.delivered;
  ++dev.delivered;
  dev.last_platform_id = std::move(platform_id);
  settle(dev);
}

void gateway::on_dead_lettered(device_runtime& dev, std::uint64_t id, std::string reason, std::uint8_t code) {
  spdlog::warn("device {}: message dead-lettered: {}", dev.id, reason);
  if (auto ec = queue_->dead_letter(id, reason, code, wall_ms())) {
    spdlog::error("queue: dead-lettering message {} of {} failed: {}", id, dev.id, ec.message());
  }
  ++counters_.dead_lettered;
  ++dev.dead_lettered;
  settle(dev);
}

void gateway::settle(device_runtime& dev) {
  fair_.settled(dev.slot);
  dispatch();
}

void gateway::on_state_changed(device_runtime& dev, const session::state_changed& change) {
  // One line per state change (design.md §5); a storm of them becomes one summary line
  // (state_change_log.hpp).
  const auto now = std::chrono::steady_clock::now();
  if (auto summary = state_log_.flush(now)) spdlog::info("{}", *summary);
  const auto from = session::to_string(change.from);
  const auto to = session::to_string(change.to);
  const auto level = state_log_.record(now, from, to) ? spdlog::level::info : spdlog::level::debug;
  spdlog::log(level, "device {}: {} -> {}{}{}", dev.id, from, to, change.reason.empty() ? "" : ": ",
              change.reason);
  arm_state_log();
  if (on_device_state_changed) on_device_state_changed(dev);
}

void gateway::arm_state_log() {
  const auto due = state_log_.next_flush();
  if (!due || state_log_armed_ || stopped_) return;
  state_log_armed_ = true;
  state_log_timer_.expires_at(*due);
  state_log_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    state_log_armed_ = false;
    if (auto summary = state_log_.flush(std::chrono::steady_clock::now())) spdlog::info("{}", *summary);
    arm_state_log();
  });
}

void gateway::arm_housekeeping() {
  housekeeping_.expires_after(config_.health.interval);
  housekeeping_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    if (const auto n = queue_->expire(wall_ms()); n > 0)
      spdlog::warn("queue: {} message(s) expired (max_age)", n);
    if (const auto n = unrouted_log_.flush(clock::now()); n > 0) {
      spdlog::warn("route: {} more message(s) matched no route since the last warning (the last on {})", n,
                   last_unrouted_topic_);
    }
    log_summary();
    arm_housekeeping();
  });
}

void gateway::log_summary() {
  const auto qs = queue_->stats();
  if (qs.storage_failing != storage_failing_) {
    // Once per change, not per message: while the disk is full the queue holds what it accepted (not
    // acknowledged, see gw::mqtt::client) and the broker keeps the rest.
    storage_failing_ = qs.storage_failing;
    if (storage_failing_) {
      spdlog::error(
          "queue: writing to {} fails: {}; {} message(s) held until it succeeds, the broker keeps the rest",
          config_.queue.dir, qs.last_error.message(), qs.held_for_space);
    } else {
      spdlog::info("queue: writing to {} works again", config_.queue.dir);
    }
  }
  // The queue's drops by reason (design.md §2 "every such drop is counted by reason") are part of the line,
  // so an operator sees a full queue without the metrics endpoint.
  const auto& d = qs.total.drops;
  spdlog::info(
      "status: broker {}, devices ready {}/{}, queued {}, delivered {}, dead-lettered {}, unrouted {}, "
      "refused {} "
      "(queue_full {}, disk_cap {}), dropped_oldest {}, expired {}{}",
      mqtt_connected_ ? "connected" : "disconnected", devices_ready(), devices_.size(), qs.total.depth,
      counters_.delivered, counters_.dead_lettered + counters_.dead_lettered_at_entry, counters_.unrouted,
      counters_.enqueue_refused, d.queue_full_rejected, d.disk_cap, d.queue_full_dropped_oldest,
      d.expired_max_age,
      qs.storage_failing ? ", storage failing (" + qs.last_error.message() + ", held " +
                               std::to_string(qs.held_for_space) + ")"
                         : std::string());
}

}  // namespace gw::app
