#include "gateway/session/device_fsm.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "gateway/session/error.hpp"
#include "gateway/session/token_bucket.hpp"

namespace gw::session {
namespace {

using namespace std::chrono_literals;
using time_point = device_fsm::time_point;
using actions = std::vector<device_action>;

const time_point t0{std::chrono::hours(100)};

template <class T>
std::vector<T> only(const actions& as) {
  std::vector<T> out;
  for (const auto& a : as) {
    if (const T* p = std::get_if<T>(&a)) {
      out.push_back(*p);
    }
  }
  return out;
}

template <class T>
T one(const actions& as) {
  const auto v = only<T>(as);
  EXPECT_EQ(v.size(), 1U);
  return v.empty() ? T{} : v.front();
}

template <class T>
bool has(const actions& as) {
  return !only<T>(as).empty();
}

device_fsm_config config_for(security_mode m) {
  device_fsm_config c;
  c.mode = m;
  c.retry_backoff = {1s, 30s, jitter_mode::none};
  c.publish_backoff = {1s, 30s, jitter_mode::none};
  return c;
}

// Drives one FSM by hand in virtual time; every call returns the actions it produced.
struct driver {
  explicit driver(device_fsm_config c, std::uint64_t seed = 1) : fsm(c, seed) {}

  actions drain() {
    actions out;
    while (auto a = fsm.poll_action()) {
      out.push_back(std::move(*a));
    }
    return out;
  }
  actions start() { return fsm.start(now), drain(); }
  actions up() { return fsm.transport_up(now), drain(); }
  actions slot() { return fsm.auth_slot_granted(now), drain(); }
  actions auth(answer a, std::optional<auth_grant> g = std::nullopt) {
    return fsm.auth_response(now, a, std::move(g)), drain();
  }
  actions ok_auth(std::string token, std::uint32_t seq_offset = 0) {
    return auth(answer::response(codes::content), auth_grant{std::move(token), seq_offset});
  }
  actions msg(message_handle h) { return fsm.message_available(now, h), drain(); }
  actions result(message_handle h, answer a) { return fsm.publish_result(now, h, a), drain(); }
  actions ack(message_handle h) { return result(h, answer::response(codes::changed)); }
  actions tick(time_point t) {
    now = t;
    fsm.timer(now);
    // timer() consumes every deadline that is due: the owner never spins on a past one.
    const auto next = fsm.next_deadline();
    EXPECT_TRUE(!next || *next > now);
    return drain();
  }
  actions advance(device_fsm::duration d) { return tick(now + d); }

  // idle -> ready in AES mode with `token`, `seq_offset`.
  void make_ready_aes(const std::string& token, std::uint32_t seq_offset) {
    ASSERT_TRUE(has<open_transport>(start()));
    ASSERT_TRUE(has<request_auth_slot>(up()));
    ASSERT_TRUE(has<send_auth>(slot()));
    ok_auth(token, seq_offset);
    ASSERT_EQ(fsm.state(), device_state::ready);
  }

