// SPDX-License-Identifier: MIT
// aio::net::socket and aio::net::address: the low-level socket API (asyncio's
// loop.sock_* functions) on loopback.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/socket.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
using aio::net::address;

namespace {

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

aio::net::socket listener(int family = AF_INET) {
  auto l = aio::net::socket::create(family, SOCK_STREAM);
  l.set_reuse_address(true);
  l.bind(address::loopback(family, 0));
  l.listen();
  return l;
}

// --- address ------------------------------------------------------------------------------

TEST(address, parses_and_prints_numeric_hosts) {
  auto a = address::parse("127.0.0.1", 8080);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  auto b = address::parse("::1", 443);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->to_string(), "[::1]:443");
  EXPECT_EQ(b->host(), "::1");
  EXPECT_EQ(b->port(), 443);
  auto c = address::parse("[::1]", 1);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, *address::parse("::1", 1));
  EXPECT_FALSE(address::parse("example.com", 80));
  EXPECT_FALSE(address::parse("", 80));
  EXPECT_FALSE(address::parse("1.2.3.4.5", 80));
  EXPECT_EQ(address::unix_path("/tmp/x.sock").to_string(), "/tmp/x.sock");
  EXPECT_EQ(address::unix_path("@abstract").host(), "@abstract");
  EXPECT_THROW(address::unix_path(std::string(200, 'x')), std::invalid_argument);
  EXPECT_TRUE(address().empty());
}

// --- connect, accept, send, recv ----------------------------------------------------------

AIO_TEST(socket, connect_accept_send_recv_round_trip) {
  auto l = listener();
  const address where = l.local_address();
  auto server = aio::create_task([&]() -> aio::coro<std::string> {
    aio::net::socket c = co_await l.accept();
    std::string got(100, '\0');
    std::size_t n = co_await c.recv(std::as_writable_bytes(std::span(got)));
    got.resize(n);
    co_await c.send_all(bytes("pong:" + got));
    co_return got;
  });
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(where);
  EXPECT_EQ(c.peer_address(), where);
  co_await c.send_all(bytes("ping"));
  std::string reply(100, '\0');
  std::size_t n = co_await c.recv(std::as_writable_bytes(std::span(reply)));
  reply.resize(n);
  EXPECT_EQ(co_await server, "ping");
  EXPECT_EQ(reply, "pong:ping");
}

AIO_TEST(socket, recv_returns_zero_at_the_end_of_the_stream) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  c.shutdown(SHUT_WR);
  std::byte buf[16];
  EXPECT_EQ(co_await s.recv(buf), 0u);
}

AIO_TEST(socket, connection_refused_names_the_peer) {
  // A port nobody listens on: take one, then close it.
  address where;
  {
    auto l = listener();
    where = l.local_address();
  }
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  try {
    co_await c.connect(where);
    ADD_FAILURE() << "connected";
  } catch (const aio::connection_refused_error& e) {
    EXPECT_EQ(std::string(e.what()), "connect to " + where.to_string() + ": connection refused");
    EXPECT_EQ(e.code(), std::errc::connection_refused);
  }
}

AIO_TEST(socket, send_to_a_closed_peer_is_a_connection_error) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  {
    aio::net::socket s = co_await l.accept();
    // Unread data makes close() send RST.
    co_await c.send_all(bytes("x"));
    co_await aio::sleep(1ms);
  }
  std::string big(1 << 20, 'x');
  bool threw = false;
  try {
    for (int i = 0; i < 100; ++i) co_await c.send_all(bytes(big));
  } catch (const aio::connection_error& e) {
    threw = true;
    EXPECT_TRUE(e.code() == std::errc::connection_reset || e.code() == std::errc::broken_pipe)
        << e.what();
  }
  EXPECT_TRUE(threw);
}

