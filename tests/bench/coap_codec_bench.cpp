// Encode/decode cost of the typical publish: shared/protocol/alibaba-coap.md §10 (125 B POST /topic/...).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "gateway/coap/codec.hpp"
#include "gateway/coap/message.hpp"

namespace {

using gw::coap::message;

message publish() {
  static constexpr std::uint8_t seq[] = {0xc7, 0x20, 0x56, 0xb7, 0xed, 0x69, 0xaa, 0xcb,
                                         0xa8, 0x26, 0x15, 0xa9, 0x51, 0x22, 0x5d, 0xfa};
  static constexpr std::uint8_t ciphertext[] = {0xd9, 0x66, 0xaf, 0xbb, 0xef, 0x6a, 0x80, 0x98,
                                                0x4a, 0x95, 0x06, 0x5c, 0xc3, 0x4d, 0x56, 0x31};
  static constexpr std::uint8_t token[] = {0xa1, 0xa2, 0xa3, 0xa4};
  message m(gw::coap::message_type::con, gw::coap::code::post, 0x1234);
  m.set_token(token);
  m.set_uri_path("/topic/a1B2c3D4e5F/sensor-001/user/update");
  m.add_uint_option(gw::coap::option_number::content_format, gw::coap::content_format::json);
  m.add_option(gw::coap::option_number::auth_token, std::string_view("T0kEnExAmPlE0123456789abcdef00.abcd"));
  m.add_option(gw::coap::option_number::aes_seq, seq);
  m.set_payload(ciphertext);
  return m;
}

void BM_EncodePublish(benchmark::State& state) {
  const message m = publish();
  std::vector<std::uint8_t> out;
  for (auto _ : state) {
    out.clear();
    gw::coap::encode(m, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_EncodePublish);

void BM_DecodePublish(benchmark::State& state) {
  std::vector<std::uint8_t> wire;
  gw::coap::encode(publish(), wire);
  for (auto _ : state) {
    message m;
    const auto ec = gw::coap::decode(wire, m);
    benchmark::DoNotOptimize(ec);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_DecodePublish);

void BM_BuildAndEncodePublish(benchmark::State& state) {
  std::vector<std::uint8_t> out;
  for (auto _ : state) {
    out.clear();
    gw::coap::encode(publish(), out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_BuildAndEncodePublish);

}  // namespace
