// gw::bridge::intake_journal: the record format, recovery above the queue's watermark, damaged tails, and
// rotation only over settled records (gateway/bridge/intake_journal.hpp).
#include "gateway/bridge/intake_journal.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace gw::bridge {
namespace {

std::vector<std::uint64_t> seqs(const std::vector<journal_record>& records) {
  std::vector<std::uint64_t> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back(r.seq);
  return out;
}

class IntakeJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gw-journal-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<intake_journal> open(std::uint64_t stored_through, std::uint64_t rotate_bytes = 1 << 20) {
    std::error_code ec;
    auto j = intake_journal::open({dir_, rotate_bytes}, stored_through, ec);
    EXPECT_TRUE(j) << ec.message();
    return j;
  }

  std::uint64_t append(intake_journal& j, const std::string& topic, const std::string& payload) {
    std::error_code ec;
    auto seq = j.append(topic, payload, ec);
    EXPECT_NE(seq, 0u) << ec.message();
    return seq;
  }

  std::uintmax_t size(int index) const {
    return std::filesystem::file_size(dir_ / ("intake-journal." + std::to_string(index)));
  }

  std::filesystem::path dir_;
};

TEST(IntakeJournalFormat, RecordsRoundTripWithBinaryAndEmptyParts) {
  std::vector<std::uint8_t> bytes;
  const std::string binary("\0\xff\x01 payload\n", 12);
  encode_journal_record(1, "sensors/a/b", "{\"t\":1}", bytes);
  encode_journal_record(2, "sensors/\xc3\xa9/#x", binary, bytes);
  encode_journal_record(7, "t", "", bytes);
  encode_journal_record(8, "", "only payload", bytes);
  const auto scan = scan_journal(bytes);
  EXPECT_EQ(scan.valid_bytes, bytes.size());
  ASSERT_EQ(scan.records.size(), 4u);
  EXPECT_EQ(seqs(scan.records), (std::vector<std::uint64_t>{1, 2, 7, 8}));
  EXPECT_EQ(scan.records[0].topic, "sensors/a/b");
  EXPECT_EQ(scan.records[0].payload, "{\"t\":1}");
  EXPECT_EQ(scan.records[1].topic, "sensors/\xc3\xa9/#x");
  EXPECT_EQ(scan.records[1].payload, binary);
  EXPECT_EQ(scan.records[2].payload, "");
  EXPECT_EQ(scan.records[3].topic, "");
  EXPECT_EQ(bytes.size(), 4 * journal_header_size + 11 + 7 + 13 + binary.size() + 1 + 12);
}

// Every cut inside the last record (a write the process did not finish) keeps exactly the records before it.
TEST(IntakeJournalFormat, ACutAnywhereKeepsTheWholeRecordsBeforeIt) {
  std::vector<std::uint8_t> bytes;
  encode_journal_record(1, "a", "first", bytes);
  const std::size_t first = bytes.size();
  encode_journal_record(2, "b", "second", bytes);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    const auto scan = scan_journal({bytes.data(), cut});
    const std::size_t expect = cut == bytes.size() ? 2 : cut >= first ? 1 : 0;
    EXPECT_EQ(scan.records.size(), expect) << "cut at " << cut;
    EXPECT_EQ(scan.valid_bytes, expect == 2 ? bytes.size() : expect == 1 ? first : 0) << "cut at " << cut;
  }
}

// A flipped bit anywhere in a record (header or body) fails its check or its bounds: decoding stops there.
TEST(IntakeJournalFormat, AnyFlippedByteEndsTheValidPrefix) {
  std::vector<std::uint8_t> bytes;
  encode_journal_record(1, "a", "first", bytes);
  const std::size_t first = bytes.size();
  encode_journal_record(2, "topic/b", "second record", bytes);
  for (std::size_t at = first; at < bytes.size(); ++at) {
    auto damaged = bytes;
    damaged[at] ^= 0x20;
    const auto scan = scan_journal(damaged);
    EXPECT_EQ(scan.records.size(), 1u) << "byte " << at;
    EXPECT_EQ(scan.valid_bytes, first) << "byte " << at;
  }
}

TEST(IntakeJournalFormat, HugeLengthsAndSequenceZeroAreRefusedWithoutReading) {
  std::vector<std::uint8_t> bytes;
  encode_journal_record(1, "a", "x", bytes);
  auto huge = bytes;
  huge[3] = 0xff;  // body length ~4 GiB: beyond max_journal_body
  EXPECT_TRUE(scan_journal(huge).records.empty());
  auto topic_longer_than_body = bytes;
  topic_longer_than_body[12] = 3;  // topic length 3 > body length 2
  EXPECT_TRUE(scan_journal(topic_longer_than_body).records.empty());
  std::vector<std::uint8_t> zero;
  encode_journal_record(0, "a", "x", zero);
  EXPECT_TRUE(scan_journal(zero).records.empty());
}

