// Integration: gw::session::device_session (real io_context, deadline_scheduler, auth_gate, UDP sockets,
// DTLS) against cloudsim, the independent platform emulator (tests/cloudsim). Spec:
// shared/protocol/alibaba-coap.md.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "gateway/crypto/hex.hpp"
#include "gateway/session/device_fsm.hpp"
#include "tests/integration/session_rig.hpp"
#include "tests/support/process.hpp"

namespace gw {
namespace {

using namespace std::chrono_literals;
using session::device_state;
using session::security_mode;
using test::cloudsim_process;
using test::session_rig;

std::vector<std::uint8_t> from_hex_dump(std::string_view dump) {
  std::vector<std::uint8_t> out;
  std::string digits;
  for (char c : dump) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// The CoAP header is 4 bytes + TKL token bytes; MID and token are per request (spec §10: "real traffic uses a
// new MID and CoAP token per request"), everything after them is fixed by the vector.
std::vector<std::uint8_t> after_token(const std::vector<std::uint8_t>& d) {
  const std::size_t tkl = d.empty() ? 0 : (d[0] & 0x0f);
  if (d.size() < 4 + tkl) return {};
  return {d.begin() + static_cast<std::ptrdiff_t>(4 + tkl), d.end()};
}

coap::message decode(const std::vector<std::uint8_t>& d) {
  coap::message m;
  EXPECT_FALSE(coap::decode(d, m)) << crypto::to_hex(d);
  return m;
}

std::string text(std::span<const std::uint8_t> b) {
  return {b.begin(), b.end()};
}

// The first datagram in `dgs` that is a POST to `path`.
std::optional<std::vector<std::uint8_t>> first_post(const std::vector<std::vector<std::uint8_t>>& dgs,
                                                    std::string_view path_prefix) {
  for (const auto& d : dgs) {
    coap::message m;
    if (coap::decode(d, m)) continue;
    if (m.code() == coap::code::post && m.uri_path().starts_with(path_prefix)) return d;
  }
  return std::nullopt;
}

// A seed whose device_fsm draws "1" as the first /auth seq (spec §10's vector uses seq 1): the FSM is
// sans-io, so the same seed and the same inputs give device_session's FSM the same draws.
std::uint64_t seed_for_first_auth_seq(std::string_view wanted) {
  for (std::uint64_t seed = 1; seed < 1'000'000; ++seed) {
    session::device_fsm_config cfg;
    cfg.mode = security_mode::aes;
    session::device_fsm fsm(cfg, seed);
    const auto t = session::device_fsm::clock::time_point{};
    fsm.start(t);
    while (fsm.poll_action()) {
    }
    fsm.transport_up(t);
    while (fsm.poll_action()) {
    }
    fsm.auth_slot_granted(t);
    while (auto a = fsm.poll_action()) {
      if (auto* s = std::get_if<session::send_auth>(&*a)) {
        if (s->seq == wanted) return seed;
      }
    }
  }
  return 0;
}

session::outbound_message message(const session::device_identity& id, session::message_handle h,
                                  std::string_view payload) {
  return {h, test::user_topic(id), test::bytes_of(payload)};
}

std::string json_id_payload(int device, int n) {
  return R"({"id":")" + std::to_string(device) + "-" + std::to_string(n) + R"(","v":)" + std::to_string(n) +
         "}";
}

// Every record's payload that is a first delivery (not a duplicate).
std::multiset<std::string> first_payloads(const std::vector<test::cloudsim_record>& recs) {
  std::multiset<std::string> out;
  for (const auto& r : recs) {
    if (!r.dup) out.insert(r.payload);
  }
  return out;
}

// ---- spec §10 vectors and §12 wire choices ----

// spec §10: the /auth datagram (218 B + Accept 50 = 220 B) and the publish datagram (127 B with Accept 50),
// byte for byte after the per-request MID and token, with the §10 inputs: device sensor-001 and its secret,
// timestamp 1700000000000, hmacsha1, auth seq 1, and cloudsim answering random abcdef1234567890, seqOffset
// 100 and the §10 token, so the first publish carries seq 101 (= seqOffset + 1, spec §5.3).
TEST(SessionCloudsim, AesAuthAndPublishDatagramsMatchSpecVectors) {
  test::scratch_dir dir("session-vec");
  const auto registry = dir.path() / "vec.csv";
  std::ofstream(registry) << "a1B2c3D4e5F,sensor-001,0123456789abcdef0123456789abcdef\n";
  cloudsim_process sim(
      {.devices = 0,
       .extra_args = {"--registry", registry.string(), "--fixed-token", "T0kEnExAmPlE0123456789abcdef00.abcd",
                      "--fixed-random", "abcdef1234567890", "--seq-offset", "100"}});
  const std::uint64_t seed = seed_for_first_auth_seq("1");
  ASSERT_NE(seed, 0u);

  session_rig rig;
  test::udp_relay relay(rig.io(), sim.aes_port());
  auto opts = test::fast_options(security_mode::aes);
  opts->sign = crypto::sign_method::hmacsha1;
  opts->wall_clock_ms = [] { return std::int64_t{1700000000000}; };
  opts->accept = 50;
  auto id =
      test::identity_of("sensor-001", "0123456789abcdef0123456789abcdef", security_mode::aes, relay.port());
  auto& dev = rig.add(std::move(id), opts, seed);
  dev.session->start();
  ASSERT_TRUE(rig.run_until([&] { return dev.ready(); }, 10s)) << to_string(dev.session->state());
  dev.session->offer(message(dev.session->identity(), 1, R"({"temp":21.5})"));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 1; }, 10s));

