// SPDX-License-Identifier: MIT
// bench_http_server — aio's HTTP server for the `http` suite of bench/run, measured side
// by side with the HTTP peers of ../shared/anchors (c-epoll-http, hyper, Beast, Go,
// uvloop+httptools, Node, aiohttp) by the anchors' bench.py and wrk.
//
//   bench_http_server --port P [--workers N]
//
// An aio::http::application on 127.0.0.1:P with the anchors' contract: GET / answers
// 200, Content-Type text/plain, body "Hello, World!", keep-alive. Also GET /json, a
// small JSON document ({"message": "Hello, World!", "items": [1, 2, 3]}) serialized
// per request, for the JSON case. Access logging off (there is none), no timeouts but
// the defaults. run_app stops it on SIGTERM/SIGINT; the process is the server itself.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "aio/http/server.hpp"

namespace http = aio::http;

namespace {

aio::coro<http::response> hello(http::request&) {
  co_return http::response::text("Hello, World!", 200, "text/plain");
}

aio::coro<http::response> json(http::request&) {
  aio::json::value v = {{"message", "Hello, World!"}, {"items", {1, 2, 3}}};
  co_return http::json_response(v);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned port = 0, workers = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      workers = static_cast<unsigned>(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_http_server --port P [--workers N]\n");
      return 2;
    }
  }
  if (port == 0 || port > 65535) {
    std::fprintf(stderr, "bench_http_server: --port is required\n");
    return 2;
  }
  http::application app;
  app.router().add_get("/", hello);
  app.router().add_get("/json", json);
  http::run_app(app, {.host = "127.0.0.1",
                      .port = static_cast<std::uint16_t>(port),
                      .workers = workers,
                      .print_banner = false});
  return 0;
}
