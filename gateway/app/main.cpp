// mqtt-coap-gateway: the daemon and its operator commands (design.md §5).
// Exit codes: 0 ok; 1 bad configuration or bad arguments; 2 runtime failure (queue, sockets, health endpoint
// unreachable); 3 dry run found no route; 4 `status`: the gateway answers but is not ready.

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "gateway/app/config.hpp"
#include "gateway/app/gateway.hpp"
#include "gateway/app/health_service.hpp"
#include "gateway/app/logging.hpp"
#include "gateway/app/operator_cli.hpp"
#include "gateway/bridge/error.hpp"
#include "gateway/bridge/payload.hpp"
#include "gateway/bridge/router.hpp"
#include "gateway/crypto/auth_request.hpp"
#include "gateway/crypto/secret.hpp"

#ifndef GW_VERSION
#define GW_VERSION "0.0.0"
#endif

namespace {

using namespace gw;

int exit_bad_config(const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}

std::optional<app::config> load_or_report(const std::string& path) {
  try {
    auto cfg = app::load_config(path);
    for (const auto& w : cfg.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    return cfg;
  } catch (const app::config_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
  }
  return std::nullopt;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// SIGHUP (docs/operations.md "Reload"): the file is loaded and validated completely first; an invalid one is
// refused with an error line and the running configuration stays. A valid one is applied as a diff by
// gateway::reload (config_diff.hpp): devices added, removed and changed, routes and their MQTT subscriptions,
// cloud.ca_file re-read, log settings; the broker connection and the sessions of unchanged devices go on,
// queued messages stay queued. Keys that only change at a restart are named in one warning line and keep
// their running value.
void reload(const std::string& path, bool stopping, app::gateway& gw, app::health_service& health) {
  if (stopping) {
    spdlog::warn("reload: ignored, the gateway is stopping");
    return;
  }
  auto fresh = load_or_report(path);
  if (!fresh) {
    spdlog::error("reload: {} is invalid; the running configuration stays", path);
    return;
  }
  const app::log_config log = fresh->log;
  const std::vector<std::string> warnings = fresh->warnings;
  std::string error;
  const auto result = gw.reload(std::move(*fresh), error);
  if (!result) {
    spdlog::error("reload: {} refused: {}; the running configuration stays", path, error);
    return;
  }
  app::setup_logging(log);
  for (const auto& w : warnings) spdlog::warn("config: {}", w);
  health.devices_changed(result->diff.ca_changed);
  const auto& d = result->diff;
  std::size_t dtls_restarts = 0;
  for (const auto& c : d.changed) {
    for (const auto& why : c.why) dtls_restarts += why == "cloud.ca_file";
  }
  spdlog::info(
      "reload: {} applied: devices +{} -{} ~{} (={} unchanged), routes {}, subscriptions +{} -{}, "
      "cloud.ca_file {}{}{}{}, {} unsettled message(s) handed back to the queue{}",
      path, d.added.size(), d.removed.size(), d.changed.size(), d.unchanged,
      d.routes_changed ? "changed" : "unchanged", result->subscribed.size(), result->unsubscribed.size(),
      d.ca_changed ? "changed" : "unchanged",
      d.ca_changed ? " (" + std::to_string(dtls_restarts) + " DTLS session(s) reconnect)" : std::string(),
      d.session_keys.empty() ? std::string() : ", session settings changed: " + joined(d.session_keys),
      d.other_keys.empty() ? std::string() : ", also applied: " + joined(d.other_keys), result->released,
      result->retried.empty() ? std::string()
                              : ", " + std::to_string(result->retried.size()) + " failed device(s) retried");
  if (!d.restart_only.empty()) {
    spdlog::warn("reload: these settings change only at a restart and keep their running value: {}",
                 joined(d.restart_only));
  }
}

// The daemon: runs until SIGTERM/SIGINT (drains in-flight messages, then exits 0); SIGHUP reloads the config
// file as a diff (reload() above).
int run(const std::string& path, std::chrono::milliseconds drain_timeout) {
  auto cfg = load_or_report(path);
  if (!cfg) return 1;
  app::setup_logging(cfg->log);
  for (const auto& w : cfg->warnings) spdlog::warn("config: {}", w);
  boost::asio::io_context io(1);
  std::unique_ptr<app::gateway> gw;
  try {
    gw = std::make_unique<app::gateway>(io, std::move(*cfg));
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  // Health: HTTP endpoint, MQTT health, CA expiry, SIGUSR1 (health_service.hpp). Hooks go in before start().
  app::health_service health(io, *gw);
  health.start();
  gw->start();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  bool stopping = false;
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        // sd_notify(3): RELOADING=1 ... READY=1 brackets a reload.
        sd_notify(0, "RELOADING=1");
        reload(path, stopping, *gw, health);
        sd_notify(0, "READY=1");
        wait_signal();
        return;
      }
      if (stopping) {  // a second SIGTERM/SIGINT: stop now, the queue keeps what is in flight
        spdlog::warn("signal {}: stopping now", sig);
        gw->stop();
        io.stop();
        return;
      }
      stopping = true;
      spdlog::info("signal {}: stopping (draining for at most {} ms)", sig, drain_timeout.count());
      sd_notify(0, "STOPPING=1");
      gw->drain(drain_timeout, [&] {
        gw->stop();
        io.stop();
      });
      wait_signal();
    });
  };
  wait_signal();

