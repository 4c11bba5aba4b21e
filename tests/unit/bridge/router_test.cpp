#include "gateway/bridge/router.hpp"

#include <gtest/gtest.h>

#include <map>

#include "gateway/bridge/error.hpp"

namespace gw::bridge {
namespace {

class BridgeRouterTest : public ::testing::Test {
 protected:
  std::map<std::string, device_info, std::less<>> devices_{
      {"pk1/dev1", {"pk1", "dev1"}},
      {"pk1/dev2", {"pk1", "dev2"}},
      {"fixed", {"pkF", "devF"}},
      {"pk1/ünï cödé", {"pk1", "ünï cödé"}},
  };
  device_lookup lookup_ = [this](std::string_view id) -> const device_info* {
    auto it = devices_.find(id);
    return it == devices_.end() ? nullptr : &it->second;
  };

  router make(std::vector<route_config> routes) {
    route_error err;
    auto r = router::make(routes, lookup_, err);
    EXPECT_TRUE(r.has_value()) << err.index << " " << err.field << ": " << err.message;
    return std::move(*r);
  }

  route_error make_error(std::vector<route_config> routes) {
    route_error err;
    auto r = router::make(routes, lookup_, err);
    EXPECT_FALSE(r.has_value());
    return err;
  }
};

TEST_F(BridgeRouterTest, CapturesFillDeviceAndCloudTopic) {
  auto r = make({{"sensors/+device/#rest", "pk1/${device}", "/${productKey}/${deviceName}/user/${rest}"}});
  std::error_code ec;
  auto res = r.route("sensors/dev1/temp/room1", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.device_id, "pk1/dev1");
  EXPECT_EQ(res.cloud_topic, "/pk1/dev1/user/temp/room1");
  EXPECT_EQ(res.route_index, 0u);
}

TEST_F(BridgeRouterTest, WholeTopicVariable) {
  auto r = make({{"a/+/c", "fixed", "/${productKey}/${deviceName}/user/${topic}"}});
  std::error_code ec;
  auto res = r.route("a/b/c", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(res.cloud_topic, "/pkF/devF/user/a/b/c");
}

TEST_F(BridgeRouterTest, HashMatchesParentLevelWithEmptyRest) {
  auto r = make({{"pk1/+d/#rest", "pk1/${d}", "/${productKey}/${deviceName}/user/update"}});
  std::error_code ec;
  EXPECT_EQ(r.route("pk1/dev1", ec).device_id, "pk1/dev1");
  EXPECT_FALSE(ec);
  EXPECT_EQ(r.route("pk1/dev1/x", ec).device_id, "pk1/dev1");
  EXPECT_FALSE(ec);
  r.route("pk1", ec);
  EXPECT_EQ(ec, error::no_route);
}

TEST_F(BridgeRouterTest, EmptyRestInCloudTopicIsBadTopic) {
  auto r = make({{"pk1/+d/#rest", "pk1/${d}", "/${productKey}/${deviceName}/user/${rest}"}});
  std::error_code ec;
  r.route("pk1/dev1", ec);
  EXPECT_EQ(ec, error::bad_topic);  // "/pk1/dev1/user/" ends with an empty segment
}

TEST_F(BridgeRouterTest, FirstMatchWins) {
  auto r = make({
      {"s/dev1/#", "pk1/dev1", "/${productKey}/${deviceName}/user/first"},
      {"s/+d/#", "pk1/${d}", "/${productKey}/${deviceName}/user/second"},
  });
  std::error_code ec;
  auto a = r.route("s/dev1/t", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(a.cloud_topic, "/pk1/dev1/user/first");
  EXPECT_EQ(a.route_index, 0u);
  auto b = r.route("s/dev2/t", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(b.cloud_topic, "/pk1/dev2/user/second");
  EXPECT_EQ(b.route_index, 1u);
}

TEST_F(BridgeRouterTest, UnknownDeviceStopsAtFirstMatch) {
  auto r = make({
      {"s/+d", "pk1/${d}", "/${productKey}/${deviceName}/user/a"},
      {"s/#", "fixed", "/${productKey}/${deviceName}/user/b"},
  });
  std::error_code ec;
  auto res = r.route("s/nobody", ec);
  EXPECT_EQ(ec, error::unknown_device);
  EXPECT_EQ(res.device_id, "pk1/nobody");
}

TEST_F(BridgeRouterTest, NoRoute) {
  auto r = make({{"a/b", "fixed", "/x/y"}});
  std::error_code ec;
  r.route("a/c", ec);
  EXPECT_EQ(ec, error::no_route);
  r.route("a/b/c", ec);
  EXPECT_EQ(ec, error::no_route);
  r.route("", ec);
  EXPECT_EQ(ec, error::no_route);
}

TEST_F(BridgeRouterTest, DollarTopicsDoNotMatchLeadingWildcard) {
  auto r = make({{"#", "fixed", "/x/y"}, {"$SYS/+", "fixed", "/x/sys"}});
  std::error_code ec;
  auto res = r.route("$SYS/uptime", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(res.cloud_topic, "/x/sys");
}

TEST_F(BridgeRouterTest, OddCharactersPassThrough) {
  auto r = make({{"s/+d/+m", "pk1/${d}", "/${productKey}/${deviceName}/user/${m}"}});
  std::error_code ec;
  auto res = r.route("s/ünï cödé/température °C", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.device_id, "pk1/ünï cödé");
  EXPECT_EQ(res.cloud_topic, "/pk1/ünï cödé/user/température °C");
}

TEST_F(BridgeRouterTest, BadCloudTopics) {
  auto r = make({{"s/+d/#rest", "fixed", "/a/${d}/${rest}"}});
  std::error_code ec;
  r.route("s//x", ec);  // empty capture -> "//"
  EXPECT_EQ(ec, error::bad_topic);
  auto long_level = std::string(300, 'x');
  r.route("s/d/" + long_level, ec);
  EXPECT_EQ(ec, error::bad_topic);
  r.route("s/d/" + std::string(250, 'x'), ec);
  EXPECT_FALSE(ec) << "253-byte topic is allowed";
}

TEST_F(BridgeRouterTest, WildcardCharactersInTopicGiveBadTopic) {
  // '+' inside a topic level is not a wildcard in a published topic, but it must not reach a cloud topic.
  auto r = make({{"s/+d", "fixed", "/a/${d}"}});
  std::error_code ec;
  r.route("s/a+b", ec);
  EXPECT_EQ(ec, error::bad_topic);
}

// Level by level, with empty levels (MQTT 3.1.1 §4.7.3: "a//b" has three levels, the middle one empty).
TEST(BridgeTopicFilterTest, MatchesLevelByLevelIncludingEmptyLevels) {
  struct row {
    std::string_view filter, topic;
    bool matches;
    std::map<std::string, std::string, std::less<>> captures;
  };
  const std::vector<row> rows = {
      {"a/+x/c", "a/b/c", true, {{"x", "b"}}},
      {"a/+x/c", "a//c", true, {{"x", ""}}},
      {"a/+x", "a/", true, {{"x", ""}}},
      {"a/+x", "a", false, {}},
      {"a/+x", "a/b/c", false, {}},
      {"a/b", "a/b/", false, {}},
      {"a/b", "a/bc", false, {}},
      {"+x/#r", "/", true, {{"x", ""}, {"r", ""}}},
      {"a/#r", "a", true, {{"r", ""}}},
      {"a/#r", "a/", true, {{"r", ""}}},
      {"a/#r", "a//b/", true, {{"r", "/b/"}}},
      {"a/+/#r", "a/b", true, {{"r", ""}}},
      {"#all", "x/y", true, {{"all", "x/y"}}},
      {"a/#", "b", false, {}},
  };
  for (const auto& r : rows) {
    std::string err;
    auto f = topic_filter::parse(r.filter, err);
    ASSERT_TRUE(f) << r.filter << ": " << err;
    captures got;
    EXPECT_EQ(f->match(r.topic, got), r.matches) << r.filter << " vs '" << r.topic << "'";
    if (r.matches) {
      EXPECT_EQ(got.size(), r.captures.size()) << r.filter << " vs '" << r.topic << "'";
      for (const auto& [name, value] : r.captures) {
        auto it = got.find(name);
        ASSERT_NE(it, got.end()) << name;
        EXPECT_EQ(it->second, value) << r.filter << " vs '" << r.topic << "', capture " << name;
      }
    }
  }
}

TEST(BridgeCloudTopicTest, Validity) {
  EXPECT_TRUE(is_valid_cloud_topic("/a/b"));
  EXPECT_FALSE(is_valid_cloud_topic("a/b"));
  EXPECT_FALSE(is_valid_cloud_topic("/"));
  EXPECT_FALSE(is_valid_cloud_topic(""));
  EXPECT_FALSE(is_valid_cloud_topic("/a//b"));
  EXPECT_FALSE(is_valid_cloud_topic("/a/b/"));
  EXPECT_FALSE(is_valid_cloud_topic("/a/#"));
  EXPECT_FALSE(is_valid_cloud_topic("/a/+"));
  EXPECT_TRUE(is_valid_cloud_topic("/" + std::string(254, 'a')));
  EXPECT_FALSE(is_valid_cloud_topic("/" + std::string(255, 'a')));
}

TEST_F(BridgeRouterTest, SubscriptionsStripCapturesAndDeduplicate) {
  auto r = make({
      {"sensors/+device/#rest", "pk1/${device}", "/a/b"},
      {"sensors/+/#", "fixed", "/a/b"},
      {"other/+x/temp", "fixed", "/a/b"},
      {"plain/topic", "fixed", "/a/b"},
  });
  EXPECT_EQ(r.subscriptions(), (std::vector<std::string>{"sensors/+/#", "other/+/temp", "plain/topic"}));
}

struct bad_case {
  route_config route;
  std::string field;
  std::string message_part;
};

class BridgeRouterValidationTest : public BridgeRouterTest, public ::testing::WithParamInterface<bad_case> {};

TEST_P(BridgeRouterValidationTest, RefusedWithNamedProblem) {
  auto err = make_error({{"ok/+d", "fixed", "/a/b"}, GetParam().route});
  EXPECT_EQ(err.index, 1u);
  EXPECT_EQ(err.field, GetParam().field);
  EXPECT_NE(err.message.find(GetParam().message_part), std::string::npos) << err.message;
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, BridgeRouterValidationTest,
    ::testing::Values(bad_case{{"", "fixed", "/a"}, "from", "empty"},
                      bad_case{{"a/#/b", "fixed", "/a"}, "from", "'#' must be the last level"},
                      bad_case{{"a/#x/b", "fixed", "/a"}, "from", "'#' must be the last level"},
                      bad_case{{"a/b+c", "fixed", "/a"}, "from", "whole level"},
                      bad_case{{"a/b#", "fixed", "/a"}, "from", "whole level"},
                      bad_case{{"a/+x+y", "fixed", "/a"}, "from", "whole level"},
                      bad_case{{"a/+x-y", "fixed", "/a"}, "from", "capture name"},
                      bad_case{{"a/+x/+x", "fixed", "/a"}, "from", "duplicate capture name 'x'"},
                      bad_case{{"a/+topic", "fixed", "/a"}, "from", "shadows"},
                      bad_case{{"a/+d", "", "/a"}, "device", "empty"},
                      bad_case{{"a/+d", "${nope}", "/a"}, "device", "unknown variable '${nope}'"},
                      bad_case{{"a/+d", "${productKey}", "/a"}, "device", "unknown variable"},
                      bad_case{{"a/+d", "x", ""}, "to", "empty"},
                      bad_case{{"a/+d", "x", "/a/${e}"}, "to", "unknown variable '${e}'"},
                      bad_case{{"a/+d", "x", "/a/${d"}, "to", "unterminated"},
                      bad_case{{"a/+d", "x", "a/${d}"}, "to", "must start with '/'"}));

}  // namespace
}  // namespace gw::bridge
