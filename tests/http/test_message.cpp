// SPDX-License-Identifier: MIT
// The sans-I/O HTTP layer with byte strings alone: parsing (framing, pipelining,
// smuggling defences, limits), writing (header injection refused), headers and URLs.
#include "aio/http/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aio/http/url.hpp"

using aio::http::headers;
using aio::http::message_parser;
using aio::http::protocol_error;
using aio::http::url;

namespace {

std::string join(const std::vector<std::string_view>& v) {
  std::string s;
  for (auto p : v) s += p;
  return s;
}

// Feeds `data` in pieces of `step` bytes; returns the body of the one message in it.
std::string feed_in_steps(message_parser& p, std::string_view data, std::size_t step) {
  std::string body;
  while (!data.empty() && !p.message_done()) {
    auto piece = data.substr(0, step);
    auto r = p.feed(piece);
    body += join(r.body);
    data.remove_prefix(r.consumed);
    if (r.consumed < piece.size()) break;
  }
  return body;
}

int status_of(std::string_view data, message_parser::kind k = message_parser::request,
              aio::http::parser_limits limits = {}) {
  message_parser p(k, limits);
  try {
    p.feed(data);
    p.feed({});  // an error held back behind body bytes comes now
  } catch (const protocol_error& e) {
    return e.status();
  }
  return 0;
}

TEST(http_parser, simple_get) {
  message_parser p(message_parser::request);
  std::string_view req =
      "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Two: 1\r\nx-two: 2\r\n\r\n";
  auto r = p.feed(req);
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_TRUE(r.head_done);
  EXPECT_TRUE(r.message_done);
  EXPECT_TRUE(r.body.empty());
  const auto& h = p.head();
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a/b?x=1");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.headers.get("host"), "example.com");
  EXPECT_EQ(h.headers.get_all("X-TWO"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_FALSE(h.content_length.has_value());
}

TEST(http_parser, byte_by_byte_with_body) {
  std::string_view req =
      "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
  message_parser p(message_parser::request);
  EXPECT_EQ(feed_in_steps(p, req, 1), "hello world");
  EXPECT_TRUE(p.message_done());
  EXPECT_EQ(p.head().method, "POST");
  EXPECT_EQ(p.head().content_length, 11u);
  EXPECT_EQ(p.head().headers.get("Host"), "h");
}

TEST(http_parser, pipelined_requests_one_at_a_time) {
  std::string data =
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  message_parser p(message_parser::request);
  std::string_view rest = data;
  std::vector<std::string> targets, bodies;
  std::vector<bool> keep;
  while (!rest.empty()) {
    auto r = p.feed(rest);
    ASSERT_TRUE(r.message_done);
    targets.push_back(p.head().target);
    bodies.push_back(join(r.body));
    keep.push_back(p.head().keep_alive);
    rest.remove_prefix(r.consumed);
    p.next_message();
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_EQ(bodies, (std::vector<std::string>{"", "abc", ""}));
  EXPECT_EQ(keep, (std::vector<bool>{true, true, false}));
}

TEST(http_parser, chunked_body_and_trailers) {
  std::string_view req =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
  for (std::size_t step : {1u, 3u, 1000u}) {
    message_parser p(message_parser::request);
    EXPECT_EQ(feed_in_steps(p, req, step), "hello world") << step;
    EXPECT_TRUE(p.message_done());
    EXPECT_TRUE(p.head().chunked);
    EXPECT_FALSE(p.head().headers.contains("Trailer"));  // trailers are not kept
  }
}

TEST(http_parser, http10_closes_unless_keep_alive) {
  message_parser a(message_parser::request);
  a.feed("GET / HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(a.head().keep_alive);
  message_parser b(message_parser::request);
  b.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(b.head().keep_alive);
}

TEST(http_parser, smuggling_defences) {
  // Content-Length with Transfer-Encoding.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400);
  // Two different Content-Length values.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd"),
            400);
  // Bad chunk size.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n"), 400);
  // Chunk data longer than its size.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"), 400);
  // chunked not the last coding of a request.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 501);
  // Whitespace before the colon, obsolete line folding, bare LF in a header.
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), 400);
  {
    message_parser p(message_parser::request);  // the fold split across feeds
    EXPECT_THROW(feed_in_steps(p, "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 1), protocol_error);
  }
  // A negative or non-numeric length.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), 400);
  // Garbage request lines.
  EXPECT_EQ(status_of("GET\r\n\r\n"), 400);
  EXPECT_EQ(status_of("G@T / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/9.9\r\n\r\n"), 400);
  EXPECT_EQ(status_of("\x01\x02\x03"), 400);
}

TEST(http_parser, body_before_an_error_is_delivered_then_the_error) {
  message_parser p(message_parser::response);
  auto r = p.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n");
  EXPECT_EQ(join(r.body), "hello");
  EXPECT_FALSE(r.message_done);
  EXPECT_THROW(p.feed("more"), protocol_error);
  EXPECT_THROW(p.finish(), protocol_error);
}

TEST(http_parser, limits) {
  aio::http::parser_limits small{.max_head_size = 64, .max_headers = 2, .max_body_size = 4};
  std::string big_header = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  EXPECT_EQ(status_of(big_header, message_parser::request, small), 431);
  std::string long_target = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_EQ(status_of(long_target, message_parser::request, small), 431);
  EXPECT_EQ(
      status_of("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", message_parser::request, small),
      431);
  // Declared too large: refused at the head, before any body arrives.
  EXPECT_EQ(
      status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", message_parser::request, small),
      413);
  // Chunked bodies are counted as they come.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
                      "3\r\ndef\r\n0\r\n\r\n",
                      message_parser::request, small),
            413);
  // Within the limits.
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nA: 1\r\nContent-Length: 4\r\n\r\nabcd",
                      message_parser::request, small),
            0);
}

