#include "gateway/app/operator_cli.hpp"

#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "gateway/app/config.hpp"
#include "gateway/bridge/durable_queue.hpp"

namespace gw::app {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace asio = boost::asio;

constexpr std::string_view default_url = "http://127.0.0.1:9880";

std::optional<config> load(const std::string& path) {
  try {
    return load_config(path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return std::nullopt;
  }
}

// GET http://host:port/path with a bounded total time. Returns false (and `error`) on failure.
bool http_get(const std::string& url, const std::string& path, std::string& body, unsigned& status,
              std::string& error) {
  std::string_view rest(url);
  if (rest.substr(0, 7) != "http://") {
    error = "only http:// URLs are supported: " + url;
    return false;
  }
  rest.remove_prefix(7);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string host(rest), port = "80";
  if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  } else if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close + 1 < host.size() && host[close + 1] == ':') port = host.substr(close + 2);
    host = host.substr(1, close - 1);
  }
  asio::io_context io;
  beast::tcp_stream stream(io);
  asio::ip::tcp::resolver resolver(io);
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "mqtt-coap-gateway-cli");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code result = asio::error::timed_out;
  resolver.async_resolve(host, port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type eps) {
    if (ec) return void(result = ec);
    stream.expires_after(std::chrono::seconds(5));
    stream.async_connect(eps, [&](beast::error_code ec2, const auto&) {
      if (ec2) return void(result = ec2);
      http::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
        if (ec3) return void(result = ec3);
        http::async_read(stream, buffer, parser, [&](beast::error_code ec4, std::size_t) { result = ec4; });
      });
    });
  });
  io.run_for(std::chrono::seconds(6));
  if (result) {
    error = "GET " + url + path + ": " + result.message();
    return false;
  }
  status = parser.get().result_int();
  body = std::move(parser.get().body());
  return true;
}

std::string age(const nlohmann::json& v) {
  if (!v.is_number()) return "-";
  const double s = v.get<double>();
  char buf[32];
  if (s < 90) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 5400) {
    std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  } else if (s < 172800) {
    std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fd", s / 86400);
  }
  return buf;
}

const char* state_color(const std::string& state) {
  if (state == "ready" || state == "renewing") return "\x1b[32m";
  if (state == "failed" || state == "stopped") return "\x1b[31m";
  if (state == "backing_off") return "\x1b[33m";
  return "\x1b[36m";
}