  // spec §10 "/auth (218 B)" with "51 32" (Accept 50) after "11 32".
  auto auth_vec = from_hex_dump(R"(
    44 02 12 34 a1 a2 a3 a4 b4 61 75 74 68 11 32 51 32 ff 7b 22 70 72 6f 64 75 63
    74 4b 65 79 22 3a 22 61 31 42 32 63 33 44 34 65 35 46 22 2c 22 64 65 76
    69 63 65 4e 61 6d 65 22 3a 22 73 65 6e 73 6f 72 2d 30 30 31 22 2c 22 63
    6c 69 65 6e 74 49 64 22 3a 22 61 31 42 32 63 33 44 34 65 35 46 2e 73 65
    6e 73 6f 72 2d 30 30 31 22 2c 22 74 69 6d 65 73 74 61 6d 70 22 3a 22 31
    37 30 30 30 30 30 30 30 30 30 30 30 22 2c 22 73 65 71 22 3a 22 31 22 2c
    22 73 69 67 6e 6d 65 74 68 6f 64 22 3a 22 68 6d 61 63 73 68 61 31 22 2c
    22 73 69 67 6e 22 3a 22 31 32 33 37 32 30 33 65 66 65 64 64 63 33 62 32
    63 32 36 62 35 32 62 33 65 32 30 37 63 30 65 64 33 31 32 64 37 39 32 32
    22 7d)");
  ASSERT_EQ(auth_vec.size(), 220u);
  const auto auth = first_post(relay.up, "auth");
  ASSERT_TRUE(auth);
  EXPECT_EQ((*auth)[0], 0x44) << "v1, CON, 4-byte token (spec §11: CoAP token 4 B)";
  EXPECT_EQ((*auth)[1], 0x02) << "POST";
  EXPECT_EQ(crypto::to_hex(after_token(*auth)), crypto::to_hex(after_token(auth_vec)));

  // spec §10 "publish (125 B)", "With Accept 50 (127 B): 11 32 51 32 ed 07 0a 16 ...".
  auto pub_vec = from_hex_dump(R"(
    44 02 12 34 a1 a2 a3 a4 b5 74 6f 70 69 63 0b 61 31 42 32 63 33 44 34 65
    35 46 0a 73 65 6e 73 6f 72 2d 30 30 31 04 75 73 65 72 06 75 70 64 61 74
    65 11 32 51 32 ed 07 0a 16 54 30 6b 45 6e 45 78 41 6d 50 6c 45 30 31 32 33 34
    35 36 37 38 39 61 62 63 64 65 66 30 30 2e 61 62 63 64 1d 03 c7 20 56 b7
    ed 69 aa cb a8 26 15 a9 51 22 5d fa ff d9 66 af bb ef 6a 80 98 4a 95 06
    5c c3 4d 56 31)");
  ASSERT_EQ(pub_vec.size(), 127u);
  const auto pub = first_post(relay.up, "topic");
  ASSERT_TRUE(pub);
  EXPECT_EQ(crypto::to_hex(after_token(*pub)), crypto::to_hex(after_token(pub_vec)));

