// Lockstep tests (Californium style): every datagram in and out is scripted, time is virtual.
#include "gateway/coap/endpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "gateway/coap/codec.hpp"
#include "tests/unit/coap/wire.hpp"

namespace gw::coap {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::hex;

const time_point t0{};

transmission_params lockstep_params() {
  transmission_params p;
  p.ack_timeout = 2s;
  p.ack_random_factor = 1.0;
  return p;
}

message post(std::string_view path = "topic/a") {
  message m(message_type::con, code::post);
  m.set_uri_path(path);
  m.set_payload("{}");
  return m;
}

std::vector<bytes> drain(endpoint& ep) {
  std::vector<bytes> out;
  bytes d;
  while (ep.poll_transmit(d)) out.push_back(d);
  return out;
}

message decoded(const bytes& wire) {
  message m;
  EXPECT_EQ(decode(wire, m), std::error_code{});
  return m;
}

bytes wire(const message& m) {
  bytes out;
  encode(m, out);
  return out;
}

/// The peer's answer to `request` of the given type and code, carrying the request's token.
bytes answer(const message& request, message_type type, std::uint8_t c, std::uint16_t mid) {
  message r(type, c, mid);
  r.set_token(request.token());
  r.set_payload("ok");
  return wire(r);
}

bytes piggybacked(const message& request, std::uint8_t c = code::changed) {
  return answer(request, message_type::ack, c, request.message_id());
}

TEST(CoapEndpoint, UnansweredConIsSentAt0_2_6_14_30AndFailsAt62) {
  endpoint ep(lockstep_params(), 0x1000, 1);
  const request_id id = ep.send(t0, post());
  auto first = drain(ep);
  ASSERT_EQ(first.size(), 1u);
  const message sent = decoded(first[0]);
  EXPECT_EQ(sent.type(), message_type::con);
  EXPECT_EQ(sent.message_id(), 0x1000);
  EXPECT_EQ(sent.token().size(), 4u);
  EXPECT_EQ(sent.uri_path(), "topic/a");

  for (auto at : {2s, 6s, 14s, 30s}) {
    ASSERT_EQ(ep.next_deadline(), t0 + at);
    ep.on_timer(t0 + at - 1ns);
    EXPECT_TRUE(drain(ep).empty()) << "early at " << at.count();
    ep.on_timer(t0 + at);
    const auto again = drain(ep);
    ASSERT_EQ(again.size(), 1u) << at.count();
    EXPECT_EQ(again[0], first[0]);  // RFC 7252 §4.2: the identical datagram
    EXPECT_FALSE(ep.poll_event());
  }
  ASSERT_EQ(ep.next_deadline(), t0 + 62s);
  ep.on_timer(t0 + 62s - 1ns);
  EXPECT_FALSE(ep.poll_event());
  ep.on_timer(t0 + 62s);
  EXPECT_TRUE(drain(ep).empty());
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_EQ(event->ec, error::timeout);
  EXPECT_EQ(event->retransmissions, 4u);
  EXPECT_EQ(event->rtt, 62s);
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.next_deadline(), std::nullopt);
  EXPECT_EQ(ep.outstanding(), 0u);
  EXPECT_EQ(ep.stats().sent, 5u);
  EXPECT_EQ(ep.stats().retransmitted, 4u);
  EXPECT_EQ(ep.stats().timeouts, 1u);
}

TEST(CoapEndpoint, LateAckAfterRetransmissionCompletesOnce) {
  endpoint ep(lockstep_params(), 7, 1);
  const request_id id = ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_timer(t0 + 2s);
  ASSERT_EQ(drain(ep).size(), 1u);
  const bytes ack = piggybacked(sent, code::changed);
  ep.on_datagram(t0 + 3s, ack);
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_FALSE(event->ec);
  EXPECT_EQ(event->response.code(), code::changed);
  EXPECT_EQ(event->retransmissions, 1u);
  EXPECT_EQ(event->rtt, 3s);
  // The ACK of the retransmission arrives too: nothing happens.
  ep.on_datagram(t0 + 3500ms, ack);
  EXPECT_FALSE(ep.poll_event());
  EXPECT_TRUE(drain(ep).empty());
  EXPECT_EQ(ep.next_deadline(), std::nullopt);
}

