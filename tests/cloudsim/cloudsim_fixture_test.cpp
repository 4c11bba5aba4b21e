// gw::test::cloudsim_process: starts cloudsim on free ports, talks to its control socket, reads what it
// accepted. The CoAP datagrams here are built by hand (RFC 7252 §3) so the fixture is tested without the
// gateway's codec.

#include "tests/support/cloudsim_fixture.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace gw::test {
namespace {

// CON POST /topic/<a>/<b> with a 1-byte token and a payload: every segment shorter than 13 bytes.
std::string plain_publish(std::uint16_t mid, const std::string& a, const std::string& b,
                          const std::string& body) {
  std::string d;
  d += static_cast<char>(0x41);  // v1, CON, TKL 1
  d += static_cast<char>(0x02);  // POST
  d += static_cast<char>(mid >> 8);
  d += static_cast<char>(mid & 0xff);
  d += static_cast<char>(0x7a);                         // token
  d += static_cast<char>(0xb5) + std::string("topic");  // Uri-Path (11), length 5
  d += static_cast<char>(a.size()) + a;                 // delta 0
  d += static_cast<char>(b.size()) + b;
  d += static_cast<char>(0xff) + body;
  return d;
}

// Sends one datagram to 127.0.0.1:port and returns the answer's code byte (-1 on timeout).
int exchange(std::uint16_t port, const std::string& datagram) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLIN, 0};
  int code = -1;
  if (::poll(&p, 1, 3000) > 0) {
    unsigned char buf[1500];
    if (::recv(fd, buf, sizeof buf, 0) >= 4) code = buf[1];
  }
  ::close(fd);
  return code;
}

TEST(CloudsimFixture, StartsOnFreePortsAndRecordsAPlainPublish) {
  cloudsim_process sim({.devices = 3, .aes = true, .plain = true});
  ASSERT_NE(sim.aes_port(), 0);
  ASSERT_NE(sim.plain_port(), 0);
  EXPECT_EQ(sim.psk_port(), 0);
  EXPECT_EQ(exchange(sim.plain_port(), plain_publish(0x1234, "a1B2c3D4e5F", "sensor-0001", R"({"id":7})")),
            (2 << 5) | 5);  // 2.05
  auto recs = sim.wait_for_records(1, std::chrono::seconds(5));
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].topic, "/a1B2c3D4e5F/sensor-0001");
  EXPECT_EQ(recs[0].payload, R"({"id":7})");
  EXPECT_EQ(recs[0].device_name, "sensor-0001");
  EXPECT_EQ(recs[0].mode, "plain");
  EXPECT_FALSE(recs[0].dup);
  EXPECT_FALSE(recs[0].seq.has_value());
  EXPECT_EQ(sim.stats()["accepted"], 1);
}

TEST(CloudsimFixture, ControlCommandsChangeBehaviour) {
  cloudsim_process sim({.aes = false, .plain = true});
  EXPECT_EQ(sim.command("error-500 1"), "ok error-500 1");
  EXPECT_EQ(exchange(sim.plain_port(), plain_publish(1, "x", "y", "z")), (5 << 5) | 0);  // 5.00
  EXPECT_EQ(sim.command("reset-faults"), "ok reset-faults");
  EXPECT_EQ(exchange(sim.plain_port(), plain_publish(2, "x", "y", "z")), (2 << 5) | 5);
  EXPECT_EQ(sim.command("no-such-command").rfind("error ", 0), 0u);
  EXPECT_EQ(sim.stats()["faults"]["error_500"], 1);
}

TEST(CloudsimFixture, GeneratedDevicesAreDeterministic) {
  EXPECT_EQ(cloudsim_process::device_name(42), "sensor-0042");
  EXPECT_EQ(cloudsim_process::device_secret(0), "e220a8397b1dcdaf6e789e6aa1b965f4");  // = simclient.py
  EXPECT_EQ(cloudsim_process::device_secret(1).size(), 32u);
  EXPECT_NE(cloudsim_process::device_secret(1), cloudsim_process::device_secret(2));
}

TEST(CloudsimFixture, DtlsEndpointsGetTheirOwnPorts) {
  cloudsim_process sim({.aes = false, .psk = true, .dtls = true});
  EXPECT_NE(sim.psk_port(), 0);
  EXPECT_NE(sim.dtls_port(), 0);
  EXPECT_NE(sim.psk_port(), sim.dtls_port());
  EXPECT_EQ(sim.aes_port(), 0);
  EXPECT_TRUE(std::filesystem::exists(sim.ca_file()));
  // A plain-UDP datagram to a DTLS port is not CoAP to it: no answer, and the emulator keeps running.
  EXPECT_EQ(exchange(sim.psk_port(), plain_publish(3, "x", "y", "z")), -1);
  EXPECT_TRUE(sim.process().running());
}

TEST(CloudsimFixture, StopsByPidWithCleanExit) {
  cloudsim_process sim({.aes = true});
  const pid_t pid = sim.process().pid();
  ASSERT_GT(pid, 0);
  int status = sim.stop();
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(sim.process().running());
}

}  // namespace
}  // namespace gw::test
