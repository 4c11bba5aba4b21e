#pragma once
// Operator commands of the mqtt-coap-gateway binary (issue #7): `status` (the /devices table of a running
// gateway) and `dead-letter list|replay|purge` (the dead-letter store in queue.dir). main.cpp registers them
// with add_operator_commands() and runs them with run_operator_command().
//
// Exit codes (shared with main.cpp): 0 ok; 1 bad configuration or arguments; 2 runtime failure (the queue
// cannot be opened, the health endpoint cannot be reached or answers nonsense); 4 `status`: the gateway
// answers but is not ready (/readyz would say 503).

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gw::app {

inline constexpr int exit_not_ready = 4;

struct operator_commands {
  CLI::App* status = nullptr;
  CLI::App* dead_letter = nullptr;
  CLI::App* dl_list = nullptr;
  CLI::App* dl_replay = nullptr;
  CLI::App* dl_purge = nullptr;

  std::string url;          // status --url
  std::string config_path;  // -c
  bool no_color = false;
  bool json = false;
  std::string device;  // list --device
  std::size_t limit = 100;
  std::vector<std::uint64_t> ids;
  bool all = false;
  std::string older_than;  // purge --older-than 7d
};

void add_operator_commands(CLI::App& cli, operator_commands& cmds);
// nullopt when none of the operator commands was given.
std::optional<int> run_operator_command(const operator_commands& cmds);

// Renders the /devices JSON as the `status` table; colour escapes when `color`. Returns the text and sets
// `ready` from the gateway part. Throws nlohmann::json::exception on a document of another shape.
std::string format_status(const std::string& devices_json, bool color, bool& ready);

}  // namespace gw::app
