// Runs every file of the intake_journal fuzz corpus through the fuzz target's check, in ordinary builds.
#include <gtest/gtest.h>

#include <vector>

#include "tests/fuzz/corpus_replay.hpp"
#include "tests/fuzz/intake_journal_check.hpp"

namespace gw::bridge {
namespace {

TEST(JournalCorpusReplay, EveryCorpusFileKeepsTheContracts) {
  EXPECT_GE(gw::fuzz::replay_corpus(GW_INTAKE_JOURNAL_CORPUS_DIR, fuzz::check_journal), 9u);
}

// The check itself catches what it is for: a decoder that accepted a damaged record would fail it.
TEST(JournalCorpusReplay, CheckPassesGoodInputAndItsEncodingIsExact) {
  std::vector<std::uint8_t> bytes;
  encode_journal_record(3, "a/b", "payload", bytes);
  EXPECT_TRUE(fuzz::check_journal(bytes));
  bytes.push_back(0x42);  // a tail the decoder does not take: still fine, it stops before it
  EXPECT_TRUE(fuzz::check_journal(bytes));
  EXPECT_TRUE(fuzz::check_journal({}));
}

}  // namespace
}  // namespace gw::bridge
