#pragma once

// The property intake_journal_fuzz and the bridge_journal_corpus_replay test check on every input: the
// journal decoder (gateway/bridge/intake_journal.hpp) reads any file without crashing, never claims more
// bytes than it was given, and what it accepts is exactly what the encoder writes for the records it found
// (so a damaged byte can never turn into a different message).

#include <cstdint>
#include <span>
#include <vector>

#include "gateway/bridge/intake_journal.hpp"

namespace gw::bridge::fuzz {

inline bool check_journal(std::span<const std::uint8_t> bytes) {
  const auto scan = scan_journal(bytes);
  if (scan.valid_bytes > bytes.size()) return false;
  std::vector<std::uint8_t> again;
  for (const auto& r : scan.records) {
    if (r.seq == 0 || r.topic.size() + r.payload.size() > max_journal_body) return false;
    encode_journal_record(r.seq, r.topic, r.payload, again);
  }
  return again.size() == scan.valid_bytes && std::equal(again.begin(), again.end(), bytes.begin());
}

}  // namespace gw::bridge::fuzz
