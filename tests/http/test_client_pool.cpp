// SPDX-License-Identifier: MIT
// The HTTP client's connection pool, timeouts and cancellation, against aio's HTTP
// server (which tells the client's port, so connections can be told apart) and raw
// stream servers (stale keep-alive connections).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"
#include "aio/net/streams.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

struct stats {
  int active = 0;
  int max_active = 0;
  std::vector<std::uint16_t> ports;  // the client port of each request
};

struct served {
  stats st;
  http::application app;
  http::app_server srv;
  std::string base;
};

aio::coro<void> start(served& s) {
  stats& st = s.st;
  s.app.router().add_get("/who", [&st](http::request& req) -> aio::coro<http::response> {
    st.ports.push_back(req.remote().port());
    co_return http::response::text(std::to_string(req.remote().port()));
  });
  s.app.router().add_get("/slow", [&st](http::request& req) -> aio::coro<http::response> {
    st.ports.push_back(req.remote().port());
    ++st.active;
    st.max_active = std::max(st.max_active, st.active);
    co_await aio::sleep(30ms);
    --st.active;
    co_return http::response::text("slow");
  });
  s.app.router().add_get("/big", [&st](http::request& req) -> aio::coro<http::response> {
    st.ports.push_back(req.remote().port());
    co_return http::response::bytes(std::string(1 << 20, 'x'));
  });
  s.app.router().add_get("/sleep", [](http::request&) -> aio::coro<http::response> {
    co_await aio::sleep(10s);
    co_return http::response::text("late");
  });
  s.app.router().add_get("/stall", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::stream([](http::response_writer& w) -> aio::coro<void> {
      co_await w.write("first");
      co_await aio::sleep(10s);
      co_await w.write("never");
    });
  });
  http::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.print_banner = false;
  cfg.shutdown_timeout = 100ms;
  s.srv = co_await http::start_app(s.app, cfg);
  s.base = "http://127.0.0.1:" + std::to_string(s.srv.port());
}

aio::coro<std::string> fetch(http::client_session& session, std::string url) {
  http::client_response r = co_await session.get(url);
  std::string body = co_await r.text();
  co_return body;
}

}  // namespace

