#include "gateway/util/thread_priority.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace gw::util {
namespace {

// Threads that report their id and then wait until released, so their nice values can be read and set.
class parked_threads {
 public:
  explicit parked_threads(int n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        std::unique_lock lock(m_);
        ids_.push_back(this_thread_id());
        cv_.notify_all();
        cv_.wait(lock, [this] { return released_; });
      });
    }
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return ids_.size() == static_cast<std::size_t>(n); });
  }
  ~parked_threads() {
    {
      std::lock_guard lock(m_);
      released_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::vector<pid_t> ids() {
    std::lock_guard lock(m_);
    return ids_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<pid_t> ids_;
  bool released_ = false;
  std::vector<std::thread> threads_;
};

int nice_of(pid_t tid) {
  std::error_code ec;
  const int v = thread_nice(tid, ec);
  EXPECT_FALSE(ec) << ec.message();
  return v;
}

// Raised nice values stay for the life of the test process (lowering them needs privilege); ctest runs each
// test in a process of its own (gtest_discover_tests), so a test sees only its own changes.

TEST(ThreadPriority, RaisesEveryOtherThreadToTheTargetAndLeavesTheCallerAlone) {
  parked_threads others(3);
  const int own = nice_of(0);
  const int target = std::min(own + 3, 19);
  const auto r = raise_other_threads_nice(target);
  EXPECT_EQ(r.failed, 0) << r.first_error.message();
  EXPECT_GE(r.reniced + r.kept, 3);
  for (pid_t tid : others.ids()) EXPECT_EQ(nice_of(tid), target);
  EXPECT_EQ(nice_of(0), own);
}

TEST(ThreadPriority, ThreadsAlreadyAboveTheTargetKeepTheirValue) {
  parked_threads others(2);
  const int own = nice_of(0);
  const int high = std::min(own + 6, 19);
  ASSERT_EQ(::setpriority(PRIO_PROCESS, static_cast<id_t>(others.ids()[0]), high), 0);
  const int target = std::min(own + 2, 19);
  const auto r = raise_other_threads_nice(target);
  EXPECT_EQ(r.failed, 0) << r.first_error.message();
  EXPECT_GE(r.kept, 1);
  EXPECT_EQ(nice_of(others.ids()[0]), high);  // not lowered: that would need privilege, and is not asked
  EXPECT_EQ(nice_of(others.ids()[1]), target);
}

TEST(ThreadPriority, TargetsAboveNineteenAreClamped) {
  parked_threads others(1);
  const auto r = raise_other_threads_nice(40);
  EXPECT_EQ(r.failed, 0) << r.first_error.message();
  EXPECT_EQ(nice_of(others.ids()[0]), 19);
}

TEST(ThreadPriority, ANewThreadInheritsItsCreatorsNiceValue) {
  // What the gateway relies on for threads started after the renice (docs/architecture.md).
  const int raised = std::min(nice_of(0) + 4, 19);
  ASSERT_EQ(::setpriority(PRIO_PROCESS, static_cast<id_t>(this_thread_id()), raised), 0);
  int child = -100;
  std::thread([&] { child = nice_of(0); }).join();
  EXPECT_EQ(child, raised);
}

}  // namespace
}  // namespace gw::util
