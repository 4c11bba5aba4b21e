// libFuzzer target: the CoAP decoder, encoder and endpoint on arbitrary datagrams (style habit 10).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/coap_decode_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!gw::coap::fuzz::check_coap_input({data, size})) std::abort();
  return 0;
}
