// Issue #7 item 5: one info line per state change, one summary line when thousands change at once.
#include "gateway/app/state_change_log.hpp"

#include <gtest/gtest.h>

namespace gw::app {
namespace {

using namespace std::chrono_literals;
using time_point = state_change_log::time_point;
const time_point t0{std::chrono::seconds(1000)};

TEST(StateChangeLog, FewChangesAreEachLoggedAndNeedNoSummary) {
  state_change_log log({.burst = 3, .window = 1000ms});
  EXPECT_TRUE(log.record(t0, "idle", "connecting"));
  EXPECT_TRUE(log.record(t0 + 1ms, "connecting", "authenticating"));
  EXPECT_TRUE(log.record(t0 + 2ms, "authenticating", "ready"));
  EXPECT_FALSE(log.next_flush());
  EXPECT_FALSE(log.flush(t0 + 5s));
  // A quiet window later, the burst allowance is back.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(log.record(t0 + 2s, "ready", "renewing"));
}

TEST(StateChangeLog, AStormBecomesOneSummaryLineCountingEachTransition) {
  state_change_log log({.burst = 2, .window = 1000ms});
  int single = 0;
  for (int i = 0; i < 10'000; ++i) {
    const bool to_ready = i % 4 != 0;
    single += log.record(t0 + std::chrono::microseconds(i * 50), "authenticating",
                         to_ready ? "ready" : "backing_off")
                  ? 1
                  : 0;
  }
  EXPECT_EQ(single, 2);
  ASSERT_TRUE(log.next_flush());
  EXPECT_EQ(*log.next_flush(), t0 + 1000ms);
  EXPECT_FALSE(log.flush(t0 + 999ms)) << "the window is still open";
  const auto line = log.flush(t0 + 1000ms);
  ASSERT_TRUE(line);
  // 10,000 - 2 single lines; of them 7,500 - 1 (i = 1 was logged singly) went to ready, 2,500 - 1 backing
  // off.
  EXPECT_EQ(*line,
            "devices: 9998 more state changes in 1000 ms (authenticating -> ready: 7499, authenticating -> "
            "backing_off: 2499); single lines at debug level");
  EXPECT_FALSE(log.next_flush());
  EXPECT_FALSE(log.flush(t0 + 10s)) << "one summary per window";
  EXPECT_TRUE(log.record(t0 + 2s, "ready", "renewing")) << "a new window logs singly again";
}

TEST(StateChangeLog, ChangesAfterAnOpenWindowStayInItUntilItIsFlushed) {
  state_change_log log({.burst = 1, .window = 100ms});
  EXPECT_TRUE(log.record(t0, "a", "b"));
  EXPECT_FALSE(log.record(t0 + 50ms, "a", "b"));
  EXPECT_FALSE(log.record(t0 + 150ms, "a", "b")) << "counted: the summary is still pending";
  const auto line = log.flush(t0 + 150ms);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("2 more state changes"), std::string::npos) << *line;
}

}  // namespace
}  // namespace gw::app