  const auto recs = sim.wait_for_records(1, 5s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].seq, 101u);
  EXPECT_EQ(recs[0].payload, R"({"temp":21.5})");
  EXPECT_EQ(recs[0].topic, "/a1B2c3D4e5F/sensor-001/user/update");
  EXPECT_EQ(dev.platform_ids.at(0), recs[0].message_id) << "option 2090 handed to the owner";
  EXPECT_EQ(sim.stop(), 0);
}

// spec §12: what iotkit v3.2.0 sends (token in option 61, Accept 42 on /topic, no timestamp/signmethod,
// HMAC-MD5, first seq = seqOffset) is one config away, and cloudsim (the platform's rules) accepts it.
TEST(SessionCloudsim, SdkWireFormIsAccepted) {
  cloudsim_process sim({.devices = 1, .extra_args = {"--seq-offset", "100", "--seq-allow-equal"}});
  session_rig rig;
  test::udp_relay relay(rig.io(), sim.aes_port());
  auto opts = test::fast_options(security_mode::aes);
  opts->token_option = 61;
  opts->accept = 42;
  opts->send_timestamp = false;
  opts->send_signmethod = false;
  opts->sign = crypto::sign_method::hmacmd5;
  opts->fsm.first_seq_equals_offset = true;
  auto& dev = rig.add(test::sim_identity(0, security_mode::aes, relay.port()), opts);
  dev.session->start();
  dev.session->offer(message(dev.session->identity(), 1, R"({"n":1})"));
  dev.session->offer(message(dev.session->identity(), 2, R"({"n":2})"));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 2; }, 10s)) << to_string(dev.session->state());

  const auto auth = decode(*first_post(relay.up, "auth"));
  const std::string body = text(auth.payload());
  EXPECT_EQ(body.find("timestamp"), std::string::npos) << body;
  EXPECT_EQ(body.find("signmethod"), std::string::npos) << body;
  ASSERT_NE(auth.find_option(coap::option_number::accept), nullptr);
  EXPECT_EQ(auth.find_option(coap::option_number::accept)->value, std::vector<std::uint8_t>{50})
      << "spec §12 #5: /auth carries Accept 50 when accept is 42";

  const auto pub = decode(*first_post(relay.up, "topic"));
  EXPECT_NE(pub.find_option(61), nullptr);
  EXPECT_EQ(pub.find_option(2088), nullptr);
  ASSERT_NE(pub.find_option(coap::option_number::accept), nullptr);
  EXPECT_EQ(pub.find_option(coap::option_number::accept)->value, std::vector<std::uint8_t>{42});
  EXPECT_EQ(pub.find_option(coap::option_number::content_format)->value, std::vector<std::uint8_t>{50});
  EXPECT_EQ(pub.find_option(coap::option_number::uri_host), nullptr) << "spec §12 #6: no Uri-Host by default";

  const auto recs = sim.wait_for_records(2, 5s);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].seq, 100u) << "first seq = seqOffset";
  EXPECT_EQ(recs[1].seq, 101u);
  EXPECT_EQ(sim.stop(), 0);
}

