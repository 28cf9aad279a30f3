// SPDX-License-Identifier: MIT
// The HTTP client (aio/http/client.hpp) against real peers: aio's own HTTP server for
// the well-behaved cases, raw stream servers for the malformed, short and cut ones.
// Pool, timeouts and cancellation: test_client_pool.cpp; proxies and TLS:
// test_client_proxy.cpp.
#include "aio/http/client.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/server.hpp"
#include "aio/net/streams.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  return s;
}

// Answers with what it received: method, target, headers (lower-case names; repeated
// fields joined with ", "), body.
aio::coro<http::response> echo(http::request& req) {
  std::string body = co_await req.read();
  aio::json::value v;
  v["method"] = std::string(req.method());
  v["target"] = std::string(req.target());
  aio::json::value h = aio::json::value::object();
  for (const auto& [name, value] : req.headers()) {
    const std::string key = lower(name);
    if (h.contains(key)) {
      h[key] = h[key].get<std::string>() + ", " + value;
    } else {
      h[key] = value;
    }
  }
  v["headers"] = h;
  v["body"] = body;
  co_return http::json_response(v);
}

const std::string& big_body() {
  static const std::string b = [] {
    std::string s;
    for (int i = 0; s.size() < 200000; ++i) s += "line " + std::to_string(i) + "\n";
    return s;
  }();
  return b;
}

std::string plain_text() {
  std::string s;
  for (int i = 0; i < 2000; ++i) s += "hello world " + std::to_string(i % 7) + " ";
  return s;
}

http::application make_app() {
  http::application app;
  app.router().add_get("/text", [](http::request&) -> aio::coro<http::response> {
    http::response r = http::response::text("hello");
    r.headers.add("X-Multi", "1");
    r.headers.add("x-multi", "2");
    co_return r;
  });
  app.router().add_get("/json", [](http::request&) -> aio::coro<http::response> {
    aio::json::value v;
    v["a"] = 1;
    v["b"] = "two";
    co_return http::json_response(v);
  });
  app.router().add_get("/vnd-json", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::text(R"({"x": true})", 200, "application/vnd.api+json");
  });
  app.router().add_get("/empty-json", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::text("  ", 200, "application/json");
  });
  app.router().add_route("*", "/echo", echo);
  app.router().add_route("*", "/sub/echo", echo);
  app.router().add_route("*", "/status/{code}",
                         [](http::request& req) -> aio::coro<http::response> {
                           const int code = std::stoi(std::string(req.match_info("code")));
                           co_return http::response::text("status " + std::to_string(code), code);
                         });
  // /redirect/302?to=/echo answers 302 with Location: /echo.
  app.router().add_route("*", "/redirect/{code}",
                         [](http::request& req) -> aio::coro<http::response> {
                           const int code = std::stoi(std::string(req.match_info("code")));
                           http::response r(code);
                           r.headers.add("Location", req.query_param("to").value_or("/"));
                           r.body = "you are being redirected";
                           co_return r;
                         });
  app.router().add_get("/loop", [](http::request&) -> aio::coro<http::response> {
    http::response r(302);
    r.headers.add("Location", "/loop");
    co_return r;
  });
  app.router().add_get("/redirect-no-location", [](http::request&) -> aio::coro<http::response> {
    co_return http::response(302);
  });
  app.router().add_get("/setcookie", [](http::request&) -> aio::coro<http::response> {
    http::response r = http::response::text("cookies set");
    r.set_cookie("a", "1");
    r.set_cookie("b", "2", "Path=/sub");
    r.set_cookie("s", "3", "Path=/; Secure");
    r.set_cookie("gone", "4", "Path=/; Max-Age=0");
    co_return r;
  });
  app.router().add_get("/delcookie", [](http::request&) -> aio::coro<http::response> {
    http::response r = http::response::text("cookie deleted");
    r.set_cookie("a", "", "Path=/; Max-Age=0");
    co_return r;
  });
  app.router().add_get("/stream", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::stream(
        [](http::response_writer& w) -> aio::coro<void> {
          for (int i = 0; i < 5; ++i)
            co_await w.write(std::string(1000, static_cast<char>('a' + i)));
        },
        200, "text/plain");
  });
  app.router().add_get("/big", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::bytes(big_body());
  });
  // /enc/gzip, /enc/deflate, /enc/raw-deflate, /enc/br: plain_text() compressed.
  app.router().add_get("/enc/{name}", [](http::request& req) -> aio::coro<http::response> {
    const std::string name(req.match_info("name"));
    http::response r =
        http::response::bytes(http::detail::compress(plain_text(), name), 200, "text/plain");
    r.headers.add("Content-Encoding", name == "raw-deflate" ? "deflate" : name);
    co_return r;
  });
  app.router().add_get("/enc-bad/{name}", [](http::request& req) -> aio::coro<http::response> {
    http::response r = http::response::bytes("this is not compressed data at all", 200);
    r.headers.add("Content-Encoding", std::string(req.match_info("name")));
    co_return r;
  });
  app.router().add_get("/enc-truncated", [](http::request&) -> aio::coro<http::response> {
    std::string z = http::detail::compress(plain_text(), "gzip");
    z.resize(z.size() / 2);
    http::response r = http::response::bytes(z, 200);
    r.headers.add("Content-Encoding", "gzip");
    co_return r;
  });
  app.router().add_get("/enc-stream", [](http::request&) -> aio::coro<http::response> {
    http::response r = http::response::stream(
        [](http::response_writer& w) -> aio::coro<void> {
          const std::string z = http::detail::compress(plain_text(), "br");
          for (std::size_t i = 0; i < z.size(); i += 7) co_await w.write(z.substr(i, 7));
        },
        200, "text/plain");
    r.headers.add("Content-Encoding", "br");
    co_return r;
  });
  return app;
}

