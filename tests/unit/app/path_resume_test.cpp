// path_resume (issue #6 item 4): a round resumes every member of the answering endpoint's group, paced
// through the deadline scheduler, never synchronously, at most once per min_interval; other groups untouched.
#include "gateway/app/path_resume.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <vector>

namespace gw::app {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST(PathResume, ResumesTheGroupInPacedBatchesNeverSynchronously) {
  boost::asio::io_context io;
  net::deadline_scheduler scheduler(io.get_executor());
  path_resume resume(scheduler, 1000.0, 2s);  // 10 per 10 ms tick
  const std::size_t a = resume.group("10.0.0.1:5682");
  const std::size_t b = resume.group("10.0.0.2:5682");
  EXPECT_EQ(resume.group("10.0.0.1:5682"), a);
  std::vector<int> calls_a(35, 0);
  int calls_b = 0;
  std::vector<std::size_t> batch_sizes;
  int in_tick = 0;
  std::vector<clock_type::time_point> given_since;  // what each call was handed for device_session::resume
  for (std::size_t i = 0; i < calls_a.size(); ++i) {
    resume.add(a, [&, i](clock_type::time_point, clock_type::time_point working_since) {
      given_since.push_back(working_since);
      ++calls_a[i];
      ++in_tick;
      return i % 5 != 4;  // 28 of 35 have something to resume
    });
  }
  resume.add(b, [&](clock_type::time_point, clock_type::time_point) { return ++calls_b, true; });
  int calls_removed = 0;
  const auto gone =
      resume.add(a, [&](clock_type::time_point, clock_type::time_point) { return ++calls_removed, true; });
  resume.remove(gone);  // its session was destroyed (reload): never called again

  const auto since = clock_type::now() - 40ms;  // when the answered copy left
  resume.answered(a, clock_type::now(), since);
  EXPECT_EQ(std::count(calls_a.begin(), calls_a.end(), 1), 0);  // not from inside the answering session
  resume.answered(a, clock_type::now(), since + 1s);            // a round is running: ignored
  while (resume.resumed() < 28) {
    in_tick = 0;
    ASSERT_EQ(io.run_one_for(1s), 1U);
    if (in_tick > 0) batch_sizes.push_back(static_cast<std::size_t>(in_tick));
  }
  EXPECT_EQ(std::count(calls_a.begin(), calls_a.end(), 1), 35);  // each member once
  // Every member got the round's evidence, not the ignored second answer's.
  EXPECT_EQ(std::count(given_since.begin(), given_since.end(), since), 35);
  EXPECT_EQ(calls_b, 0);
  EXPECT_EQ(calls_removed, 0);
  EXPECT_EQ(resume.rounds(), 1U);
  // Batches of at most 10 resumed sessions (12 calls when 2 had nothing to resume), over >= 3 ticks.
  EXPECT_GE(batch_sizes.size(), 3U);
  for (auto n : batch_sizes) EXPECT_LE(n, 13U);

  // Within min_interval of the last round: no new round.
  resume.answered(a, clock_type::now());
  EXPECT_EQ(resume.rounds(), 1U);
  // After it: a new round.
  resume.answered(a, clock_type::now() + 3s);
  EXPECT_EQ(resume.rounds(), 2U);
}

// A reload that changes cloud.coap.ack_timeout sets the interval between rounds again (set_min_interval).
TEST(PathResume, ReloadedMinIntervalAppliesToTheNextRound) {
  boost::asio::io_context io;
  net::deadline_scheduler scheduler(io.get_executor());
  path_resume resume(scheduler, 1000.0, 2s);
  const std::size_t a = resume.group("10.0.0.1:5682");
  resume.add(a, [](clock_type::time_point, clock_type::time_point) { return true; });
  const auto t0 = clock_type::now();
  resume.answered(a, t0);
  while (resume.resumed() < 1) ASSERT_EQ(io.run_one_for(1s), 1U);
  ASSERT_EQ(resume.rounds(), 1U);
  resume.answered(a, t0 + 1500ms);  // within the start-time 2 s
  EXPECT_EQ(resume.rounds(), 1U);
  resume.set_min_interval(1s);
  resume.answered(a, t0 + 1500ms);  // beyond the reloaded 1 s
  EXPECT_EQ(resume.rounds(), 2U);
}

// A reload replaces sessions: remove() frees the slot for the next add(), so the group does not grow, and a
// round calls only the live members (members() counts them; the debug line names that number).
TEST(PathResume, RemovedSlotsAreReusedAndNeverCalled) {
  boost::asio::io_context io;
  net::deadline_scheduler scheduler(io.get_executor());
  path_resume resume(scheduler, 1000.0, 2s);
  const std::size_t g = resume.group("10.0.0.1:5682");
  std::vector<int> calls(3, 0);
  std::vector<path_resume::member> m;
  for (std::size_t i = 0; i < 3; ++i) {
    m.push_back(
        resume.add(g, [&, i](clock_type::time_point, clock_type::time_point) { return ++calls[i], true; }));
  }
  EXPECT_EQ(resume.members(g), 3U);
  resume.remove(m[1]);
  resume.remove(m[1]);  // twice: harmless
  EXPECT_EQ(resume.members(g), 2U);
  int calls_new = 0;
  const auto again =
      resume.add(g, [&](clock_type::time_point, clock_type::time_point) { return ++calls_new, true; });
  EXPECT_EQ(again.index, m[1].index);  // the freed slot
  EXPECT_EQ(resume.members(g), 3U);
  EXPECT_EQ(resume.members(g + 1), 0U);

  resume.answered(g, clock_type::now());
  while (resume.resumed() < 3) ASSERT_EQ(io.run_one_for(1s), 1U);
  EXPECT_EQ(calls[0], 1);
  EXPECT_EQ(calls[1], 0);
  EXPECT_EQ(calls[2], 1);
  EXPECT_EQ(calls_new, 1);
}

}  // namespace
}  // namespace gw::app