  // systemd: READY once the loop runs; WATCHDOG=1 from the loop itself, so a stuck loop gets restarted.
  boost::asio::steady_timer watchdog(io);
  std::uint64_t watchdog_usec = 0;
  const bool use_watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  std::function<void()> tick = [&] {
    sd_notifyf(0, "WATCHDOG=1\nSTATUS=devices ready %zu/%zu, broker %s, queued %zu", gw->devices_ready(),
               gw->devices().size(), gw->mqtt_connected() ? "connected" : "disconnected",
               gw->queue().stats().total.depth);
    watchdog.expires_after(std::chrono::microseconds(use_watchdog ? watchdog_usec / 2 : 5'000'000));
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  };
  sd_notify(0, "READY=1");
  tick();
  io.run();
  health.stop();
  gw.reset();
  spdlog::info("stopped");
  return 0;
}

int check_config(const std::string& path) {
  auto cfg = load_or_report(path);
  if (!cfg) return 1;
  for (const auto mode : {app::cloud_mode::dtls, app::cloud_mode::dtls_psk}) {
    bool used = false;
    for (const auto& d : cfg->devices) used |= d.mode == mode;
    if (!used) continue;
    std::string error;
    if (!app::make_session_options(*cfg, mode, error)) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), error.c_str());
      return 1;
    }
  }
  std::printf("%s: ok (%zu device(s), %zu route(s))\n", path.c_str(), cfg->devices.size(),
              cfg->routes.size());
  return 0;
}

int route(const std::string& path, const std::string& topic, const std::string& payload) {
  auto cfg = load_or_report(path);
  if (!cfg) return 1;
  const auto infos = app::device_infos_of(*cfg);
  const std::vector<bridge::route_config> routes = app::to_bridge_routes(*cfg);
  bridge::route_error rerr;
  auto router = bridge::router::make(
      routes,
      [&](std::string_view id) -> const bridge::device_info* {
        auto it = infos.find(std::string(id));
        return it == infos.end() ? nullptr : &it->second;
      },
      rerr);
  if (!router) {
    std::fprintf(stderr, "%s: routes[%zu].%s: %s\n", path.c_str(), rerr.index, rerr.field.c_str(),
                 rerr.message.c_str());
    return 1;
  }
  std::error_code ec;
  auto r = router->route(topic, ec);
  if (ec) {
    std::printf("topic %s: not routed: %s\n", topic.c_str(), ec.message().c_str());
    return 3;
  }
  std::vector<std::uint8_t> out;
  const auto* data = reinterpret_cast<const std::uint8_t*>(payload.data());
  std::printf("topic:        %s\nroute:        #%zu (%s)\ndevice:       %s\ncloud path:   /topic%s\n",
              topic.c_str(), r.route_index, cfg->routes[r.route_index].source.c_str(), r.device_id.c_str(),
              r.cloud_topic.c_str());
  if (auto pec = bridge::encode_payload(r.format, {data, payload.size()}, out)) {
    std::printf("payload:      would be dead-lettered: %s\n", pec.message().c_str());
    return 0;
  }
  std::printf("payload:      %zu byte(s) %s\n", out.size(),
              bridge::check_payload_size(out.size(), cfg->cloud.max_payload)
                  ? bridge::oversize_reason(out.size(), cfg->cloud.max_payload).c_str()
                  : "(within cloud.max_payload)");
  return 0;
}

