#pragma once

// The property both coap_decode_fuzz and the coap_fuzz_corpus_replay test check on every input.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gateway/coap/codec.hpp"
#include "gateway/coap/endpoint.hpp"

namespace gw::coap::fuzz {

/// Returns false if the codec or endpoint broke a contract on `data`:
/// decode -> encode -> decode must give an equal message, the re-encoding must be byte-identical and as long
/// as encoded_size() says; an endpoint fed the input (as a whole datagram, and split at its first byte's
/// value into two datagrams) must stay consistent. Crashes and sanitizer reports are caught by the harness.
inline bool check_coap_input(std::span<const std::uint8_t> data) {
  message first;
  if (!decode(data, first)) {
    std::vector<std::uint8_t> wire;
    encode(first, wire);
    if (wire.size() != encoded_size(first)) return false;
    message second;
    if (decode(wire, second)) return false;
    if (!(first == second)) return false;
    std::vector<std::uint8_t> again;
    encode(second, again);
    if (again != wire) return false;
  }

  // An endpoint with a request in flight, fed the input as the peer's datagrams.
  transmission_params params;
  params.ack_random_factor = 1.0;
  params.max_dedup_entries = 4;
  endpoint ep(params, 0x1234, data.empty() ? 0 : data[0]);
  const time_point t0{};
  message request(message_type::con, code::post);
  request.set_uri_path("topic/a");
  ep.send(t0, request);
  std::vector<std::uint8_t> out;
  while (ep.poll_transmit(out)) {
  }
  const std::size_t split = data.empty() ? 0 : data[0] % data.size();
  ep.on_datagram(t0 + std::chrono::seconds(1), data);
  ep.on_datagram(t0 + std::chrono::seconds(1), data.first(split));
  ep.on_datagram(t0 + std::chrono::seconds(1), data.subspan(split));
  ep.on_datagram(t0 + std::chrono::seconds(1), data);
  while (auto deadline = ep.next_deadline()) {
    ep.on_timer(*deadline);
    if (*deadline > t0 + std::chrono::hours(1)) return false;
    while (ep.poll_transmit(out)) {
      message m;
      if (decode(out, m)) return false;  // everything we send must decode
    }
    while (ep.poll_event()) {
    }
  }
  const auto& s = ep.stats();
  return s.received == 4 && s.malformed <= s.received && ep.outstanding() == 0 && ep.queued() == 0;
}

}  // namespace gw::coap::fuzz