  device_fsm fsm;
  time_point now = t0;
};

// ---------------------------------------------------------------- happy paths

TEST(DeviceFsm, HappyPathAes) {
  driver d(config_for(security_mode::aes));
  EXPECT_EQ(d.fsm.state(), device_state::idle);

  auto a = d.start();
  EXPECT_TRUE(has<open_transport>(a));
  EXPECT_EQ(d.fsm.state(), device_state::connecting);

  a = d.up();
  EXPECT_TRUE(has<request_auth_slot>(a));
  EXPECT_EQ(d.fsm.state(), device_state::authenticating);

  a = d.slot();
  const auto sa = one<send_auth>(a);
  const int seq = std::stoi(sa.seq);  // spec §4.1: decimal string 1..9999
  EXPECT_GE(seq, 1);
  EXPECT_LE(seq, 9999);
  EXPECT_EQ(sa.seq, std::to_string(seq));

  a = d.msg(7);  // arrives before the token: waits
  EXPECT_FALSE(has<send_publish>(a));

  a = d.ok_auth("tok-1", 100);
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  const auto p = one<send_publish>(a);
  EXPECT_EQ(p.handle, 7U);
  EXPECT_EQ(p.seq, 101U);  // spec §5.3: seqOffset + 1
  EXPECT_EQ(p.token, "tok-1");

  a = d.ack(7);
  EXPECT_EQ(one<ack_message>(a).handle, 7U);

  const auto h = d.fsm.health(d.now + 1h);
  EXPECT_EQ(h.state, device_state::ready);
  EXPECT_EQ(h.auth_count, 1U);
  EXPECT_EQ(h.messages_sent, 1U);
  EXPECT_EQ(h.messages_acked, 1U);
  EXPECT_EQ(h.token_age, 1h);
  EXPECT_EQ(h.last_success, t0);
  EXPECT_EQ(h.consecutive_failures, 0U);
}

class DtlsModes : public ::testing::TestWithParam<security_mode> {};

TEST_P(DtlsModes, HandshakeIsRateLimitedThenAuthWithoutSeq) {
  driver d(config_for(GetParam()));
  auto a = d.start();
  EXPECT_TRUE(has<request_auth_slot>(a));  // the handshake start waits for a slot
  EXPECT_FALSE(has<open_transport>(a));
  EXPECT_EQ(d.fsm.state(), device_state::handshaking);

  a = d.slot();
  EXPECT_TRUE(has<open_transport>(a));
  EXPECT_EQ(d.fsm.state(), device_state::handshaking);

  a = d.up();
  EXPECT_EQ(one<send_auth>(a).seq, "");  // spec §4.1: no seq in DTLS mode
  EXPECT_FALSE(has<request_auth_slot>(a));
  EXPECT_EQ(d.fsm.state(), device_state::authenticating);

  d.ok_auth("dtls-token");
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  const auto p = one<send_publish>(d.msg(1));
  EXPECT_EQ(p.seq, std::nullopt);
  EXPECT_EQ(p.token, "dtls-token");
  EXPECT_EQ(one<ack_message>(d.ack(1)).handle, 1U);
}

INSTANTIATE_TEST_SUITE_P(Modes, DtlsModes, ::testing::Values(security_mode::dtls, security_mode::dtls_psk),
                         [](const auto& param_info) {
                           return param_info.param == security_mode::dtls ? "Dtls" : "DtlsPsk";
                         });

TEST(DeviceFsm, HappyPathPlainNeedsNoAuth) {
  driver d(config_for(security_mode::plain));
  EXPECT_TRUE(has<open_transport>(d.start()));
  const auto a = d.up();
  EXPECT_FALSE(has<request_auth_slot>(a));
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  const auto p = one<send_publish>(d.msg(3));
  EXPECT_EQ(p.seq, std::nullopt);
  EXPECT_EQ(p.token, "");
  EXPECT_EQ(one<ack_message>(d.ack(3)).handle, 3U);
  EXPECT_EQ(d.fsm.health(d.now).auth_attempts, 0U);
}

TEST(DeviceFsm, StateChangesAreReportedOncePerChange) {
  driver d(config_for(security_mode::aes));
  actions all;
  for (auto part : {d.start(), d.up(), d.slot(), d.ok_auth("t", 0)}) {
    all.insert(all.end(), part.begin(), part.end());
  }
  std::vector<device_state> seen;
  for (const auto& c : only<state_changed>(all)) {
    seen.push_back(c.to);
  }
  EXPECT_EQ(seen, (std::vector<device_state>{device_state::connecting, device_state::authenticating,
                                             device_state::ready}));
}

// ---------------------------------------------------------------- token expiry and re-auth

TEST(DeviceFsm, TokenExpiryReauthsOnceAndResendsWithNewSeq) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("old", 100);
  ASSERT_EQ(one<send_publish>(d.msg(1)).seq, 101U);

  auto a = d.result(1, answer::response(codes::unauthorized));
  EXPECT_EQ(one<retry_later>(a).handle, 1U);
  EXPECT_EQ(only<request_auth_slot>(a).size(), 1U);
  EXPECT_FALSE(has<send_publish>(a));
  EXPECT_FALSE(has<dead_letter>(a));
  EXPECT_EQ(d.fsm.state(), device_state::authenticating);

  // Nothing is sent with the dead token meanwhile; a second message waits behind the first.
  EXPECT_FALSE(has<send_publish>(d.msg(2)));

  EXPECT_TRUE(has<send_auth>(d.slot()));
  a = d.ok_auth("new", 500);
  const auto sends = only<send_publish>(a);
  ASSERT_EQ(sends.size(), 1U);  // NSTART = 1
  EXPECT_EQ(sends[0].handle, 1U);
  EXPECT_EQ(sends[0].token, "new");
  EXPECT_EQ(sends[0].seq, 501U);  // new seq from the new seqOffset

  a = d.ack(1);
  EXPECT_EQ(one<ack_message>(a).handle, 1U);
  EXPECT_EQ(one<send_publish>(a).handle, 2U);
  d.ack(2);

