#pragma once

#include <system_error>

namespace gw::bridge {

// Every way the bridge layer can refuse, drop or fail to store a message (shared/design.md §2, §4).
enum class error {
  no_route = 1,    ///< no route's MQTT filter matches the topic
  unknown_device,  ///< a route matched, but its device id is not configured
  bad_topic,   ///< the resulting cloud topic is empty-segmented, has '+'/'#', lacks the leading '/' or is >
               ///< 255
  not_json,    ///< payload_format cbor, but the payload is not valid JSON
  oversize,    ///< plaintext payload exceeds the configured maximum (platform doc §7: keep data <= 1 KB)
  queue_full,  ///< the device queue's max_messages/max_bytes is reached and the policy is reject_new
  disk_cap,    ///< the global max_total_bytes is reached
  disk_full,   ///< SQLite reported SQLITE_FULL (file system or max_page_count full)
  io_error,    ///< SQLite reported an I/O error (SQLITE_IOERR, SQLITE_CANTOPEN, ...)
  corrupt,     ///< the database file is corrupt or not a database (SQLITE_CORRUPT, SQLITE_NOTADB)
  storage_error,   ///< any other SQLite failure (busy, locked, constraint, misuse)
  schema_too_new,  ///< the database was written by a newer gateway (PRAGMA user_version above ours)
  not_found,       ///< no queued or dead-lettered message has this id
  closed,          ///< the queue is closed or failed to open
  too_deep,        ///< payload_format cbor, but the JSON nests deeper than max_json_depth (payload.hpp)
};

const std::error_category& bridge_category() noexcept;

std::error_code make_error_code(error e) noexcept;

}  // namespace gw::bridge

template <>
struct std::is_error_code_enum<gw::bridge::error> : std::true_type {};