TEST(CoapEndpoint, RetransmitNowResendsABackedOffConOnceAndRestartsItsSchedule) {
  endpoint ep(lockstep_params(), 0x2000, 1);
  const request_id id = ep.send(t0, post());
  const auto first = drain(ep);
  ASSERT_EQ(first.size(), 1u);
  // Not yet retransmitted: in its first wait, not in back-off; nothing to do.
  EXPECT_FALSE(ep.backing_off());
  EXPECT_EQ(ep.retransmit_now(t0 + 1s), 0u);
  EXPECT_TRUE(drain(ep).empty());
  ep.on_timer(t0 + 2s);
  ep.on_timer(t0 + 6s);
  ASSERT_EQ(drain(ep).size(), 2u);
  ASSERT_EQ(ep.next_deadline(), t0 + 14s);  // the next retransmission would wait until 14 s
  EXPECT_TRUE(ep.backing_off());

  // Evidence at 7 s: sent now, the identical datagram, and the next wait is the initial 2 s again.
  EXPECT_EQ(ep.retransmit_now(t0 + 7s), 1u);
  const auto now_sent = drain(ep);
  ASSERT_EQ(now_sent.size(), 1u);
  EXPECT_EQ(now_sent[0], first[0]);
  EXPECT_EQ(ep.next_deadline(), t0 + 9s);
  EXPECT_EQ(ep.stats().retransmitted, 3u);

  // Then the schedule doubles from there: the 4th retransmission (MAX_RETRANSMIT) at 9 s is the last; it
  // fails after its wait, at 9 + 4 = 13 s.
  ep.on_timer(t0 + 9s);
  ASSERT_EQ(drain(ep).size(), 1u);
  EXPECT_EQ(ep.next_deadline(), t0 + 13s);
  ep.on_timer(t0 + 13s);
  EXPECT_TRUE(drain(ep).empty());
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_EQ(event->ec, error::timeout);
  EXPECT_EQ(event->retransmissions, 4u);
}

TEST(CoapEndpoint, RetransmitNowIsBoundedToOneExtraTransmission) {
  endpoint ep(lockstep_params(), 0x2100, 1);
  ep.send(t0, post());
  drain(ep);
  for (auto at : {2s, 6s, 14s, 30s}) ep.on_timer(t0 + at);
  ASSERT_EQ(drain(ep).size(), 4u);  // MAX_RETRANSMIT reached, waiting until 62 s
  EXPECT_EQ(ep.retransmit_now(t0 + 31s), 1u);
  EXPECT_EQ(drain(ep).size(), 1u);
  EXPECT_EQ(ep.next_deadline(), t0 + 33s);
  EXPECT_EQ(ep.retransmit_now(t0 + 32s), 0u);  // bounded: no second extra transmission
  EXPECT_TRUE(drain(ep).empty());
  ep.on_timer(t0 + 33s);
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->ec, error::timeout);
  EXPECT_EQ(event->retransmissions, 5u);
}

TEST(CoapEndpoint, RetransmitNowLeavesACopySentOnTheWorkingPath) {
  // Another session's answered copy left at 2.3 s: the path worked from then on. This request's last copy
  // left at 2 s (before: it may have been lost, resend it) in one case and at 2.3 s (after: its answer is
  // on its way, a resend would only be a duplicate at the peer) in the other.
  endpoint ep(lockstep_params(), 0x2300, 1);
  ep.send(t0, post());
  drain(ep);
  ep.on_timer(t0 + 2s);
  ASSERT_EQ(drain(ep).size(), 1u);
  EXPECT_EQ(ep.retransmit_now(t0 + 2400ms, t0 + 2s), 0u);  // sent exactly when the path was seen working
  EXPECT_TRUE(drain(ep).empty());
  EXPECT_EQ(ep.next_deadline(), t0 + 6s);  // its own schedule stands
  EXPECT_EQ(ep.retransmit_now(t0 + 2400ms, t0 + 2300ms), 1u);
  EXPECT_EQ(drain(ep).size(), 1u);
}

TEST(CoapEndpoint, TheEventNamesWhenTheAnsweredCopyLeft) {
  endpoint ep(lockstep_params(), 0x2400, 1);
  ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_timer(t0 + 2s);
  drain(ep);
  ep.on_datagram(t0 + 2100ms, piggybacked(sent));
  const auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->answered_copy_sent, t0 + 2s);  // the retransmission, not the first copy
  EXPECT_EQ(event->rtt, 2100ms);
}

TEST(CoapEndpoint, RetransmitNowThenAnswerCompletes) {
  endpoint ep(lockstep_params(), 0x2200, 1);
  const request_id id = ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_timer(t0 + 2s);
  drain(ep);
  ASSERT_EQ(ep.retransmit_now(t0 + 3s), 1u);
  drain(ep);
  ep.on_datagram(t0 + 3100ms, piggybacked(sent));
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_FALSE(event->ec);
  EXPECT_EQ(event->retransmissions, 2u);
  EXPECT_FALSE(ep.backing_off());
  EXPECT_EQ(ep.retransmit_now(t0 + 4s), 0u);
  EXPECT_EQ(ep.next_deadline(), std::nullopt);
}

