// SPDX-License-Identifier: MIT
// UDP endpoints (aio/net/datagram.hpp) and the socket's recvfrom/sendto, on loopback.
#include <gtest/gtest.h>

#include <string>

#include "aio/aio.hpp"
#include "aio/net/datagram.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
using aio::net::address;

namespace {

aio::datagram_endpoint bound(int family = AF_INET) {
  aio::datagram_options o;
  o.local_addr = address::loopback(family, 0);
  return aio::create_datagram_endpoint(o);
}

AIO_TEST(datagram, unconnected_echo_with_sender_addresses) {
  auto server = bound();
  auto client = bound();
  auto echo = aio::create_task([&]() -> aio::coro<void> {
    for (int i = 0; i < 3; ++i) {
      auto [data, from] = co_await server.recvfrom();
      co_await server.sendto("echo:" + data, from);
    }
  });
  for (int i = 0; i < 3; ++i) {
    co_await client.sendto("m" + std::to_string(i), server.sockname());
    auto [reply, from] = co_await client.recvfrom();
    EXPECT_EQ(reply, "echo:m" + std::to_string(i));
    EXPECT_EQ(from, server.sockname());
  }
  co_await echo;
}

AIO_TEST(datagram, connected_mode_and_ipv6) {
  auto server = bound(AF_INET6);
  aio::datagram_options o;
  o.remote_addr = server.sockname();
  auto client = aio::create_datagram_endpoint(o);
  co_await client.send("hello");
  auto [data, from] = co_await server.recvfrom();
  EXPECT_EQ(data, "hello");
  co_await server.sendto("back", from);
  EXPECT_EQ(co_await client.recv(), "back");
}

AIO_TEST(datagram, datagram_boundaries_are_kept_and_long_ones_truncated) {
  auto server = bound();
  auto client = bound();
  co_await client.sendto("one", server.sockname());
  co_await client.sendto("two!", server.sockname());
  co_await client.sendto(std::string(100, 'x'), server.sockname());
  EXPECT_EQ((co_await server.recvfrom()).first, "one");
  EXPECT_EQ((co_await server.recvfrom()).first, "two!");
  std::byte small[10];
  auto d = co_await server.socket().recvfrom(small);
  EXPECT_EQ(d.size, 10u);
  EXPECT_TRUE(d.truncated);
}

AIO_TEST(datagram, connected_send_to_a_closed_port_reports_connection_refused) {
  address gone;
  {
    auto tmp = bound();
    gone = tmp.sockname();
  }
  aio::datagram_options o;
  o.remote_addr = gone;
  auto client = aio::create_datagram_endpoint(o);
  co_await client.send("anyone?");
  // The ICMP port-unreachable comes back as an error on the next operation.
  EXPECT_THROW(co_await client.recv(), aio::connection_refused_error);
}

AIO_TEST(datagram, cancelled_receive_loses_no_datagram) {
  auto server = bound();
  auto client = bound();
  auto t = aio::create_task(server.recvfrom());
  co_await aio::sleep(0s);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  co_await client.sendto("after", server.sockname());
  EXPECT_EQ((co_await server.recvfrom()).first, "after");
  EXPECT_THROW(co_await aio::wait_for(server.recvfrom(), 5ms), aio::timeout_error);
}

TEST(datagram, mismatched_families_are_refused) {
  aio::datagram_options o;
  o.local_addr = address::loopback(AF_INET, 0);
  o.remote_addr = address::loopback(AF_INET6, 9);
  EXPECT_THROW(aio::create_datagram_endpoint(o), std::invalid_argument);
}

}  // namespace