  const auto h = d.fsm.health(d.now);
  EXPECT_EQ(h.auth_count, 2U);
  EXPECT_EQ(h.auth_attempts, 2U);
  EXPECT_EQ(h.reauth_count, 1U);
  EXPECT_EQ(h.messages_sent, 3U);
  EXPECT_EQ(h.messages_dead_lettered, 0U);
}

TEST(DeviceFsm, Second401ForTheSameMessageDeadLetters) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("old", 0);
  d.msg(1);
  d.result(1, answer::response(codes::unauthorized));
  d.slot();
  ASSERT_EQ(one<send_publish>(d.ok_auth("new", 0)).handle, 1U);

  auto a = d.result(1, answer::response(codes::unauthorized));
  const auto dl = one<dead_letter>(a);
  EXPECT_EQ(dl.handle, 1U);
  EXPECT_EQ(dl.outcome, answer::response(codes::unauthorized));
  EXPECT_EQ(dl.reason, "4.01 Unauthorized");
  EXPECT_FALSE(has<request_auth_slot>(a));  // no second re-auth for that message
  EXPECT_FALSE(has<retry_later>(a));

  // The device carries on with the next message.
  EXPECT_EQ(one<send_publish>(d.msg(2)).token, "new");
  const auto h = d.fsm.health(d.now);
  EXPECT_EQ(h.messages_dead_lettered, 1U);
  EXPECT_EQ(h.auth_attempts, 2U);
  ASSERT_TRUE(h.last_error.has_value());
  EXPECT_EQ(h.last_error->ec, make_error_code(error::publish_rejected));
}

TEST(DeviceFsm, Bad402SwitchOffDeadLettersAtOnce) {
  auto c = config_for(security_mode::aes);
  c.policy.treat_4_02_as_token_invalid = false;
  driver d(c);
  d.make_ready_aes("t", 0);
  d.msg(1);
  const auto a = d.result(1, answer::response(codes::bad_option));
  EXPECT_EQ(one<dead_letter>(a).reason, "4.02 Bad Option");
  EXPECT_FALSE(has<request_auth_slot>(a));
}

TEST(DeviceFsm, Bad402DefaultReauths) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  d.msg(1);
  const auto a = d.result(1, answer::response(codes::bad_option));
  EXPECT_TRUE(has<request_auth_slot>(a));
  EXPECT_FALSE(has<dead_letter>(a));
}

TEST(DeviceFsm, PermanentRejectionDeadLettersWithoutRetry) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  d.msg(1);
  d.msg(2);
  auto a = d.result(1, answer::response(codes::forbidden));
  EXPECT_EQ(one<dead_letter>(a).reason, "4.03 Forbidden");
  EXPECT_EQ(one<send_publish>(a).handle, 2U);
}

TEST(DeviceFsm, MessagesResentAfterReauthKeepTheirOrder) {
  auto c = config_for(security_mode::aes);
  c.max_in_flight = 2;
  driver d(c);
  d.make_ready_aes("old", 0);
  d.msg(1);
  auto a = d.msg(2);
  d.msg(3);
  ASSERT_EQ(d.fsm.health(d.now).in_flight, 2U);
  // Answers come back out of order.
  a = d.result(2, answer::response(codes::unauthorized));
  EXPECT_TRUE(has<request_auth_slot>(a));
  a = d.result(1, answer::response(codes::unauthorized));
  EXPECT_FALSE(has<request_auth_slot>(a));  // one auth in flight per device
  d.slot();
  a = d.ok_auth("new", 10);
  const auto sends = only<send_publish>(a);
  ASSERT_EQ(sends.size(), 2U);
  EXPECT_EQ(sends[0].handle, 1U);
  EXPECT_EQ(sends[1].handle, 2U);
  EXPECT_EQ(sends[0].seq, 11U);
  EXPECT_EQ(sends[1].seq, 12U);
  EXPECT_EQ(one<send_publish>(d.ack(1)).handle, 3U);
  EXPECT_EQ(d.fsm.health(d.now).reauth_count, 1U);
}

TEST(DeviceFsm, AnswerForAReplacedTokenResendsWithoutAnotherReauth) {
  auto c = config_for(security_mode::aes);
  c.max_in_flight = 2;
  driver d(c);
  d.make_ready_aes("t1", 0);
  d.msg(1);
  d.msg(2);
  d.result(1, answer::response(codes::unauthorized));
  d.slot();
  auto a = d.ok_auth("t2", 0);
  EXPECT_EQ(one<send_publish>(a).handle, 1U);
  // Message 2 was sent with t1: its 4.01 is no evidence against t2.
  a = d.result(2, answer::response(codes::unauthorized));
  EXPECT_FALSE(has<request_auth_slot>(a));
  EXPECT_FALSE(has<dead_letter>(a));
  EXPECT_EQ(one<send_publish>(a).token, "t2");
}

// ---------------------------------------------------------------- temporary failures