TEST(CoapEndpoint, RstFailsWithReset) {
  endpoint ep(lockstep_params(), 7, 1);
  const request_id id = ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, wire(make_rst(sent.message_id())));
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_EQ(event->ec, error::reset);
  EXPECT_EQ(ep.stats().resets, 1u);
  EXPECT_EQ(ep.next_deadline(), std::nullopt);
}

TEST(CoapEndpoint, RstWithOtherMidIsIgnored) {
  endpoint ep(lockstep_params(), 7, 1);
  ep.send(t0, post());
  drain(ep);
  ep.on_datagram(t0 + 1s, wire(make_rst(8)));
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.outstanding(), 1u);
}

TEST(CoapEndpoint, SeparateResponseIsAckedAndDelivered) {
  endpoint ep(lockstep_params(), 0x0100, 1);
  const request_id id = ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, wire(make_empty_ack(sent.message_id())));
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.next_deadline(), t0 + 61s);  // no more retransmissions, wait for the response
  ep.on_timer(t0 + 2s);
  EXPECT_TRUE(drain(ep).empty());

  ep.on_datagram(t0 + 5s, answer(sent, message_type::con, code::content, 0x7A01));
  const auto out = drain(ep);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], hex("60 00 7a 01"));  // empty ACK (ver 1, ACK, TKL 0, 0.00), the response's MID
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_FALSE(event->ec);
  EXPECT_EQ(event->response.code(), code::content);
  EXPECT_EQ(event->response.payload(), test::ascii("ok"));
  EXPECT_EQ(event->retransmissions, 0u);
  EXPECT_EQ(event->rtt, 5s);
  EXPECT_EQ(ep.stats().acks_sent, 1u);
}

TEST(CoapEndpoint, SeparateResponseTimeout) {
  endpoint ep(lockstep_params(), 1, 1);
  const request_id id = ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, wire(make_empty_ack(sent.message_id())));
  ep.on_timer(t0 + 61s - 1ns);
  EXPECT_FALSE(ep.poll_event());
  ep.on_timer(t0 + 61s);
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_EQ(event->ec, error::separate_response_timeout);
  EXPECT_EQ(ep.stats().timeouts, 1u);
}

TEST(CoapEndpoint, DuplicateConResponseIsReAckedAndDeliveredOnce) {
  endpoint ep(lockstep_params(), 1, 1);
  ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, wire(make_empty_ack(sent.message_id())));
  const bytes response = answer(sent, message_type::con, code::changed, 0x4242);
  ep.on_datagram(t0 + 2s, response);
  ep.on_datagram(t0 + 4s, response);  // our ACK was lost; the peer retransmits
  const auto out = drain(ep);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], hex("60 00 42 42"));
  EXPECT_EQ(out[1], hex("60 00 42 42"));
  ASSERT_TRUE(ep.poll_event());
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.stats().duplicates, 1u);
  EXPECT_EQ(ep.stats().acks_sent, 2u);
  EXPECT_EQ(ep.stats().rsts_sent, 0u);
  // The MID is remembered for EXCHANGE_LIFETIME, then forgotten.
  EXPECT_EQ(ep.next_deadline(), t0 + 2s + 247s);
  ep.on_timer(t0 + 249s);
  EXPECT_EQ(ep.next_deadline(), std::nullopt);
}

TEST(CoapEndpoint, ConResponseBeforeEmptyAckCompletes) {
  // RFC 7252 §5.2.2: the separate response may overtake the empty ACK.
  endpoint ep(lockstep_params(), 1, 1);
  ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, answer(sent, message_type::con, code::changed, 0x0900));
  EXPECT_EQ(drain(ep), std::vector<bytes>{hex("60 00 09 00")});
  ASSERT_TRUE(ep.poll_event());
  ep.on_datagram(t0 + 1s, wire(make_empty_ack(sent.message_id())));
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.outstanding(), 0u);
}

TEST(CoapEndpoint, NonResponseDeliveredOnce) {
  endpoint ep(lockstep_params(), 1, 1);
  ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, wire(make_empty_ack(sent.message_id())));
  const bytes response = answer(sent, message_type::non, code::changed, 0x0A00);
  ep.on_datagram(t0 + 2s, response);
  ep.on_datagram(t0 + 3s, response);
  EXPECT_TRUE(drain(ep).empty());
  ASSERT_TRUE(ep.poll_event());
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.stats().duplicates, 1u);
}