// No Accept at all (LinkSDK's form) and CBOR's Content-Format 60 reach the wire as configured.
TEST(SessionCloudsim, AcceptCanBeOmittedAndContentFormatIsConfigurable) {
  cloudsim_process sim({.devices = 1});
  session_rig rig;
  test::udp_relay relay(rig.io(), sim.aes_port());
  auto opts = test::fast_options(security_mode::aes);
  opts->accept.reset();
  opts->content_format = 60;
  auto& dev = rig.add(test::sim_identity(0, security_mode::aes, relay.port()), opts);
  dev.session->start();
  dev.session->offer(message(dev.session->identity(), 1, "\xa1\x61n\x01"));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 1; }, 10s));
  const auto auth = decode(*first_post(relay.up, "auth"));
  EXPECT_EQ(auth.find_option(coap::option_number::accept), nullptr);
  EXPECT_EQ(auth.find_option(coap::option_number::content_format)->value, std::vector<std::uint8_t>{50})
      << "spec §4.1: /auth is JSON whatever the publish format";
  const auto pub = decode(*first_post(relay.up, "topic"));
  EXPECT_EQ(pub.find_option(coap::option_number::accept), nullptr);
  EXPECT_EQ(pub.find_option(coap::option_number::content_format)->value, std::vector<std::uint8_t>{60});
  EXPECT_NE(pub.find_option(2088), nullptr);
  EXPECT_EQ(sim.stop(), 0);
}

// ---- modes ----

TEST(SessionCloudsim, DtlsPskAuthAndPublish) {
  cloudsim_process sim({.devices = 2, .aes = false, .psk = true});
  session_rig rig;
  auto opts = test::fast_options(security_mode::dtls_psk);
  ASSERT_TRUE(opts->dtls_psk);
  auto& dev = rig.add(test::sim_identity(1, security_mode::dtls_psk, sim.psk_port()), opts);
  dev.session->start();
  for (int i = 0; i < 3; ++i)
    dev.session->offer(message(dev.session->identity(), i + 1, json_id_payload(1, i)));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 3; }, 15s)) << to_string(dev.session->state());
  const auto recs = sim.wait_for_records(3, 5s);
  ASSERT_EQ(recs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[static_cast<std::size_t>(i)].mode, "dtls-psk");
    EXPECT_EQ(recs[static_cast<std::size_t>(i)].payload, json_id_payload(1, i)) << "in order";
    EXPECT_EQ(recs[static_cast<std::size_t>(i)].device_name, "sensor-0001");
  }
  EXPECT_EQ(dev.session->health().auth_count, 1u);
  EXPECT_EQ(sim.stop(), 0);
}

TEST(SessionCloudsim, DtlsCertificateAuthAndPublish) {
  cloudsim_process sim({.devices = 1, .aes = false, .dtls = true});
  session_rig rig;
  auto opts = test::fast_options(security_mode::dtls);
  opts->dtls_certificate = test::certificate_context(sim.ca_file().string());
  ASSERT_TRUE(opts->dtls_certificate);
  auto& dev = rig.add(test::sim_identity(0, security_mode::dtls, sim.dtls_port()), opts);
  dev.session->start();
  dev.session->offer(message(dev.session->identity(), 7, json_id_payload(0, 7)));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 1; }, 15s)) << to_string(dev.session->state());
  const auto recs = sim.wait_for_records(1, 5s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].mode, "dtls");
  EXPECT_FALSE(recs[0].seq) << "no seq outside AES mode";
  // Issue #7: the server certificate's notAfter, as read by openssl(1) from the file cloudsim serves.
  const auto end =
      test::run_command("date -d \"$(openssl x509 -enddate -noout -in '" +
                        (sim.ca_file().parent_path() / "server.pem").string() + "' | cut -d= -f2)\" +%s");
  ASSERT_EQ(end.status, 0) << end.output;
  ASSERT_TRUE(dev.session->stats().server_cert_not_after);
  EXPECT_EQ(*dev.session->stats().server_cert_not_after, std::stoll(end.output));
  EXPECT_EQ(sim.stop(), 0);
}

