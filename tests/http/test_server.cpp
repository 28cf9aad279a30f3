// SPDX-License-Identifier: MIT
// The HTTP server against raw sockets and curl: routing, JSON, keep-alive, pipelining,
// limits, malformed requests, timeouts, streaming, middlewares, background tasks and
// graceful shutdown.
#include "aio/http/server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/sync/event.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

struct parsed {
  int status = 0;
  http::headers headers;
  std::string body;
};

// Reads responses from `r` until `count` have been parsed.
aio::coro<std::vector<parsed>> read_responses(aio::stream_reader& r, std::size_t count,
                                              bool head_request = false) {
  std::vector<parsed> out;
  http::message_parser p(http::message_parser::response);
  p.expect_no_body(head_request);
  std::string buf;
  parsed cur;
  while (out.size() < count) {
    if (buf.empty()) {
      std::string more = co_await r.read(65536);
      if (more.empty()) {
        if (p.finish()) {
          cur.status = p.head().status;
          cur.headers = p.head().headers;
          out.push_back(std::move(cur));
        }
        break;
      }
      buf = std::move(more);
    }
    auto res = p.feed(buf);
    for (auto piece : res.body) cur.body += piece;
    buf.erase(0, res.consumed);
    if (res.message_done) {
      cur.status = p.head().status;
      cur.headers = p.head().headers;
      out.push_back(std::move(cur));
      cur = parsed{};
      p.next_message();
      p.expect_no_body(head_request);
    }
  }
  co_return out;
}

// Sends `raw` on a fresh connection and reads one response.
aio::coro<parsed> exchange(std::uint16_t port, std::string raw, bool head = false) {
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
  w.write(raw);
  co_await w.drain();
  auto rs = co_await read_responses(r, 1, head);
  w.close();
  if (rs.empty()) throw std::runtime_error("no response");
  co_return rs[0];
}

aio::coro<http::response> hello(http::request& req) {
  co_return http::response::text("Hello, " + std::string(req.match_info("name")));
}

http::application make_app() {
  http::application app;
  app.router().add_get("/hello/{name}", hello);
  app.router().add_get("/", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::text("root");
  });
  app.router().add_post("/echo", [](http::request& req) -> aio::coro<http::response> {
    std::string body = co_await req.read();
    co_return http::response::text(body);
  });
  app.router().add_post("/json", [](http::request& req) -> aio::coro<http::response> {
    aio::json::value v = co_await req.json();
    co_return http::json_response({{"got", v}, {"n", 1}}, 201);
  });
  app.router().add_get("/query", [](http::request& req) -> aio::coro<http::response> {
    co_return http::response::text(std::string(req.query_param("q").value_or("none")) + "|" +
                                   std::to_string(req.query().size()));
  });
  app.router().add_get("/teapot", [](http::request&) -> aio::coro<http::response> {
    throw http::http_error(418, "short and stout");
    co_return http::response{};
  });
  app.router().add_get("/boom", [](http::request&) -> aio::coro<http::response> {
    throw std::runtime_error("handler failed");
    co_return http::response{};
  });
  app.router().add_get("/inject", [](http::request&) -> aio::coro<http::response> {
    http::response r = http::response::text("x");
    r.headers.add("X-Bad", "a\r\nSet-Cookie: evil=1");
    co_return r;
  });
  app.router().add_get("/stream", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::stream(
        [](http::response_writer& w) -> aio::coro<void> {
          for (int i = 0; i < 3; ++i) co_await w.write("part" + std::to_string(i) + ";");
        },
        200, "text/plain");
  });
  return app;
}

