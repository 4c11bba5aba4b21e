#include "tests/faults/ledger.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/process.hpp"

namespace gw::test {

drop_counts& drop_counts::operator+=(const drop_counts& o) {
  unrouted += o.unrouted;
  empty_dropped += o.empty_dropped;
  enqueue_refused += o.enqueue_refused;
  dropped_oldest += o.dropped_oldest;
  expired += o.expired;
  return *this;
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    try {
      out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return out;
}

drop_counts drops_from_metrics(const std::map<std::string, double>& m) {
  auto get = [&m](const std::string& k) -> std::uint64_t {
    auto it = m.find(k);
    return it == m.end() ? 0 : static_cast<std::uint64_t>(it->second);
  };
  drop_counts d;
  d.unrouted = get("gw_messages_unrouted_total");
  d.empty_dropped = get("gw_messages_empty_dropped_total");
  d.enqueue_refused = get("gw_messages_enqueue_refused_total");
  d.dropped_oldest = get("gw_queue_dropped_total{reason=\"queue_full_dropped_oldest\"}");
  d.expired = get("gw_queue_dropped_total{reason=\"expired_max_age\"}");
  return d;
}

int http_get(std::uint16_t port, const std::string& target, std::string& body) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string all;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) all.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const auto end = all.find("\r\n\r\n");
  if (all.size() < 12 || end == std::string::npos) return 0;
  body = all.substr(end + 4);
  return std::atoi(all.substr(9, 3).c_str());
}

std::map<std::string, double> scrape_metrics(std::uint16_t port) {
  std::string body;
  if (port == 0 || http_get(port, "/metrics", body) != 200) return {};
  return parse_metrics(body);
}

std::optional<std::size_t> count_dead_letters(const gateway_process& gw) {
  const auto r = run_command("'" + gateway_process::binary().string() + "' dead-letter list -c '" +
                             gw.config_path().string() + "' --json --limit 100000000 2>/dev/null");
  if (r.status != 0) return std::nullopt;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return std::nullopt;
  return j.size();
}

std::ostream& operator<<(std::ostream& os, const ledger& l) {
  char line[160];
  auto row = [&](const char* what, long long v, const std::string& detail) {
    std::snprintf(line, sizeof line, "  %-16s %10lld   %s\n", what, v, detail.c_str());
    os << line;
  };
  const auto& d = l.drops;
  os << "ledger: " << l.scenario << "\n";
  row("published", l.published, "acknowledged to the publisher by the broker");
  row("delivered", static_cast<long long>(l.delivery.first_deliveries),
      "first deliveries at cloudsim (JSONL)");
  row("dead-lettered", static_cast<long long>(l.dead_lettered), "mqtt-coap-gateway dead-letter list");
  row("counted drops", static_cast<long long>(d.total()),
      "unrouted " + std::to_string(d.unrouted) + ", empty " + std::to_string(d.empty_dropped) + ", refused " +
          std::to_string(d.enqueue_refused) + ", dropped_oldest " + std::to_string(d.dropped_oldest) +
          ", expired " + std::to_string(d.expired));
  row("UNEXPLAINED", l.unexplained(), "published - delivered - dead-lettered - counted drops");
  if (l.crash_window > 0) {
    row("crash window", l.crash_window,
        "allowed: deliveries Paho acknowledged before they were stored, lost by SIGKILL (max_unstored - 1)");
  }
  row("duplicates", static_cast<long long>(l.delivery.duplicates),
      "dup:true records (cloudsim by seq " + std::to_string(l.dup_by_seq) + ", by id " +
          std::to_string(l.dup_by_id) + ")");
  row("out of order", static_cast<long long>(l.delivery.out_of_order), "first deliveries, per device");
  row("unexpected", static_cast<long long>(l.delivery.unexpected),
      l.delivery.first_problem.empty() ? "" : "first: " + l.delivery.first_problem);
  for (const auto& [k, v] : l.notes) {
    std::snprintf(line, sizeof line, "  %-16s %s\n", k.c_str(), v.c_str());
    os << line;
  }
  return os;
}

}  // namespace gw::test