// spec §8: the server certificate is checked against the configured CA and the host name; a failure never
// reaches /auth, the device backs off and retries.
void expect_dtls_refused(session::device_identity id, std::shared_ptr<dtls::context> ctx,
                         cloudsim_process& sim) {
  session_rig rig;
  auto opts = test::fast_options(security_mode::dtls);
  opts->dtls_certificate = std::move(ctx);
  ASSERT_TRUE(opts->dtls_certificate);
  auto& dev = rig.add(std::move(id), opts);
  dev.session->start();
  const auto backed_off = [&] {
    return std::count_if(dev.states.begin(), dev.states.end(),
                         [](const auto& s) { return s.second.to == device_state::backing_off; });
  };
  ASSERT_TRUE(rig.run_until([&] { return backed_off() >= 2; }, 15s)) << to_string(dev.session->state());
  EXPECT_FALSE(dev.ready());
  const auto h = dev.session->health();
  EXPECT_EQ(h.auth_attempts, 0u) << "no /auth over an unverified server";
  ASSERT_TRUE(h.last_error);
  EXPECT_EQ(sim.stats()["auth_ok"], 0);
}

TEST(SessionCloudsim, DtlsWrongCaIsRefused) {
  cloudsim_process sim({.devices = 1, .aes = false, .dtls = true});
  test::scratch_dir other("other-ca");
  auto made =
      test::run_command("bash '" + (test::source_dir() / "tests/support/make_test_certs.sh").string() +
                        "' '" + other.path().string() + "'");
  ASSERT_EQ(made.status, 0) << made.output;
  expect_dtls_refused(test::sim_identity(0, security_mode::dtls, sim.dtls_port()),
                      test::certificate_context((other.path() / "ca.pem").string()), sim);
  EXPECT_EQ(sim.stop(), 0);
}

TEST(SessionCloudsim, DtlsWrongHostNameIsRefused) {
  cloudsim_process sim({.devices = 1, .aes = false, .dtls = true});
  auto id = test::sim_identity(0, security_mode::dtls, sim.dtls_port());
  id.host = "not-the-platform.example.com";
  expect_dtls_refused(std::move(id), test::certificate_context(sim.ca_file().string()), sim);
  EXPECT_EQ(sim.stop(), 0);
}

TEST(SessionCloudsim, PlainModePublishesWithoutAuth) {
  cloudsim_process sim({.devices = 1, .aes = false, .plain = true});
  session_rig rig;
  auto& dev = rig.add(test::sim_identity(0, security_mode::plain, sim.plain_port()),
                      test::fast_options(security_mode::plain));
  dev.session->start();
  dev.session->offer(message(dev.session->identity(), 1, "hello"));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 1; }, 10s)) << to_string(dev.session->state());
  const auto recs = sim.wait_for_records(1, 5s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].mode, "plain");
  EXPECT_EQ(recs[0].payload, "hello");
  EXPECT_EQ(dev.session->health().auth_attempts, 0u);
  EXPECT_EQ(sim.stats()["auth_ok"], 0);
  EXPECT_EQ(sim.stop(), 0);
}

// ---- failures ----

// spec §6 "4.03 | publish": dead-letter, no retry. spec §5.2: a reply payload that does not decrypt is taken
// as plaintext (the platform sends diagnostics such as "Token invalid"), and its text goes into the reason.
TEST(SessionCloudsim, ForbiddenTopicIsDeadLetteredWithThePlatformsText) {
  cloudsim_process sim({.devices = 2, .extra_args = {"--plaintext-errors"}});
  session_rig rig;
  auto& dev = rig.add(test::sim_identity(0, security_mode::aes, sim.aes_port()),
                      test::fast_options(security_mode::aes));
  dev.session->start();
  // A topic naming the other device: cloudsim (like the platform) answers 4.03.
  const auto other = test::sim_identity(1, security_mode::aes, sim.aes_port());
  dev.session->offer({7, test::user_topic(other), test::bytes_of("x")});
  dev.session->offer(message(dev.session->identity(), 8, "after"));
  ASSERT_TRUE(rig.run_until([&] { return dev.dead.size() == 1 && dev.acked.size() == 1; }, 10s))
      << to_string(dev.session->state());
  EXPECT_EQ(dev.dead[0].first, 7u);
  EXPECT_EQ(dev.dead[0].second, "4.03 Forbidden: topic of another device");
  EXPECT_EQ(dev.acked[0], 8u);  // the next message of the device is not held up by the rejected one
  EXPECT_EQ(sim.stop(), 0);
}

