// libFuzzer target: the subscription record's parser over arbitrary file contents (queue.dir/subscriptions
// may be damaged by a crash or a hand edit; style habit 10).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/subscription_record_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!gw::app::fuzz::check_subscription_record({data, size})) std::abort();
  return 0;
}
