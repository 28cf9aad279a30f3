// SPDX-License-Identifier: MIT
// The HTTP client against nginx (Debian's nginx-light, started by the test in a
// temporary directory on loopback ports): keep-alive reuse, gzip (chunked) bodies,
// redirects, TLS with a certificate made by openssl at test time, a large file streamed,
// HEAD, error statuses.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../support/nginx.hpp"
#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/net/tls.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;
namespace fs = std::filesystem;

namespace {

using aio_test::nginx;

AIO_TEST(http_client_nginx, keep_alive_gzip_redirects_tls_and_streaming) {
  nginx ng;
  co_await ng.start();
  {
    http::client_session s;
    // Keep-alive: three requests, one connection (nginx logs its connection number).
    for (int i = 0; i < 3; ++i) {
      http::client_response r = co_await s.get(ng.base() + "/hello.txt");
      EXPECT_EQ(r.status(), 200);
      EXPECT_EQ(co_await r.text(), "Hello from nginx\n");
    }
    EXPECT_EQ(s.pool().idle, 1u);

    // gzip: nginx compresses (and sends it chunked); the body comes back decoded.
    http::client_response z = co_await s.get(ng.base() + "/text.txt");
    EXPECT_EQ(z.headers().get("Content-Encoding"), "gzip");
    EXPECT_EQ(z.headers().get("Transfer-Encoding"), "chunked");
    std::string text = co_await z.text();
    EXPECT_EQ(text.size(), fs::file_size(ng.dir / "www" / "text.txt"));
    EXPECT_TRUE(text.starts_with("line 0 of a compressible text\n"));

    // Redirects: relative 302 and absolute 301, with the history kept.
    http::client_response f = co_await s.get(ng.base() + "/found");
    EXPECT_EQ(f.status(), 200);
    EXPECT_EQ(f.url().path(), "/hello.txt");
    CO_ASSERT_EQ(f.history().size(), 1u);
    EXPECT_EQ(f.history()[0].status, 302);
    EXPECT_EQ(co_await f.text(), "Hello from nginx\n");
    http::client_response m = co_await s.get(ng.base() + "/moved");
    EXPECT_EQ(m.status(), 200);
    (void)co_await m.read();

    // A 5 MiB file streamed in pieces, with progress from Content-Length.
    http::client_response big = co_await s.get(ng.base() + "/big.bin");
    EXPECT_EQ(big.content_length(), 5u * 1024 * 1024);
    std::uint64_t got = 0, pieces = 0;
    bool same = true;
    for (;;) {
      std::string piece = co_await big.read_chunk(64 * 1024);
      if (piece.empty()) break;
      for (std::size_t i = 0; i < piece.size() && same; ++i) {
        same = piece[i] == static_cast<char>(((got + i) * 7919) % 251);
      }
      got += piece.size();
      ++pieces;
      EXPECT_EQ(big.bytes_read(), got);
    }
    EXPECT_EQ(got, 5u * 1024 * 1024);
    EXPECT_TRUE(same);
    EXPECT_GT(pieces, 10u);

    // HEAD and an error status.
    http::client_response h = co_await s.head(ng.base() + "/big.bin");
    EXPECT_EQ(h.status(), 200);
    EXPECT_EQ(co_await h.read(), "");
    http::client_response t = co_await s.get(ng.base() + "/teapot");
    EXPECT_EQ(t.status(), 418);
    EXPECT_THROW(t.raise_for_status(), http::client_response_error);
    co_await s.close();
  }
  {
    // TLS, verifying nginx's certificate against the one we made.
    aio::ssl_context ctx = aio::ssl_context::client();
    ctx.load_verify_locations((ng.dir / "cert.pem").string());
    http::client_session s({.ssl = &ctx});
    for (int i = 0; i < 2; ++i) {
      http::client_response r = co_await s.get(ng.tls_base() + "/hello.txt");
      EXPECT_EQ(r.status(), 200);
      EXPECT_EQ(co_await r.text(), "Hello from nginx\n");
    }
    EXPECT_EQ(s.pool().idle, 1u);
    co_await s.close();
    // Without trusting it: a certificate error naming the reason.
    http::client_session strict;
    bool refused = false;
    try {
      (void)co_await strict.get(ng.tls_base() + "/hello.txt");
    } catch (const http::client_connector_certificate_error& e) {
      refused = std::string(e.what()).find("certificate") != std::string::npos;
    }
    EXPECT_TRUE(refused);
    co_await strict.close();
  }
  // The access log: the three keep-alive requests came over one connection.
  std::ifstream log(ng.dir / "access.log");
  std::vector<std::string> conns;
  std::string line;
  while (std::getline(log, line)) {
    if (line.find("GET /hello.txt") != std::string::npos)
      conns.push_back(line.substr(0, line.find(' ')));
  }
  CO_ASSERT_GE(conns.size(), 3u);
  EXPECT_EQ(conns[0], conns[1]);
  EXPECT_EQ(conns[1], conns[2]);
  co_await ng.stop();
}

}  // namespace
