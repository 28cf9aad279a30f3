// SPDX-License-Identifier: MIT
// aio's streams beyond CPython's test_streams (tests/conformance/test_streams.cpp):
// servers, backpressure, misbehaving peers, many connections, cancellation at every
// step, and descriptor accounting.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/dns.hpp"
#include "aio/net/streams.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

std::uint16_t port_of(const aio::server& s) {
  return s.sockets().at(0).local_address().port();
}

aio::coro<void> echo(aio::stream_reader r, aio::stream_writer w) {
  std::byte buf[4096];
  for (;;) {
    std::size_t n = co_await r.read_some(buf);
    if (n == 0) break;
    w.write(std::span<const std::byte>(buf, n));
    co_await w.drain();
  }
}

AIO_TEST(streams, echo_server_and_client) {
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0);
  EXPECT_TRUE(srv.is_serving());
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  w.write("hello\n");
  w.write("world\n");
  co_await w.drain();
  EXPECT_EQ(co_await r.readline(), "hello\n");
  EXPECT_EQ(co_await r.readexactly(6), "world\n");
  EXPECT_EQ(w.peername().port(), port_of(srv));
  w.write_eof();
  EXPECT_EQ(co_await r.read(), "");  // the server ends its side when ours ends
  EXPECT_TRUE(r.at_eof());
  w.close();
  co_await w.wait_closed();
  srv.close();
  co_await srv.wait_closed();
  EXPECT_FALSE(srv.is_serving());
}

AIO_TEST(streams, ipv6_and_unix_servers) {
  aio::server s6 = co_await aio::start_server(echo, "::1", 0);
  auto [r6, w6] = co_await aio::open_connection("::1", port_of(s6));
  w6.write("six");
  EXPECT_EQ(co_await r6.readexactly(3), "six");

  const std::string path = "@aio-streams-" + std::to_string(::getpid());
  aio::server su = co_await aio::start_unix_server(echo, path);
  auto [ru, wu] = co_await aio::open_unix_connection(path);
  wu.write("unix");
  EXPECT_EQ(co_await ru.readexactly(4), "unix");
  // Clean shutdown: the clients close, the servers wait for their handlers.
  w6.close();
  wu.close();
  s6.close();
  su.close();
  co_await s6.wait_closed();
  co_await su.wait_closed();
}

AIO_TEST(streams, wildcard_host_listens_on_every_family) {
  aio::server srv = co_await aio::start_server(echo, "", 0);
  EXPECT_GE(srv.sockets().size(), 1u);
  for (const auto& l : srv.sockets())  // port 0: every listener got the first one's port
    EXPECT_EQ(l.local_address().port(), port_of(srv));
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  w.write("any");
  EXPECT_EQ(co_await r.readexactly(3), "any");
  w.close();
  srv.close();
  co_await srv.wait_closed();
  EXPECT_TRUE(srv.sockets().empty());  // as asyncio's server.sockets after close()
}

AIO_TEST(streams, dropping_the_writer_sends_what_was_written_then_closes) {
  // The handler writes 4 MiB and returns at once: the data still arrives whole, and
  // then the end of the stream.
  const std::string big(4 << 20, 'z');
  aio::server srv = co_await aio::start_server(
      [&big](aio::stream_reader, aio::stream_writer w) -> aio::coro<void> {
        w.write(big);
        co_return;
      },
      "127.0.0.1", 0);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  std::string got = co_await r.read();
  EXPECT_EQ(got.size(), big.size());
  EXPECT_EQ(got, big);
}

AIO_TEST(streams, drain_blocks_while_the_peer_does_not_read_and_memory_stays_bounded) {
  aio::future<void> release = aio::get_running_loop().create_future<void>();
  std::size_t max_buffer = 0;
  std::size_t written = 0;
  aio::server srv = co_await aio::start_server(
      [&](aio::stream_reader, aio::stream_writer w) -> aio::coro<void> {
        const std::string chunk(16 * 1024, 'x');
        for (int i = 0; i < 1000; ++i) {  // 16 MiB in all
          w.write(chunk);
          written += chunk.size();
          max_buffer = std::max(max_buffer, w.buffer_size());
          co_await w.drain();
        }
      },
      "127.0.0.1", 0);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  for (int i = 0; i < 50; ++i) co_await aio::sleep(1ms);
  const std::size_t stalled_at = written;
  EXPECT_LT(stalled_at, 1000u * 16 * 1024);  // the writer stopped: the reader does not read
  // The buffer never exceeds the high-water mark plus one write.
  EXPECT_LE(max_buffer, 64u * 1024 + 16 * 1024);
  std::string all = co_await r.read();
  EXPECT_EQ(all.size(), 1000u * 16 * 1024);
  (void)release;
}