struct served {
  http::application app = make_app();
  http::app_server srv;
  std::string base;
};

aio::coro<void> start(served& s) {
  http::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.print_banner = false;
  s.srv = co_await http::start_app(s.app, cfg);
  s.base = "http://127.0.0.1:" + std::to_string(s.srv.port());
}

aio::json::value json_of(const std::string& s) {
  return aio::json::parse(s);
}

}  // namespace

AIO_TEST(http_client, text_json_status_and_headers) {
  served s;
  co_await start(s);
  http::client_session session;
  http::client_response r = co_await session.get(s.base + "/text");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.reason(), "OK");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.method(), "GET");
  EXPECT_EQ(r.url().str(), s.base + "/text");
  EXPECT_EQ(r.headers().get("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.content_type(), "text/plain");
  EXPECT_EQ(r.charset(), "utf-8");
  EXPECT_EQ(r.content_length(), 5u);
  const auto multi = r.headers().get_all("X-MULTI");
  CO_ASSERT_EQ(multi.size(), 2u);
  EXPECT_EQ(multi[0], "1");
  EXPECT_EQ(multi[1], "2");
  EXPECT_EQ(co_await r.text(), "hello");
  EXPECT_EQ(co_await r.read(), "hello");  // kept: read again
  EXPECT_TRUE(r.at_eof());
  EXPECT_TRUE(r.history().empty());

  http::client_response j = co_await session.get(s.base + "/json");
  aio::json::value v = co_await j.json();
  EXPECT_EQ(v["a"], 1);
  EXPECT_EQ(v["b"], "two");

  http::client_response vnd = co_await session.get(s.base + "/vnd-json");
  aio::json::value x = co_await vnd.json();
  EXPECT_EQ(x["x"], true);
  http::client_response empty = co_await session.get(s.base + "/empty-json");
  EXPECT_TRUE((co_await empty.json()).is_null());

  http::client_response missing = co_await session.get(s.base + "/nope");
  EXPECT_EQ(missing.status(), 404);
  EXPECT_FALSE(missing.ok());
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, json_checks_the_content_type) {
  served s;
  co_await start(s);
  http::client_session session;
  http::client_response r = co_await session.get(s.base + "/text");
  bool thrown = false;
  try {
    (void)co_await r.json();
  } catch (const http::content_type_error& e) {
    thrown = true;
    EXPECT_EQ(e.status(), 200);
    EXPECT_NE(std::string(e.what()).find("unexpected mimetype: text/plain"), std::string::npos);
  }
  EXPECT_TRUE(thrown);
  // Without the check, "hello" is not JSON: aio::json::decode_error.
  http::client_response r2 = co_await session.get(s.base + "/text");
  EXPECT_THROW((void)co_await r2.json(false), aio::json::decode_error);
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, methods_params_headers_and_bodies) {
  served s;
  co_await start(s);
  http::client_session session;
  // GET with params: appended to the URL's own query, percent-encoded.
  http::client_response r = co_await session.get(
      s.base + "/echo?x=1", http::request_options().param("q", "a b&c").param("q", "2"));
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["method"], "GET");
  EXPECT_EQ(e["target"], "/echo?x=1&q=a+b%26c&q=2");
  EXPECT_EQ(e["headers"]["host"], "127.0.0.1:" + std::to_string(s.srv.port()));
  EXPECT_EQ(e["headers"]["user-agent"], "aio/0.1");
  EXPECT_EQ(e["headers"]["accept"], "*/*");
  EXPECT_EQ(e["headers"]["accept-encoding"], "gzip, deflate, br");
  EXPECT_FALSE(e["headers"].contains("content-length"));
  EXPECT_EQ(e["body"], "");

  // JSON body.
  aio::json::value payload;
  payload["name"] = "aio";
  r = co_await session.post(s.base + "/echo", http::request_options().json(payload));
  e = co_await r.json();
  EXPECT_EQ(e["method"], "POST");
  EXPECT_EQ(e["headers"]["content-type"], "application/json");
  EXPECT_EQ(json_of(e["body"].get<std::string>())["name"], "aio");

  // Bytes, with a content type; a header of the request.
  r = co_await session.put(
      s.base + "/echo",
      http::request_options().data(std::string("raw\0bytes", 9), "x/y").header("X-Custom", "v1"));
  e = co_await r.json();
  EXPECT_EQ(e["method"], "PUT");
  EXPECT_EQ(e["body"], std::string("raw\0bytes", 9));
  EXPECT_EQ(e["headers"]["content-type"], "x/y");
  EXPECT_EQ(e["headers"]["content-length"], "9");
  EXPECT_EQ(e["headers"]["x-custom"], "v1");

  // A form.
  r = co_await session.patch(s.base + "/echo",
                             http::request_options().form("a", "1 2").form("b", "&"));
  e = co_await r.json();
  EXPECT_EQ(e["method"], "PATCH");
  EXPECT_EQ(e["body"], "a=1+2&b=%26");
  EXPECT_EQ(e["headers"]["content-type"], "application/x-www-form-urlencoded");

  // POST without a body sends Content-Length: 0.
  r = co_await session.post(s.base + "/echo");
  e = co_await r.json();
  EXPECT_EQ(e["headers"]["content-length"], "0");

  r = co_await session.delete_(s.base + "/echo");
  e = co_await r.json();
  EXPECT_EQ(e["method"], "DELETE");
  r = co_await session.options(s.base + "/echo");
  e = co_await r.json();
  EXPECT_EQ(e["method"], "OPTIONS");
  r = co_await session.request("get", s.base + "/echo");  // the method is upper-cased
  e = co_await r.json();
  EXPECT_EQ(e["method"], "GET");

  // A header the user sets replaces the default; one with CR/LF is refused.
  r = co_await session.get(
      s.base + "/echo",
      http::request_options().header("User-Agent", "mine/1").header("Accept-Encoding", "identity"));
  e = co_await r.json();
  EXPECT_EQ(e["headers"]["user-agent"], "mine/1");
  EXPECT_EQ(e["headers"]["accept-encoding"], "identity");
  EXPECT_THROW((void)co_await session.get(s.base + "/echo",
                                          http::request_options().header("X-Bad", "a\r\nX: b")),
               std::invalid_argument);
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, head_has_no_body) {
  served s;
  co_await start(s);
  http::client_session session;
  http::client_response r = co_await session.head(s.base + "/big");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.content_length(), big_body().size());
  EXPECT_EQ(co_await r.read(), "");
  EXPECT_TRUE(r.closed());  // nothing to read: back in the pool already
  EXPECT_EQ(session.pool().idle, 1u);
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, base_url_and_session_headers) {
  served s;
  co_await start(s);
  http::session_options opts;
  opts.base_url = s.base + "/sub/";
  opts.headers.add("X-Session", "yes");
  opts.headers.add("X-Both", "session");
  opts.user_agent = "agent/2";
  http::client_session session(std::move(opts));
  http::client_response r =
      co_await session.get("echo", http::request_options().header("X-Both", "request"));
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["target"], "/sub/echo");
  EXPECT_EQ(e["headers"]["x-session"], "yes");
  EXPECT_EQ(e["headers"]["x-both"], "request");
  EXPECT_EQ(e["headers"]["user-agent"], "agent/2");
  r = co_await session.get("/echo");  // an absolute path replaces the base's
  e = co_await r.json();
  EXPECT_EQ(e["target"], "/echo");
  http::client_session no_base;
  EXPECT_THROW((void)co_await no_base.get("/echo"), http::invalid_url);
  EXPECT_THROW((void)co_await no_base.get("ftp://x/"), http::invalid_url);
  co_await no_base.close();
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, basic_auth_from_the_url_and_the_option) {
  served s;
  co_await start(s);
  http::client_session session;
  const std::string with_user = "http://us%20er:p%40ss@127.0.0.1:" + std::to_string(s.srv.port());
  http::client_response r = co_await session.get(with_user + "/echo");
  aio::json::value e = co_await r.json();
  // base64("us er:p@ss")
  EXPECT_EQ(e["headers"]["authorization"], "Basic " + http::detail::base64_encode("us er:p@ss"));
  EXPECT_EQ(e["headers"]["authorization"], "Basic dXMgZXI6cEBzcw==");
  EXPECT_EQ(r.url().str(), s.base + "/echo");  // no credentials in the response's URL
  r = co_await session.get(s.base + "/echo", http::request_options().basic_auth("a", "b"));
  e = co_await r.json();
  EXPECT_EQ(e["headers"]["authorization"], "Basic YTpi");
  EXPECT_EQ(http::detail::base64_encode(""), "");
  EXPECT_EQ(http::detail::base64_encode("f"), "Zg==");
  EXPECT_EQ(http::detail::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(http::detail::base64_encode("foo"), "Zm9v");
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, raise_for_status) {
  served s;
  co_await start(s);
  http::client_session session;
  http::client_response r = co_await session.get(s.base + "/status/404");
  bool thrown = false;
  try {
    r.raise_for_status();
  } catch (const http::client_response_error& e) {
    thrown = true;
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.reason(), "Not Found");
    EXPECT_EQ(e.url(), s.base + "/status/404");
    EXPECT_EQ(std::string(e.what()), "404, message='Not Found', url='" + s.base + "/status/404'");
  }
  EXPECT_TRUE(thrown);
  EXPECT_TRUE(r.closed());
  http::client_response ok = co_await session.get(s.base + "/status/204");
  ok.raise_for_status();  // no throw
  EXPECT_EQ(co_await ok.read(), "");

  // Per request, and for the whole session.
  EXPECT_THROW((void)co_await session.get(s.base + "/status/500",
                                          http::request_options().raise_for_status(true)),
               http::client_response_error);
  http::session_options o;
  o.raise_for_status = true;
  http::client_session strict(std::move(o));
  EXPECT_THROW((void)co_await strict.get(s.base + "/status/503"), http::client_response_error);
  http::client_response lenient =
      co_await strict.get(s.base + "/status/503", http::request_options().raise_for_status(false));
  EXPECT_EQ(lenient.status(), 503);
  lenient.close();
  co_await strict.close();
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, redirects_rewrite_methods_as_aiohttp) {
  served s;
  co_await start(s);
  http::client_session session;
  struct cas {
    const char* method;
    int code;
    const char* final_method;
    bool body_kept;
  };
  const std::vector<cas> cases = {{"POST", 301, "GET", false}, {"POST", 302, "GET", false},
                                  {"POST", 303, "GET", false}, {"PUT", 303, "GET", false},
                                  {"PUT", 301, "PUT", true},   {"PUT", 302, "PUT", true},
                                  {"POST", 307, "POST", true}, {"POST", 308, "POST", true},
                                  {"GET", 301, "GET", false},  {"DELETE", 307, "DELETE", false}};
  for (const cas& c : cases) {
    const std::string url = s.base + "/redirect/" + std::to_string(c.code) + "?to=/echo";
    const bool with_body = std::string(c.method) != "GET" && std::string(c.method) != "DELETE";
    http::request_options o;
    if (with_body) o.data("payload", "text/plain");
    http::client_response r = co_await session.request(c.method, url, std::move(o));
    SCOPED_TRACE(std::string(c.method) + " " + std::to_string(c.code));
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.url().str(), s.base + "/echo");
    CO_ASSERT_EQ(r.history().size(), 1u);
    EXPECT_EQ(r.history()[0].status, c.code);
    EXPECT_EQ(r.history()[0].url.str(), url);
    EXPECT_EQ(r.history()[0].headers.get("Location"), "/echo");
    aio::json::value e = co_await r.json();
    EXPECT_EQ(e["method"], c.final_method);
    EXPECT_EQ(e["body"], c.body_kept ? "payload" : "");
    EXPECT_EQ(e["headers"].contains("content-type"), c.body_kept);
  }
  // HEAD stays HEAD on 303.
  http::client_response h = co_await session.head(s.base + "/redirect/303?to=/echo");
  EXPECT_EQ(h.status(), 200);
  EXPECT_EQ(h.history().size(), 1u);
  EXPECT_EQ(h.method(), "HEAD");
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, redirects_relative_absolute_chained_and_limited) {
  served s;
  co_await start(s);
  http::client_session session;
  // Relative reference, resolved against the redirecting URL.
  http::client_response r = co_await session.get(s.base + "/redirect/302?to=../echo?z=1");
  EXPECT_EQ(r.url().str(), s.base + "/echo?z=1");
  EXPECT_EQ((co_await r.json())["target"], "/echo?z=1");
  // Absolute, and chained: 302 -> 301 -> /echo.
  const std::string inner = s.base + "/redirect/301?to=/echo";
  r = co_await session.get(s.base + "/redirect/302", http::request_options().param("to", inner));
  EXPECT_EQ(r.status(), 200);
  CO_ASSERT_EQ(r.history().size(), 2u);
  EXPECT_EQ(r.history()[0].status, 302);
  EXPECT_EQ(r.history()[1].status, 301);
  EXPECT_EQ(r.history()[1].url.str(), inner);
  (void)co_await r.read();

  // max_redirects: aiohttp stops once the number of redirects met reaches the limit.
  bool thrown = false;
  try {
    (void)co_await session.get(s.base + "/redirect/302",
                               http::request_options().param("to", inner).max_redirects(2));
  } catch (const http::too_many_redirects& e) {
    thrown = true;
    EXPECT_EQ(e.status(), 301);
    EXPECT_EQ(e.url(), inner);
  }
  EXPECT_TRUE(thrown);
  // A loop ends with too_many_redirects too (default limit 10).
  EXPECT_THROW((void)co_await session.get(s.base + "/loop"), http::too_many_redirects);
  // Not followed when asked so, or without a Location.
  r = co_await session.get(s.base + "/redirect/302?to=/echo",
                           http::request_options().allow_redirects(false));
  EXPECT_EQ(r.status(), 302);
  EXPECT_EQ(r.headers().get("Location"), "/echo");
  EXPECT_EQ(co_await r.text(), "you are being redirected");
  r = co_await session.get(s.base + "/redirect-no-location");
  EXPECT_EQ(r.status(), 302);
  (void)co_await r.read();
  // A redirect to another scheme is an invalid_url.
  EXPECT_THROW((void)co_await session.get(s.base + "/redirect/302?to=ftp://example.com/"),
               http::invalid_url);
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, cross_origin_redirects_drop_credentials) {
  served a;
  served b;
  co_await start(a);
  co_await start(b);
  http::client_session session;
  // Same origin: the Authorization header and cookies given by hand go along.
  http::client_response r = co_await session.get(a.base + "/redirect/302?to=/echo",
                                                 http::request_options()
                                                     .header("Authorization", "Bearer secret")
                                                     .header("X-Other", "kept")
                                                     .cookie("k", "v"));
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["headers"]["authorization"], "Bearer secret");
  EXPECT_EQ(e["headers"]["cookie"], "k=v");
  // Another origin (another port): they are dropped, other headers are not.
  r = co_await session.get(a.base + "/redirect/302", http::request_options()
                                                         .param("to", b.base + "/echo")
                                                         .header("Authorization", "Bearer secret")
                                                         .header("Cookie", "manual=1")
                                                         .header("X-Other", "kept"));
  e = co_await r.json();
  EXPECT_EQ(r.url().str(), b.base + "/echo");
  EXPECT_FALSE(e["headers"].contains("authorization"));
  EXPECT_FALSE(e["headers"].contains("cookie"));
  EXPECT_EQ(e["headers"]["x-other"], "kept");
  // basic_auth too.
  r = co_await session.get(
      a.base + "/redirect/307",
      http::request_options().param("to", b.base + "/echo").basic_auth("u", "p"));
  e = co_await r.json();
  EXPECT_FALSE(e["headers"].contains("authorization"));
  co_await session.close();
  co_await a.srv.shutdown();
  co_await b.srv.shutdown();
}