TEST(CoapEndpoint, PiggybackedResponseWithWrongTokenIsIgnored) {
  endpoint ep(lockstep_params(), 1, 1);
  ep.send(t0, post());
  const message sent = decoded(drain(ep).at(0));
  message bad(message_type::ack, code::changed, sent.message_id());
  bad.set_token(hex("de ad be ef ff"));
  ep.on_datagram(t0 + 1s, wire(bad));
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.outstanding(), 1u);
  EXPECT_EQ(ep.next_deadline(), t0 + 2s);
}

TEST(CoapEndpoint, UnknownConResponseGetsRstAndNonIsIgnored) {
  endpoint ep(lockstep_params(), 1, 1);
  message stray(message_type::con, code::content, 0x5555);
  stray.set_token(hex("01 02 03 04"));
  ep.on_datagram(t0, wire(stray));
  EXPECT_EQ(drain(ep), std::vector<bytes>{hex("70 00 55 55")});
  stray.set_type(message_type::non);
  ep.on_datagram(t0, wire(stray));
  EXPECT_TRUE(drain(ep).empty());
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.stats().rsts_sent, 1u);
}

TEST(CoapEndpoint, PingAndPeerRequestsGetRst) {
  endpoint ep(lockstep_params(), 1, 1);
  ep.on_datagram(t0, hex("40 00 12 34"));  // empty CON: CoAP ping (spec §7)
  EXPECT_EQ(drain(ep), std::vector<bytes>{hex("70 00 12 34")});
  message request(message_type::con, code::get, 0x2222);
  request.set_uri_path("pull");
  ep.on_datagram(t0, wire(request));
  EXPECT_EQ(drain(ep), std::vector<bytes>{hex("70 00 22 22")});
  ep.on_datagram(t0, hex("40 e0 33 33"));  // reserved class 7
  EXPECT_EQ(drain(ep), std::vector<bytes>{hex("70 00 33 33")});
  EXPECT_EQ(ep.stats().rsts_sent, 3u);
  EXPECT_FALSE(ep.poll_event());
}

TEST(CoapEndpoint, MalformedIsCountedAndDropped) {
  endpoint ep(lockstep_params(), 1, 1);
  ep.send(t0, post());
  drain(ep);
  ep.on_datagram(t0 + 1s, hex("40"));
  ep.on_datagram(t0 + 1s, hex("80 01 00 01"));
  ep.on_datagram(t0 + 1s, hex("60 00 00 01 ff"));
  EXPECT_TRUE(drain(ep).empty());
  EXPECT_FALSE(ep.poll_event());
  EXPECT_EQ(ep.stats().received, 3u);
  EXPECT_EQ(ep.stats().malformed, 3u);
  EXPECT_EQ(ep.outstanding(), 1u);
}

TEST(CoapEndpoint, NstartQueuesInFifoOrder) {
  endpoint ep(lockstep_params(), 100, 1);
  const request_id a = ep.send(t0, post("a"));
  const request_id b = ep.send(t0, post("b"));
  const request_id c = ep.send(t0, post("c"));
  EXPECT_EQ(ep.outstanding(), 1u);
  EXPECT_EQ(ep.queued(), 2u);
  auto out = drain(ep);
  ASSERT_EQ(out.size(), 1u);
  const message sa = decoded(out[0]);
  EXPECT_EQ(sa.uri_path(), "a");

  ep.on_datagram(t0 + 1s, piggybacked(sa));
  out = drain(ep);
  ASSERT_EQ(out.size(), 1u);
  const message sb = decoded(out[0]);
  EXPECT_EQ(sb.uri_path(), "b");
  EXPECT_EQ(sb.message_id(), 101);
  EXPECT_FALSE(std::ranges::equal(sb.token(), sa.token()));
  EXPECT_EQ(ep.next_deadline(), t0 + 3s);  // b's timer starts when b is sent
  EXPECT_EQ(ep.poll_event()->id, a);

  ep.on_datagram(t0 + 2s, wire(make_rst(sb.message_id())));
  out = drain(ep);
  ASSERT_EQ(out.size(), 1u);
  const message sc = decoded(out[0]);
  EXPECT_EQ(sc.uri_path(), "c");
  EXPECT_EQ(sc.message_id(), 102);
  EXPECT_EQ(ep.poll_event()->id, b);
  ep.on_datagram(t0 + 3s, piggybacked(sc));
  EXPECT_EQ(ep.poll_event()->id, c);
  EXPECT_EQ(ep.outstanding(), 0u);
  EXPECT_EQ(ep.queued(), 0u);
}