AIO_TEST(streams, peer_that_sends_byte_by_byte) {
  aio::server srv = co_await aio::start_server(
      [](aio::stream_reader r, aio::stream_writer w) -> aio::coro<void> {
        std::string line = co_await r.readline();
        w.write("got:" + line);
        co_await w.drain();
      },
      "127.0.0.1", 0);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  for (char c : std::string("slow line\n")) {
    w.write(std::string_view(&c, 1));
    co_await aio::sleep(1ms);
  }
  EXPECT_EQ(co_await r.readline(), "got:slow line\n");
}

AIO_TEST(streams, peer_that_resets_the_connection) {
  aio::future<std::string> outcome = aio::get_running_loop().create_future<std::string>();
  aio::server srv = co_await aio::start_server(
      [&](aio::stream_reader r, aio::stream_writer) -> aio::coro<void> {
        try {
          (void)co_await r.readexactly(100);
          outcome.set_result("read");
        } catch (const aio::incomplete_read_error&) {
          outcome.set_result("incomplete");
        } catch (const aio::connection_reset_error&) {
          outcome.set_result("reset");
        }
      },
      "127.0.0.1", 0);
  {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
    w.write("partial");
    co_await w.drain();
    linger lg{1, 0};  // close() sends RST
    ::setsockopt(w.socket().fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  const std::string o = co_await outcome;
  EXPECT_TRUE(o == "reset" || o == "incomplete") << o;
}

AIO_TEST(streams, handler_exception_is_reported_and_closes_that_connection_only) {
  std::vector<std::string> reports;
  aio::get_running_loop().set_exception_handler(
      [&](aio::event_loop&, const aio::exception_context& c) { reports.push_back(c.message); });
  aio::server srv = co_await aio::start_server(
      [](aio::stream_reader r, aio::stream_writer w) -> aio::coro<void> {
        std::string line = co_await r.readline();
        if (line == "boom\n") throw std::runtime_error("handler failed");
        w.write(line);
        co_await w.drain();
      },
      "127.0.0.1", 0);
  auto [r1, w1] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  w1.write("boom\n");
  EXPECT_EQ(co_await r1.read(), "");  // closed by the server
  auto [r2, w2] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  w2.write("fine\n");
  EXPECT_EQ(co_await r2.readline(), "fine\n");
  CO_ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], "Unhandled exception in client_connected_cb");
}

AIO_TEST(streams, close_stops_accepting_and_wait_closed_waits_for_the_handlers) {
  aio::future<void> go = aio::get_running_loop().create_future<void>();
  bool handler_done = false;
  aio::server srv = co_await aio::start_server(
      [&](aio::stream_reader, aio::stream_writer) -> aio::coro<void> {
        co_await go;
        handler_done = true;
      },
      "127.0.0.1", 0);
  const auto port = port_of(srv);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
  while (srv.active_connections() == 0) co_await aio::sleep(0s);
  srv.close();
  EXPECT_THROW(co_await aio::open_connection("127.0.0.1", port), aio::connection_refused_error);
  auto closing = aio::create_task(srv.wait_closed());
  co_await aio::sleep(0s);
  EXPECT_FALSE(closing.done());
  go.set_result();
  co_await closing;
  EXPECT_TRUE(handler_done);
}

AIO_TEST(streams, a_cancelled_wait_closed_does_not_disturb_the_others) {
  aio::future<void> go = aio::get_running_loop().create_future<void>();
  aio::server srv = co_await aio::start_server(
      [&](aio::stream_reader, aio::stream_writer) -> aio::coro<void> { co_await go; }, "127.0.0.1",
      0);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  while (srv.active_connections() == 0) co_await aio::sleep(0s);
  srv.close();
  auto patient = aio::create_task(srv.wait_closed());
  // A graceful shutdown's pattern: wait a while, give up, then wait again.
  EXPECT_THROW(co_await aio::wait_for(srv.wait_closed(), 10ms), aio::timeout_error);
  auto again = aio::create_task(srv.wait_closed());
  co_await aio::sleep(0s);
  EXPECT_FALSE(patient.done());
  EXPECT_FALSE(again.done());
  go.set_result();
  co_await patient;
  co_await again;
  EXPECT_EQ(srv.active_connections(), 0u);
}

AIO_TEST(streams, abort_clients_cancels_the_handlers) {
  bool cancelled = false;
  aio::server srv = co_await aio::start_server(
      [&](aio::stream_reader r, aio::stream_writer) -> aio::coro<void> {
        try {
          (void)co_await r.read();
        } catch (const aio::cancelled_error&) {
          cancelled = true;
          throw;
        }
      },
      "127.0.0.1", 0);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  while (srv.active_connections() == 0) co_await aio::sleep(0s);
  srv.close();
  srv.abort_clients();
  co_await srv.wait_closed();
  EXPECT_TRUE(cancelled);
}

AIO_TEST(streams, serve_forever_cancelled_closes_the_server) {
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0);
  auto t = aio::create_task(srv.serve_forever());
  co_await aio::sleep(0s);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_FALSE(srv.is_serving());
}

