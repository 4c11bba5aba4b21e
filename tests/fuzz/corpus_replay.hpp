#pragma once

// Replays a fuzz target's seed corpus through its check in ordinary builds
// (tests/unit/*/fuzz_corpus_replay_test).

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

namespace gw::fuzz {

// Runs `check` on every regular file of `dir` (one GoogleTest failure per file it refuses); returns how many
// files it read.
template <class Check>
std::size_t replay_corpus(const std::filesystem::path& dir, Check check) {
  EXPECT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<std::uint8_t> data{std::istreambuf_iterator<char>(in),
                                         std::istreambuf_iterator<char>()};
    EXPECT_TRUE(check(std::span<const std::uint8_t>(data))) << entry.path();
    ++files;
  }
  return files;
}

}  // namespace gw::fuzz
