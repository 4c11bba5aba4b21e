// libFuzzer target: MQTT topics through the router, MQTT payloads through the CBOR re-encoder, and /auth
// answers through their parser (style habit 10; shared/design.md §2 "every input may be hostile").
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/broker_input_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!gw::bridge::fuzz::check_broker_input({data, size})) std::abort();
  return 0;
}
