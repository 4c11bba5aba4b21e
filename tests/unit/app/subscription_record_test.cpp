#include "gateway/app/subscription_record.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/fuzz/corpus_replay.hpp"
#include "tests/fuzz/subscription_record_check.hpp"
#include "tests/support/process.hpp"

namespace gw::app {
namespace {

using Filters = std::vector<std::string>;

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(SubscriptionRecord, WrittenRecordReadsBackIncludingOddFilters) {
  test::scratch_dir dir("gw-subrec");
  const auto file = dir.path() / "subscriptions";
  const subscription_record r{"gw-1", {"sensors/+/#", "a \"quoted\"/+", "new\nline/#", "ü/+"}};
  std::error_code ec;
  write_subscription_record(file, r, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "subscriptions.tmp"));
  const auto back = read_subscription_record(file, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->client_id, "gw-1");
  EXPECT_EQ(back->filters, r.filters);

  write_subscription_record(file, {"gw-1", {"only/+"}}, ec);  // replaces the old record
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(read_subscription_record(file, ec)->filters, Filters{"only/+"});
}

TEST(SubscriptionRecord, NoFileIsNoRecordAndNoError) {
  test::scratch_dir dir("gw-subrec");
  std::error_code ec;
  EXPECT_FALSE(read_subscription_record(dir.path() / "subscriptions", ec));
  EXPECT_FALSE(ec) << ec.message();
}

TEST(SubscriptionRecord, DamagedOrHostileFilesAreRefusedWithBadMessage) {
  test::scratch_dir dir("gw-subrec");
  const auto file = dir.path() / "subscriptions";
  for (const std::string& text : std::vector<std::string>{
           "", "not json", "{\"client_id\":\"gw\",\"filters\":[\"a/+\"", "[]", "{\"filters\":[]}",
           "{\"client_id\":7,\"filters\":[]}", "{\"client_id\":\"gw\",\"filters\":\"a/+\"}",
           "{\"client_id\":\"gw\",\"filters\":[\"a\",1]}", std::string("\0\xff\xfe{", 4),
           std::string(100000, '['),
           // Valid JSON nested a million deep: parsed, then refused (and destroyed without recursion).
           "{\"client_id\":\"gw\",\"filters\":" + std::string(1000000, '[') + std::string(1000000, ']') +
               "}"}) {
    write_text(file, text);
    std::error_code ec;
    EXPECT_FALSE(read_subscription_record(file, ec)) << text.substr(0, 40);
    EXPECT_EQ(ec, std::errc::bad_message) << text.substr(0, 40);
  }
}

TEST(SubscriptionRecord, WritingIntoAMissingDirectoryFailsAndLeavesNothing) {
  test::scratch_dir dir("gw-subrec");
  std::error_code ec;
  write_subscription_record(dir.path() / "gone" / "subscriptions", {"gw", {"a/+"}}, ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "gone"));
}

TEST(SubscriptionRecord, StaleFiltersAreThoseOfThisClientNoRouteWants) {
  const subscription_record prev{"gw-1", {"old/+", "sensors/+/#", "old/+", "gone/#"}};
  EXPECT_EQ(stale_filters(prev, "gw-1", {"sensors/+/#", "new/+"}), (Filters{"old/+", "gone/#"}));
  EXPECT_TRUE(stale_filters(prev, "gw-1", {"old/+", "sensors/+/#", "gone/#"}).empty());
  // Another client id's session is another session: nothing of it is ours to unsubscribe.
  EXPECT_TRUE(stale_filters(prev, "gw-2", {}).empty());
}

// The subscription_record fuzz target's property over its seed corpus (tests/fuzz/).
TEST(SubscriptionRecordCorpusReplay, EveryCorpusFileKeepsTheContracts) {
  EXPECT_GE(gw::fuzz::replay_corpus(GW_SUBSCRIPTION_RECORD_CORPUS_DIR, fuzz::check_subscription_record), 6u);
}

TEST(SubscriptionRecordCorpusReplay, TheCheckPassesAGoodRecordAndARefusal) {
  const std::string good = encode_subscription_record({"gw", {"a/+"}});
  EXPECT_TRUE(
      fuzz::check_subscription_record({reinterpret_cast<const std::uint8_t*>(good.data()), good.size()}));
  EXPECT_TRUE(fuzz::check_subscription_record({}));  // refused with bad_message: fine
}

}  // namespace
}  // namespace gw::app
