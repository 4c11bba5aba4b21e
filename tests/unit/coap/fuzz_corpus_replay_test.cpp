// Runs every file of the coap_decode fuzz corpus through the fuzz target's check, in ordinary builds.
#include <gtest/gtest.h>

#include "tests/fuzz/coap_decode_check.hpp"
#include "tests/fuzz/corpus_replay.hpp"

namespace gw::coap {
namespace {

TEST(CoapFuzzCorpusReplay, EveryCorpusFileKeepsTheContracts) {
  EXPECT_GE(gw::fuzz::replay_corpus(GW_COAP_CORPUS_DIR, fuzz::check_coap_input), 12u);
}

TEST(CoapFuzzCorpusReplay, CheckAcceptsEmptyAndTinyInputs) {
  EXPECT_TRUE(fuzz::check_coap_input({}));
  const std::uint8_t one[] = {0x40};
  EXPECT_TRUE(fuzz::check_coap_input(one));
}

}  // namespace
}  // namespace gw::coap