TEST(http_parser, error_messages_name_the_problem) {
  message_parser p(message_parser::request);
  try {
    p.feed("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n");
    FAIL() << "no error";
  } catch (const protocol_error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid HTTP request"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HPE_"), std::string::npos) << e.what();
  }
}

TEST(http_parser, response_framed_by_end_of_connection) {
  message_parser p(message_parser::response);
  auto r = p.feed("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body");
  EXPECT_TRUE(r.head_done);
  EXPECT_FALSE(r.message_done);
  EXPECT_EQ(join(r.body), "some body");
  EXPECT_EQ(p.head().status, 200);
  EXPECT_EQ(p.head().reason, "OK");
  EXPECT_TRUE(p.finish());
  EXPECT_TRUE(p.message_done());
}

TEST(http_parser, response_cut_short_is_an_error) {
  message_parser p(message_parser::response);
  p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_THROW(p.finish(), protocol_error);
  message_parser q(message_parser::response);
  q.feed("HTTP/1.1 200 OK\r\nContent-Le");
  EXPECT_THROW(q.finish(), protocol_error);
  message_parser empty(message_parser::response);
  EXPECT_FALSE(empty.finish());
}

TEST(http_parser, responses_without_body) {
  // HEAD: Content-Length describes the resource, no body follows.
  message_parser p(message_parser::response);
  p.expect_no_body();
  std::string_view two =
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
  auto r = p.feed(two);
  EXPECT_TRUE(r.message_done);
  EXPECT_EQ(p.head().content_length, 100u);
  EXPECT_TRUE(p.head().keep_alive);
  p.next_message();
  auto r2 = p.feed(two.substr(r.consumed));
  EXPECT_TRUE(r2.message_done);
  EXPECT_EQ(p.head().status, 204);
  // 304 has no body either.
  message_parser q(message_parser::response);
  EXPECT_TRUE(q.feed("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n").message_done);
}

TEST(http_parser, upgrade_request) {
  message_parser p(message_parser::request);
  std::string_view req =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "\x81\x05hello";
  auto r = p.feed(req);
  EXPECT_TRUE(r.message_done);
  EXPECT_TRUE(p.head().upgrade);
  EXPECT_EQ(req.substr(r.consumed), "\x81\x05hello");
}