AIO_TEST(http_client, cookies_round_trip) {
  served s;
  co_await start(s);
  http::session_options o;
  o.cookies_unsafe = true;  // the server is 127.0.0.1, an IP address
  http::client_session session(std::move(o));
  http::client_response r = co_await session.get(s.base + "/setcookie");
  (void)co_await r.read();
  EXPECT_EQ(session.cookie_jar().size(), 3u);  // a, b, s ("gone" expired at once)
  r = co_await session.get(s.base + "/echo");
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["headers"]["cookie"], "a=1");  // not b (path), not s (Secure over http)
  r = co_await session.get(s.base + "/sub/echo", http::request_options().cookie("extra", "x"));
  e = co_await r.json();
  EXPECT_EQ(e["headers"]["cookie"], "b=2; a=1; extra=x");  // longest path first
  r = co_await session.get(s.base + "/delcookie");
  (void)co_await r.read();
  r = co_await session.get(s.base + "/echo");
  e = co_await r.json();
  EXPECT_FALSE(e["headers"].contains("cookie"));
  session.cookie_jar().clear();
  EXPECT_EQ(session.cookie_jar().size(), 0u);
  co_await session.close();

  // aiohttp's default jar refuses cookies from IP-address hosts.
  http::client_session strict;
  r = co_await strict.get(s.base + "/setcookie");
  (void)co_await r.read();
  EXPECT_EQ(strict.cookie_jar().size(), 0u);
  r = co_await strict.get(s.base + "/echo");
  e = co_await r.json();
  EXPECT_FALSE(e["headers"].contains("cookie"));
  co_await strict.close();

  // cookies = false: no jar at all.
  http::session_options off;
  off.cookies = false;
  off.cookies_unsafe = true;
  http::client_session none(std::move(off));
  r = co_await none.get(s.base + "/setcookie");
  (void)co_await r.read();
  EXPECT_EQ(none.cookie_jar().size(), 0u);
  co_await none.close();
  co_await s.srv.shutdown();
}

