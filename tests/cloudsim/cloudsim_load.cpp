// cloudsim_load: measures how many AES-mode publishes per second cloudsim answers. N device identities (the
// fixture's generated devices) each authenticate on their own UDP socket, then keep W CON publishes
// outstanding; datagrams are encrypted before the clock starts so the client's crypto is not measured. Usage:
// cloudsim_load --port P [--devices 100] [--messages 200000] [--window 8] [--seconds 30]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cloudsim/sim_crypto.hpp"

namespace {

using namespace gw::cloudsim;

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Same rule as gw::test::cloudsim_process::device_secret.
std::string secret_of(int i) {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  const auto n = static_cast<std::uint64_t>(i);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(mix(golden * (2 * n + 1))),
                static_cast<unsigned long long>(mix(golden * (2 * n + 2))));
  return buf;
}

void put_option(std::string& out, unsigned& last, unsigned number, const std::string& value) {
  auto nibble = [](unsigned v, std::string& ext) -> unsigned {
    if (v < 13) return v;
    if (v < 269) {
      ext += static_cast<char>(v - 13);
      return 13;
    }
    ext += static_cast<char>((v - 269) >> 8);
    ext += static_cast<char>((v - 269) & 0xff);
    return 14;
  };
  std::string ext_d;
  std::string ext_l;
  unsigned d = nibble(number - last, ext_d);
  unsigned l = nibble(static_cast<unsigned>(value.size()), ext_l);
  out += static_cast<char>((d << 4) | l);
  out += ext_d + ext_l + value;
  last = number;
}

std::string request(std::uint16_t mid, std::uint32_t token,
                    const std::vector<std::pair<unsigned, std::string>>& opts, const std::string& payload) {
  std::string d;
  d += static_cast<char>(0x44);
  d += static_cast<char>(0x02);
  d += static_cast<char>(mid >> 8);
  d += static_cast<char>(mid & 0xff);
  for (int s = 24; s >= 0; s -= 8) d += static_cast<char>((token >> s) & 0xff);
  unsigned last = 0;
  for (const auto& [n, v] : opts) put_option(d, last, n, v);
  if (!payload.empty()) d += static_cast<char>(0xff) + payload;
  return d;
}

