#include "gateway/bridge/intake_journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace gw::bridge {

namespace {

constexpr std::uint64_t fnv_offset = 14695981039346656037ULL;
constexpr std::uint64_t fnv_prime = 1099511628211ULL;

std::uint64_t fnv1a(std::uint64_t h, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= fnv_prime;
  }
  return h;
}

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_le(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The check covers the sequence number, the topic length and the body (the header's bytes 4-15 and body).
std::uint64_t check_of(const std::uint8_t* seq_and_topic_len, const std::uint8_t* body,
                       std::size_t body_len) {
  return fnv1a(fnv1a(fnv_offset, seq_and_topic_len, 12), body, body_len);
}

std::error_code last_errno() {
  return {errno, std::generic_category()};
}

bool read_all(int fd, std::vector<std::uint8_t>& out, std::error_code& ec) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ec = last_errno();
    return false;
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = last_errno();
      return false;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return true;
}

}  // namespace

void encode_journal_record(std::uint64_t seq, std::string_view topic, std::string_view payload,
                           std::vector<std::uint8_t>& out) {
  const std::size_t start = out.size();
  const std::size_t body_len = topic.size() + payload.size();
  put_le(out, body_len, 4);
  put_le(out, seq, 8);
  put_le(out, topic.size(), 4);
  put_le(out, 0, 8);  // the check, filled in below
  out.insert(out.end(), topic.begin(), topic.end());
  out.insert(out.end(), payload.begin(), payload.end());
  const std::uint64_t check =
      check_of(out.data() + start + 4, out.data() + start + journal_header_size, body_len);
  for (int i = 0; i < 8; ++i) out[start + 16 + i] = static_cast<std::uint8_t>(check >> (8 * i));
}

journal_scan scan_journal(std::span<const std::uint8_t> bytes) {
  journal_scan scan;
  std::size_t at = 0;
  while (bytes.size() - at >= journal_header_size) {
    const std::uint8_t* h = bytes.data() + at;
    const std::uint64_t body_len = get_le(h, 4);
    const std::uint64_t seq = get_le(h + 4, 8);
    const std::uint64_t topic_len = get_le(h + 12, 4);
    const std::uint64_t check = get_le(h + 16, 8);
    if (body_len > max_journal_body || topic_len > body_len || seq == 0) break;
    if (bytes.size() - at - journal_header_size < body_len) break;
    const std::uint8_t* body = h + journal_header_size;
    if (check_of(h + 4, body, body_len) != check) break;
    journal_record r;
    r.seq = seq;
    r.topic.assign(reinterpret_cast<const char*>(body), topic_len);
    r.payload.assign(reinterpret_cast<const char*>(body) + topic_len, body_len - topic_len);
    scan.records.push_back(std::move(r));
    at += journal_header_size + body_len;
  }
  scan.valid_bytes = at;
  return scan;
}

intake_journal::intake_journal(options opts) : opts_(std::move(opts)) {}

intake_journal::~intake_journal() {
  for (int fd : fd_) {
    if (fd >= 0) ::close(fd);
  }
}

std::filesystem::path intake_journal::file(int index) const {
  return opts_.dir / ("intake-journal." + std::to_string(index));
}