TEST(http_cookie_jar, domains_paths_secure_and_expiry) {
  http::cookie_jar jar;
  const http::url www("http://www.example.com/a/b");
  EXPECT_TRUE(jar.set_cookie("host=1", www));  // host-only, path /a
  EXPECT_TRUE(jar.set_cookie("dom=2; Domain=.Example.COM; Path=/", www));
  EXPECT_FALSE(jar.set_cookie("evil=3; Domain=other.com", www));
  EXPECT_FALSE(jar.set_cookie("tld=4; Domain=com", www));
  EXPECT_FALSE(jar.set_cookie("noequals", www));
  EXPECT_TRUE(jar.set_cookie("sec=5; Secure; HttpOnly; Path=/", www));
  EXPECT_EQ(jar.cookie_header(http::url("http://www.example.com/a/x")), "host=1; dom=2");
  EXPECT_EQ(jar.cookie_header(http::url("http://www.example.com/a")), "host=1; dom=2");
  EXPECT_EQ(jar.cookie_header(http::url("http://www.example.com/ab")), "dom=2");
  EXPECT_EQ(jar.cookie_header(http::url("http://example.com/")), "dom=2");
  EXPECT_EQ(jar.cookie_header(http::url("http://sub.www.example.com/a/")), "dom=2");
  EXPECT_EQ(jar.cookie_header(http::url("http://notexample.com/")), "");
  EXPECT_EQ(jar.cookie_header(http::url("https://www.example.com/")), "dom=2; sec=5");
  EXPECT_EQ(jar.cookie_header(http::url("https://example.com/")), "dom=2");  // sec: host-only
  const auto& all = jar.cookies();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[2].http_only);
  EXPECT_FALSE(all[1].host_only);
  EXPECT_EQ(all[1].domain, "example.com");

  // Replacing and deleting (Max-Age=0, Expires in the past).
  EXPECT_TRUE(jar.set_cookie("dom=changed; Domain=example.com; Path=/", www));
  EXPECT_EQ(jar.cookie_header(http::url("http://example.com/")), "dom=changed");
  EXPECT_TRUE(jar.set_cookie("dom=x; Domain=example.com; Path=/; Max-Age=0", www));
  EXPECT_EQ(jar.cookie_header(http::url("http://example.com/")), "");
  EXPECT_TRUE(jar.set_cookie("old=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", www));
  EXPECT_TRUE(jar.set_cookie("new=1; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT", www));
  EXPECT_TRUE(
      jar.set_cookie("maxage=1; Path=/; Max-Age=3600; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
                     www));  // Max-Age wins
  EXPECT_EQ(jar.cookie_header(http::url("http://www.example.com/")), "new=1; maxage=1");

  // Dates, RFC 6265 §5.1.1.
  using std::chrono::system_clock;
  EXPECT_EQ(http::detail::parse_cookie_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            system_clock::from_time_t(1445412480));
  EXPECT_EQ(http::detail::parse_cookie_date("Wednesday, 21-Oct-15 07:28:00 GMT"),
            system_clock::from_time_t(1445412480));
  EXPECT_EQ(http::detail::parse_cookie_date("Wed Oct 21 07:28:00 2015"),
            system_clock::from_time_t(1445412480));
  EXPECT_FALSE(http::detail::parse_cookie_date("not a date").has_value());
  EXPECT_FALSE(http::detail::parse_cookie_date("Wed, 32 Oct 2015 07:28:00 GMT").has_value());

  // IP hosts: refused unless unsafe.
  const http::url ip("http://127.0.0.1:8080/");
  EXPECT_FALSE(jar.set_cookie("ip=1", ip));
  http::cookie_jar unsafe(true);
  EXPECT_TRUE(unsafe.set_cookie("ip=1", ip));
  EXPECT_FALSE(unsafe.set_cookie("ip2=1; Domain=127.0.0.2", ip));
  EXPECT_EQ(unsafe.cookie_header(http::url("http://127.0.0.1:9/")), "ip=1");
  EXPECT_EQ(unsafe.cookie_header(http::url("http://127.0.0.2/")), "");

  // Shared cookies (no URL) go everywhere; clear_domain.
  jar.update(http::query_params{{"shared", "s"}});
  EXPECT_EQ(jar.cookie_header(http::url("http://127.0.0.1/")), "shared=s");
  EXPECT_EQ(jar.cookie_header(http::url("http://other.org/")), "shared=s");
  jar.clear_domain("example.com");
  EXPECT_EQ(jar.cookie_header(http::url("http://www.example.com/a/b")), "shared=s");
}