AIO_TEST(streams, connection_refused_names_the_address) {
  std::uint16_t port;
  {
    aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0);
    port = port_of(srv);
  }
  try {
    co_await aio::open_connection("127.0.0.1", port);
    ADD_FAILURE() << "connected";
  } catch (const aio::connection_refused_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "connect to 127.0.0.1:" + std::to_string(port) + ": connection refused");
  }
}

AIO_TEST(streams, a_numeric_host_of_the_wrong_family_is_refused) {
  aio::server srv = co_await aio::start_server(echo, "::1", 0);
  aio::connection_options opts;
  opts.family = AF_INET;
  EXPECT_THROW(co_await aio::open_connection("::1", port_of(srv), opts), aio::net::dns_error);
}

AIO_TEST(streams, readuntil_limit_and_incomplete_read) {
  aio::server srv = co_await aio::start_server(
      [](aio::stream_reader, aio::stream_writer w) -> aio::coro<void> {
        w.write(std::string(200, 'a'));
        w.write("|tail");
        co_return;
      },
      "127.0.0.1", 0);
  aio::connection_options opts;
  opts.limit = 100;
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), opts);
  try {
    (void)co_await r.readuntil("|");
    ADD_FAILURE() << "no overrun";
  } catch (const aio::limit_overrun_error& e) {
    EXPECT_GT(e.consumed(), 100u);
  }
  // The data stays buffered after readuntil's overrun: read it in pieces.
  EXPECT_EQ((co_await r.readexactly(200)).size(), 200u);
  EXPECT_EQ(co_await r.readuntil("|"), "|");
  try {
    (void)co_await r.readexactly(10);
    ADD_FAILURE() << "no incomplete read";
  } catch (const aio::incomplete_read_error& e) {
    EXPECT_EQ(e.partial(), "tail");
    EXPECT_EQ(e.expected(), 10u);
  }
}

AIO_TEST(streams, a_cancelled_read_loses_no_data) {
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  w.write("abc");
  for (int round = 0; round < 20; ++round) {
    auto t = aio::create_task(r.readexactly(6));  // only 3 bytes come: it waits
    for (int i = 0; i < round; ++i) co_await aio::sleep(0s);
    t.cancel();
    try {
      co_await t;
    } catch (const aio::cancelled_error&) {
    }
  }
  w.write("def");
  EXPECT_EQ(co_await r.readexactly(6), "abcdef");
  w.close();
  srv.close();
  co_await srv.wait_closed();
}

AIO_TEST(streams, ten_thousand_concurrent_connections) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const int n = rl.rlim_cur >= 25000 ? 10000 : static_cast<int>(rl.rlim_cur / 3);
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, {.backlog = 16384});
  const auto port = port_of(srv);
  std::vector<aio::coro<std::string>> clients;
  for (int i = 0; i < n; ++i)
    clients.push_back([](std::uint16_t p, int i) -> aio::coro<std::string> {
      auto [r, w] = co_await aio::open_connection("127.0.0.1", p);
      w.write(std::to_string(i) + "\n");
      co_return co_await r.readline();
    }(port, i));
  std::vector<std::string> replies = co_await aio::gather(std::move(clients));
  for (int i = 0; i < n; ++i) EXPECT_EQ(replies[i], std::to_string(i) + "\n");
  srv.close();
  co_await srv.wait_closed();  // every client closed: every handler sees its end
}

TEST(streams, descriptors_are_all_closed_after_servers_clients_and_cancellations) {
  const std::size_t before = aio::testing::open_fd_count();
  aio::run([]() -> aio::coro<void> {
    aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0);
    for (int i = 0; i < 20; ++i) {
      auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
      w.write("x");
      if (i % 2) (void)co_await r.readexactly(1);
    }
    // A read pending when main ends.
    aio::create_task([&srv]() -> aio::coro<void> {
      auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
      (void)co_await r.read();
    });
    co_await aio::sleep(1ms);
  });
  EXPECT_EQ(aio::testing::open_fd_count(), before);
}

TEST(streams, cancellation_at_every_step_of_a_client_exchange) {
  const std::size_t before = aio::testing::open_fd_count();
  // Whatever step the cancel lands on, the scenario's clean-up (close the server,
  // cancel its handlers, wait for them) leaves no task and no descriptor behind.
  aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0);
    std::exception_ptr cancelled;
    try {
      auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
      w.write("ping\n");
      co_await w.drain();
      (void)co_await r.readline();
      w.close();
      co_await w.wait_closed();
    } catch (const aio::cancelled_error&) {
      cancelled = std::current_exception();
    }
    srv.close();
    srv.abort_clients();
    co_await srv.wait_closed();
    if (cancelled) std::rethrow_exception(cancelled);
  });
  EXPECT_EQ(aio::testing::open_fd_count(), before);
}

}  // namespace