// spec §6 "4.01 | auth": no fast retry, back off; after max_auth_rejections the device is failed.
TEST(SessionCloudsim, BadSecretIsReportedAndBackedOff) {
  cloudsim_process sim({.devices = 1});
  session_rig rig;
  auto opts = test::fast_options(security_mode::aes);
  opts->fsm.max_auth_rejections = 3;
  auto id = test::identity_of(cloudsim_process::device_name(0), "00000000000000000000000000000000",
                              security_mode::aes, sim.aes_port());
  auto& dev = rig.add(std::move(id), opts);
  dev.session->start();
  ASSERT_TRUE(rig.run_until([&] { return dev.session->state() == device_state::failed; }, 10s))
      << to_string(dev.session->state());
  const auto h = dev.session->health();
  EXPECT_EQ(h.auth_attempts, 3u);
  EXPECT_EQ(h.auth_failures, 3u);
  ASSERT_TRUE(h.last_error);
  ASSERT_TRUE(h.last_error->outcome);
  EXPECT_EQ(h.last_error->outcome->code, coap::code::unauthorized);
  EXPECT_EQ(sim.stats()["auth_failed"]["bad_sign"], 3);

  // The waits between attempts follow retry_backoff (100 ms, then 200 ms; jitter none).
  std::vector<std::chrono::steady_clock::time_point> backoff_start, backoff_end;
  for (std::size_t i = 0; i < dev.states.size(); ++i) {
    const auto& [t, c] = dev.states[i];
    if (c.to == device_state::backing_off) backoff_start.push_back(t);
    if (c.from == device_state::backing_off) backoff_end.push_back(t);
  }
  ASSERT_EQ(backoff_start.size(), 2u);
  ASSERT_EQ(backoff_end.size(), 2u);
  EXPECT_GE(backoff_end[0] - backoff_start[0], 100ms);
  EXPECT_GE(backoff_end[1] - backoff_start[1], 200ms);
  EXPECT_EQ(dev.states.back().second.to, device_state::failed);
  EXPECT_EQ(sim.stop(), 0);
}

// spec §6: a publish answered 4.01 (token expired) re-authenticates once and resends; nothing is lost.
TEST(SessionCloudsim, TokenExpiryReauthenticatesOncePerDeviceAndLosesNothing) {
  constexpr int devices = 5;
  constexpr int per_phase = 3;
  cloudsim_process sim({.devices = devices});
  session_rig rig;
  auto opts = test::fast_options(security_mode::aes);
  for (int i = 0; i < devices; ++i) rig.add(test::sim_identity(i, security_mode::aes, sim.aes_port()), opts);
  std::multiset<std::string> expected;
  const auto offer_phase = [&](int phase) {
    for (int i = 0; i < devices; ++i) {
      auto& s = *rig.devices()[static_cast<std::size_t>(i)]->session;
      for (int n = 0; n < per_phase; ++n) {
        const int k = phase * per_phase + n;
        s.offer(message(s.identity(), static_cast<session::message_handle>(k + 1), json_id_payload(i, k)));
        expected.insert(json_id_payload(i, k));
      }
    }
  };
  for (auto& d : rig.devices()) d->session->start();
  offer_phase(0);
  ASSERT_TRUE(rig.run_until([&] { return rig.acked_total() == devices * per_phase; }, 10s));
  ASSERT_EQ(sim.command("expire-tokens"), "ok expired " + std::to_string(devices));
  offer_phase(1);
  ASSERT_TRUE(rig.run_until([&] { return rig.acked_total() == 2 * devices * per_phase; }, 10s));

  for (auto& d : rig.devices()) {
    const auto h = d->session->health();
    EXPECT_EQ(h.reauth_count, 1u) << d->session->identity().id;
    EXPECT_EQ(h.auth_count, 2u) << d->session->identity().id;
    EXPECT_TRUE(d->dead.empty());
    EXPECT_EQ(d->acked.size(), 2u * per_phase);
  }
  const auto st = sim.stats();
  EXPECT_EQ(st["auth_ok"], 2 * devices);
  EXPECT_EQ(st["rejected"]["token_expired"], devices);
  EXPECT_EQ(first_payloads(sim.wait_for_records(2 * devices * per_phase, 5s)), expected);
  EXPECT_EQ(sim.stop(), 0);
}