TEST(http_writer, request_and_response_heads) {
  std::string out;
  aio::http::write_request_head(out, "GET", "/x?y=1", headers{{"Host", "a"}, {"Accept", "*/*"}});
  EXPECT_EQ(out, "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
  out.clear();
  aio::http::write_response_head(out, 404, "", headers{{"Content-Length", "0"}});
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  // What we write, we parse.
  message_parser p(message_parser::response);
  EXPECT_TRUE(p.feed(out).message_done);
  EXPECT_EQ(p.head().status, 404);
}

TEST(http_writer, header_injection_is_refused) {
  std::string out;
  EXPECT_THROW(aio::http::write_response_head(out, 200, "", headers{{"X", "a\r\nSet-Cookie: x"}}),
               std::invalid_argument);
  EXPECT_THROW(aio::http::write_response_head(out, 200, "", headers{{"X", "a\nb"}}),
               std::invalid_argument);
  EXPECT_THROW(aio::http::write_response_head(out, 200, "", headers{{"Bad Name", "a"}}),
               std::invalid_argument);
  EXPECT_THROW(aio::http::write_request_head(out, "GET", "/a\r\nX: y", headers{}),
               std::invalid_argument);
  EXPECT_THROW(aio::http::write_request_head(out, "GET", "/a b", headers{}), std::invalid_argument);
  EXPECT_THROW(aio::http::write_request_head(out, "G T", "/", headers{}), std::invalid_argument);
  EXPECT_THROW(aio::http::write_response_head(out, 200, "OK\r\n", headers{}),
               std::invalid_argument);
  EXPECT_THROW(aio::http::write_response_head(out, 42, "", headers{}), std::invalid_argument);
}

TEST(http_writer, chunks_round_trip) {
  std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  aio::http::write_chunk(out, std::string(300, 'x'));
  aio::http::write_chunk(out, "");  // nothing: an empty chunk would end the body
  aio::http::write_chunk(out, "yz");
  aio::http::write_last_chunk(out);
  EXPECT_NE(out.find("12c\r\n"), std::string::npos);
  message_parser p(message_parser::response);
  EXPECT_EQ(feed_in_steps(p, out, 7), std::string(300, 'x') + "yz");
  EXPECT_TRUE(p.message_done());
}

TEST(http_headers, case_insensitive_multi) {
  headers h{{"Content-Type", "text/plain"}, {"Set-Cookie", "a=1"}};
  h.add("set-cookie", "b=2");
  EXPECT_EQ(h.get("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(h.get("missing", "dflt"), "dflt");
  EXPECT_FALSE(h.get("missing").has_value());
  EXPECT_THROW((void)h.at("missing"), std::out_of_range);
  EXPECT_EQ(h.get_all("Set-Cookie").size(), 2u);
  h.set("SET-COOKIE", "c=3");
  EXPECT_EQ(h.get_all("set-cookie"), (std::vector<std::string_view>{"c=3"}));
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.set_default("X", "1"), "1");
  EXPECT_EQ(h.set_default("x", "2"), "1");
  EXPECT_EQ(h.erase("x"), 1u);
  EXPECT_FALSE(h.contains("X"));
  EXPECT_TRUE(aio::http::iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(aio::http::iequals("a", "b"));
}

TEST(http_url, parse) {
  url u("HTTPS://User:p%40ss@Example.COM:8443/a/./b/../c?q=1&r=x+y#frag");
  EXPECT_EQ(u.scheme(), "https");
  EXPECT_EQ(u.user(), "User");
  EXPECT_EQ(u.password(), "p@ss");
  EXPECT_EQ(u.host(), "example.com");
  EXPECT_EQ(u.port(), 8443);
  EXPECT_EQ(u.path(), "/a/c");
  EXPECT_EQ(u.query_string(), "q=1&r=x+y");
  EXPECT_EQ(u.fragment(), "frag");
  EXPECT_EQ(u.target(), "/a/c?q=1&r=x+y");
  EXPECT_EQ(u.host_header(), "example.com:8443");
  EXPECT_EQ(u.query(), (aio::http::query_params{{"q", "1"}, {"r", "x y"}}));
  EXPECT_EQ(url("http://h").path(), "/");
  EXPECT_EQ(url("http://h").port(), 80);
  EXPECT_EQ(url("https://h/").str(), "https://h/");
  url v6("http://[::1]:8080/x");
  EXPECT_EQ(v6.host(), "::1");
  EXPECT_EQ(v6.host_header(), "[::1]:8080");
  EXPECT_EQ(v6.str(), "http://[::1]:8080/x");
  EXPECT_EQ(url("http://h/a b").path(), "/a%20b");
}

TEST(http_url, invalid) {
  for (const char* s :
       {"", "example.com", "ftp://h/", "http://", "http://:80/", "http://h:0/", "http://h:65536/",
        "http://h:x/", "http://[::1/", "http://a b/", "http://h:/"}) {
    EXPECT_THROW(url{s}, aio::http::invalid_url) << s;
  }
  try {
    url bad("ftp://h/");
  } catch (const aio::http::invalid_url& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported scheme"), std::string::npos);
  }
}

TEST(http_url, join_rfc3986_examples) {
  // RFC 3986 §5.4.1, base http://a/b/c/d;p?q
  url base("http://a/b/c/d;p?q");
  std::vector<std::pair<std::string, std::string>> cases = {
      {"g", "http://a/b/c/g"},        {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},      {"/g", "http://a/g"},
      {"//g", "http://g/"},           {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},    {"#s", "http://a/b/c/d;p?q#s"},
      {"g#s", "http://a/b/c/g#s"},    {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},         {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},          {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},       {"../..", "http://a/"},
      {"../../g", "http://a/g"},      {"../../../g", "http://a/g"},
      {"/./g", "http://a/g"},         {"g.", "http://a/b/c/g."},
      {"https://x/y", "https://x/y"}, {"g;x=1/../y", "http://a/b/c/y"},
  };
  for (const auto& [ref, want] : cases) EXPECT_EQ(base.join(ref).str(), want) << ref;
}

TEST(http_url, queries) {
  url u("http://h/p?a=1");
  EXPECT_EQ(u.extend_query({{"b", "x y&z"}}).str(), "http://h/p?a=1&b=x+y%26z");
  EXPECT_EQ(u.with_query({{"c", "é"}}).str(), "http://h/p?c=%C3%A9");
  EXPECT_EQ(aio::http::parse_query("a=1&&b&c=%2F+x"),
            (aio::http::query_params{{"a", "1"}, {"b", ""}, {"c", "/ x"}}));
  EXPECT_EQ(aio::http::quote("a b/c"), "a%20b/c");
  EXPECT_EQ(aio::http::unquote("%41%zz%4"), "A%zz%4");
}

}  // namespace