AIO_TEST(http_client_pool, keep_alive_reuses_one_connection) {
  served s;
  co_await start(s);
  http::client_session session;
  for (int i = 0; i < 3; ++i) {
    http::client_response r = co_await session.get(s.base + "/who");
    EXPECT_EQ(co_await r.text(), std::to_string(s.st.ports.back()));
    EXPECT_TRUE(r.closed());  // read to the end: back in the pool
    EXPECT_EQ(session.pool().idle, 1u);
    EXPECT_EQ(session.pool().in_use, 0u);
  }
  CO_ASSERT_EQ(s.st.ports.size(), 3u);
  EXPECT_EQ(s.st.ports[0], s.st.ports[1]);
  EXPECT_EQ(s.st.ports[1], s.st.ports[2]);
  co_await session.close();
  EXPECT_EQ(session.pool().idle, 0u);
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, limit_per_host_one_uses_one_connection_at_a_time) {
  served s;
  co_await start(s);
  http::session_options o;
  o.limit_per_host = 1;
  http::client_session session(std::move(o));
  const std::string u = s.base + "/slow";
  auto [a, b, c] = co_await aio::gather(fetch(session, u), fetch(session, u), fetch(session, u));
  EXPECT_EQ(a, "slow");
  EXPECT_EQ(b, "slow");
  EXPECT_EQ(c, "slow");
  EXPECT_EQ(s.st.max_active, 1);
  CO_ASSERT_EQ(s.st.ports.size(), 3u);
  EXPECT_EQ(s.st.ports[0], s.st.ports[1]);
  EXPECT_EQ(s.st.ports[0], s.st.ports[2]);
  EXPECT_EQ(session.pool().idle, 1u);
  co_await session.close();

  // limit = 2 in total: at most two at once, over two connections.
  s.st = stats{};
  http::session_options two;
  two.limit = 2;
  http::client_session pair(std::move(two));
  std::vector<aio::coro<std::string>> many;
  for (int i = 0; i < 6; ++i) many.push_back(fetch(pair, u));
  std::vector<std::string> bodies = co_await aio::gather(std::move(many));
  EXPECT_EQ(bodies.size(), 6u);
  EXPECT_EQ(s.st.max_active, 2);
  EXPECT_LE(pair.pool().idle, 2u);
  co_await pair.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, half_read_responses_are_never_pooled) {
  served s;
  co_await start(s);
  http::client_session session;
  std::string first = co_await fetch(session, s.base + "/who");
  {
    http::client_response r = co_await session.get(s.base + "/big");
    EXPECT_EQ(s.st.ports.back(), s.st.ports.front());  // the pooled connection
    std::string piece = co_await r.read_chunk(100);
    EXPECT_EQ(piece, std::string(100, 'x'));
    EXPECT_EQ(session.pool().in_use, 1u);
    r.release();  // the body is not read: the connection is closed
    EXPECT_TRUE(r.closed());
    EXPECT_EQ(session.pool().in_use, 0u);
    EXPECT_EQ(session.pool().idle, 0u);
    EXPECT_THROW((void)co_await r.read_chunk(), http::client_connection_error);
  }
  std::string second = co_await fetch(session, s.base + "/who");
  EXPECT_NE(first, second);  // a new connection
  {
    // Destroyed unread: closed too.
    http::client_response r = co_await session.get(s.base + "/big");
    EXPECT_EQ(std::to_string(s.st.ports.back()), second);
  }
  EXPECT_EQ(session.pool().idle, 0u);
  EXPECT_EQ(session.pool().in_use, 0u);
  std::string third = co_await fetch(session, s.base + "/who");
  EXPECT_NE(third, second);
  // Read to the end: pooled.
  http::client_response whole = co_await session.get(s.base + "/big");
  EXPECT_EQ((co_await whole.read()).size(), 1u << 20);
  EXPECT_EQ(session.pool().idle, 1u);
  EXPECT_EQ(co_await fetch(session, s.base + "/who"), third);
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, cancelled_requests_release_their_connection) {
  served s;
  co_await start(s);
  http::client_session session;
  // aio::timeout around the request.
  EXPECT_THROW((void)co_await aio::timeout(50ms, session.get(s.base + "/sleep")),
               aio::timeout_error);
  EXPECT_EQ(session.pool().in_use, 0u);
  EXPECT_EQ(session.pool().idle, 0u);
  // A task cancelled while it waits for the head.
  aio::task<http::client_response> t = aio::create_task(session.get(s.base + "/sleep"));
  co_await aio::sleep(20ms);
  t.cancel();
  EXPECT_THROW((void)co_await std::move(t), aio::cancelled_error);
  EXPECT_EQ(session.pool().in_use, 0u);
  EXPECT_EQ(session.pool().idle, 0u);
  // A cancelled body read.
  http::client_response r = co_await session.get(s.base + "/stall");
  EXPECT_EQ(co_await r.read_chunk(), "first");
  EXPECT_THROW((void)co_await aio::timeout(50ms, r.read_chunk()), aio::timeout_error);
  EXPECT_TRUE(r.closed());
  EXPECT_THROW((void)co_await r.read_chunk(), http::client_connection_error);
  EXPECT_EQ(session.pool().in_use, 0u);
  // And the session still works.
  EXPECT_FALSE((co_await fetch(session, s.base + "/who")).empty());
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, timeouts) {
  served s;
  co_await start(s);
  http::client_session session;
  // sock_read while waiting for the head.
  bool thrown = false;
  try {
    http::client_timeout to;
    to.sock_read = 50ms;
    (void)co_await session.get(s.base + "/sleep", http::request_options().timeout(to));
  } catch (const http::socket_timeout_error& e) {
    thrown = true;
    EXPECT_STREQ(e.what(), "Timeout on reading data from socket");
  }
  EXPECT_TRUE(thrown);
  // total: a plain timeout_error.
  thrown = false;
  try {
    http::client_timeout to;
    to.total = 50ms;
    to.sock_read = 5s;
    (void)co_await session.get(s.base + "/sleep", http::request_options().timeout(to));
  } catch (const http::socket_timeout_error&) {
    ADD_FAILURE() << "the total limit passed first";
  } catch (const aio::timeout_error&) {
    thrown = true;
  }
  EXPECT_TRUE(thrown);
  // sock_read while reading the body; later reads fail, the connection is closed.
  http::session_options o;
  o.timeout.sock_read = 100ms;
  http::client_session reads(std::move(o));
  http::client_response r = co_await reads.get(s.base + "/stall");
  EXPECT_EQ(r.status(), 200);
  EXPECT_THROW((void)co_await r.read(), http::socket_timeout_error);
  EXPECT_TRUE(r.closed());
  EXPECT_THROW((void)co_await r.read(), http::client_connection_error);
  // total also bounds the body. (A designated initializer inside the co_await: safe,
  // client_timeout is trivially destructible.)
  http::client_response r2 =
      co_await session.get(s.base + "/stall", http::request_options().timeout({.total = 100ms}));
  EXPECT_THROW((void)co_await r2.read(), aio::timeout_error);
  EXPECT_EQ(session.pool().in_use, 0u);
  EXPECT_EQ(reads.pool().in_use, 0u);
  co_await reads.close();
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, waiting_for_a_slot_is_bounded_by_connect) {
  served s;
  co_await start(s);
  http::session_options o;
  o.limit = 1;
  http::client_session session(std::move(o));
  http::client_response held = co_await session.get(s.base + "/big");  // unread: holds the slot
  http::client_timeout to;
  to.connect = 50ms;
  EXPECT_THROW((void)co_await session.get(s.base + "/who", http::request_options().timeout(to)),
               http::connection_timeout_error);
  // A waiter that is cancelled leaves the queue; the next one gets the slot.
  aio::task<std::string> waiter = aio::create_task(fetch(session, s.base + "/who"));
  co_await aio::sleep(10ms);
  waiter.cancel();
  EXPECT_THROW((void)co_await waiter, aio::cancelled_error);
  aio::task<std::string> next = aio::create_task(fetch(session, s.base + "/who"));
  co_await aio::sleep(10ms);
  EXPECT_FALSE(next.done());
  held.close();
  EXPECT_FALSE((co_await next).empty());
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, idle_connections_expire) {
  served s;
  co_await start(s);
  http::session_options o;
  o.keepalive_timeout = 50ms;
  http::client_session session(std::move(o));
  (void)co_await fetch(session, s.base + "/who");
  EXPECT_EQ(session.pool().idle, 1u);
  co_await aio::sleep(200ms);
  EXPECT_EQ(session.pool().idle, 0u);
  (void)co_await fetch(session, s.base + "/who");
  CO_ASSERT_EQ(s.st.ports.size(), 2u);
  EXPECT_NE(s.st.ports[0], s.st.ports[1]);
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client_pool, closing_the_session_lets_live_responses_finish) {
  served s;
  co_await start(s);
  std::optional<http::client_response> r;
  {
    http::client_session session;
    (void)co_await fetch(session, s.base + "/who");  // one idle connection
    r = co_await session.get(s.base + "/big");
    co_await session.close();
    EXPECT_EQ(session.pool().idle, 0u);
    EXPECT_THROW((void)co_await session.get(s.base + "/who"), std::runtime_error);
    EXPECT_EQ(session.pool().in_use, 1u);
  }  // the session is gone; the response keeps its connection
  EXPECT_EQ((co_await r->read()).size(), 1u << 20);
  EXPECT_TRUE(r->closed());
  r.reset();
  // The destructor alone (no close()) closes the idle connections too; the test's
  // leak check finds any socket left open.
  {
    http::client_session session;
    (void)co_await fetch(session, s.base + "/who");
  }
  co_await s.srv.shutdown();
}