TEST(DeviceFsm, ServerErrorBacksOffThenSucceedsNeverDeadLetters) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 100);
  ASSERT_EQ(one<send_publish>(d.msg(1)).seq, 101U);

  auto a = d.result(1, answer::response(codes::internal_server_error));
  EXPECT_EQ(one<retry_later>(a).handle, 1U);
  EXPECT_FALSE(has<send_publish>(a));
  EXPECT_FALSE(has<dead_letter>(a));
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 1s);

  EXPECT_FALSE(has<send_publish>(d.advance(999ms)));
  auto p = one<send_publish>(d.advance(1ms));
  EXPECT_EQ(p.handle, 1U);
  EXPECT_EQ(p.seq, 102U);  // a new request gets a new seq

  // Again: 2 s this time; timeouts count the same.
  d.result(1, answer::timeout());
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 2s);
  d.advance(2s);
  d.result(1, answer::response(codes::service_unavailable));
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 4s);
  p = one<send_publish>(d.advance(4s));
  EXPECT_EQ(one<ack_message>(d.ack(1)).handle, 1U);

  // Success resets the publish backoff.
  d.msg(2);
  d.result(2, answer::response(codes::internal_server_error));
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 1s);

  const auto h = d.fsm.health(d.now);
  EXPECT_EQ(h.messages_dead_lettered, 0U);
  EXPECT_EQ(h.messages_retried, 4U);
  EXPECT_EQ(h.consecutive_failures, 1U);
  ASSERT_TRUE(h.last_error);
  EXPECT_EQ(h.last_error->text, "publish unavailable: 5.00 Internal Server Error");
  EXPECT_EQ(h.state, device_state::ready);
}

TEST(DeviceFsm, AMessageAfterAnExpiredHoldGoesOutAtOnce) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  d.msg(1);
  d.result(1, answer::response(codes::internal_server_error));
  d.now += 1s;  // the owner's timer is late; a new message arrives first
  const auto sends = only<send_publish>(d.msg(2));
  ASSERT_EQ(sends.size(), 1U);
  EXPECT_EQ(sends[0].handle, 1U);  // order kept: the retried message first
}

TEST(DeviceFsm, AuthBadSignBacksOffExponentiallyCapped) {
  auto c = config_for(security_mode::aes);
  c.max_auth_rejections = 0;  // never give up
  driver d(c);
  d.start();
  d.up();
  std::vector<device_fsm::duration> delays;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(has<send_auth>(d.slot())) << i;
    const auto a = d.auth(answer::response(codes::unauthorized));
    EXPECT_FALSE(has<request_auth_slot>(a)) << "no fast retry";
    EXPECT_EQ(d.fsm.state(), device_state::backing_off);
    const auto deadline = d.fsm.next_deadline();
    ASSERT_TRUE(deadline);
    delays.push_back(*deadline - d.now);
    EXPECT_FALSE(has<request_auth_slot>(d.tick(*deadline - 1ns)));
    EXPECT_TRUE(has<request_auth_slot>(d.tick(*deadline)));
    EXPECT_EQ(d.fsm.state(), device_state::authenticating);
  }
  using dur = device_fsm::duration;
  EXPECT_EQ(delays, (std::vector<dur>{1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s}));
  const auto h = d.fsm.health(d.now);
  EXPECT_EQ(h.auth_failures, 8U);
  EXPECT_EQ(h.consecutive_failures, 8U);
  ASSERT_TRUE(h.last_error);
  EXPECT_EQ(h.last_error->ec, make_error_code(error::auth_rejected));
  EXPECT_EQ(h.last_error->text, "auth rejected: 4.01 Unauthorized");

  // A success resets the backoff.
  d.slot();
  d.ok_auth("t", 0);
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  EXPECT_EQ(d.fsm.health(d.now).consecutive_failures, 0U);
}

TEST(DeviceFsm, RepeatedAuthRefusalFailsPermanently) {
  auto c = config_for(security_mode::aes);
  c.max_auth_rejections = 3;
  driver d(c);
  d.start();
  d.up();
  for (int i = 0; i < 2; ++i) {
    d.slot();
    d.auth(answer::response(codes::unauthorized));
    d.tick(*d.fsm.next_deadline());
  }
  d.slot();
  const auto a = d.auth(answer::response(codes::unauthorized));
  EXPECT_EQ(d.fsm.state(), device_state::failed);
  EXPECT_TRUE(has<close_transport>(a));
  EXPECT_EQ(d.fsm.next_deadline(), std::nullopt);
  EXPECT_EQ(d.fsm.health(d.now).last_error->ec, make_error_code(error::too_many_rejections));
  EXPECT_TRUE(d.advance(1h).empty());
}

