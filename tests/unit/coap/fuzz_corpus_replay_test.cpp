// Runs every file of the coap_decode fuzz corpus through the fuzz target's check, in ordinary builds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "tests/fuzz/coap_decode_check.hpp"

namespace gw::coap {
namespace {

TEST(CoapFuzzCorpusReplay, EveryCorpusFileKeepsTheContracts) {
  const std::filesystem::path dir = GW_COAP_CORPUS_DIR;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<std::uint8_t> data{std::istreambuf_iterator<char>(in),
                                         std::istreambuf_iterator<char>()};
    EXPECT_TRUE(fuzz::check_coap_input(data)) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 12u);
}

TEST(CoapFuzzCorpusReplay, CheckAcceptsEmptyAndTinyInputs) {
  EXPECT_TRUE(fuzz::check_coap_input({}));
  const std::uint8_t one[] = {0x40};
  EXPECT_TRUE(fuzz::check_coap_input(one));
}

}  // namespace
}  // namespace gw::coap
