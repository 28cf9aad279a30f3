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

std::uint16_t free_port() {
  aio::net::socket s = aio::net::socket::create(AF_INET, SOCK_STREAM);
  s.bind(*aio::net::address::parse("127.0.0.1", 0));
  return s.local_address().port();
}

void write_file(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

aio::coro<int> run(std::string program, std::vector<std::string> args) {
  aio::subprocess_options o;
  o.output = aio::stdio::devnull;
  o.error = aio::stdio::devnull;
  aio::process p = co_await aio::create_subprocess_exec(std::move(program), std::move(args), o);
  co_return co_await p.wait();
}

// nginx in its own prefix: started with `daemon off`, stopped with SIGQUIT (graceful).
class nginx {
 public:
  fs::path dir;
  std::uint16_t port = 0, tls_port = 0;

  aio::coro<void> start() {
    dir = fs::temp_directory_path() / ("aio-nginx-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "www" / "sub");
    fs::create_directories(dir / "tmp");
    write_file(dir / "www" / "hello.txt", "Hello from nginx\n");
    std::string text;
    for (int i = 0; i < 2000; ++i)
      text += "line " + std::to_string(i) + " of a compressible text\n";
    write_file(dir / "www" / "text.txt", text);
    std::string big(5 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) % 251);
    write_file(dir / "www" / "big.bin", big);
    std::vector<std::string> req = {"req",
                                    "-x509",
                                    "-newkey",
                                    "ec",
                                    "-pkeyopt",
                                    "ec_paramgen_curve:P-256",
                                    "-nodes",
                                    "-keyout",
                                    (dir / "key.pem").string(),
                                    "-out",
                                    (dir / "cert.pem").string(),
                                    "-days",
                                    "1",
                                    "-subj",
                                    "/CN=localhost",
                                    "-addext",
                                    "subjectAltName=IP:127.0.0.1,DNS:localhost"};
    const int rc = co_await run("/usr/bin/openssl", std::move(req));
    if (rc != 0) throw std::runtime_error("openssl req failed");
    port = free_port();
    tls_port = free_port();
    const std::string d = dir.string();
    write_file(dir / "nginx.conf", R"(daemon off;
master_process off;
worker_processes 1;
error_log )" + d + R"(/error.log warn;
pid )" + d + R"(/nginx.pid;
events { worker_connections 512; }
http {
  log_format conn '$connection $request';
  access_log )" + d + R"(/access.log conn;
  client_body_temp_path )" + d + R"(/tmp;
  proxy_temp_path )" + d + R"(/tmp;
  fastcgi_temp_path )" + d + R"(/tmp;
  uwsgi_temp_path )" + d + R"(/tmp;
  scgi_temp_path )" + d + R"(/tmp;
  types { text/plain txt; application/octet-stream bin; }
  gzip on;
  gzip_types text/plain;
  gzip_min_length 100;
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:)" + std::to_string(port) +
                                       R"(;
    listen 127.0.0.1:)" + std::to_string(tls_port) +
                                       R"( ssl;
    ssl_certificate )" + d + R"(/cert.pem;
    ssl_certificate_key )" + d + R"(/key.pem;
    root )" + d + R"(/www;
    location = /found { return 302 /hello.txt; }
    location = /moved { return 301 http://127.0.0.1:)" +
                                       std::to_string(port) + R"(/hello.txt; }
    location = /teapot { return 418 "short and stout"; }
  }
}
)");
    aio::subprocess_options o;
    o.output = aio::stdio::devnull;
    o.error = aio::stdio::devnull;
    std::vector<std::string> args = {"-p", d, "-c", (dir / "nginx.conf").string()};
    proc_ = co_await aio::create_subprocess_exec("/usr/sbin/nginx", std::move(args), o);
    // Ready when it accepts.
    for (int i = 0;; ++i) {
      bool up = false;
      try {
        auto c = co_await aio::open_connection("127.0.0.1", port);
        c.writer.close();
        up = true;
      } catch (const aio::os_error&) {
        if (i > 200) throw;
      }
      if (up) break;
      co_await aio::sleep(20ms);
    }
  }

  aio::coro<void> stop() {
    proc_.send_signal(SIGQUIT);
    (void)co_await proc_.wait();
    fs::remove_all(dir);
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::string tls_base() const { return "https://127.0.0.1:" + std::to_string(tls_port); }

 private:
  aio::process proc_;
};

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