AIO_TEST(socket, a_writer_waits_while_the_peer_does_not_read_and_resumes_when_it_does) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  const std::string chunk(64 * 1024, 'a');
  std::size_t sent = 0;
  auto writer = aio::create_task([&]() -> aio::coro<void> {
    for (int i = 0; i < 200; ++i) {  // 12.5 MiB: more than the socket buffers hold
      co_await c.send_all(bytes(chunk));
      sent += chunk.size();
    }
    c.shutdown(SHUT_WR);
  });
  for (int i = 0; i < 20; ++i) co_await aio::sleep(0s);
  EXPECT_FALSE(writer.done());  // blocked: the kernel buffers are full
  std::vector<std::byte> buf(256 * 1024);
  std::size_t got = 0;
  for (;;) {
    std::size_t n = co_await s.recv(buf);
    if (n == 0) break;
    got += n;
  }
  co_await writer;
  EXPECT_EQ(got, 200 * chunk.size());
  EXPECT_EQ(sent, got);
}

AIO_TEST(socket, sendmsg_gathers) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  std::string a = "head,", b = "body,", d = "tail";
  iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {d.data(), d.size()}};
  EXPECT_EQ(co_await c.sendmsg(iov), 14u);
  std::string got(64, '\0');
  std::size_t n = co_await s.recv(std::as_writable_bytes(std::span(got)));
  got.resize(n);
  EXPECT_EQ(got, "head,body,tail");
}

AIO_TEST(socket, sendfile_sends_a_file_range) {
  char path[] = "/tmp/aio-sendfile-XXXXXX";
  const int fd = ::mkstemp(path);
  CO_ASSERT_GE(fd, 0);
  ::unlink(path);
  std::string content;
  for (int i = 0; i < 100000; ++i) content += static_cast<char>('a' + i % 26);
  CO_ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  auto reader = aio::create_task([&]() -> aio::coro<std::string> {
    std::string all;
    std::vector<std::byte> buf(65536);
    for (;;) {
      std::size_t n = co_await s.recv(buf);
      if (n == 0) co_return all;
      all.append(reinterpret_cast<const char*>(buf.data()), n);
    }
  });
  EXPECT_EQ(co_await c.sendfile(fd, 10, 90000), 90000u);
  EXPECT_EQ(co_await c.sendfile(fd, 99990, 100), 10u);  // the file ends first
  c.shutdown(SHUT_WR);
  const std::string got = co_await reader;
  EXPECT_EQ(got, content.substr(10, 90000) + content.substr(99990));
  ::close(fd);
}

AIO_TEST(socket, ipv6_and_unix_sockets) {
  auto l6 = listener(AF_INET6);
  auto c6 = aio::net::socket::create(AF_INET6, SOCK_STREAM);
  co_await c6.connect(l6.local_address());
  aio::net::socket s6 = co_await l6.accept();
  EXPECT_EQ(s6.peer_address().host(), "::1");

  const std::string path = "@aio-test-" + std::to_string(::getpid());
  auto lu = aio::net::socket::create(AF_UNIX, SOCK_STREAM);
  lu.bind(address::unix_path(path));
  lu.listen();
  auto cu = aio::net::socket::create(AF_UNIX, SOCK_STREAM);
  co_await cu.connect(address::unix_path(path));
  aio::net::socket su = co_await lu.accept();
  co_await cu.send_all(bytes("unix"));
  std::byte buf[8];
  EXPECT_EQ(co_await su.recv(buf), 4u);
}

// --- cancellation and misuse ------------------------------------------------------------

AIO_TEST(socket, cancelled_recv_and_accept_leave_nothing_behind) {
  auto l = listener();
  auto acc = aio::create_task([&]() -> aio::coro<void> { (void)co_await l.accept(); });
  co_await aio::sleep(0s);
  acc.cancel();
  EXPECT_THROW(co_await acc, aio::cancelled_error);

  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());  // the listener still works after the cancel
  aio::net::socket s = co_await l.accept();
  std::byte buf[16];
  auto rd = aio::create_task([&]() -> aio::coro<std::size_t> { co_return co_await s.recv(buf); });
  co_await aio::sleep(0s);
  rd.cancel();
  EXPECT_THROW(co_await rd, aio::cancelled_error);
  // The data sent after the cancel is there for the next recv.
  co_await c.send_all(bytes("after"));
  EXPECT_EQ(co_await s.recv(buf), 5u);
}

