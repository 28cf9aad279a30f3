// SPDX-License-Identifier: MIT
// nginx as a test peer: Debian's nginx-light started in a temporary prefix on two free
// loopback ports (plain and TLS, with a certificate made by openssl), serving a few
// files and redirects; stopped (SIGQUIT) and removed by stop(). Used by the client's
// tests and aio-fetch's.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/subprocess.hpp"

namespace aio_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::uint16_t free_port() {
  aio::net::socket s = aio::net::socket::create(AF_INET, SOCK_STREAM);
  s.bind(*aio::net::address::parse("127.0.0.1", 0));
  return s.local_address().port();
}

inline void write_file(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

inline aio::coro<int> run(std::string program, std::vector<std::string> args) {
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

}  // namespace aio_test
