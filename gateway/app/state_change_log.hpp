#pragma once
// Logging policy for device state changes (issue #7 item 5; design.md §5 "one line per state change"): each
// change is one info line, but when many devices change at once (a cloud outage, a token-expiry storm, 10,000
// devices starting) the first `burst` changes of a window are logged singly and the rest become ONE summary
// line at the end of the window, counting each transition ("authenticating -> ready: 9,980"). The single
// lines of the summarised changes still go to the debug level.
//
// Sans-io: time comes in as parameters, so the policy is tested in virtual time; the gateway drives it from
// its loop with one timer at next_flush().

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace gw::app {

class state_change_log {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  struct options {
    std::size_t burst = 20;                  // single info lines per window
    std::chrono::milliseconds window{1000};  // a window starts with the first change after a quiet one
  };

  state_change_log() = default;
  explicit state_change_log(options o) : options_(o) {}

  // One change. True: log it singly at info. False: it is counted for the window's summary (log it at debug).
  bool record(time_point now, std::string_view from, std::string_view to);

  // When flush() must next be called: the end of a window that summarised something; nullopt otherwise.
  std::optional<time_point> next_flush() const;

  // At or after next_flush(): the summary line of the window (nullopt if nothing was summarised or the
  // window is still open) and the start of a fresh window.
  std::optional<std::string> flush(time_point now);

 private:
  options options_{};
  std::optional<time_point> window_start_;
  std::size_t logged_ = 0;
  std::size_t summarised_ = 0;
  std::map<std::pair<std::string, std::string>, std::size_t> transitions_;  // (from, to) -> count
};

}  // namespace gw::app