std::unique_ptr<intake_journal> intake_journal::open(const options& opts, std::uint64_t stored_through,
                                                     std::error_code& ec) {
  ec.clear();
  std::unique_ptr<intake_journal> j(new intake_journal(opts));
  std::uint64_t highest = stored_through;
  for (int i = 0; i < 2; ++i) {
    // O_APPEND: every write lands at the end, also after the ftruncate of a rotation.
    j->fd_[i] = ::open(j->file(i).c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (j->fd_[i] < 0) {
      ec = last_errno();
      return nullptr;
    }
    std::vector<std::uint8_t> bytes;
    if (!read_all(j->fd_[i], bytes, ec)) return nullptr;
    auto scan = scan_journal(bytes);
    if (scan.valid_bytes < bytes.size()) {
      if (::ftruncate(j->fd_[i], static_cast<off_t>(scan.valid_bytes)) != 0) {
        ec = last_errno();
        return nullptr;
      }
      j->dropped_bytes_ += bytes.size() - scan.valid_bytes;
    }
    j->size_[i] = scan.valid_bytes;
    for (auto& r : scan.records) {
      j->last_seq_[i] = std::max(j->last_seq_[i], r.seq);
      if (r.seq > stored_through) j->recovered_.push_back(std::move(r));
    }
    highest = std::max(highest, j->last_seq_[i]);
  }
  std::sort(j->recovered_.begin(), j->recovered_.end(),
            [](const journal_record& a, const journal_record& b) { return a.seq < b.seq; });
  // A sequence number seen twice (a file from a copied directory, say) is replayed once.
  j->recovered_.erase(
      std::unique(j->recovered_.begin(), j->recovered_.end(),
                  [](const journal_record& a, const journal_record& b) { return a.seq == b.seq; }),
      j->recovered_.end());
  j->recovered_count_ = j->recovered_.size();
  j->current_ = j->last_seq_[1] > j->last_seq_[0] ? 1 : 0;
  j->next_seq_ = highest + 1;
  j->stored_through_.store(stored_through);
  return j;
}

std::vector<journal_record> intake_journal::take_recovered() {
  return std::exchange(recovered_, {});
}

bool intake_journal::truncate_file(int index) {
  if (::ftruncate(fd_[index], 0) != 0) return false;
  size_[index] = 0;
  last_seq_[index] = 0;
  return true;
}

std::uint64_t intake_journal::append(std::string_view topic, std::string_view payload, std::error_code& ec) {
  ec.clear();
  if (broken_) {
    ec = std::make_error_code(std::errc::io_error);
    append_failures_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  if (topic.size() + payload.size() > max_journal_body) {
    ec = std::make_error_code(std::errc::file_too_large);
    append_failures_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const int other = 1 - current_;
  const std::uint64_t settled = stored_through_.load();
  if (size_[current_] >= opts_.reset_bytes && last_seq_[current_] <= settled) {
    truncate_file(
        current_);  // everything in it is stored: start it over (the other one is older, so settled too)
    if (size_[other] != 0) truncate_file(other);
  } else if (size_[current_] >= opts_.rotate_bytes && last_seq_[other] <= settled) {
    if (truncate_file(other)) {
      current_ = other;
      rotations_.fetch_add(1, std::memory_order_relaxed);
    }  // else: keep appending to the current file and try again next time
  }
  buffer_.clear();
  const std::uint64_t seq = next_seq_;
  encode_journal_record(seq, topic, payload, buffer_);
  const int fd = fd_[current_];
  std::size_t done = 0;
  while (done < buffer_.size()) {
    auto n = ::write(fd, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n < 0 ? last_errno() : std::make_error_code(std::errc::io_error);
      // A partial record would end the file for open(): cut it, so later records stay readable.
      // If that fails too, nothing more may go into this file (open() would stop at the cut): give up.
      if (done > 0 && ::ftruncate(fd, static_cast<off_t>(size_[current_])) != 0) broken_ = true;
      append_failures_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    done += static_cast<std::size_t>(n);
  }
  size_[current_] += done;
  last_seq_[current_] = seq;
  ++next_seq_;
  appended_.fetch_add(1, std::memory_order_relaxed);
  return seq;
}

void intake_journal::stored_through(std::uint64_t seq) noexcept {
  auto cur = stored_through_.load();
  while (seq > cur && !stored_through_.compare_exchange_weak(cur, seq)) {
  }
}

journal_stats intake_journal::stats() const noexcept {
  journal_stats s;
  s.appended = appended_.load(std::memory_order_relaxed);
  s.append_failures = append_failures_.load(std::memory_order_relaxed);
  s.rotations = rotations_.load(std::memory_order_relaxed);
  s.recovered = recovered_count_;
  s.dropped_bytes = dropped_bytes_;
  return s;
}

}  // namespace gw::bridge
