#include "gateway/app/health_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <ctime>

#include "gateway/app/gateway.hpp"

namespace gw::app {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

}  // namespace

std::string health_topic(std::string_view pattern, std::string_view product_key, std::string_view device_name,
                         std::string_view device_id) {
  std::string t(pattern);
  replace_all(t, "${productKey}", product_key);
  replace_all(t, "${deviceName}", device_name);
  replace_all(t, "${deviceId}", device_id);
  return t;
}

health_service::health_service(boost::asio::io_context& io, gateway& gw)
    : io_(io), gw_(gw), started_(std::chrono::steady_clock::now()), interval_(io), usr1_(io) {}

health_service::~health_service() {
  *alive_ = false;
  stop();
}

bool health_service::start() {
  const auto& cfg = gw_.cfg();
  bool uses_ca = false;
  for (const auto& d : cfg.devices) uses_ca |= d.mode == cloud_mode::dtls;
  if (uses_ca && !cfg.cloud.ca_file.empty()) {
    ca_days_left_ = certificate_days_left(cfg.cloud.ca_file, static_cast<std::int64_t>(std::time(nullptr)));
    if (!ca_days_left_) {
      spdlog::warn("health: no certificate could be read from cloud.ca_file {}", cfg.cloud.ca_file);
    } else if (*ca_days_left_ < 0) {
      spdlog::error("health: cloud.ca_file {} has expired ({:.0f} days ago)", cfg.cloud.ca_file,
                    -*ca_days_left_);
    } else if (*ca_days_left_ < ca_expiry_warning_days) {
      spdlog::warn("health: cloud.ca_file {} expires in {:.0f} days", cfg.cloud.ca_file, *ca_days_left_);
    }
  }

  bool ok = true;
  if (!cfg.health.http.empty()) {
    http_ = std::make_unique<health_http_server>(
        io_, [this] { return report(); }, cfg.health.ready_share);
    if (auto ec = http_->listen(cfg.health.http)) {
      spdlog::error("health: cannot listen on {}: {}", cfg.health.http, ec.message());
      http_.reset();
      ok = false;
    } else {
      const auto ep = http_->local_endpoint();
      spdlog::info("health: listening on http://{}:{}/", ep.address().to_string(), ep.port());
    }
  }

  if (!cfg.health.mqtt_topic.empty()) {
    for (const auto& dev : gw_.devices()) {
      const auto& id = dev->session->identity();
      topics_.emplace(dev.get(),
                      health_topic(cfg.health.mqtt_topic, id.product_key, id.device_name, dev->id));
    }
    gw_.on_device_state_changed = [this, alive = alive_](const device_runtime& dev) {
      if (*alive) on_state_changed(dev);
    };
    gw_.on_mqtt_connection = [this, alive = alive_](bool connected) {
      if (*alive && connected && !stopped_) publish_all();
    };
    arm_interval();
  }
  boost::system::error_code sec;
  usr1_.add(SIGUSR1, sec);
  if (!sec) wait_usr1();
  return ok;
}

void health_service::stop() {
  if (stopped_) return;
  stopped_ = true;
  gw_.on_device_state_changed = nullptr;
  gw_.on_mqtt_connection = nullptr;
  interval_.cancel();
  boost::system::error_code ec;
  usr1_.cancel(ec);
  if (http_) http_->stop();
}

gateway_report health_service::report() const {
  return collect_report(gw_, started_, ca_days_left_);
}

void health_service::on_state_changed(const device_runtime& dev) {
  if (stopped_) return;
  check_server_certificate(dev);
  changed_.insert(&dev);
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(io_, [this, alive = alive_] {
    if (*alive) flush_changed();
  });
}

void health_service::check_server_certificate(const device_runtime& dev) {
  const auto not_after = dev.session->stats().server_cert_not_after;
  if (!not_after || cert_warned_.count(*not_after) != 0) return;
  const double days =
      static_cast<double>(*not_after - static_cast<std::int64_t>(std::time(nullptr))) / 86400.0;
  if (days >= ca_expiry_warning_days) return;
  cert_warned_.insert(*not_after);  // every device of the host sees the same certificate: warn once
  spdlog::warn("health: the server certificate of {} (device {}) expires in {:.0f} days",
               dev.session->identity().host, dev.id, days);
}

void health_service::flush_changed() {
  flush_posted_ = false;
  if (stopped_) return;
  for (const auto& dev : gw_.devices()) {
    if (changed_.count(dev.get()) != 0) publish(*dev);
  }
  changed_.clear();
}

void health_service::publish_all() {
  for (const auto& dev : gw_.devices()) {
    if (!publish(*dev)) return;  // not connected: the reconnect publishes everything again
  }
}

bool health_service::publish(const device_runtime& dev) {
  const auto it = topics_.find(&dev);
  if (it == topics_.end()) return true;
  const auto body = to_json(collect_device_report(gw_, dev)).dump();
  if (auto ec = gw_.mqtt_client().publish(it->second, body, 0, true)) return false;
  ++published_;
  return true;
}

void health_service::arm_interval() {
  interval_.expires_after(gw_.cfg().health.interval);
  interval_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    publish_all();
    arm_interval();
  });
}

void health_service::wait_usr1() {
  // SIGUSR1 toggles between debug and the level in effect before it (log.level, or POST /loglevel).
  usr1_.async_wait([this, alive = alive_](const boost::system::error_code& ec, int) {
    if (ec || !*alive || stopped_) return;
    if (spdlog::get_level() == spdlog::level::debug) {
      spdlog::set_level(level_before_usr1_);
    } else {
      level_before_usr1_ = spdlog::get_level();
      spdlog::set_level(spdlog::level::debug);
    }
    const auto name = spdlog::level::to_string_view(spdlog::get_level());
    spdlog::warn("SIGUSR1: log level now {}", std::string_view(name.data(), name.size()));
    wait_usr1();
  });
}

}  // namespace gw::app
