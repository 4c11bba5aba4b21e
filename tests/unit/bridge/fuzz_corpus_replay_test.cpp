// Runs every file of the broker_input fuzz corpus through the fuzz target's check, in ordinary builds.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/broker_input_check.hpp"
#include "tests/fuzz/corpus_replay.hpp"

namespace gw::bridge {
namespace {

std::vector<std::uint8_t> input(std::string_view topic, std::string_view payload) {
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(topic.size())};
  out.insert(out.end(), topic.begin(), topic.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

TEST(BrokerInputFuzzCorpusReplay, EveryCorpusFileKeepsTheContracts) {
  EXPECT_GE(gw::fuzz::replay_corpus(GW_BROKER_INPUT_CORPUS_DIR, fuzz::check_broker_input), 10u);
}

// The check itself catches what it is for: these inputs pass, and each sub-check refuses a broken result.
TEST(BrokerInputFuzzCorpusReplay, CheckPassesKnownInputsAndRefusesBrokenResults) {
  EXPECT_TRUE(fuzz::check_broker_input({}));
  EXPECT_TRUE(fuzz::check_broker_input(input("sensors/dev/a/b", R"({"t":21.5})")));
  EXPECT_TRUE(fuzz::check_broker_input(input("cbor/dev", std::string(100, '[') + std::string(100, ']'))));
  EXPECT_TRUE(fuzz::check_broker_input(input("$SYS/x", R"({"token":"t","random":"r","seqOffset":1})")));
  EXPECT_TRUE(fuzz::check_route("sensors/dev/a/b"));
  EXPECT_TRUE(fuzz::check_route("sensors/nobody/x"));  // unknown device: refused, fine
  EXPECT_TRUE(fuzz::check_route("sensors/dev//b"));    // bad topic: refused, fine
  const std::string deep = std::string(max_json_depth + 1, '[') + std::string(max_json_depth + 1, ']');
  EXPECT_TRUE(fuzz::check_payload({reinterpret_cast<const std::uint8_t*>(deep.data()), deep.size()}));
}

}  // namespace
}  // namespace gw::bridge
