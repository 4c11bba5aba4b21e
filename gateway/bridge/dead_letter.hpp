#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace gw::bridge {

class durable_queue;

// One message that will not be retried (shared/design.md §2: permanent rejections "go to a dead-letter store
// with the reason, never silently away").
struct dead_letter_record {
  std::uint64_t id = 0;
  std::string device_id;  ///< empty when the message could not be routed to a device
  std::string mqtt_topic;
  std::string cloud_topic;
  std::vector<std::uint8_t> payload;
  std::string reason;        ///< e.g. "4.03 Forbidden", "oversize 2048 > 1024", "unknown_device"
  int platform_code = 0;     ///< CoAP response code byte from the platform (class << 5 | detail), 0 if none
  std::int64_t dead_ms = 0;  ///< when it was dead-lettered (caller's clock)
  std::int64_t received_ms = 0;  ///< when it was received from MQTT
  std::uint32_t attempts = 0;
};

// Selects dead letters; unset fields match everything.
struct dead_letter_filter {
  std::optional<std::string> device_id;
  std::optional<std::int64_t> dead_before_ms;  ///< dead_ms < this
  std::uint64_t after_id = 0;                  ///< id > this (paging)
};

// A handle on the dead-letter table of a durable_queue (durable_queue::dead_letters()). All calls block until
// the queue's writer thread ran them; each is one transaction. Valid while the queue lives.
class dead_letter_store {
 public:
  explicit dead_letter_store(durable_queue& q) noexcept : q_(&q) {}

  // Oldest first (by id), at most `limit` records.
  std::vector<dead_letter_record> list(const dead_letter_filter& filter, std::size_t limit,
                                       std::error_code& ec) const;
  std::size_t count(std::error_code& ec) const;

  // Moves the given records (or all) back to the tail of their device's queue with new ids and attempts reset
  // to 0; queue limits are not applied (an operator's explicit action). Records with an empty device id stay.
  // Returns how many moved.
  std::size_t replay(std::span<const std::uint64_t> ids, std::error_code& ec);
  std::size_t replay_all(std::error_code& ec);

  // Deletes the given records, all, or those dead-lettered before `ms`. Returns how many were deleted.
  std::size_t purge(std::span<const std::uint64_t> ids, std::error_code& ec);
  std::size_t purge_all(std::error_code& ec);
  std::size_t purge_older_than(std::int64_t ms, std::error_code& ec);

 private:
  durable_queue* q_;
};

}  // namespace gw::bridge