// RFC 7252 §4.2 retransmission and spec §6 "5.00 | publish: retry with back-off": with 30 % of requests
// answered 5.00 and 20 % dropped, every message still arrives, in order per device.
TEST(SessionCloudsim, ServerErrorsAndDroppedRequestsAreRetried) {
  constexpr int devices = 4;
  constexpr int per_device = 8;
  cloudsim_process sim({.devices = devices, .seed = 7});
  ASSERT_EQ(sim.command("error-500 0.3"), "ok error-500 0.3");
  ASSERT_EQ(sim.command("drop-requests 0.2"), "ok drop-requests 0.2");
  session_rig rig;
  auto opts = test::fast_options(security_mode::aes);
  opts->coap.ack_timeout = 150ms;
  opts->coap.max_retransmit = 6;  // P(all 7 copies dropped) = 0.2^7: no timeout-driven reconnects
  std::multiset<std::string> expected;
  for (int i = 0; i < devices; ++i) {
    auto& d = rig.add(test::sim_identity(i, security_mode::aes, sim.aes_port()), opts);
    d.session->start();
    for (int n = 0; n < per_device; ++n) {
      d.session->offer(
          message(d.session->identity(), static_cast<session::message_handle>(n + 1), json_id_payload(i, n)));
      expected.insert(json_id_payload(i, n));
    }
  }
  ASSERT_TRUE(rig.run_until([&] { return rig.acked_total() == devices * per_device; }, 20s))
      << rig.acked_total();
  std::uint64_t retransmissions = 0;
  for (auto& d : rig.devices()) {
    EXPECT_TRUE(d->dead.empty());
    retransmissions += d->session->stats().retransmissions;
    EXPECT_TRUE(std::is_sorted(d->acked.begin(), d->acked.end())) << "per-device order";
  }
  EXPECT_GT(retransmissions, 0u);
  const auto st = sim.stats();
  EXPECT_GT(st["faults"].value("error_500", 0), 0) << st.dump();
  EXPECT_GT(st["faults"].value("drop_request", 0), 0) << st.dump();
  const auto recs = sim.wait_for_records(devices * per_device, 5s);
  EXPECT_EQ(first_payloads(recs), expected);
  for (int i = 0; i < devices; ++i) {
    std::vector<std::string> order;
    for (const auto& r : recs) {
      if (!r.dup && r.device_name == cloudsim_process::device_name(i)) order.push_back(r.payload);
    }
    ASSERT_EQ(order.size(), static_cast<std::size_t>(per_device));
    for (int n = 0; n < per_device; ++n) EXPECT_EQ(order[static_cast<std::size_t>(n)], json_id_payload(i, n));
  }
  EXPECT_EQ(sim.stop(), 0);
}

// spec §4.1 ackMode 1: answers come as RFC 7252 §5.2.2 separate responses (empty ACK, then a CON the client
// ACKs); `--separate` makes cloudsim answer every request that way.
void expect_separate_responses(std::vector<std::string> extra_args, bool ack_mode) {
  cloudsim_process sim({.devices = 1, .extra_args = std::move(extra_args)});
  session_rig rig;
  test::udp_relay relay(rig.io(), sim.aes_port());
  auto opts = test::fast_options(security_mode::aes);
  if (ack_mode) opts->ack_mode = 1;
  auto& dev = rig.add(test::sim_identity(0, security_mode::aes, relay.port()), opts);
  dev.session->start();
  for (int n = 0; n < 3; ++n)
    dev.session->offer(message(dev.session->identity(), n + 1, json_id_payload(0, n)));
  ASSERT_TRUE(rig.run_until([&] { return dev.acked.size() == 3; }, 10s)) << to_string(dev.session->state());
  if (ack_mode) {
    EXPECT_NE(text(decode(*first_post(relay.up, "auth")).payload()).find(R"("ackMode":)"), std::string::npos);
  }
  int empty_acks = 0, con_answers = 0, client_acks = 0;
  const auto count = [&] {
    empty_acks = con_answers = client_acks = 0;
    for (const auto& d : relay.down) {
      const auto m = decode(d);
      if (m.type() == coap::message_type::ack && m.code() == 0) ++empty_acks;
      if (m.type() == coap::message_type::con && coap::is_success(m.code())) ++con_answers;
    }
    for (const auto& d : relay.up) {
      const auto m = decode(d);
      if (m.type() == coap::message_type::ack && m.code() == 0) ++client_acks;
    }
    return client_acks >= con_answers;
  };
  // The last ACK leaves with the last answer's event; wait until the relay has carried it.
  rig.run_until(count, 5s);
  EXPECT_GE(con_answers, 3) << "three publishes answered separately";
  EXPECT_GE(empty_acks, 3);
  EXPECT_GE(client_acks, con_answers) << "every separate CON answer is ACKed";
  EXPECT_EQ(sim.wait_for_records(3, 5s).size(), 3u);
  EXPECT_EQ(sim.stop(), 0);
}