AIO_TEST(http_client, streamed_bodies_and_progress) {
  served s;
  co_await start(s);
  http::client_session session;
  http::client_response r = co_await session.get(s.base + "/stream");
  EXPECT_EQ(r.headers().get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(r.content_length().has_value());
  std::string all;
  std::size_t pieces = 0;
  auto gen = r.iter_chunked(300);
  for (;;) {
    std::optional<std::string> piece = co_await gen.next();
    if (!piece) break;
    EXPECT_LE(piece->size(), 300u);
    EXPECT_FALSE(piece->empty());
    all += *piece;
    ++pieces;
  }
  EXPECT_GE(pieces, 17u);  // 5000 bytes in pieces of at most 300
  EXPECT_EQ(all, std::string(1000, 'a') + std::string(1000, 'b') + std::string(1000, 'c') +
                     std::string(1000, 'd') + std::string(1000, 'e'));
  EXPECT_TRUE(r.at_eof());

  // Content-Length progress.
  http::client_response big = co_await session.get(s.base + "/big");
  CO_ASSERT_EQ(big.content_length(), big_body().size());
  std::string got;
  std::uint64_t last_progress = 0;
  auto any = big.iter_any();
  for (;;) {
    std::optional<std::string> piece = co_await any.next();
    if (!piece) break;
    got += *piece;
    EXPECT_GE(big.bytes_read(), last_progress);
    EXPECT_GE(big.bytes_read(), got.size());
    last_progress = big.bytes_read();
  }
  EXPECT_EQ(big.bytes_read(), *big.content_length());
  EXPECT_EQ(got, big_body());
  // read_chunk after the end: "".
  EXPECT_EQ(co_await big.read_chunk(), "");
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, streaming_upload_is_chunked) {
  served s;
  co_await start(s);
  http::client_session session;
  int n = 0;
  std::function<aio::coro<std::string>()> next = [&n]() -> aio::coro<std::string> {
    co_await aio::sleep(0s);
    if (n == 3) co_return std::string();
    co_return "part" + std::to_string(n++) + ";";
  };
  http::client_response r = co_await session.post(
      s.base + "/echo", http::request_options().body_stream(std::move(next), "text/plain"));
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["body"], "part0;part1;part2;");
  EXPECT_EQ(e["headers"]["transfer-encoding"], "chunked");
  EXPECT_EQ(e["headers"]["content-type"], "text/plain");
  EXPECT_FALSE(e["headers"].contains("content-length"));

  // A 307 would need the body again: the redirect itself is returned.
  n = 0;
  std::function<aio::coro<std::string>()> again = [&n]() -> aio::coro<std::string> {
    if (n == 1) co_return std::string();
    ++n;
    co_return std::string("x");
  };
  r = co_await session.post(s.base + "/redirect/307?to=/echo",
                            http::request_options().body_stream(std::move(again)));
  EXPECT_EQ(r.status(), 307);
  EXPECT_TRUE(r.history().empty());
  (void)co_await r.read();
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, decompression) {
  served s;
  co_await start(s);
  http::client_session session;
  const std::vector<std::string> encodings = {"gzip", "deflate", "raw-deflate", "br"};
  for (const std::string& name : encodings) {
    SCOPED_TRACE(name);
    http::client_response r = co_await session.get(s.base + "/enc/" + name);
    const std::string body = co_await r.text();
    EXPECT_EQ(body, plain_text());
    EXPECT_LT(r.bytes_read(), plain_text().size() / 4);  // it came compressed
  }
  // Streamed in 7-byte chunks of brotli.
  http::client_response st = co_await session.get(s.base + "/enc-stream");
  EXPECT_EQ(co_await st.text(), plain_text());
  // auto_decompress off: the bytes as sent, and no Accept-Encoding.
  http::client_response raw =
      co_await session.get(s.base + "/enc/gzip", http::request_options().auto_decompress(false));
  EXPECT_EQ(co_await raw.read(), http::detail::compress(plain_text(), "gzip"));
  http::client_response e =
      co_await session.get(s.base + "/echo", http::request_options().auto_decompress(false));
  EXPECT_FALSE((co_await e.json())["headers"].contains("accept-encoding"));
  // Bad data and truncated streams are payload errors; the connection is not reused.
  const std::vector<std::string> bad_encodings = {"gzip", "deflate", "br"};
  for (const std::string& name : bad_encodings) {
    SCOPED_TRACE(name);
    http::client_response bad = co_await session.get(s.base + "/enc-bad/" + name);
    EXPECT_THROW((void)co_await bad.read(), http::client_payload_error);
    EXPECT_TRUE(bad.closed());
    EXPECT_THROW((void)co_await bad.read(), http::client_payload_error);  // sticky
  }
  http::client_response cut = co_await session.get(s.base + "/enc-truncated");
  EXPECT_THROW((void)co_await cut.read(), http::client_payload_error);
  // An unknown encoding is passed through undecoded (as aiohttp).
  http::client_response unknown = co_await session.get(s.base + "/enc-bad/zstd");
  EXPECT_EQ(co_await unknown.read(), "this is not compressed data at all");
  co_await session.close();
  co_await s.srv.shutdown();
}