namespace {

// A keep-alive server that answers the first request of each connection, then reads
// the next request and closes without answering (a connection the server dropped
// while the client thought it idle). Counts connections.
aio::coro<aio::server> stale_server(int& connections) {
  aio::client_connected_cb handler = [&connections](aio::stream_reader r,
                                                    aio::stream_writer w) -> aio::coro<void> {
    ++connections;
    std::string head = co_await r.readuntil("\r\n\r\n");
    w.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    co_await w.drain();
    std::string next = co_await r.readuntil("\r\n\r\n");
    w.close();
    co_await w.wait_closed();
  };
  aio::server srv = co_await aio::start_server(std::move(handler), "127.0.0.1", 0);
  co_return srv;
}

// Answers one request per connection with keep-alive, then closes at once.
aio::coro<aio::server> closing_server(int& connections) {
  aio::client_connected_cb handler = [&connections](aio::stream_reader r,
                                                    aio::stream_writer w) -> aio::coro<void> {
    ++connections;
    std::string head = co_await r.readuntil("\r\n\r\n");
    w.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    w.close();
    co_await w.wait_closed();
  };
  aio::server srv = co_await aio::start_server(std::move(handler), "127.0.0.1", 0);
  co_return srv;
}

std::string url_of(const aio::server& srv) {
  return "http://127.0.0.1:" + std::to_string(srv.sockets()[0].local_address().port()) + "/";
}

aio::coro<void> stop(aio::server& srv) {
  srv.close();
  srv.abort_clients();
  co_await srv.wait_closed();
}

}  // namespace