struct device_conn {
  int fd = -1;
  std::vector<std::string> datagrams;
  std::size_t next = 0;
  std::size_t answered = 0;
  std::size_t outstanding = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int devices = 100;
  long messages = 200000;
  int window = 8;
  int seconds = 30;
  const char* usage =
      "usage: cloudsim_load --port P [--devices N] [--messages M] [--window W] [--seconds S]\n";
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a != "--port" && a != "--devices" && a != "--messages" && a != "--window" && a != "--seconds") {
      std::fprintf(stderr, "cloudsim_load: unknown option %s\n%s", a.c_str(), usage);
      return 2;
    }
    long v = 0;
    const char* text = i + 1 < argc ? argv[i + 1] : "";
    const char* end = text + std::strlen(text);
    const auto [at, ec] = std::from_chars(text, end, v);
    if (ec != std::errc{} || at != end || at == text || v < 0 || v > 100000000) {
      std::fprintf(stderr, "cloudsim_load: %s needs a number, not '%s'\n%s", a.c_str(), text, usage);
      return 2;
    }
    if (a == "--port") {
      port = static_cast<int>(v);
    } else if (a == "--devices") {
      devices = static_cast<int>(v);
    } else if (a == "--messages") {
      messages = v;
    } else if (a == "--window") {
      window = static_cast<int>(v);
    } else {
      seconds = static_cast<int>(v);
    }
  }
  if (port == 0 || port > 65535 || devices < 1 || window < 1) {
    std::fputs(usage, stderr);
    return 2;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<device_conn> conns(static_cast<std::size_t>(devices));
  const std::string pk = "a1B2c3D4e5F";
  const long per_device = messages / devices;
  for (int i = 0; i < devices; ++i) {
    auto& c = conns[static_cast<std::size_t>(i)];
    c.fd = socket(AF_INET, SOCK_DGRAM, 0);
    connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
    timeval tv{3, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char dn[32];
    std::snprintf(dn, sizeof dn, "sensor-%04d", i);
    std::string secret = secret_of(i);
    std::string sign_input = "clientId" + pk + "." + dn + "deviceName" + dn + "productKey" + pk + "seq1";
    nlohmann::json body = {{"productKey", pk},
                           {"deviceName", dn},
                           {"clientId", pk + "." + dn},
                           {"seq", "1"},
                           {"sign", *hmac_hex("hmacmd5", secret, sign_input)}};
    std::string auth = request(1, 1, {{11, "auth"}, {12, "2"}}, body.dump());
    send(c.fd, auth.data(), auth.size(), 0);
    char buf[2048];
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    std::string reply(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    auto marker = reply.find('\xff');
    if (n < 4 || static_cast<unsigned char>(buf[1]) != 0x45 || marker == std::string::npos) {
      std::fprintf(stderr, "cloudsim_load: auth of %s failed\n", dn);
      return 1;
    }
    auto j = nlohmann::json::parse(reply.substr(marker + 1));
    aes_key key = derive_key(secret, j["random"].get<std::string>());
    auto seq = j["seqOffset"].get<std::uint32_t>();
    std::string token = j["token"].get<std::string>();
    std::vector<std::pair<unsigned, std::string>> base{{11, "topic"},  {11, pk},  {11, dn},     {11, "user"},
                                                       {11, "update"}, {12, "2"}, {2088, token}};
    for (long k = 0; k < per_device; ++k) {
      auto opts = base;
      opts.emplace_back(2089, aes_encrypt(key, std::to_string(++seq)));
      std::string payload = R"({"id":)" + std::to_string(k) + R"(,"temp":21.5})";
      c.datagrams.push_back(request(static_cast<std::uint16_t>(k + 2), static_cast<std::uint32_t>(k + 2),
                                    opts, aes_encrypt(key, payload)));
    }
  }
  int ep = epoll_create1(0);
  for (std::size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  std::size_t total_answered = 0;
  const std::size_t total = static_cast<std::size_t>(per_device) * conns.size();
  auto fill = [&](device_conn& c) {
    while (c.outstanding < static_cast<std::size_t>(window) && c.next < c.datagrams.size()) {
      const auto& d = c.datagrams[c.next++];
      if (send(c.fd, d.data(), d.size(), 0) < 0) break;
      ++c.outstanding;
    }
  };
  for (auto& c : conns) fill(c);
  std::size_t resent = 0;
  epoll_event events[256];
  while (total_answered < total) {
    int n = epoll_wait(ep, events, 256, 200);
    auto now = std::chrono::steady_clock::now();
    if (now - start > std::chrono::seconds(seconds)) break;
    if (n <= 0 && now - last_progress > std::chrono::milliseconds(500)) {
      // Something was lost (our or its buffers): send the oldest outstanding again, CON-style.
      for (auto& c : conns) {
        if (c.outstanding > 0) {
          const auto& d = c.datagrams[c.next - c.outstanding];
          send(c.fd, d.data(), d.size(), 0);
          ++resent;
        }
      }
      last_progress = now;
    }
    for (int e = 0; e < n; ++e) {
      auto& c = conns[events[e].data.u64];
      char buf[1500];
      while (recv(c.fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
        if (c.outstanding > 0) --c.outstanding;
        ++c.answered;
        ++total_answered;
        last_progress = now;
      }
      fill(c);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("cloudsim_load: %zu answers in %.2f s = %.0f publishes/s (%d devices, window %d, %zu resent)\n",
              total_answered, secs, static_cast<double>(total_answered) / secs, devices, window, resent);
  return total_answered == total ? 0 : 1;
}