TEST(DeviceFsm, AuthConfigErrorFailsAtOnce) {
  driver d(config_for(security_mode::aes));
  d.start();
  d.up();
  d.slot();
  d.auth(answer::response(codes::unsupported_content_format));
  EXPECT_EQ(d.fsm.state(), device_state::failed);
  EXPECT_EQ(d.fsm.health(d.now).last_error->ec, make_error_code(error::auth_config_error));
}

TEST(DeviceFsm, AuthServerErrorAndBadBodyRetryWithBackoff) {
  driver d(config_for(security_mode::aes));
  d.start();
  d.up();
  d.slot();
  d.auth(answer::response(codes::internal_server_error));
  EXPECT_EQ(d.fsm.state(), device_state::backing_off);
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 1s);
  d.advance(1s);
  d.slot();
  d.auth(answer::response(codes::content), std::nullopt);  // 2.05 with a body we could not parse
  EXPECT_EQ(d.fsm.state(), device_state::backing_off);
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 2s);
  EXPECT_EQ(d.fsm.health(d.now).last_error->ec, make_error_code(error::auth_response_invalid));
}

// ---------------------------------------------------------------- renewal and seq

TEST(DeviceFsm, ProactiveRenewalAtTokenRefreshAfter) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t1", 100);
  const auto ready_at = d.now;
  EXPECT_EQ(d.fsm.next_deadline(), ready_at + std::chrono::hours(24 * 6));  // default 6 days

  EXPECT_FALSE(has<request_auth_slot>(d.tick(ready_at + std::chrono::hours(24 * 6) - 1ns)));
  auto a = d.tick(ready_at + std::chrono::hours(24 * 6));
  EXPECT_EQ(only<request_auth_slot>(a).size(), 1U);
  EXPECT_EQ(d.fsm.state(), device_state::renewing);

  // Publishing goes on with the current token while renewing.
  EXPECT_EQ(one<send_publish>(d.msg(1)).token, "t1");
  d.ack(1);
  d.slot();
  d.ok_auth("t2", 1000);
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  const auto p = one<send_publish>(d.msg(2));
  EXPECT_EQ(p.token, "t2");
  EXPECT_EQ(p.seq, 1001U);  // seq resets on re-auth
  EXPECT_EQ(d.fsm.next_deadline(), d.now + std::chrono::hours(24 * 6));
}

TEST(DeviceFsm, FailedRenewalKeepsPublishingAndRetries) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t1", 0);
  d.advance(std::chrono::hours(24 * 6));
  d.slot();
  d.auth(answer::response(codes::internal_server_error));
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  EXPECT_EQ(one<send_publish>(d.msg(1)).token, "t1");
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 1s);
  EXPECT_TRUE(has<request_auth_slot>(d.advance(1s)));
}

TEST(DeviceFsm, SeqStartsAtOffsetPlusOneAndNeverRepeatsWithinAToken) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 4000);
  std::vector<std::uint32_t> seqs;
  for (message_handle h = 1; h <= 50; ++h) {
    seqs.push_back(*one<send_publish>(d.msg(h)).seq);
    if (h % 5 == 0) {  // some need a resend after 5.00
      d.result(h, answer::response(codes::internal_server_error));
      seqs.push_back(*one<send_publish>(d.advance(1s)).seq);
    }
    d.ack(h);
  }
  EXPECT_EQ(seqs.front(), 4001U);
  EXPECT_EQ(std::set<std::uint32_t>(seqs.begin(), seqs.end()).size(), seqs.size());
  for (std::size_t i = 1; i < seqs.size(); ++i) {
    EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
  }
}

TEST(DeviceFsm, SeqWrapsAt32Bits) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0xFFFFFFFEU);
  EXPECT_EQ(one<send_publish>(d.msg(1)).seq, 0xFFFFFFFFU);
  d.ack(1);
  EXPECT_EQ(one<send_publish>(d.msg(2)).seq, 0U);
}

TEST(DeviceFsm, FirstSeqEqualsOffsetSwitch) {
  auto c = config_for(security_mode::aes);
  c.first_seq_equals_offset = true;  // spec §12 #4: what the C SDKs send
  driver d(c);
  d.make_ready_aes("t", 100);
  EXPECT_EQ(one<send_publish>(d.msg(1)).seq, 100U);
  d.ack(1);
  EXPECT_EQ(one<send_publish>(d.msg(2)).seq, 101U);
}

