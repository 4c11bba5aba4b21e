#pragma once
// gw::app subscription record — which MQTT filters the gateway's persistent session subscribed to, kept in
// queue.dir/subscriptions so that a restart with a changed configuration can unsubscribe the filters no route
// needs any more. MQTT gives a client no list of its session's subscriptions (MQTT 5.0 §3.8, §3.10), and the
// broker keeps them for the session (clean_session false): without the record a removed route's filter would
// keep feeding the gateway messages it can only count as unrouted (docs/operations.md "The broker side").
//
// The file is JSON, {"client_id": "...", "filters": ["...", ...]}, written to a temporary file and renamed
// over the old one. It belongs to the session of client_id: a record of another client id says nothing about
// this session. A missing, unreadable or malformed file is no error for the gateway (it then unsubscribes
// nothing).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace gw::app {

struct subscription_record {
  std::string client_id;
  std::vector<std::string> filters;
};

// The record in `text`, the file's contents; nullopt with std::errc::bad_message when it is not one. Any
// bytes are safe (fuzzed: tests/fuzz/subscription_record_fuzz.cpp).
std::optional<subscription_record> parse_subscription_record(std::string_view text, std::error_code& ec);

// The file's contents for `record` (one line of JSON); parse_subscription_record reads it back unchanged.
std::string encode_subscription_record(const subscription_record& record);

// The record in `file`; nullopt when there is none (ec clear) or it cannot be read or parsed (ec set: the
// reason, e.g. std::errc::bad_message for a malformed file).
std::optional<subscription_record> read_subscription_record(const std::filesystem::path& file,
                                                            std::error_code& ec);

// Replaces `file` with `record` (temporary file, then rename). ec on failure; the old file then stays.
void write_subscription_record(const std::filesystem::path& file, const subscription_record& record,
                               std::error_code& ec);

// The filters of `previous` that `wanted` does not hold, in the record's order (none if previous belongs to
// another client id).
std::vector<std::string> stale_filters(const subscription_record& previous, const std::string& client_id,
                                       const std::vector<std::string>& wanted);

}  // namespace gw::app
