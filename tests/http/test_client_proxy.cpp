// SPDX-License-Identifier: MIT
// The HTTP client over TLS and through HTTP proxies: a real forwarding proxy written
// here with aio::start_server (absolute-form requests and CONNECT tunnels), aio's HTTP
// server behind it, and a certificate made at test time with the openssl program.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

struct proxy_log {
  int connections = 0;
  std::vector<std::string> request_lines;
  std::vector<std::string> auth;  // Proxy-Authorization values received
  bool refuse = false;            // answer 407 to everything
};

aio::coro<void> pipe(aio::stream_reader& from, aio::stream_writer& to) {
  try {
    for (;;) {
      std::string data = co_await from.read(65536);
      if (data.empty()) break;
      to.write(data);
      co_await to.drain();
    }
  } catch (const std::exception&) {
    // a reset on either side ends the tunnel
  }
  to.close();
}

// A forwarding proxy: "GET http://host:port/path" is sent on as "GET /path" (without
// Proxy-Authorization, with Connection: close); "CONNECT host:port" opens a tunnel.
aio::coro<aio::server> start_proxy(proxy_log& log) {
  aio::client_connected_cb handler = [&log](aio::stream_reader r,
                                            aio::stream_writer w) -> aio::coro<void> {
    ++log.connections;
    std::string head = co_await r.readuntil("\r\n\r\n");
    const std::string line = head.substr(0, head.find("\r\n"));
    log.request_lines.push_back(line);
    std::string forward_headers;
    std::size_t pos = head.find("\r\n") + 2;
    while (pos < head.size() - 2) {
      const std::size_t end = head.find("\r\n", pos);
      const std::string field = head.substr(pos, end - pos);
      pos = end + 2;
      const std::string name = field.substr(0, field.find(':'));
      if (http::iequals(name, "Proxy-Authorization")) {
        log.auth.push_back(field.substr(field.find(':') + 2));
      } else if (!http::iequals(name, "Connection")) {
        forward_headers += field + "\r\n";
      }
    }
    if (log.refuse) {
      w.write("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
      co_await w.drain();
      co_return;
    }
    const std::string method = line.substr(0, line.find(' '));
    const std::string target = line.substr(method.size() + 1, line.rfind(' ') - method.size() - 1);
    std::string host;
    std::uint16_t port = 0;
    std::string forward;
    if (method == "CONNECT") {
      host = target.substr(0, target.rfind(':'));
      port = static_cast<std::uint16_t>(std::stoi(target.substr(target.rfind(':') + 1)));
    } else {
      http::url u(target);
      host = u.host();
      port = u.port();
      forward = method + " " + u.target() + " HTTP/1.1\r\n" + forward_headers +
                "Connection: close\r\n\r\n";
    }
    auto [ur, uw] = co_await aio::open_connection(host, port);
    if (method == "CONNECT") {
      w.write("HTTP/1.1 200 Connection established\r\n\r\n");
      co_await w.drain();
    } else {
      uw.write(forward);
      co_await uw.drain();
    }
    co_await aio::gather(pipe(r, uw), pipe(ur, w));
  };
  aio::server srv = co_await aio::start_server(std::move(handler), "127.0.0.1", 0);
  co_return srv;
}

std::uint16_t port_of(const aio::server& srv) {
  return srv.sockets()[0].local_address().port();
}

aio::coro<void> stop(aio::server& srv) {
  srv.close();
  srv.abort_clients();
  co_await srv.wait_closed();
}

// A self-signed certificate for localhost and 127.0.0.1, made by the openssl program.
struct test_cert {
  std::filesystem::path dir;
  std::string cert, key;
  ~test_cert() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

aio::coro<void> make_cert(test_cert& c) {
  char tmpl[] = "/tmp/aio-client-tls-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  if (d == nullptr) throw std::runtime_error("mkdtemp failed");
  c.dir = d;
  c.cert = (c.dir / "cert.pem").string();
  c.key = (c.dir / "key.pem").string();
  std::vector<std::string> args = {"req",
                                   "-x509",
                                   "-newkey",
                                   "ec",
                                   "-pkeyopt",
                                   "ec_paramgen_curve:P-256",
                                   "-nodes",
                                   "-keyout",
                                   c.key,
                                   "-out",
                                   c.cert,
                                   "-days",
                                   "2",
                                   "-subj",
                                   "/CN=localhost",
                                   "-addext",
                                   "subjectAltName=DNS:localhost,IP:127.0.0.1"};
  aio::subprocess_options so;
  so.output = aio::stdio::devnull;
  so.error = aio::stdio::devnull;
  aio::process p = co_await aio::create_subprocess_exec("openssl", std::move(args), so);
  const int rc = co_await p.wait();
  if (rc != 0) throw std::runtime_error("openssl req failed");
}

aio::coro<http::response> echo(http::request& req) {
  std::string body = co_await req.read();
  aio::json::value v;
  v["method"] = std::string(req.method());
  v["target"] = std::string(req.target());
  v["proxy_authorization"] = req.headers().contains("Proxy-Authorization");
  v["host"] = std::string(req.headers().get("Host", ""));
  v["body"] = body;
  co_return http::json_response(v);
}

}  // namespace

AIO_TEST(http_client_proxy, plain_http_through_a_proxy_uses_the_absolute_form) {
  http::application app;
  app.router().add_route("*", "/echo", echo);
  http::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.print_banner = false;
  http::app_server srv = co_await http::start_app(app, cfg);
  const std::string origin = "http://127.0.0.1:" + std::to_string(srv.port());
  proxy_log log;
  aio::server proxy = co_await start_proxy(log);
  const std::string proxy_url = "http://u:p@127.0.0.1:" + std::to_string(port_of(proxy));

  http::client_session session;
  http::client_response r =
      co_await session.get(origin + "/echo?x=1", http::request_options().proxy(proxy_url));
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["target"], "/echo?x=1");
  EXPECT_EQ(e["host"], "127.0.0.1:" + std::to_string(srv.port()));
  EXPECT_EQ(e["proxy_authorization"], false);  // the proxy took it
  CO_ASSERT_EQ(log.request_lines.size(), 1u);
  EXPECT_EQ(log.request_lines[0], "GET " + origin + "/echo?x=1 HTTP/1.1");
  CO_ASSERT_EQ(log.auth.size(), 1u);
  EXPECT_EQ(log.auth[0], "Basic dTpw");

  // The session's proxy, and a POST body through it.
  http::session_options o;
  o.proxy = proxy_url;
  http::client_session via(std::move(o));
  r = co_await via.post(origin + "/echo", http::request_options().data("hello"));
  e = co_await r.json();
  EXPECT_EQ(e["method"], "POST");
  EXPECT_EQ(e["body"], "hello");
  EXPECT_EQ(log.request_lines.back(), "POST " + origin + "/echo HTTP/1.1");
  // proxy("") turns it off for one request.
  const std::size_t before = log.request_lines.size();
  r = co_await via.get(origin + "/echo", http::request_options().proxy(""));
  (void)co_await r.read();
  EXPECT_EQ(log.request_lines.size(), before);

  // trust_env: HTTP_PROXY, and NO_PROXY to bypass it.
  ::setenv("HTTP_PROXY", proxy_url.c_str(), 1);
  ::unsetenv("http_proxy");
  ::unsetenv("NO_PROXY");
  ::unsetenv("no_proxy");
  http::session_options env_opts;
  env_opts.trust_env = true;
  http::client_session from_env(std::move(env_opts));
  r = co_await from_env.get(origin + "/echo?env=1");
  (void)co_await r.read();
  EXPECT_EQ(log.request_lines.back(), "GET " + origin + "/echo?env=1 HTTP/1.1");
  ::setenv("NO_PROXY", "localhost, 127.0.0.1", 1);
  http::session_options env_opts2;
  env_opts2.trust_env = true;
  http::client_session bypass(std::move(env_opts2));
  const std::size_t n = log.request_lines.size();
  r = co_await bypass.get(origin + "/echo?env=2");
  (void)co_await r.read();
  EXPECT_EQ(log.request_lines.size(), n);
  ::unsetenv("HTTP_PROXY");
  ::unsetenv("NO_PROXY");
  // Without trust_env the environment is ignored.
  EXPECT_THROW((void)co_await session.get(origin + "/echo",
                                          http::request_options().proxy("https://127.0.0.1:1")),
               http::invalid_url);

  co_await session.close();
  co_await via.close();
  co_await from_env.close();
  co_await bypass.close();
  co_await stop(proxy);
  co_await srv.shutdown();
}