TEST(DeviceFsm, AuthSeqComesFromTheSeededPrng) {
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    driver a(config_for(security_mode::aes), seed);
    driver b(config_for(security_mode::aes), seed);
    for (auto* d : {&a, &b}) {
      d->start();
      d->up();
    }
    const auto sa = one<send_auth>(a.slot()).seq;
    EXPECT_EQ(sa, one<send_auth>(b.slot()).seq);  // deterministic
    seen.insert(sa);
  }
  EXPECT_GT(seen.size(), 15U);
}

// ---------------------------------------------------------------- transport and stop

TEST(DeviceFsm, TransportFailureRequeuesAndReopensAfterBackoffKeepingTheToken) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  d.msg(1);
  auto a = (d.fsm.transport_failed(d.now, std::make_error_code(std::errc::network_unreachable)), d.drain());
  EXPECT_EQ(one<retry_later>(a).handle, 1U);
  EXPECT_TRUE(has<close_transport>(a));
  EXPECT_EQ(d.fsm.state(), device_state::backing_off);
  EXPECT_EQ(d.fsm.health(d.now).last_error->ec, make_error_code(error::transport_failed));
  EXPECT_EQ(d.fsm.next_deadline(), d.now + 1s);

  EXPECT_TRUE(has<open_transport>(d.advance(1s)));
  EXPECT_EQ(d.fsm.state(), device_state::connecting);
  a = d.up();
  EXPECT_FALSE(has<request_auth_slot>(a));  // token still valid
  const auto p = one<send_publish>(a);
  EXPECT_EQ(p.handle, 1U);
  EXPECT_EQ(p.seq, 2U);
  // The old exchange's late answer is ignored.
  EXPECT_TRUE(d.result(99, answer::response(codes::changed)).empty());
}

TEST(DeviceFsm, SilentCloudMakesTheTransportReopenAfterConsecutiveTimeouts) {
  auto c = config_for(security_mode::dtls);
  c.reconnect_after_timeouts = 3;
  driver d(c);
  d.start();
  d.slot();
  d.up();
  d.ok_auth("t");
  ASSERT_EQ(one<send_publish>(d.msg(1)).handle, 1U);
  auto a = d.result(1, answer::timeout());
  EXPECT_FALSE(has<close_transport>(a));
  one<send_publish>(d.advance(1s));
  a = d.result(1, answer::timeout());
  EXPECT_FALSE(has<close_transport>(a));
  one<send_publish>(d.advance(2s));
  a = d.result(1, answer::timeout());
  EXPECT_TRUE(has<close_transport>(a));
  EXPECT_FALSE(has<dead_letter>(a));  // spec §6: never dead-letter a timeout
  EXPECT_EQ(d.fsm.state(), device_state::backing_off);
  EXPECT_EQ(d.fsm.health(d.now).last_error->ec, make_error_code(error::no_answer));

  // New handshake (through a slot), token kept, the message goes out again.
  EXPECT_TRUE(has<request_auth_slot>(d.tick(*d.fsm.next_deadline())));
  EXPECT_EQ(d.fsm.state(), device_state::handshaking);
  EXPECT_TRUE(has<open_transport>(d.slot()));
  d.now += 4s;  // the publish hold from the last timeout
  a = d.up();
  EXPECT_FALSE(has<send_auth>(a));
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  EXPECT_EQ(one<send_publish>(a).handle, 1U);
}

TEST(DeviceFsm, AnAnswerResetsTheTimeoutCount) {
  auto c = config_for(security_mode::aes);
  c.reconnect_after_timeouts = 2;
  driver d(c);
  d.make_ready_aes("t", 0);
  d.msg(1);
  d.result(1, answer::timeout());
  d.advance(1s);
  d.result(1, answer::response(codes::internal_server_error));
  d.advance(2s);
  EXPECT_FALSE(has<close_transport>(d.result(1, answer::timeout())));
}

TEST(DeviceFsm, RenewalInterruptedByATransportFailureIsRedone) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t1", 0);
  d.advance(std::chrono::hours(24 * 6));
  ASSERT_TRUE(has<send_auth>(d.slot()));
  d.fsm.transport_failed(d.now, std::make_error_code(std::errc::network_down));
  d.drain();
  d.tick(*d.fsm.next_deadline());
  EXPECT_TRUE(has<request_auth_slot>(d.up()));
  EXPECT_EQ(d.fsm.state(), device_state::renewing);
}

TEST(DeviceFsm, TransportFailureKeepsTheRenewalDeadline) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t1", 0);
  const auto renew = d.now + std::chrono::hours(24 * 6);
  d.advance(1h);
  d.fsm.transport_failed(d.now, std::make_error_code(std::errc::network_down));
  d.drain();
  d.tick(*d.fsm.next_deadline());
  d.up();
  EXPECT_EQ(d.fsm.state(), device_state::ready);
  EXPECT_EQ(d.fsm.next_deadline(), renew);
  EXPECT_TRUE(has<request_auth_slot>(d.tick(renew)));
}