AIO_TEST(socket, recv_under_a_timeout) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  std::byte buf[16];
  EXPECT_THROW(co_await aio::wait_for(s.recv(buf), 10ms), aio::timeout_error);
}

AIO_TEST(socket, a_completed_recv_is_not_lost_to_a_cancel_in_the_same_iteration) {
  // The recv completes (the loop received the bytes for the task) and the task is
  // cancelled before it runs: it gets the bytes, and the cancellation at its next
  // suspension point.
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  std::byte buf[16];
  std::size_t got = 0;
  auto rd = aio::create_task([&]() -> aio::coro<void> {
    got = co_await s.recv(buf);
    co_await aio::sleep(0s);
  });
  co_await aio::sleep(0s);  // rd waits for data
  co_await c.send_all(bytes("data"));
  // Let the loop poll and complete the recv, but cancel before rd runs: a callback
  // scheduled now runs in the iteration that dispatches the I/O event, before rd.
  for (int i = 0; i < 50 && got == 0 && !rd.done(); ++i) {
    bool cancelled_here = false;
    aio::get_running_loop().call_soon([&] {
      if (got == 0) {
        rd.cancel();
        cancelled_here = true;
      }
    });
    co_await aio::sleep(0s);
    if (cancelled_here) break;
  }
  EXPECT_THROW(co_await rd, aio::cancelled_error);
  // Whenever the cancel landed, no byte is lost: either the task got all 4, or the
  // bytes are still in the socket.
  if (got == 0) {
    EXPECT_EQ(co_await s.recv(buf), 4u);
  } else {
    EXPECT_EQ(got, 4u);
  }
}

AIO_TEST(socket, two_concurrent_receivers_are_refused) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  std::byte b1[4], b2[4];
  auto first = aio::create_task([&]() -> aio::coro<std::size_t> { co_return co_await s.recv(b1); });
  co_await aio::sleep(0s);
  EXPECT_THROW(co_await s.recv(b2), std::logic_error);
  co_await c.send_all(bytes("abc"));
  EXPECT_EQ(co_await first, 3u);
}

AIO_TEST(socket, close_wakes_a_pending_recv_with_ebadf) {
  auto l = listener();
  auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  aio::net::socket s = co_await l.accept();
  std::byte buf[4];
  auto rd = aio::create_task([&]() -> aio::coro<std::size_t> { co_return co_await s.recv(buf); });
  co_await aio::sleep(0s);
  s.close();
  try {
    co_await rd;
    ADD_FAILURE() << "no error";
  } catch (const aio::os_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
  }
  EXPECT_THROW(co_await s.recv(buf), aio::os_error);  // closed
}

TEST(socket, no_descriptor_is_leaked) {
  const std::size_t before = aio::testing::open_fd_count();
  aio::run([]() -> aio::coro<void> {
    auto l = listener();
    std::vector<aio::net::socket> conns;
    for (int i = 0; i < 50; ++i) {
      auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
      co_await c.connect(l.local_address());
      conns.push_back(std::move(c));
      conns.push_back(co_await l.accept());
    }
    // A pending accept and a pending recv when main ends: aio::run cancels them.
    aio::create_task([&l]() -> aio::coro<void> { (void)co_await l.accept(); });
    co_await aio::sleep(0s);
  });
  EXPECT_EQ(aio::testing::open_fd_count(), before);
}

TEST(socket, a_socket_outliving_its_loop_is_closed_safely) {
  aio::net::socket keep;
  {
    aio::event_loop loop;
    loop.run_until_complete([&]() -> aio::coro<void> {
      auto l = listener();
      auto c = aio::net::socket::create(AF_INET, SOCK_STREAM);
      co_await c.connect(l.local_address());
      keep = co_await l.accept();
      std::byte b[1];
      // Registers the socket with the loop (it waits once).
      try {
        co_await aio::wait_for(keep.recv(b), 1ms);
      } catch (const aio::timeout_error&) {
      }
    }());
    loop.close();
  }
  keep.close();  // the loop is gone: the socket forgot it when the loop closed
  EXPECT_FALSE(keep.is_open());
}

}  // namespace