TEST(CoapEndpoint, NstartTwoSendsTwoAtOnce) {
  transmission_params p = lockstep_params();
  p.nstart = 2;
  endpoint ep(p, 1, 1);
  ep.send(t0, post("a"));
  ep.send(t0, post("b"));
  ep.send(t0, post("c"));
  EXPECT_EQ(drain(ep).size(), 2u);
  EXPECT_EQ(ep.outstanding(), 2u);
  EXPECT_EQ(ep.queued(), 1u);
}

TEST(CoapEndpoint, RandomFactorKeepsFirstTimeoutWithinBounds) {
  transmission_params p;  // ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5
  std::set<duration::rep> seen;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    endpoint ep(p, 1, seed);
    ep.send(t0, post());
    const auto deadline = ep.next_deadline();
    ASSERT_TRUE(deadline);
    ASSERT_GE(*deadline - t0, 2s);
    ASSERT_LE(*deadline - t0, 3s);
    seen.insert((*deadline - t0).count());
  }
  EXPECT_GT(seen.size(), 150u);  // the draw is actually random across seeds
}

TEST(CoapEndpoint, SameSeedSameTokens) {
  endpoint a(lockstep_params(), 1, 99);
  endpoint b(lockstep_params(), 1, 99);
  a.send(t0, post());
  b.send(t0, post());
  EXPECT_EQ(drain(a), drain(b));
}

TEST(CoapEndpoint, TokenLengthFollowsParams) {
  transmission_params p = lockstep_params();
  p.token_length = 8;
  endpoint ep(p, 1, 1);
  ep.send(t0, post());
  EXPECT_EQ(decoded(drain(ep).at(0)).token().size(), 8u);
}

TEST(CoapEndpoint, CancelOutstandingReportsNothingAndStartsNext) {
  endpoint ep(lockstep_params(), 1, 1);
  const request_id a = ep.send(t0, post("a"));
  ep.send(t0 + 1s, post("b"));
  const message sa = decoded(drain(ep).at(0));
  ep.cancel(a);
  EXPECT_EQ(ep.outstanding(), 0u);
  EXPECT_EQ(ep.next_deadline(), t0 + 1s);  // due now: the driver calls on_timer to start b
  ep.on_timer(t0 + 1500ms);
  const auto out = drain(ep);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(decoded(out[0]).uri_path(), "b");
  EXPECT_EQ(ep.next_deadline(), t0 + 3500ms);
  // A late answer to the cancelled request is not delivered.
  ep.on_datagram(t0 + 2s, piggybacked(sa));
  EXPECT_FALSE(ep.poll_event());
  // Cancelling something queued or unknown is harmless.
  const request_id c = ep.send(t0 + 2s, post("c"));
  EXPECT_EQ(ep.queued(), 1u);
  ep.cancel(c);
  ep.cancel(12345);
  EXPECT_EQ(ep.queued(), 0u);
  EXPECT_EQ(ep.outstanding(), 1u);
}

TEST(CoapEndpoint, NonRequestIsNotRetransmitted) {
  endpoint ep(lockstep_params(), 1, 1);
  message m = post();
  m.set_type(message_type::non);
  const request_id id = ep.send(t0, m);
  const message sent = decoded(drain(ep).at(0));
  EXPECT_EQ(sent.type(), message_type::non);
  EXPECT_EQ(ep.next_deadline(), t0 + 62s);  // MAX_TRANSMIT_WAIT with factor 1
  ep.on_timer(t0 + 2s);
  EXPECT_TRUE(drain(ep).empty());
  ep.on_timer(t0 + 62s);
  EXPECT_TRUE(drain(ep).empty());
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_EQ(event->ec, error::timeout);
  EXPECT_EQ(event->retransmissions, 0u);
}

TEST(CoapEndpoint, NonRequestAnsweredByNonResponse) {
  endpoint ep(lockstep_params(), 1, 1);
  message m = post();
  m.set_type(message_type::non);
  const request_id id = ep.send(t0, m);
  const message sent = decoded(drain(ep).at(0));
  ep.on_datagram(t0 + 1s, answer(sent, message_type::non, code::changed, 0x3000));
  auto event = ep.poll_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id, id);
  EXPECT_FALSE(event->ec);
}

TEST(CoapEndpoint, MessageIdsIncrementAndWrap) {
  endpoint ep(lockstep_params(), 0xFFFF, 1);
  for (std::uint16_t expected : {0xFFFF, 0x0000, 0x0001}) {
    ep.send(t0, post());
    const message sent = decoded(drain(ep).at(0));
    EXPECT_EQ(sent.message_id(), expected);
    ep.on_datagram(t0, piggybacked(sent));
    ASSERT_TRUE(ep.poll_event());
  }
}

}  // namespace
}  // namespace gw::coap