TEST(DeviceFsm, StopAbortsCleanly) {
  auto c = config_for(security_mode::aes);
  driver d(c);
  d.make_ready_aes("t", 0);
  d.msg(1);
  d.msg(2);
  d.advance(std::chrono::hours(24 * 6));  // renewal waiting for a slot
  const auto a = (d.fsm.stop(d.now), d.drain());
  EXPECT_TRUE(has<cancel_auth_slot>(a));
  EXPECT_TRUE(has<close_transport>(a));
  const auto back = only<retry_later>(a);
  ASSERT_EQ(back.size(), 2U);
  EXPECT_EQ(back[0].handle, 1U);
  EXPECT_EQ(back[1].handle, 2U);
  EXPECT_EQ(d.fsm.state(), device_state::stopped);
  EXPECT_EQ(d.fsm.next_deadline(), std::nullopt);
  EXPECT_TRUE(d.result(1, answer::response(codes::changed)).empty());
  EXPECT_TRUE(d.slot().empty());
  EXPECT_TRUE(d.advance(1h).empty());
  EXPECT_TRUE(d.msg(3).empty());
}

TEST(DeviceFsm, StopThenStartBeginsAgain) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  d.fsm.stop(d.now);
  d.drain();
  EXPECT_TRUE(has<open_transport>(d.start()));
  EXPECT_TRUE(has<request_auth_slot>(d.up()));
}

// ---------------------------------------------------------------- many devices, one rate limit

TEST(DeviceFsm, HerdIsAdmittedAtTheRateAndAReadyDeviceIsNotDelayed) {
  constexpr std::size_t herd = 10'000;
  auth_scheduler sched(token_bucket(50, 50, t0));
  std::vector<device_fsm> fsms;
  fsms.reserve(herd + 1);
  for (std::size_t i = 0; i <= herd; ++i) {
    fsms.emplace_back(config_for(security_mode::aes), i);
  }
  std::size_t auths_sent = 0;
  const auto run = [&](std::size_t i, time_point now) {
    while (auto a = fsms[i].poll_action()) {
      if (std::holds_alternative<request_auth_slot>(*a)) {
        sched.enqueue(i);
      } else if (std::holds_alternative<open_transport>(*a)) {
        fsms[i].transport_up(now);
      } else if (std::holds_alternative<send_auth>(*a)) {
        ++auths_sent;
      }
    }
  };
  // Device `herd` is already ready with a token.
  const std::size_t ready = herd;
  fsms[ready].start(t0);
  run(ready, t0);
  std::vector<auth_scheduler::device_id> granted;
  sched.poll(t0, granted);
  fsms[ready].auth_slot_granted(t0);
  fsms[ready].auth_response(t0, answer::response(codes::content), auth_grant{"t", 0});
  run(ready, t0);
  ASSERT_EQ(fsms[ready].state(), device_state::ready);
  auths_sent = 0;

  // The herd starts at once.
  for (std::size_t i = 0; i < herd; ++i) {
    fsms[i].start(t0);
    run(i, t0);
  }
  ASSERT_EQ(sched.size(), herd);

  for (auto now = t0; now <= t0 + 10s; now += 10ms) {
    granted.clear();
    sched.poll(now, granted);
    for (const auto id : granted) {
      fsms[id].auth_slot_granted(now);
      run(id, now);
    }
    if (now == t0 + 5s) {
      // The ready device publishes at once, without waiting for the herd.
      fsms[ready].message_available(now, 42);
      const auto a = fsms[ready].poll_action();
      ASSERT_TRUE(a);
      ASSERT_TRUE(std::holds_alternative<send_publish>(*a));
      EXPECT_EQ(std::get<send_publish>(*a).handle, 42U);
    }
  }
  // The ready device's earlier grant used one burst token: 49 + 50 * 10.
  EXPECT_EQ(auths_sent, 49U + 500U);
  EXPECT_EQ(sched.size(), herd - auths_sent);
  EXPECT_EQ(fsms[0].state(), device_state::authenticating);
  EXPECT_EQ(fsms[herd - 1].state(), device_state::authenticating);
}

// ---------------------------------------------------------------- the cloud answers again (issue #6 item 4)