AIO_TEST(http_client_pool, stale_keep_alive_is_retried_once_when_idempotent) {
  int connections = 0;
  aio::server srv = co_await stale_server(connections);
  http::client_session session;
  EXPECT_EQ(co_await fetch(session, url_of(srv)), "ok");
  EXPECT_EQ(connections, 1);
  // The pooled connection dies under the second GET: retried on a new one.
  EXPECT_EQ(co_await fetch(session, url_of(srv)), "ok");
  EXPECT_EQ(connections, 2);
  // A POST is not retried: the server may have acted on it.
  EXPECT_THROW((void)co_await session.post(url_of(srv), http::request_options().data("x")),
               http::server_disconnected_error);
  EXPECT_EQ(connections, 2);
  EXPECT_EQ(session.pool().in_use, 0u);
  co_await session.close();
  co_await stop(srv);

  // A server that closes right after answering (keep-alive or not): whether the close is
  // seen before reuse or met by the request, every request succeeds.
  int closing = 0;
  aio::server srv2 = co_await closing_server(closing);
  http::client_session s2;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(co_await fetch(s2, url_of(srv2)), "ok");
    co_await aio::sleep(5ms);
  }
  EXPECT_EQ(closing, 3);
  co_await s2.close();
  co_await stop(srv2);
}

namespace {

// Answers every request of a connection with "hello" (keep-alive).
aio::coro<aio::server> hello_server() {
  aio::client_connected_cb handler = [](aio::stream_reader r,
                                        aio::stream_writer w) -> aio::coro<void> {
    for (;;) {
      std::string head;
      try {
        head = co_await r.readuntil("\r\n\r\n");
      } catch (const std::exception&) {
        break;  // the client went away
      }
      w.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
      co_await w.drain();
    }
  };
  aio::server srv = co_await aio::start_server(std::move(handler), "127.0.0.1", 0);
  co_return srv;
}

aio::coro<void> two_requests_scenario() {
  aio::server srv = co_await hello_server();
  std::exception_ptr err;
  {
    http::client_session session;
    try {
      for (int i = 0; i < 2; ++i) {
        http::client_response r = co_await session.get(url_of(srv));
        std::string body = co_await r.text();
        if (body != "hello") ADD_FAILURE() << "body: " << body;
      }
    } catch (...) {
      err = std::current_exception();
    }
    co_await session.close();
  }
  srv.close();
  srv.abort_clients();
  co_await srv.wait_closed();
  if (err) std::rethrow_exception(err);
}

}  // namespace

// Cancelled at every step of two requests on one session: each run ends cleanly (no
// socket, task or timer left, checked by cancel_at_every_step).
TEST(http_client_pool, cancelled_at_every_step) {
  aio::testing::cancel_stats st =
      aio::testing::cancel_at_every_step(&two_requests_scenario, {.virtual_clock = false});
  EXPECT_GT(st.steps, 4u);
  EXPECT_GT(st.cancelled, 0u);
}