TEST_F(IntakeJournalTest, ReopenRecoversTheRecordsAboveTheWatermarkAndNumbersOn) {
  {
    auto j = open(0);
    ASSERT_TRUE(j);
    EXPECT_TRUE(j->take_recovered().empty());
    for (int i = 1; i <= 5; ++i)
      EXPECT_EQ(append(*j, "t/" + std::to_string(i), "p" + std::to_string(i)), static_cast<std::uint64_t>(i));
    EXPECT_EQ(j->stats().appended, 5u);
  }
  auto j = open(2);
  ASSERT_TRUE(j);
  auto rec = j->take_recovered();
  EXPECT_EQ(seqs(rec), (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_EQ(rec[0].topic, "t/3");
  EXPECT_EQ(rec[2].payload, "p5");
  EXPECT_EQ(j->stats().recovered, 3u);
  EXPECT_TRUE(j->take_recovered().empty()) << "taken once";
  EXPECT_EQ(append(*j, "t/6", "p6"), 6u);
}

// The queue's watermark may be above every record (all stored): nothing is replayed, numbering continues
// above the watermark, never reusing a number the queue has seen.
TEST_F(IntakeJournalTest, WatermarkAboveEveryRecordReplaysNothing) {
  {
    auto j = open(0);
    append(*j, "t", "1");
  }
  auto j = open(40);
  EXPECT_TRUE(j->take_recovered().empty());
  EXPECT_EQ(append(*j, "t", "2"), 41u);
}

TEST_F(IntakeJournalTest, ADamagedTailIsCutAtOpenAndLaterRecordsStayReadable) {
  {
    auto j = open(0);
    append(*j, "t", "1");
    append(*j, "t", "2");
  }
  const auto good = size(0);
  {
    std::ofstream f(dir_ / "intake-journal.0", std::ios::binary | std::ios::app);
    f << "half a record";
  }
  {
    auto j = open(0);
    EXPECT_EQ(j->stats().dropped_bytes, 13u);
    EXPECT_EQ(size(0), good);
    EXPECT_EQ(seqs(j->take_recovered()), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(append(*j, "t", "3"), 3u);
  }
  auto j = open(0);
  EXPECT_EQ(j->stats().dropped_bytes, 0u);
  EXPECT_EQ(seqs(j->take_recovered()), (std::vector<std::uint64_t>{1, 2, 3}));
}

// Rotation empties the other file only once all its records are settled; until then the current one grows.
TEST_F(IntakeJournalTest, RotatesOnlyOverSettledRecords) {
  auto j = open(0, 100);
  // Each record: 24 + 1 + 40 = 65 bytes, so a file reaches 100 bytes with its second record.
  const std::string payload(40, 'x');
  append(*j, "t", payload);  // 1 -> file 0
  append(*j, "t", payload);  // 2 -> file 0 (130 bytes)
  append(*j, "t", payload);  // 3 -> file 1: file 1 was empty, so nothing to wait for
  EXPECT_EQ(j->stats().rotations, 1u);
  append(*j, "t", payload);  // 4 -> file 1 (130 bytes)
  append(*j, "t", payload);  // 5 -> file 1: file 0 holds 1-2, not settled
  EXPECT_EQ(j->stats().rotations, 1u);
  EXPECT_EQ(size(1), 3 * 65u);
  j->stored_through(2);
  append(*j, "t", payload);  // 6 -> file 0, emptied first
  EXPECT_EQ(j->stats().rotations, 2u);
  EXPECT_EQ(size(0), 65u);
  j->stored_through(1);  // monotonic: an older mark changes nothing
  j.reset();
  auto again = open(0, 100);
  EXPECT_EQ(seqs(again->take_recovered()), (std::vector<std::uint64_t>{3, 4, 5, 6}));
}

// The usual case: the queue keeps up, every record is settled soon, and the current file is started over once
// it holds reset_bytes, so the journal stays small (a 4 MiB queue.dir in tests/faults DiskFullOnQueueDir).
TEST_F(IntakeJournalTest, AFullySettledFileIsStartedOverAtResetBytes) {
  std::error_code ec;
  auto j = intake_journal::open({dir_, 1000, 100}, 0, ec);
  ASSERT_TRUE(j) << ec.message();
  const std::string payload(40, 'x');  // 65-byte records
  append(*j, "t", payload);            // 1
  append(*j, "t", payload);            // 2: 130 bytes, unsettled
  append(*j, "t", payload);            // 3: nothing settled, so no reset
  EXPECT_EQ(size(0), 3 * 65u);
  j->stored_through(3);
  EXPECT_EQ(append(*j, "t", payload), 4u);  // the file started over: only record 4
  EXPECT_EQ(size(0), 65u);
  EXPECT_EQ(size(1), 0u);
  EXPECT_EQ(j->stats().rotations, 0u);
  j.reset();
  auto again = open(0);
  EXPECT_EQ(seqs(again->take_recovered()), (std::vector<std::uint64_t>{4}));
}

TEST_F(IntakeJournalTest, AnOversizedMessageIsRefusedAndNothingIsWritten) {
  auto j = open(0);
  std::error_code ec;
  const std::string big(max_journal_body + 1, 'x');
  EXPECT_EQ(j->append("t", big, ec), 0u);
  EXPECT_EQ(ec, std::errc::file_too_large);
  EXPECT_EQ(j->stats().append_failures, 1u);
  EXPECT_EQ(size(0) + size(1), 0u);
  EXPECT_EQ(append(*j, "t", "small"), 1u) << "a refusal takes no number";
}

TEST_F(IntakeJournalTest, AnUnwritableDirectoryIsAnError) {
  std::error_code ec;
  auto j = intake_journal::open({dir_ / "missing" / "deeper", 1 << 20}, 0, ec);
  EXPECT_FALSE(j);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace gw::bridge
