#include "gateway/session/answer_policy.hpp"

#include <gtest/gtest.h>

#include <ostream>

#include "gateway/session/error.hpp"

namespace gw::session {
namespace {

using enum policy_action;

struct row_case {
  phase p;
  answer a;
  bool resent;
  policy_action expected;
  bool alert;
};

std::ostream& operator<<(std::ostream& os, const row_case& c) {
  return os << to_string(c.p) << ' ' << describe(c.a) << (c.resent ? " (resent)" : "") << " -> "
            << to_string(c.expected) << (c.alert ? " +alert" : "");
}

class AnswerTable : public ::testing::TestWithParam<row_case> {};

TEST_P(AnswerTable, RowGivesAction) {
  const row_case& c = GetParam();
  const verdict v = decide(c.p, c.a, answer_policy_config{}, c.resent);
  EXPECT_EQ(v.action, c.expected) << c << " got " << to_string(v.action) << " (" << v.spec_row << ")";
  EXPECT_EQ(v.alert, c.alert) << c;
  EXPECT_FALSE(v.spec_row.empty()) << c;
}

constexpr answer r(std::uint8_t code) {
  return answer::response(code);
}

// spec §6, one case per row (and per phase where the row says "both").
INSTANTIATE_TEST_SUITE_P(
    SpecSection6, AnswerTable,
    ::testing::Values(
        // 2.05 auth: success
        row_case{phase::auth, r(codes::content), false, delivered, false},
        row_case{phase::auth, r(codes::changed), false, delivered, false},
        // 2.xx publish: delivered (exact code unconfirmed, spec §5.4)
        row_case{phase::publish, r(codes::content), false, delivered, false},
        row_case{phase::publish, r(codes::changed), false, delivered, false},
        row_case{phase::publish, r(codes::created), false, delivered, false},
        // 4.00: auth config error, back off, alert; publish re-auth + resend once, then dead-letter
        row_case{phase::auth, r(codes::bad_request), false, auth_long_backoff, true},
        row_case{phase::publish, r(codes::bad_request), false, reauth_and_resend_once, false},
        row_case{phase::publish, r(codes::bad_request), true, dead_letter, false},
        // 4.01 auth: long back-off, alert
        row_case{phase::auth, r(codes::unauthorized), false, auth_long_backoff, true},
        // 4.01 publish: re-auth, resend once; repeat -> dead-letter
        row_case{phase::publish, r(codes::unauthorized), false, reauth_and_resend_once, false},
        row_case{phase::publish, r(codes::unauthorized), true, dead_letter, false},
        // 4.02 publish: same as 4.01 (default switch)
        row_case{phase::publish, r(codes::bad_option), false, reauth_and_resend_once, false},
        row_case{phase::publish, r(codes::bad_option), true, dead_letter, false},
        // 4.03 both: dead-letter on publish; auth: refused identity, long back-off
        row_case{phase::publish, r(codes::forbidden), false, dead_letter, false},
        row_case{phase::auth, r(codes::forbidden), false, auth_long_backoff, true},
        // 4.04 both
        row_case{phase::publish, r(codes::not_found), false, dead_letter, false},
        row_case{phase::auth, r(codes::not_found), false, auth_give_up, true},
        // 4.05 both: bug
        row_case{phase::publish, r(codes::method_not_allowed), false, dead_letter, true},
        row_case{phase::auth, r(codes::method_not_allowed), false, auth_give_up, true},
        // 4.06 both: config error, alert
        row_case{phase::publish, r(codes::not_acceptable), false, dead_letter, true},
        row_case{phase::auth, r(codes::not_acceptable), false, auth_give_up, true},
        // 4.13 / 4.14 publish
        row_case{phase::publish, r(codes::request_entity_too_large), false, dead_letter, false},
        row_case{phase::publish, r(codes::request_uri_too_long), false, dead_letter, false},
        row_case{phase::auth, r(codes::request_entity_too_large), false, auth_give_up, true},
        // 4.15 both: config error
        row_case{phase::publish, r(codes::unsupported_content_format), false, dead_letter, true},
        row_case{phase::auth, r(codes::unsupported_content_format), false, auth_give_up, true},
        // 5.00 auth: retry with back-off
        row_case{phase::auth, r(codes::internal_server_error), false, retry_with_backoff, false},
        row_case{phase::auth, r(codes::service_unavailable), false, retry_with_backoff, false},
        // 5.xx publish: retry with back-off, never dead-letter (not even after a re-auth)
        row_case{phase::publish, r(codes::internal_server_error), false, retry_with_backoff, false},
        row_case{phase::publish, r(codes::service_unavailable), true, retry_with_backoff, false},
        row_case{phase::publish, r(codes::gateway_timeout), false, retry_with_backoff, false},
        // RST both: re-auth, resend once
        row_case{phase::publish, answer::reset(), false, reauth_and_resend_once, false},
        row_case{phase::publish, answer::reset(), true, dead_letter, false},
        row_case{phase::auth, answer::reset(), false, retry_with_backoff, false},
        // no ACK after MAX_RETRANSMIT both: retry with back-off, never dead-letter
        row_case{phase::publish, answer::timeout(), false, retry_with_backoff, false},
        row_case{phase::publish, answer::timeout(), true, retry_with_backoff, false},
        row_case{phase::auth, answer::timeout(), false, retry_with_backoff, false},
        // Not in the table: other 4.xx are permanent on publish, refusals on auth
        row_case{phase::publish, r(codes::precondition_failed), false, dead_letter, false},
        row_case{phase::auth, r(codes::bad_option), false, auth_long_backoff, true},
        // Not a response code at all: retry (delivery unknown) and alert
        row_case{phase::publish, r(codes::make(0, 2)), false, retry_with_backoff, true},
        row_case{phase::auth, r(codes::make(3, 0)), false, retry_with_backoff, true}));

TEST(AnswerPolicy, Switch402OffMakesItPermanent) {
  answer_policy_config cfg;
  cfg.treat_4_02_as_token_invalid = false;
  EXPECT_EQ(decide(phase::publish, answer::response(codes::bad_option), cfg).action, dead_letter);
  // 4.01 is unaffected by the switch.
  EXPECT_EQ(decide(phase::publish, answer::response(codes::unauthorized), cfg).action,
            reauth_and_resend_once);
}

TEST(AnswerPolicy, ResentFlagOnlyAffectsReauthRows) {
  EXPECT_EQ(decide(phase::publish, answer::response(codes::content), {}, true).action, delivered);
  EXPECT_EQ(decide(phase::auth, answer::response(codes::unauthorized), {}, true).action, auth_long_backoff);
}

TEST(AnswerPolicy, DescribeGivesCodeAndReason) {
  EXPECT_EQ(describe(answer::response(codes::forbidden)), "4.03 Forbidden");
  EXPECT_EQ(describe(answer::response(codes::content)), "2.05 Content");
  EXPECT_EQ(describe(answer::response(codes::internal_server_error)), "5.00 Internal Server Error");
  EXPECT_EQ(describe(answer::response(codes::unsupported_content_format)), "4.15 Unsupported Content-Format");
  EXPECT_EQ(describe(answer::response(codes::make(4, 31))), "4.31");
  EXPECT_EQ(describe(answer::timeout()), "no ACK after MAX_RETRANSMIT");
  EXPECT_EQ(describe(answer::reset()), "RST");
}

TEST(AnswerPolicy, CodeHelpersFollowRfc7252Section3) {
  EXPECT_EQ(codes::make(2, 5), 0x45);
  EXPECT_EQ(codes::make(4, 1), 0x81);
  EXPECT_EQ(codes::code_class(0xa3), 5U);
  EXPECT_EQ(codes::code_detail(0xa3), 3U);
}

TEST(SessionError, CategoryNamesEveryValue) {
  const std::error_code ec = error::token_rejected;
  EXPECT_STREQ(ec.category().name(), "gw.session");
  EXPECT_EQ(ec.message(), "token rejected");
  EXPECT_EQ(std::error_code(error::transport_failed).message(), "transport failed");
}

}  // namespace
}  // namespace gw::session
