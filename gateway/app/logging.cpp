#include "gateway/app/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace gw::app {

namespace {
spdlog::level::level_enum to_spdlog(log_level l) {
  switch (l) {
    case log_level::trace:
      return spdlog::level::trace;
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warn:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
    case log_level::critical:
      return spdlog::level::critical;
    case log_level::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}
}  // namespace

void setup_logging(const log_config& cfg) {
  // Called again on SIGHUP: the logger is created once (stdout_logger_mt throws if it exists, and replacing
  // the default logger would race with threads logging through it); level and pattern change in place.
  if (!spdlog::get("gateway")) spdlog::set_default_logger(spdlog::stdout_logger_mt("gateway"));
  spdlog::set_level(to_spdlog(cfg.level));
  if (cfg.format == log_format::json) {
    // One JSON object per line. spdlog does not escape %v: info-level messages carry only ids, states and
    // codes from the config and the platform, never MQTT topics or payloads (those are debug-level).
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  spdlog::flush_every(std::chrono::seconds(1));
  spdlog::flush_on(spdlog::level::warn);
}

}  // namespace gw::app