AIO_TEST(http_server, routes_params_and_errors) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  const auto port = srv.port();

  parsed r = co_await exchange(port, "GET /hello/world HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, world");
  EXPECT_EQ(r.headers.get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.headers.get("Content-Length"), "12");
  EXPECT_TRUE(r.headers.contains("Date"));

  r = co_await exchange(port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 404);
  r = co_await exchange(port, "DELETE /hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("Allow"), "GET");
  r = co_await exchange(port, "GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.body, "short and stout");
  r = co_await exchange(port, "GET /query?q=a+b&z=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.body, "a b|2");
  // HEAD is answered by the GET handler, without the body but with its length.
  r = co_await exchange(port, "HEAD /hello/ab HTTP/1.1\r\nHost: x\r\n\r\n", true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers.get("Content-Length"), "9");
  co_await srv.shutdown();
}

AIO_TEST(http_server, handler_failures_are_500_and_reported) {
  std::vector<std::string> reported;
  aio::get_running_loop().set_exception_handler(
      [&](aio::event_loop&, const aio::exception_context& ctx) {
        reported.push_back(ctx.message);
      });
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  parsed r = co_await exchange(srv.port(), "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("handler failed"), std::string::npos);  // never sent to the client
  r = co_await exchange(srv.port(), "GET /inject HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.headers.contains("Set-Cookie"));
  co_await srv.shutdown();
  CO_ASSERT_EQ(reported.size(), 2u);
  EXPECT_NE(reported[0].find("GET /boom"), std::string::npos);
  aio::get_running_loop().set_exception_handler({});
}

AIO_TEST(http_server, json_in_and_out) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  std::string body = R"({"name": "ada", "tags": [1, 2]})";
  parsed r = co_await exchange(srv.port(), "POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                               std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  aio::json::value v = aio::json::parse(r.body);
  EXPECT_EQ(v["got"]["name"], "ada");
  EXPECT_EQ(v["n"], 1);
  r = co_await exchange(srv.port(),
                        "POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{oops");
  EXPECT_EQ(r.status, 400);
  co_await srv.shutdown();
}

AIO_TEST(http_server, keep_alive_and_pipelining_in_order) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  // Three requests in one write, one with a body: answered in order on one connection.
  w.write(
      "GET /hello/1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /hello/3 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = co_await read_responses(r, 3);
  CO_ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].body, "Hello, 1");
  EXPECT_EQ(rs[1].body, "abc");
  EXPECT_EQ(rs[2].body, "Hello, 3");
  // Still open: one more.
  w.write("GET /hello/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  rs = co_await read_responses(r, 1);
  CO_ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body, "Hello, 4");
  EXPECT_EQ(rs[0].headers.get("Connection"), "close");
  EXPECT_EQ(co_await r.read(), "");  // the server closed after Connection: close
  co_await srv.shutdown();
}

AIO_TEST(http_server, unread_body_is_skipped_before_the_next_request) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  std::string big(100000, 'b');
  w.write("POST /hello/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  w.write(big);
  w.write("GET /hello/y HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = co_await read_responses(r, 2);
  CO_ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 405);
  EXPECT_EQ(rs[1].body, "Hello, y");
  co_await srv.shutdown();
}

AIO_TEST(http_server, malformed_and_oversized_requests) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(
      app, {.host = "127.0.0.1", .port = 0, .max_head_size = 1024, .max_body_size = 100});
  const auto port = srv.port();
  parsed r = co_await exchange(port, "GARBAGE\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers.get("Connection"), "close");
  r = co_await exchange(port, "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.status, 431);
  r = co_await exchange(port, "POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(r.status, 413);
  r = co_await exchange(port,
                        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "64\r\n" +
                            std::string(100, 'x') + "\r\n1\r\ny\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 413);
  // Request smuggling: Content-Length and Transfer-Encoding together.
  r = co_await exchange(port,
                        "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
                        "\r\n\r\n0\r\n\r\nGET /hello/smuggled HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  r = co_await exchange(port, "GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  r = co_await exchange(port, "GET / HTTP/1.1\r\nExpect: something\r\n\r\n");
  EXPECT_EQ(r.status, 417);
  // The server is still fine.
  r = co_await exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.body, "root");
  co_await srv.shutdown();
}

AIO_TEST(http_server, expect_100_continue) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  w.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(co_await r.readuntil("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  w.write("data");
  auto rs = co_await read_responses(r, 1);
  CO_ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body, "data");
  co_await srv.shutdown();
}

AIO_TEST(http_server, slow_head_gets_408_and_idle_connections_close) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(
      app, {.host = "127.0.0.1", .port = 0, .header_timeout = 50ms, .keepalive_timeout = 50ms});
  {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
    w.write("GET / HTTP/1.1\r\nHost");  // and never the rest
    auto rs = co_await read_responses(r, 1);
    CO_ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, 408);
    EXPECT_EQ(co_await r.read(), "");
  }
  {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
    EXPECT_EQ(co_await r.read(), "");  // idle: closed without a word
  }
  co_await srv.shutdown();
}

AIO_TEST(http_server, streaming_response_is_chunked) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  parsed r = co_await exchange(srv.port(), "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.headers.get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r.body, "part0;part1;part2;");
  // HTTP/1.0 has no chunked encoding: the body ends with the connection.
  r = co_await exchange(srv.port(), "GET /stream HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(r.headers.contains("Transfer-Encoding"));
  EXPECT_EQ(r.body, "part0;part1;part2;");
  co_await srv.shutdown();
}

AIO_TEST(http_server, a_streamed_body_must_match_its_content_length) {
  std::vector<std::string> reported;
  aio::get_running_loop().set_exception_handler(
      [&](aio::event_loop&, const aio::exception_context& ctx) {
        reported.push_back(ctx.message);
      });
  http::application app;
  auto stream_with_length = [](std::size_t declared, std::string body) {
    return [declared, body](http::request&) -> aio::coro<http::response> {
      http::response r = http::response::stream(
          [body](http::response_writer& w) -> aio::coro<void> { co_await w.write(body); });
      r.headers.set("Content-Length", std::to_string(declared));
      co_return r;
    };
  };
  app.router().add_get("/exact", stream_with_length(5, "exact"));
  app.router().add_get("/short", stream_with_length(10, "short"));
  app.router().add_get("/long", stream_with_length(3, "toolong"));
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
    w.write("GET /exact HTTP/1.1\r\nHost: x\r\n\r\nGET /exact HTTP/1.1\r\nHost: x\r\n\r\n");
    auto rs = co_await read_responses(r, 2);  // raw framing, the connection kept
    CO_ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].body, "exact");
  }
  for (const char* path : {"/short", "/long"}) {
    // Framing cannot be kept: the connection ends after what was sent, never reused.
    auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
    w.write(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\nGET /exact HTTP/1.1\r\n\r\n");
    std::string all = co_await r.read();
    EXPECT_EQ(all.find("exact"), std::string::npos) << path << ": " << all;
    EXPECT_NE(all.find("Content-Length: "), std::string::npos);
  }
  co_await srv.shutdown();
  CO_ASSERT_EQ(reported.size(), 1u);  // the overlong write threw in the handler
  EXPECT_NE(reported[0].find("GET /long"), std::string::npos);
  aio::get_running_loop().set_exception_handler({});
}

AIO_TEST(http_server, static_files_stay_in_their_directory) {
  auto dir = std::filesystem::temp_directory_path() / ("aio-static-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "a.txt") << "file contents";
  http::application app;
  app.router().add_static("/static", dir.string());
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  parsed r = co_await exchange(srv.port(), "GET /static/sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "file contents");
  EXPECT_EQ(r.headers.get("Content-Type"), "text/plain; charset=utf-8");
  r = co_await exchange(srv.port(), "GET /static/../x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(r.status, 200);
  r = co_await exchange(srv.port(), "GET /static/sub/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 403);
  r = co_await exchange(srv.port(), "GET /static/missing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 404);
  co_await srv.shutdown();
  std::filesystem::remove_all(dir);
}

AIO_TEST(http_server, middlewares_wrap_and_short_circuit) {
  http::application app = make_app();
  std::vector<std::string> order;
  app.add_middleware(
      [&](http::request& req, const http::handler& next) -> aio::coro<http::response> {
        order.push_back("outer-before");
        http::response r = co_await next(req);
        r.headers.add("X-Outer", "1");
        order.push_back("outer-after");
        co_return r;
      });
  app.add_middleware(
      [&](http::request& req, const http::handler& next) -> aio::coro<http::response> {
        if (!req.headers().contains("Authorization")) co_return http::response::text("no", 401);
        order.push_back("auth-ok");
        co_return co_await next(req);
      });
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  parsed r = co_await exchange(srv.port(), "GET /hello/a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers.get("X-Outer"), "1");
  r = co_await exchange(srv.port(), "GET /hello/a HTTP/1.1\r\nAuthorization: t\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(order, (std::vector<std::string>{"outer-before", "outer-after", "outer-before",
                                             "auth-ok", "outer-after"}));
  co_await srv.shutdown();
}

AIO_TEST(http_server, background_tasks_run_after_the_response) {
  http::application app;
  aio::event sent_seen;
  std::vector<std::string> log;
  app.router().add_post("/signup", [&](http::request& req) -> aio::coro<http::response> {
    req.add_background_task([&]() -> aio::coro<void> {
      log.push_back("email sent");
      co_return;
    });
    log.push_back("handler");
    co_return http::response::text("ok");
  });
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  w.write("POST /signup HTTP/1.1\r\nHost: x\r\n\r\nPOST /signup HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = co_await read_responses(r, 2);
  EXPECT_EQ(rs.size(), 2u);
  EXPECT_EQ(log, (std::vector<std::string>{"handler", "email sent", "handler", "email sent"}));
  co_await srv.shutdown();
}

AIO_TEST(http_server, graceful_shutdown_finishes_requests_in_flight) {
  http::application app;
  aio::event started;
  bool finished = false, hook_ran = false;
  app.router().add_get("/slow", [&](http::request&) -> aio::coro<http::response> {
    started.set();
    co_await aio::sleep(50ms);
    finished = true;
    co_return http::response::text("done");
  });
  app.on_shutdown().push_back([&](http::application&) -> aio::coro<void> {
    hook_ran = true;
    co_return;
  });
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  auto idle = co_await aio::open_connection("127.0.0.1", srv.port());
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  w.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  co_await started.wait();
  co_await srv.shutdown();
  EXPECT_TRUE(finished);
  EXPECT_TRUE(hook_ran);
  auto rs = co_await read_responses(r, 1);
  CO_ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body, "done");
  EXPECT_EQ(rs[0].headers.get("Connection"), "close");
  EXPECT_EQ(co_await idle.reader.read(), "");  // the idle connection was closed
  EXPECT_EQ(srv.active_connections(), 0u);
}

AIO_TEST(http_server, shutdown_timeout_cancels_stuck_handlers) {
  http::application app;
  aio::event started;
  bool cancelled = false;
  app.router().add_get("/stuck", [&](http::request&) -> aio::coro<http::response> {
    started.set();
    try {
      co_await aio::sleep(1h);
    } catch (const aio::cancelled_error&) {
      cancelled = true;
      throw;
    }
    co_return http::response{};
  });
  http::app_server srv =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .shutdown_timeout = 20ms});
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  w.write("GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n");
  co_await started.wait();
  co_await srv.shutdown();
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(co_await r.read(), "");
}

AIO_TEST(http_server, max_connections_answers_503) {
  http::application app = make_app();
  http::app_server srv =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .max_connections = 1});
  auto first = co_await aio::open_connection("127.0.0.1", srv.port());
  first.writer.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto rs = co_await read_responses(first.reader, 1);
  CO_ASSERT_EQ(rs.size(), 1u);
  parsed r = co_await exchange(srv.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 503);
  co_await srv.shutdown();
}

AIO_TEST(http_server, clients_that_reset_are_not_reported) {
  int reported = 0;
  aio::get_running_loop().set_exception_handler(
      [&](aio::event_loop&, const aio::exception_context&) { ++reported; });
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  for (int i = 0; i < 3; ++i) {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
    w.write(i == 0 ? "GET /hel" : "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    co_await w.drain();
    co_await aio::sleep(5ms);
    linger l{1, 0};  // close with RST
    ::setsockopt(w.socket().fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    w.close();
  }
  // The server is fine, and said nothing.
  parsed r = co_await exchange(srv.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.body, "root");
  co_await srv.shutdown();
  EXPECT_EQ(reported, 0);
  aio::get_running_loop().set_exception_handler({});
}

AIO_TEST(http_server, a_keep_alive_timeout_between_requests_is_not_a_cancel) {
  // The connection deadline cancels the connection's task internally; a request that
  // arrives after an earlier deadline was moved must not see a stray cancellation.
  http::application app = make_app();
  http::app_server srv =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .keepalive_timeout = 30ms});
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  for (int i = 0; i < 5; ++i) {
    co_await aio::sleep(10ms);  // within the keep-alive timeout each time
    w.write("GET /hello/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto rs = co_await read_responses(r, 1);
    CO_ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].body, "Hello, " + std::to_string(i));
  }
  EXPECT_EQ(co_await r.read(), "");  // then idle too long: closed
  co_await srv.shutdown();
}

AIO_TEST(http_server, curl_is_a_client) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  const std::string base = "http://127.0.0.1:" + std::to_string(srv.port());
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  // (No braced list inside a co_await statement: GCC 12, docs/hazards.md.)
  std::vector<std::string> args = {"-s",
                                   "-S",
                                   base + "/hello/curl",
                                   "--next",
                                   "-s",
                                   "-X",
                                   "POST",
                                   "-H",
                                   "Content-Type: application/json",
                                   "--data",
                                   "{\"x\":[1,2,3]}",
                                   base + "/json",
                                   "--next",
                                   "-s",
                                   "-F",
                                   "f=1",
                                   base + "/nope",
                                   "-o",
                                   "/dev/null",
                                   "-w",
                                   "%{http_code}"};
  aio::process p = co_await aio::create_subprocess_exec("/usr/bin/curl", std::move(args), o);
  auto [out, err] = co_await p.communicate();
  EXPECT_EQ(co_await p.wait(), 0);
  EXPECT_EQ(out, "Hello, curl{\"got\":{\"x\":[1,2,3]},\"n\":1}404");
  co_await srv.shutdown();
}

}  // namespace