AIO_TEST(http_client_proxy, https_directly_and_through_connect) {
  test_cert cert;
  co_await make_cert(cert);
  aio::ssl_context sctx = aio::ssl_context::server();
  sctx.load_cert_chain(cert.cert, cert.key);
  aio::ssl_context cctx = aio::ssl_context::client();
  cctx.load_verify_locations(cert.cert);

  http::application app;
  app.router().add_route("*", "/echo", echo);
  http::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.print_banner = false;
  cfg.ssl = &sctx;
  http::app_server srv = co_await http::start_app(app, cfg);
  const std::string origin = "https://127.0.0.1:" + std::to_string(srv.port());

  // Directly, with the test's CA.
  http::session_options o;
  o.ssl = &cctx;
  http::client_session session(std::move(o));
  http::client_response r = co_await session.get(origin + "/echo?direct=1");
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["target"], "/echo?direct=1");
  EXPECT_EQ(session.pool().idle, 1u);

  // The default context does not trust the test certificate.
  http::client_session strict;
  bool thrown = false;
  try {
    (void)co_await strict.get(origin + "/echo");
  } catch (const http::client_connector_certificate_error& ex) {
    thrown = true;
    EXPECT_NE(std::string(ex.what()).find("Cannot connect to host 127.0.0.1:"), std::string::npos);
    EXPECT_NE(std::string(ex.what()).find("certificate verify failed"), std::string::npos);
  }
  EXPECT_TRUE(thrown);
  // A per-request context overrides the session's.
  r = co_await strict.get(origin + "/echo", http::request_options().ssl(&cctx));
  EXPECT_EQ(r.status(), 200);
  (void)co_await r.read();
  co_await strict.close();

  // Through the proxy: CONNECT, then TLS inside the tunnel, which is pooled.
  proxy_log log;
  aio::server proxy = co_await start_proxy(log);
  const std::string proxy_url = "http://user:pw@127.0.0.1:" + std::to_string(port_of(proxy));
  for (int i = 0; i < 2; ++i) {
    r = co_await session.post(origin + "/echo",
                              http::request_options().proxy(proxy_url).data("secret body"));
    e = co_await r.json();
    EXPECT_EQ(e["target"], "/echo");
    EXPECT_EQ(e["body"], "secret body");
    EXPECT_EQ(e["proxy_authorization"], false);  // only in the CONNECT, never inside TLS
  }
  EXPECT_EQ(log.connections, 1);  // the tunnel was reused
  CO_ASSERT_EQ(log.request_lines.size(), 1u);
  EXPECT_EQ(log.request_lines[0], "CONNECT 127.0.0.1:" + std::to_string(srv.port()) + " HTTP/1.1");
  CO_ASSERT_EQ(log.auth.size(), 1u);
  EXPECT_EQ(log.auth[0], "Basic " + http::detail::base64_encode("user:pw"));

  // A proxy that refuses CONNECT.
  log.refuse = true;
  thrown = false;
  try {
    http::client_session fresh;
    (void)co_await fresh.get(origin + "/echo", http::request_options().proxy(proxy_url).ssl(&cctx));
  } catch (const http::client_proxy_error& ex) {
    thrown = true;
    EXPECT_EQ(ex.status(), 407);
    EXPECT_EQ(ex.url(), "http://127.0.0.1:" + std::to_string(port_of(proxy)) + "/");
  }
  EXPECT_TRUE(thrown);

  co_await session.close();
  co_await stop(proxy);
  co_await srv.shutdown();
}
