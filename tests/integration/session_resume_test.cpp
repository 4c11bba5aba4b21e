// Integration (issue #6 item 4): after a cloud outage, the first answer to one device makes every other
// device to that cloud endpoint retransmit at once (gateway/app/path_resume.hpp, device_session::resume),
// instead of each waiting for its own next exponential retransmission. Real device_sessions against cloudsim
// `silent N`.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gateway/app/path_resume.hpp"
#include "tests/integration/session_rig.hpp"

namespace gw {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using session::security_mode;
using test::cloudsim_process;
using test::session_rig;

struct outage_result {
  std::vector<clock_type::time_point> acked_at;  // per device
  std::uint64_t resumed = 0;
};

// `devices` AES devices, all ready; then the cloud goes silent for 2 s and device i offers its one message at
// i * 1.5 s / devices into the silence. ACK_TIMEOUT 250 ms, random factor 1: a request sent at s is
// retransmitted at s + 0.25, 0.75, 1.75, 3.75 s. A device that sent at s <= 0.25 s next retransmits at
// s + 3.75 s, one that sent just after at s + 1.75 s ~ 2 s: without the resume signal the deliveries spread
// over > 1.5 s after the cloud answers again.
outage_result run_outage(int devices, bool resume_on) {
  cloudsim_process sim({.devices = devices, .seed = 11});
  session_rig rig;
  auto opts = test::fast_options(security_mode::aes);
  opts->coap.ack_timeout = 250ms;
  opts->fsm.reconnect_after_timeouts = 0;
  app::path_resume resume(rig.scheduler(), 1000.0, opts->coap.ack_timeout);
  const std::size_t group = resume.group("127.0.0.1:" + std::to_string(sim.aes_port()));
  if (resume_on) {
    rig.extra_events = [&](session::session_events& ev) {
      ev.answered_after_timeouts = [&resume, group](session::clock_time_point now,
                                                    session::clock_time_point since) {
        resume.answered(group, now, since);
      };
    };
  }
  outage_result out;
  out.acked_at.resize(static_cast<std::size_t>(devices));
  for (int i = 0; i < devices; ++i) {
    auto& d = rig.add(test::sim_identity(i, security_mode::aes, sim.aes_port()), opts);
    if (resume_on)
      resume.add(group, [s = d.session.get()](clock_type::time_point now, clock_type::time_point since) {
        return s->resume(now, since);
      });
    d.session->start();
  }
  EXPECT_TRUE(rig.run_until([&] { return rig.all_ready(); }, 10s));

  EXPECT_EQ(sim.command("silent 2"), "ok silent 2");
  const auto silent_from = clock_type::now();
  int offered = 0;
  std::vector<bool> seen(static_cast<std::size_t>(devices), false);
  const auto all_acked = [&] {
    const auto now = clock_type::now();
    // Offer on schedule (the loop wakes at least at every retransmission deadline; 1.5 s / devices apart).
    while (offered < devices && now >= silent_from + offered * 1500ms / devices) {
      auto& s = *rig.devices()[static_cast<std::size_t>(offered)]->session;
      s.offer(
          {1, test::user_topic(s.identity()), test::bytes_of(R"({"n":)" + std::to_string(offered) + "}")});
      ++offered;
    }
    bool all = offered == devices;
    for (int i = 0; i < devices; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (!seen[k] && !rig.devices()[k]->acked.empty()) {
        seen[k] = true;
        out.acked_at[k] = now;
      }
      all = all && seen[k];
    }
    return all;
  };
  // A steady tick so offers go out on time even while no session has a deadline.
  boost::asio::steady_timer tick(rig.io());
  std::function<void()> arm = [&] {
    tick.expires_after(20ms);
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) arm();
    });
  };
  arm();
  EXPECT_TRUE(rig.run_until(all_acked, 15s));
  tick.cancel();
  for (auto& d : rig.devices()) EXPECT_TRUE(d->dead.empty());
  out.resumed = resume.resumed();
  return out;
}

clock_type::duration spread(const std::vector<clock_type::time_point>& t) {
  const auto [lo, hi] = std::minmax_element(t.begin(), t.end());
  return *hi - *lo;
}

TEST(SessionResume, AfterAnOutageEveryDeviceDeliversRightAfterTheFirstAnswer) {
  constexpr int devices = 20;
  const outage_result on = run_outage(devices, true);
  // Every device that waited in back-off was resumed; all deliveries follow the first one within a few RTTs
  // (loopback; 600 ms leaves room for a loaded machine and is still far below the 1.75-3.75 s back-offs).
  EXPECT_GT(on.resumed, 0U);
  EXPECT_LT(spread(on.acked_at), 600ms)
      << std::chrono::duration_cast<std::chrono::milliseconds>(spread(on.acked_at)).count();
}

TEST(SessionResume, WithoutTheSignalDevicesWaitForTheirOwnBackoff) {
  // The control: the same outage without the signal spreads the deliveries over the back-off schedule.
  constexpr int devices = 20;
  const outage_result off = run_outage(devices, false);
  EXPECT_EQ(off.resumed, 0U);
  EXPECT_GT(spread(off.acked_at), 1s)
      << std::chrono::duration_cast<std::chrono::milliseconds>(spread(off.acked_at)).count();
}

}  // namespace
}  // namespace gw
