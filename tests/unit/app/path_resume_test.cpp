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
  for (std::size_t i = 0; i < calls_a.size(); ++i) {
    resume.add(a, [&, i](clock_type::time_point) {
      ++calls_a[i];
      ++in_tick;
      return i % 5 != 4;  // 28 of 35 have something to resume
    });
  }
  resume.add(b, [&](clock_type::time_point) { return ++calls_b, true; });
  int calls_removed = 0;
  const auto gone = resume.add(a, [&](clock_type::time_point) { return ++calls_removed, true; });
  resume.remove(gone);  // its session was destroyed (reload): never called again

  resume.answered(a, clock_type::now());
  EXPECT_EQ(std::count(calls_a.begin(), calls_a.end(), 1), 0);  // not from inside the answering session
  resume.answered(a, clock_type::now());                        // a round is running: ignored
  while (resume.resumed() < 28) {
    in_tick = 0;
    ASSERT_EQ(io.run_one_for(1s), 1U);
    if (in_tick > 0) batch_sizes.push_back(static_cast<std::size_t>(in_tick));
  }
  EXPECT_EQ(std::count(calls_a.begin(), calls_a.end(), 1), 35);  // each member once
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

}  // namespace
}  // namespace gw::app