TEST(DeviceFsm, PathRecoveredEndsAPublishHoldFromATimeoutAtOnce) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  ASSERT_EQ(one<send_publish>(d.msg(1)).handle, 1U);
  d.result(1, answer::timeout());
  d.advance(1s);  // hold 1 s, resent
  auto a = d.result(1, answer::timeout());
  EXPECT_FALSE(has<send_publish>(a));
  ASSERT_EQ(d.fsm.next_deadline(), d.now + 2s);  // the publish back-off: 2 s
  EXPECT_TRUE(d.fsm.waiting_after_timeout());

  d.now += 100ms;
  EXPECT_TRUE(d.fsm.path_recovered(d.now));
  a = d.drain();
  EXPECT_EQ(one<send_publish>(a).handle, 1U);  // sent now, not at +2 s
  EXPECT_FALSE(d.fsm.waiting_after_timeout());
  EXPECT_FALSE(d.fsm.path_recovered(d.now));  // once: nothing left to end
  EXPECT_TRUE(d.drain().empty());
}

TEST(DeviceFsm, PathRecoveredLeavesABackoffFromARefusalAlone) {
  driver d(config_for(security_mode::aes));
  d.make_ready_aes("t", 0);
  d.msg(1);
  d.result(1, answer::response(codes::internal_server_error));  // the cloud answered: a real back-off
  const auto deadline = d.fsm.next_deadline();
  ASSERT_TRUE(deadline);
  EXPECT_FALSE(d.fsm.waiting_after_timeout());
  EXPECT_FALSE(d.fsm.path_recovered(d.now + 10ms));
  EXPECT_TRUE(d.drain().empty());
  EXPECT_EQ(d.fsm.next_deadline(), deadline);

  // Likewise an auth refusal (4.01) keeps its back-off.
  driver r(config_for(security_mode::aes));
  r.start();
  r.up();
  r.slot();
  r.auth(answer::response(codes::unauthorized));
  ASSERT_EQ(r.fsm.state(), device_state::backing_off);
  EXPECT_FALSE(r.fsm.path_recovered(r.now));
  EXPECT_EQ(r.fsm.state(), device_state::backing_off);
}

TEST(DeviceFsm, PathRecoveredEndsAnAuthBackoffFromSilenceThroughTheSlot) {
  auto c = config_for(security_mode::aes);
  c.reconnect_after_timeouts = 0;
  driver d(c);
  d.start();
  d.up();
  d.slot();
  d.advance(0s);
  d.auth(answer::timeout());  // /auth unanswered
  ASSERT_EQ(d.fsm.state(), device_state::backing_off);
  // The back-off doubles: let it grow to 4 s.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(has<request_auth_slot>(d.tick(*d.fsm.next_deadline())));
    ASSERT_TRUE(has<send_auth>(d.slot()));
    d.auth(answer::timeout());
  }
  ASSERT_EQ(d.fsm.next_deadline(), d.now + 4s);
  d.now += 1s;
  EXPECT_TRUE(d.fsm.path_recovered(d.now));
  const auto a = d.drain();
  EXPECT_TRUE(has<request_auth_slot>(a));  // the retry still waits for the (rate-limited) auth slot
  EXPECT_FALSE(has<send_auth>(a));
  EXPECT_EQ(d.fsm.state(), device_state::authenticating);
  EXPECT_TRUE(has<send_auth>(d.slot()));
}

TEST(DeviceFsm, PathRecoveredReopensATransportDroppedForSilence) {
  auto c = config_for(security_mode::dtls);
  c.reconnect_after_timeouts = 1;
  driver d(c);
  d.start();
  d.slot();
  d.up();
  d.ok_auth("t");
  d.msg(1);
  ASSERT_TRUE(has<close_transport>(d.result(1, answer::timeout())));
  ASSERT_EQ(d.fsm.state(), device_state::backing_off);
  EXPECT_TRUE(d.fsm.path_recovered(d.now + 10ms));
  EXPECT_TRUE(has<request_auth_slot>(d.drain()));  // the handshake, through the slot
  EXPECT_EQ(d.fsm.state(), device_state::handshaking);

  // A transport failure that was a refusal (not a timeout) keeps its back-off.
  driver r(c);
  r.start();
  r.slot();
  r.fsm.transport_failed(r.now, std::make_error_code(std::errc::connection_refused));
  r.drain();
  ASSERT_EQ(r.fsm.state(), device_state::backing_off);
  EXPECT_FALSE(r.fsm.path_recovered(r.now));
  // A handshake timeout does not.
  r.tick(*r.fsm.next_deadline());
  r.slot();
  r.fsm.transport_failed(r.now, std::make_error_code(std::errc::timed_out), true);
  r.drain();
  ASSERT_EQ(r.fsm.state(), device_state::backing_off);
  EXPECT_TRUE(r.fsm.path_recovered(r.now));
  EXPECT_TRUE(has<request_auth_slot>(r.drain()));
}

}  // namespace
}  // namespace gw::session