AIO_TEST(http_client, connection_refused_is_a_connector_error) {
  http::client_session session;
  bool thrown = false;
  try {
    (void)co_await session.get("http://127.0.0.1:1/");
  } catch (const http::client_connector_error& e) {
    thrown = true;
    EXPECT_EQ(e.error_number(), ECONNREFUSED);
    EXPECT_EQ(e.host(), "127.0.0.1");
    EXPECT_EQ(e.port(), 1);
    EXPECT_EQ(std::string(e.what()),
              "Cannot connect to host 127.0.0.1:1 ssl:default [connection refused]");
    EXPECT_THROW(std::rethrow_exception(e.cause()), aio::connection_refused_error);
  }
  EXPECT_TRUE(thrown);
  EXPECT_EQ(session.pool().in_use, 0u);
  // A name that does not resolve.
  EXPECT_THROW((void)co_await session.get("http://no-such-host.invalid/"),
               http::client_connector_dns_error);
  co_await session.close();
  EXPECT_TRUE(session.closed());
  EXPECT_THROW((void)co_await session.get("http://127.0.0.1:1/"), std::runtime_error);
}

namespace {

// A raw server that reads one request head and answers `answer`, then closes the
// connection when `close_after` is set.
aio::coro<aio::server> raw_server(std::string answer, bool close_after = true) {
  aio::client_connected_cb handler =
      [answer, close_after](aio::stream_reader r, aio::stream_writer w) -> aio::coro<void> {
    std::string head = co_await r.readuntil("\r\n\r\n");
    w.write(answer);
    co_await w.drain();
    if (close_after) {
      w.close();
      co_await w.wait_closed();
    } else {
      std::string rest = co_await r.read();  // until the client goes
    }
  };
  aio::server srv = co_await aio::start_server(std::move(handler), "127.0.0.1", 0);
  co_return srv;
}

std::string url_of(const aio::server& srv, std::string path = "/") {
  return "http://127.0.0.1:" + std::to_string(srv.sockets()[0].local_address().port()) + path;
}

aio::coro<void> stop(aio::server& srv) {
  srv.close();
  srv.abort_clients();
  co_await srv.wait_closed();
}

}  // namespace