int sign(const std::string& pk, const std::string& dn, const std::string& mode, const std::string& method,
         const std::string& client_id, const std::string& seq, const std::string& timestamp,
         const std::string& secret_file) {
  std::string secret_text;
  if (secret_file == "-") {
    std::getline(std::cin, secret_text);
  } else {
    std::ifstream in(secret_file);
    if (!in) {
      std::fprintf(stderr, "cannot read the secret file %s\n", secret_file.c_str());
      return 1;
    }
    std::getline(in, secret_text);
  }
  while (!secret_text.empty() && (secret_text.back() == '\r' || secret_text.back() == '\n'))
    secret_text.pop_back();
  crypto::secret secret(secret_text);
  std::fill(secret_text.begin(), secret_text.end(), '\0');

  crypto::auth_request_params p;
  p.product_key = pk;
  p.device_name = dn;
  p.client_id = client_id.empty() ? pk + "." + dn : client_id;
  if (!timestamp.empty()) p.timestamp = timestamp;
  if (mode == "aes") p.seq = seq.empty() ? "1" : seq;
  if (method == "hmacmd5") {
    p.method = crypto::sign_method::hmacmd5;
  } else if (method == "hmacsha1") {
    p.method = crypto::sign_method::hmacsha1;
  } else if (method == "hmacsha256") {
    p.method = crypto::sign_method::hmacsha256;
  } else {
    std::fprintf(stderr, "--method: unknown sign method \"%s\" (hmacmd5, hmacsha1, hmacsha256)\n",
                 method.c_str());
    return 1;
  }
  std::error_code ec;
  auto req = crypto::make_auth_request(p, secret, ec);
  if (ec) {
    std::fprintf(stderr, "cannot sign: %s\n", ec.message().c_str());
    return 1;
  }
  std::printf("sign string: %s\nsign:        %s\n/auth body:  %s\n", req.sign_string.c_str(),
              req.sign.c_str(), req.json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"mqtt-coap-gateway: forwards local MQTT messages to Alibaba Cloud IoT Platform over CoAP"};
  cli.set_version_flag("--version", std::string("mqtt-coap-gateway ") + GW_VERSION);
  cli.require_subcommand(1);
  cli.footer(
      "Examples:\n"
      "  mqtt-coap-gateway run -c /etc/mqtt-coap-gateway/gateway.yaml\n"
      "  mqtt-coap-gateway check-config -c gateway.yaml\n"
      "  mqtt-coap-gateway route -c gateway.yaml sensors/a1B2c3D4e5F/sensor-001/temp '{\"t\":21.5}'\n"
      "  mqtt-coap-gateway sign --product-key a1B2c3D4e5F --device-name sensor-001 --secret-file - < "
      "secret.txt\n"
      "  mqtt-coap-gateway status --url http://127.0.0.1:9880\n"
      "  mqtt-coap-gateway dead-letter list -c gateway.yaml\n"
      "Exit codes: 0 ok, 1 bad configuration or arguments, 2 runtime failure, 3 route: topic not routed,\n"
      "4 status: the gateway is not ready.");

  std::string config_path;
  auto* run_cmd = cli.add_subcommand("run", "Run the gateway (the daemon)");
  run_cmd->add_option("-c,--config", config_path, "Configuration file")->required();
  unsigned drain_ms = 10000;
  run_cmd
      ->add_option(
          "--drain-timeout-ms", drain_ms,
          "On SIGTERM, wait at most this long for in-flight messages to be acknowledged (the rest stay "
          "queued)")
      ->capture_default_str();
  auto* check_cmd =
      cli.add_subcommand("check-config", "Validate a configuration file; every error with file:line:col");
  check_cmd->add_option("-c,--config", config_path, "Configuration file")->required();

  std::string topic, payload;
  auto* route_cmd = cli.add_subcommand("route", "Dry run: which device and cloud path a topic goes to");
  route_cmd->add_option("-c,--config", config_path, "Configuration file")->required();
  route_cmd->add_option("topic", topic, "MQTT topic")->required();
  route_cmd->add_option("payload", payload, "MQTT payload (to check format and size)");

  std::string pk, dn, mode = "aes", method = "hmacsha1", client_id, seq, timestamp, secret_file;
  auto* sign_cmd = cli.add_subcommand("sign", "Compute the /auth sign string, sign and body (spec §4.2)");
  sign_cmd->add_option("--product-key", pk, "productKey")->required();
  sign_cmd->add_option("--device-name", dn, "deviceName")->required();
  sign_cmd->add_option("--mode", mode, "aes (signs seq) or dtls")
      ->check(CLI::IsMember({"aes", "dtls", "dtls-psk"}));
  sign_cmd->add_option("--method", method, "hmacmd5, hmacsha1 or hmacsha256");
  sign_cmd->add_option("--client-id", client_id, "clientId (default ${productKey}.${deviceName})");
  sign_cmd->add_option("--seq", seq, "auth seq in aes mode (default 1)");
  sign_cmd->add_option("--timestamp", timestamp, "timestamp to sign (ms since epoch; default: none)");
  sign_cmd->add_option("--secret-file", secret_file, "File holding the deviceSecret, or - for stdin")
      ->required();

  app::operator_commands ops;
  app::add_operator_commands(cli, ops);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : 1;
  }
  try {
    if (*run_cmd) return run(config_path, std::chrono::milliseconds(drain_ms));
    if (*check_cmd) return check_config(config_path);
    if (*route_cmd) return route(config_path, topic, payload);
    if (auto rc = app::run_operator_command(ops)) return *rc;
    if (*sign_cmd) return sign(pk, dn, mode, method, client_id, seq, timestamp, secret_file);
  } catch (const std::exception& e) {
    return exit_bad_config(e);
  }
  return 1;
}
