#include "gateway/coap/reliability_layer.hpp"

#include <gtest/gtest.h>

#include <set>

namespace gw::coap {
namespace {

using namespace std::chrono_literals;
const time_point t0{};

exchange con_exchange() {
  exchange ex;
  ex.request = message(message_type::con, code::post, 1);
  return ex;
}

TEST(CoapReliabilityLayer, DoublesUntilMaxRetransmitThenFails) {
  transmission_params p;
  p.ack_random_factor = 1.0;
  const reliability_layer layer(p);
  prng random(1);
  exchange ex = con_exchange();
  layer.on_first_send(ex, t0, random);
  EXPECT_EQ(ex.current, exchange::state::awaiting_ack);
  EXPECT_EQ(ex.deadline, t0 + 2s);
  for (auto expected : {6s, 14s, 30s, 62s}) {
    ASSERT_EQ(layer.on_deadline(ex, ex.deadline), reliability_layer::action::retransmit);
    EXPECT_EQ(ex.deadline, t0 + expected);
  }
  EXPECT_EQ(ex.retransmissions, 4u);
  EXPECT_EQ(layer.on_deadline(ex, ex.deadline), reliability_layer::action::fail);
}

TEST(CoapReliabilityLayer, LateTimerRestartsFromNow) {
  transmission_params p;
  p.ack_random_factor = 1.0;
  const reliability_layer layer(p);
  prng random(1);
  exchange ex = con_exchange();
  layer.on_first_send(ex, t0, random);
  ASSERT_EQ(layer.on_deadline(ex, t0 + 3s), reliability_layer::action::retransmit);
  EXPECT_EQ(ex.deadline, t0 + 7s);
}

TEST(CoapReliabilityLayer, InitialTimeoutWithinRandomFactor) {
  transmission_params p;  // 2 s, 1.5
  const reliability_layer layer(p);
  prng random(42);
  std::set<duration::rep> seen;
  for (int i = 0; i < 1000; ++i) {
    const duration d = layer.initial_timeout(random);
    ASSERT_GE(d, 2s);
    ASSERT_LE(d, 3s);
    seen.insert(d.count());
  }
  EXPECT_GT(seen.size(), 900u);
}

TEST(CoapReliabilityLayer, EmptyAckWaitsForSeparateResponse) {
  transmission_params p;
  const reliability_layer layer(p);
  prng random(1);
  exchange ex = con_exchange();
  layer.on_first_send(ex, t0, random);
  layer.on_empty_ack(ex, t0 + 1s);
  EXPECT_EQ(ex.current, exchange::state::awaiting_response);
  EXPECT_TRUE(ex.acknowledged);
  EXPECT_EQ(ex.deadline, t0 + 61s);
  EXPECT_EQ(layer.on_deadline(ex, ex.deadline), reliability_layer::action::fail);
}

TEST(CoapReliabilityLayer, NonWaitsMaxTransmitWait) {
  transmission_params p;
  p.ack_random_factor = 1.0;
  const reliability_layer layer(p);
  prng random(1);
  exchange ex;
  ex.request = message(message_type::non, code::post, 1);
  layer.on_first_send(ex, t0, random);
  EXPECT_EQ(ex.current, exchange::state::awaiting_response);
  EXPECT_EQ(ex.deadline, t0 + 62s);  // RFC 7252 §4.8.2 MAX_TRANSMIT_WAIT with factor 1
  EXPECT_EQ(layer.on_deadline(ex, ex.deadline), reliability_layer::action::fail);
  EXPECT_EQ(transmission_params{}.max_transmit_wait(), 93s);
}

}  // namespace
}  // namespace gw::coap