AIO_TEST(http_client, broken_responses) {
  http::client_session session;
  {  // Closed before any byte of the head.
    aio::server srv = co_await raw_server("");
    EXPECT_THROW((void)co_await session.get(url_of(srv)), http::server_disconnected_error);
    co_await stop(srv);
  }
  {  // Closed in the middle of the head.
    aio::server srv = co_await raw_server("HTTP/1.1 200 OK\r\nContent-Le");
    EXPECT_THROW((void)co_await session.get(url_of(srv)), http::server_disconnected_error);
    co_await stop(srv);
  }
  {  // Not HTTP: a client_response_error with status 400.
    aio::server srv = co_await raw_server("HTTP/1.1 abc OK\r\n\r\n");
    bool thrown = false;
    try {
      (void)co_await session.get(url_of(srv));
    } catch (const http::client_response_error& e) {
      thrown = true;
      EXPECT_EQ(e.status(), 400);
    }
    EXPECT_TRUE(thrown);
    co_await stop(srv);
  }
  {  // Shorter than its Content-Length.
    aio::server srv = co_await raw_server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    http::client_response r = co_await session.get(url_of(srv));
    EXPECT_EQ(r.status(), 200);
    EXPECT_THROW((void)co_await r.read(), http::client_payload_error);
    co_await stop(srv);
  }
  {  // A chunked body cut short.
    aio::server srv =
        co_await raw_server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    http::client_response r = co_await session.get(url_of(srv));
    EXPECT_EQ(co_await r.read_chunk(), "hello");
    EXPECT_THROW((void)co_await r.read_chunk(), http::client_payload_error);
    co_await stop(srv);
  }
  {  // A bad chunk size.
    aio::server srv = co_await raw_server(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    http::client_response r = co_await session.get(url_of(srv));
    EXPECT_THROW((void)co_await r.read(), http::client_payload_error);
    co_await stop(srv);
  }
  {  // A body framed by the end of the connection (no Content-Length, no chunks).
    aio::server srv = co_await raw_server("HTTP/1.1 200 OK\r\n\r\nuntil the end");
    http::client_response r = co_await session.get(url_of(srv));
    EXPECT_EQ(co_await r.text(), "until the end");
    co_await stop(srv);
  }
  {  // Interim 1xx responses are skipped.
    aio::server srv = co_await raw_server(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        false);
    http::client_response r = co_await session.get(url_of(srv));
    EXPECT_EQ(r.status(), 200);
    EXPECT_FALSE(r.headers().contains("Link"));
    EXPECT_EQ(co_await r.text(), "ok");
    co_await session.close();
    co_await stop(srv);
  }
  EXPECT_EQ(session.pool().in_use, 0u);
}

AIO_TEST(http_client, head_size_limits) {
  const std::string long_value(300, 'v');
  aio::server srv = co_await raw_server("HTTP/1.1 200 OK\r\nX-Long: " + long_value +
                                        "\r\nContent-Length: 0\r\n\r\n");
  http::session_options o;
  o.max_field_size = 100;
  http::client_session strict(std::move(o));
  bool thrown = false;
  try {
    (void)co_await strict.get(url_of(srv));
  } catch (const http::client_response_error& e) {
    thrown = true;
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("header field X-Long"), std::string::npos);
  }
  EXPECT_TRUE(thrown);
  http::client_session lenient;
  http::client_response r = co_await lenient.get(url_of(srv));
  EXPECT_EQ(r.headers().get("X-Long"), long_value);
  co_await strict.close();
  co_await lenient.close();
  co_await stop(srv);
}
