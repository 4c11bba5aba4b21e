// Interop: our Asio CoAP client (gw::net::coap_client over gw::coap::endpoint) against libcoap's
// coap-server-openssl, an independent CoAP stack, started by the test on a free 127.0.0.1 port.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>

#include "gateway/coap/message.hpp"
#include "gateway/net/coap_client.hpp"
#include "gateway/net/deadline_scheduler.hpp"
#include "tests/support/process.hpp"

namespace gw {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class CoapInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = test::free_udp_port();
    // -d 10: PUT/POST to an unknown path creates a dynamic resource (libcoap's example server).
    server_.start(
        {"coap-server-openssl", "-A", "127.0.0.1", "-p", std::to_string(port_), "-d", "10", "-v", "7"});
    ASSERT_NE(server_.wait_for_output("created UDP  endpoint", 10s), std::string::npos) << server_.output();
    ASSERT_FALSE(client_.link().connect({asio::ip::make_address("127.0.0.1"), port_}));
  }

  coap::response_event exchange(coap::message msg) {
    coap::response_event result{};
    bool done = false;
    client_.request(std::move(msg), [&](const coap::response_event& ev) {
      result = ev;
      done = true;
      io_.stop();
    });
    io_.restart();
    io_.run_for(30s);
    EXPECT_TRUE(done) << "no answer from coap-server-openssl";
    return result;
  }

  asio::io_context io_;
  net::deadline_scheduler scheduler_{io_.get_executor()};
  net::coap_client client_{io_.get_executor(), scheduler_, coap::transmission_params{}, 0x1234, 7};
  test::child_process server_;
  std::uint16_t port_ = 0;
};

TEST_F(CoapInterop, GetRootReturnsTheServerBanner) {
  coap::message get(coap::message_type::con, coap::code::get);
  const auto ev = exchange(std::move(get));
  ASSERT_FALSE(ev.ec) << ev.ec.message();
  EXPECT_EQ(ev.response.code(), coap::code::content);
  const std::string body(ev.response.payload().begin(), ev.response.payload().end());
  EXPECT_NE(body.find("libcoap"), std::string::npos) << body;
}

// The gateway's request shape: CON POST to /topic/<mqtt topic> with Content-Format 50 and a JSON body.
TEST_F(CoapInterop, PostToTopicPathIsAcceptedAndReadable) {
  coap::message post(coap::message_type::con, coap::code::post);
  post.set_uri_path("/topic/a1B2c3D4e5F/sensor-001/user/update");
  post.add_uint_option(coap::option_number::content_format, 50);
  post.set_payload(R"({"temp":21.5})");
  const auto created = exchange(std::move(post));
  ASSERT_FALSE(created.ec) << created.ec.message();
  EXPECT_EQ(coap::code_class(created.response.code()), 2) << coap::to_string(created.response.code());

  coap::message get(coap::message_type::con, coap::code::get);
  get.set_uri_path("/topic/a1B2c3D4e5F/sensor-001/user/update");
  const auto read = exchange(std::move(get));
  ASSERT_FALSE(read.ec) << read.ec.message();
  EXPECT_EQ(read.response.code(), coap::code::content);
  EXPECT_EQ(std::string(read.response.payload().begin(), read.response.payload().end()), R"({"temp":21.5})");
}

// libcoap answers 4.05 to POST on its fixed /time resource: error codes reach the caller as responses.
TEST_F(CoapInterop, ErrorCodesArriveAsResponses) {
  coap::message post(coap::message_type::con, coap::code::post);
  post.set_uri_path("/time");
  const auto ev = exchange(std::move(post));
  ASSERT_FALSE(ev.ec) << ev.ec.message();
  EXPECT_EQ(ev.response.code(), coap::code::method_not_allowed);
}

}  // namespace
}  // namespace gw
