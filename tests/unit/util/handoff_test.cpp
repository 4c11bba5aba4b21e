#include "gateway/util/handoff.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <utility>
#include <vector>

namespace gw::util {
namespace {

TEST(Handoff, OnlyTheFirstPutOfARunAsksForATake) {
  handoff<int> h;
  EXPECT_TRUE(h.put(1));
  EXPECT_FALSE(h.put(2));
  EXPECT_FALSE(h.put(3));
  EXPECT_EQ(h.take(), (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.put(4));  // a new run
  EXPECT_EQ(h.take(), (std::vector<int>{4}));
}

// Producers on their own threads, one consumer taking as it is asked to: every item arrives once, each
// producer's in the order it put them, and every non-empty run was announced by exactly one put.
TEST(Handoff, ConcurrentProducersLoseNothingAndKeepTheirOrder) {
  constexpr int kProducers = 4;
  constexpr int kEach = 20000;
  handoff<std::pair<int, int>> h;
  std::atomic<int> asked{0};
  std::vector<std::thread> producers;
  producers.reserve(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&h, &asked, p] {
      for (int i = 0; i < kEach; ++i) {
        if (h.put({p, i})) asked.fetch_add(1);
      }
    });
  }
  std::vector<int> next(kProducers, 0);
  int got = 0;
  int runs = 0;
  auto drain = [&] {
    auto run = h.take();
    if (!run.empty()) ++runs;
    for (const auto& [p, i] : run) {
      EXPECT_EQ(i, next[static_cast<std::size_t>(p)]) << "producer " << p;
      next[static_cast<std::size_t>(p)] = i + 1;
      ++got;
    }
  };
  while (got < kProducers * kEach) {
    if (asked.load() > runs)
      drain();
    else
      std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  drain();
  EXPECT_EQ(got, kProducers * kEach);
  EXPECT_EQ(asked.load(), runs);
}

}  // namespace
}  // namespace gw::util