TEST(SessionCloudsim, AckMode1GetsSeparateResponses) {
  expect_separate_responses({}, true);
}
TEST(SessionCloudsim, SeparateResponsesEverywhere) {
  expect_separate_responses({"--separate"}, false);
}

// issue #5 item 4: 1,000 AES devices bring themselves up through the gateway-wide auth gate (500/s, burst
// 50). cloudsim's auth_ok counter, sampled while they come up, never grows faster than rate * dt + burst.
TEST(SessionCloudsim, ThousandAesDevicesAuthenticateWithinTheRateLimit) {
  constexpr int devices = 1000;
  constexpr double rate = 500.0;
  constexpr std::uint32_t burst = 50;
  cloudsim_process sim({.devices = devices});
  session_rig rig(rate, burst);
  auto opts = test::fast_options(security_mode::aes);
  for (int i = 0; i < devices; ++i) rig.add(test::sim_identity(i, security_mode::aes, sim.aes_port()), opts);

  struct sample {
    std::chrono::steady_clock::time_point before, after;
    int auth_ok;
  };
  std::vector<sample> samples;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    // The control socket answers in microseconds; 20 ms between samples (a bounded poll, not a wait).
    while (!done) {
      const auto before = std::chrono::steady_clock::now();
      const int ok = sim.stats()["auth_ok"].get<int>();
      samples.push_back({before, std::chrono::steady_clock::now(), ok});
      std::this_thread::sleep_for(20ms);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& d : rig.devices()) d->session->start();
  const bool all = rig.run_until([&] { return rig.all_ready(); }, 20s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  done = true;
  sampler.join();
  ASSERT_TRUE(all);
  const int final_ok = sim.stats()["auth_ok"].get<int>();
  EXPECT_EQ(final_ok, devices) << "one /auth per device";
  // (devices - burst) / rate = 1.9 s at least: the gate really throttles.
  EXPECT_GE(elapsed, std::chrono::milliseconds(static_cast<int>((devices - burst) / rate * 1000 * 0.98)));
  double worst = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    for (std::size_t j = i + 1; j < samples.size(); ++j) {
      const double dt = std::chrono::duration<double>(samples[j].after - samples[i].before).count();
      const double excess = (samples[j].auth_ok - samples[i].auth_ok) - rate * dt;
      worst = std::max(worst, excess);
    }
  }
  // The bucket admits whole auths (+1), and cloudsim counts an auth when it arrives, up to a few ms after the
  // gate granted it, which can move auths into a later sample's window (+ rate * 20 ms).
  EXPECT_LE(worst, burst + 1 + rate * 0.020) << "auths beyond rate * dt in some window of cloudsim's samples";
  EXPECT_GT(samples.size(), 10u);
  std::printf("1000 AES devices ready in %.2f s; worst excess over rate*dt: %.1f (burst %u)\n",
              std::chrono::duration<double>(elapsed).count(), worst, burst);
  EXPECT_EQ(sim.stop(), 0);
}

}  // namespace
}  // namespace gw
