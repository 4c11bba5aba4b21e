// The HTML status page (GET /) in headless Chromium against a running gateway: the page's script fetches
// /devices and renders one row per device with the state of the running sessions. Skips when chromium is not
// installed (Debian: chromium; scripts/setup.sh installs it).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "tests/integration/health_gateway_env.hpp"

namespace gw::test {
namespace {

using namespace std::chrono_literals;

TEST(HealthBrowser, StatusPageRendersOneRowPerDeviceWithItsState) {
  if (run_command("command -v chromium").status != 0) GTEST_SKIP() << "chromium is not installed";
  health_gateway_env env;
  for (int i = 0; i < 1; ++i)
    env.publish("sensors/" + cloudsim_process::device_name(i) + "/update", "{\"n\":1}");
  env.cloud().wait_for_records(1, 15s);

  // Wait (bounded) until the gateway reports the good device ready, so the page has states to show.
  const auto until = std::chrono::steady_clock::now() + 15s;
  nlohmann::json doc;
  auto ready_count = [&] {
    int n = 0;
    for (const auto& d : doc.at("devices")) n += d.at("state") == "ready";
    return n;
  };
  while (std::chrono::steady_clock::now() < until) {
    std::string body;
    if (http_request(env.http_port(), "/devices", body) == 200) {
      doc = nlohmann::json::parse(body);
      if (ready_count() >= 1) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(ready_count(), 1) << doc.dump(2);
  std::map<std::string, std::string> expected;  // the states the page must show
  for (const auto& d : doc.at("devices")) expected[d.at("id")] = d.at("state");

  scratch_dir profile("gw-chromium");
  // --virtual-time-budget lets the page's script (fetch + render) run before the DOM is dumped.
  const auto r = run_command(
      "timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage --user-data-dir=" +
      profile.path().string() + " --virtual-time-budget=5000 --dump-dom " + env.base_url() + "/ 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("data-loaded=\"1\""), std::string::npos) << r.output;
  const std::regex row("<tr data-device=\"([^\"]+)\" data-state=\"([^\"]+)\">");
  std::map<std::string, std::string> rendered;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), row); it != std::sregex_iterator();
       ++it) {
    rendered[(*it)[1]] = (*it)[2];
  }
  ASSERT_EQ(rendered.size(), expected.size()) << r.output;
  for (const auto& [id, state] : expected) {
    // The refused device may move between backing_off and authenticating between the two reads.
    if (state == "ready") {
      EXPECT_EQ(rendered[id], "ready") << id;
    }
    EXPECT_TRUE(rendered.count(id)) << id;
  }
  EXPECT_NE(r.output.find("class=\"state s-ready\""), std::string::npos);
  EXPECT_NE(r.output.find("devices ready 1/2"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace gw::test
