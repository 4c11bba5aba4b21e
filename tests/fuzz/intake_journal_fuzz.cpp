// libFuzzer target: the intake journal's decoder over arbitrary file contents (a crash or power loss can
// leave any bytes at the end of a journal file; style habit 10).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/intake_journal_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!gw::bridge::fuzz::check_journal({data, size})) std::abort();
  return 0;
}
