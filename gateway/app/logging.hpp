#pragma once
// spdlog set-up for the daemon and the CLI: text or JSON lines on stdout (journald takes stdout under
// systemd). Secrets and payloads never reach info level (design.md §5; quality bar).

#include "gateway/app/config.hpp"

namespace gw::app {

void setup_logging(const log_config& cfg);

}  // namespace gw::app
