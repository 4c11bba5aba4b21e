#pragma once
// What a reload (SIGHUP) changes: the difference between the running configuration and a freshly loaded,
// valid one, as plain data (issue #8 item 2). Pure: no I/O, no clock; the gateway applies it on its loop
// (gateway::reload) and docs/operations.md "Reload" describes the result for operators.
//
// Three kinds of keys:
//  - applied at once: devices, devices_file's content, routes, shard, log.*, cloud.max_payload,
//    cloud.drop_empty_payloads, cloud.ca_file (path or file content);
//  - session keys (cloud.* settings every session is built with: coap.*, auth.backoff, sign,
//  token_option...):
//    applied by restarting every session with the new settings; the broker connection stays;
//  - restart-only keys (mqtt.*, queue.*, health.*, cloud.auth.rate_per_s, cloud.coap.resume_on_answer,
//    cloud.coap.resume_rate_per_s): the objects built from them (the Paho client, the SQLite queue, the HTTP
//    listener, the auth rate limiter, path_resume) live as long as the process, so a changed value is
//    reported and the running value stays (merge_reloadable).
// cloud.region, host, address, port, mode and client_id are templates the loader resolves into each device,
// so they show up as changed devices, not as keys.

#include <string>
#include <vector>

#include "gateway/app/config.hpp"

namespace gw::app {

struct device_change {
  std::string id;
  std::vector<std::string> why;  // e.g. {"device_secret", "port"} or {"cloud.ca_file"}; names, never values
};

struct config_diff {
  // Devices this instance serves (configured and in its shard), by id, in the new file's order (removed: the
  // old file's order).
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<device_change> changed;  // served before and after, but the session must restart
  std::size_t unchanged = 0;           // served before and after with the same session
  bool routes_changed = false;         // routes (from, device, to, format) or their order
  bool ca_changed = false;             // cloud.ca_file's path or content; sessions in dtls mode restart
  bool log_changed = false;
  std::vector<std::string> session_keys;  // changed cloud.* keys that restart every session
  std::vector<std::string> other_keys;    // changed keys applied at once without a restart of anything
  std::vector<std::string> restart_only;  // changed keys that keep their running value until a restart

  // True when applying it would change nothing at all (restart_only aside).
  bool nothing_to_apply() const;
};

// `running` is the configuration in effect, `fresh` the newly loaded one. `ca_content_changed`: the bytes of
// cloud.ca_file differ from those loaded at start or at the last reload (the caller reads the file; see
// file_digest); a changed path counts as changed by itself.
config_diff diff_config(const config& running, const config& fresh, bool ca_content_changed = false);

// The configuration to run after a reload: `fresh`, with every restart-only key set back to `running`'s
// value.
config merge_reloadable(const config& running, config fresh);

// The names of the identity fields that differ between two device entries (empty: the same session can go
// on). `source` (file:line:col) is not part of the identity.
std::vector<std::string> identity_changes(const device_config& a, const device_config& b);

// A digest of a file's bytes (FNV-1a 64 as hex) to notice a CA file rewritten in place; "" for an empty path,
// "unreadable" when it cannot be read.
std::string file_digest(const std::string& path);

}  // namespace gw::app