std::string utc(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::unique_ptr<bridge::durable_queue> open_queue(const config& cfg) {
  bridge::queue_options qo;
  qo.dir = cfg.queue.dir;
  qo.sync = bridge::sync_mode::full;
  if (!std::filesystem::exists(std::filesystem::path(cfg.queue.dir) / qo.file_name)) {
    std::fprintf(stderr, "no queue database in %s (queue.dir)\n", cfg.queue.dir.c_str());
    return nullptr;
  }
  std::error_code ec;
  auto q = bridge::durable_queue::open(qo, ec);
  if (!q)
    std::fprintf(stderr, "cannot open the queue in %s: %s\n", cfg.queue.dir.c_str(), ec.message().c_str());
  return q;
}

int status(const operator_commands& c) {
  std::string url = c.url;
  if (url.empty() && !c.config_path.empty()) {
    auto cfg = load(c.config_path);
    if (!cfg) return 1;
    if (cfg->health.http.empty()) {
      std::fprintf(stderr, "%s: health.http is empty: the gateway has no HTTP endpoint\n",
                   c.config_path.c_str());
      return 1;
    }
    url = "http://" + cfg->health.http;
  }
  if (url.empty()) url = default_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  std::string body, error;
  unsigned code = 0;
  if (!http_get(url, "/devices", body, code, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  if (code != 200) {
    std::fprintf(stderr, "GET %s/devices: HTTP %u\n", url.c_str(), code);
    return 2;
  }
  if (c.json) {
    std::fputs(body.c_str(), stdout);
    bool ready = false;
    try {
      ready = nlohmann::json::parse(body).at("gateway").at("ready").get<bool>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "GET %s/devices: unexpected answer: %s\n", url.c_str(), e.what());
      return 2;
    }
    return ready ? 0 : exit_not_ready;
  }
  const bool color = !c.no_color && ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
  bool ready = false;
  try {
    std::fputs(format_status(body, color, ready).c_str(), stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "GET %s/devices: unexpected answer: %s\n", url.c_str(), e.what());
    return 2;
  }
  return ready ? 0 : exit_not_ready;
}

int dl_list(const operator_commands& c, bridge::durable_queue& q) {
  bridge::dead_letter_filter f;
  if (!c.device.empty()) f.device_id = c.device;
  std::error_code ec;
  const auto records = q.dead_letters().list(f, c.limit, ec);
  if (ec) {
    std::fprintf(stderr, "cannot list dead letters: %s\n", ec.message().c_str());
    return 2;
  }
  const auto total = q.dead_letters().count(ec);
  if (c.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : records) {
      out.push_back({{"id", r.id},
                     {"device", r.device_id},
                     {"mqtt_topic", r.mqtt_topic},
                     {"cloud_topic", r.cloud_topic},
                     {"payload_bytes", r.payload.size()},
                     {"reason", r.reason},
                     {"platform_code", r.platform_code},
                     {"dead_ms", r.dead_ms},
                     {"received_ms", r.received_ms},
                     {"attempts", r.attempts}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-8s %-24s %-20s %-5s %-6s %-24s %s\n", "ID", "DEVICE", "DEAD AT (UTC)", "CODE", "BYTES",
              "REASON", "CLOUD TOPIC");
  for (const auto& r : records) {
    char code[24] = "-";
    if (r.platform_code != 0)
      std::snprintf(code, sizeof code, "%d.%02d", r.platform_code >> 5, r.platform_code & 0x1f);
    std::printf("%-8llu %-24s %-20s %-5s %-6zu %-24s %s\n", static_cast<unsigned long long>(r.id),
                r.device_id.empty() ? "(none)" : r.device_id.c_str(), utc(r.dead_ms).c_str(), code,
                r.payload.size(), r.reason.c_str(), r.cloud_topic.empty() ? "-" : r.cloud_topic.c_str());
  }
  std::printf("%zu of %zu dead letter(s)\n", records.size(), total);
  return 0;
}

int dl_replay(const operator_commands& c, bridge::durable_queue& q) {
  if (c.all == !c.ids.empty()) {
    std::fprintf(stderr, "dead-letter replay: give either --id (one or more) or --all\n");
    return 1;
  }
  std::error_code ec;
  const auto n = c.all ? q.dead_letters().replay_all(ec) : q.dead_letters().replay(c.ids, ec);
  if (ec) {
    std::fprintf(stderr, "cannot replay: %s\n", ec.message().c_str());
    return 2;
  }
  q.flush();
  std::printf("replayed %zu message(s) to their device queues\n", n);
  if (n > 0) {
    std::printf("note: a gateway already running on this queue sends them after its next restart\n");
  }
  return 0;
}

int dl_purge(const operator_commands& c, bridge::durable_queue& q) {
  const int selectors = (c.all ? 1 : 0) + (c.ids.empty() ? 0 : 1) + (c.older_than.empty() ? 0 : 1);
  if (selectors != 1) {
    std::fprintf(stderr, "dead-letter purge: give exactly one of --id, --all, --older-than\n");
    return 1;
  }
  std::error_code ec;
  std::size_t n = 0;
  if (c.all) {
    n = q.dead_letters().purge_all(ec);
  } else if (!c.ids.empty()) {
    n = q.dead_letters().purge(c.ids, ec);
  } else {
    const auto d = parse_duration(c.older_than);
    if (!d) {
      std::fprintf(stderr, "--older-than: not a duration: \"%s\" (e.g. 30m, 12h, 7d)\n",
                   c.older_than.c_str());
      return 1;
    }
    n = q.dead_letters().purge_older_than(now_ms() - d->count(), ec);
  }
  if (ec) {
    std::fprintf(stderr, "cannot purge: %s\n", ec.message().c_str());
    return 2;
  }
  q.flush();
  std::printf("purged %zu dead letter(s)\n", n);
  return 0;
}

}  // namespace

std::string format_status(const std::string& devices_json, bool color, bool& ready) {
  const auto doc = nlohmann::json::parse(devices_json);
  const auto& g = doc.at("gateway");
  ready = g.at("ready").get<bool>();
  const char* reset = color ? "\x1b[0m" : "";
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "gateway %s: %s%s%s, broker %s, devices ready %zu/%zu, queued %llu, delivered %llu, "
                "dead-lettered %llu\n",
                g.at("version").get<std::string>().c_str(), color ? (ready ? "\x1b[32m" : "\x1b[31m") : "",
                ready ? "ready" : "NOT READY", reset,
                g.at("mqtt_connected").get<bool>() ? "connected" : "disconnected",
                g.at("devices_ready").get<std::size_t>(), g.at("devices_total").get<std::size_t>(),
                g.at("queue").at("depth").get<unsigned long long>(),
                g.at("delivered").get<unsigned long long>(), g.at("dead_lettered").get<unsigned long long>());
  out += line;
  std::snprintf(line, sizeof line, "%-28s %-8s %-14s %6s %7s %7s %7s %6s %7s  %s\n", "DEVICE", "MODE",
                "STATE", "QUEUE", "OLDEST", "SENT", "ACKED", "FAILED", "TOKEN", "LAST ERROR");
  out += line;
  for (const auto& d : doc.at("devices")) {
    const auto state = d.at("state").get<std::string>();
    std::string state_cell = state;
    // Pad before colouring so the escapes do not shift the columns.
    state_cell.resize(std::max<std::size_t>(state_cell.size(), 14), ' ');
    if (color) state_cell = state_color(state) + state_cell + reset;
    std::string err = "-";
    const auto& e = d.at("last_error");
    if (e.at("text").is_string()) err = e.at("text").get<std::string>() + " (" + age(e.at("age_s")) + " ago)";
    std::snprintf(line, sizeof line, "%-28s %-8s %s %6llu %7s %7llu %7llu %6llu %7s  %s\n",
                  d.at("id").get<std::string>().c_str(), d.at("mode").get<std::string>().c_str(),
                  state_cell.c_str(), d.at("queue").at("depth").get<unsigned long long>(),
                  age(d.at("queue").at("oldest_age_s")).c_str(),
                  d.at("messages").at("sent").get<unsigned long long>(),
                  d.at("messages").at("acked").get<unsigned long long>(),
                  d.at("messages").at("failed").get<unsigned long long>(), age(d.at("token_age_s")).c_str(),
                  err.c_str());
    out += line;
  }
  return out;
}

void add_operator_commands(CLI::App& cli, operator_commands& c) {
  c.status =
      cli.add_subcommand("status", "Show a running gateway's devices (its /devices endpoint) as a table");
  c.status->add_option("--url", c.url,
                       "Health endpoint base URL (default http://127.0.0.1:9880, or health.http of -c)");
  c.status->add_option("-c,--config", c.config_path, "Read health.http from this configuration file");
  c.status->add_flag("--no-color", c.no_color, "No colours even on a terminal (NO_COLOR is honoured too)");
  c.status->add_flag("--json", c.json, "Print the /devices JSON as received");
  c.status->footer(
      "Examples:\n"
      "  mqtt-coap-gateway status\n"
      "  mqtt-coap-gateway status -c /etc/mqtt-coap-gateway/gateway.yaml\n"
      "  mqtt-coap-gateway status --url http://127.0.0.1:9880 --json\n"
      "Exit codes: 0 ready, 2 endpoint unreachable or bad answer, 4 not ready.");

  c.dead_letter = cli.add_subcommand("dead-letter", "List, replay or purge dead letters in queue.dir");
  c.dead_letter->require_subcommand(1);
  c.dead_letter->footer(
      "The commands open the queue database (SQLite WAL) next to a running gateway safely; replayed "
      "messages\n"
      "are sent by a running gateway only after its next restart.\n"
      "Examples:\n"
      "  mqtt-coap-gateway dead-letter list -c gateway.yaml --device a1B2c3D4e5F/sensor-001\n"
      "  mqtt-coap-gateway dead-letter replay -c gateway.yaml --id 17 --id 18\n"
      "  mqtt-coap-gateway dead-letter purge -c gateway.yaml --older-than 7d\n"
      "Exit codes: 0 ok, 1 bad configuration or arguments, 2 the queue cannot be opened or changed.");
  c.dl_list =
      c.dead_letter->add_subcommand("list", "List dead letters, oldest first (payloads are not shown)");
  c.dl_list->add_option("-c,--config", c.config_path, "Configuration file (queue.dir)")->required();
  c.dl_list->add_option("--device", c.device, "Only this device id");
  c.dl_list->add_option("--limit", c.limit, "At most this many")->capture_default_str();
  c.dl_list->add_flag("--json", c.json, "JSON array instead of a table");
  c.dl_replay =
      c.dead_letter->add_subcommand("replay", "Move dead letters back to the tail of their device's queue");
  c.dl_replay->add_option("-c,--config", c.config_path, "Configuration file (queue.dir)")->required();
  c.dl_replay->add_option("--id", c.ids, "Dead letter id (repeatable)");
  c.dl_replay->add_flag("--all", c.all, "Every dead letter that has a device");
  c.dl_purge = c.dead_letter->add_subcommand("purge", "Delete dead letters");
  c.dl_purge->add_option("-c,--config", c.config_path, "Configuration file (queue.dir)")->required();
  c.dl_purge->add_option("--id", c.ids, "Dead letter id (repeatable)");
  c.dl_purge->add_flag("--all", c.all, "Every dead letter");
  c.dl_purge->add_option("--older-than", c.older_than, "Dead-lettered longer ago than this (30m, 12h, 7d)");
}

std::optional<int> run_operator_command(const operator_commands& c) {
  if (c.status && *c.status) return status(c);
  if (c.dead_letter && *c.dead_letter) {
    auto cfg = load(c.config_path);
    if (!cfg) return 1;
    auto q = open_queue(*cfg);
    if (!q) return 2;
    if (*c.dl_list) return dl_list(c, *q);
    if (*c.dl_replay) return dl_replay(c, *q);
    if (*c.dl_purge) return dl_purge(c, *q);
  }
  return std::nullopt;
}

}  // namespace gw::app
