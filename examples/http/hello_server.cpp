// SPDX-License-Identifier: MIT
// The smallest aiohttp.web program, in aio: one route, run_app, Ctrl-C to stop.
//
//   hello_server [--port P] [--workers N]
//
// aiohttp:
//   async def hello(request):
//       return web.Response(text="Hello, World!")
//   app = web.Application()
//   app.router.add_get("/", hello)
//   web.run_app(app, port=8080)
//
// With --workers N, N threads each run a loop with its own SO_REUSEPORT listener.
// GET /who answers which worker thread served the request (to see the spread).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "aio/http/server.hpp"

namespace {

aio::coro<aio::http::response> hello(aio::http::request&) {
  co_return aio::http::response::text("Hello, World!");
}

aio::coro<aio::http::response> who(aio::http::request&) {
  co_return aio::http::response::text(
      std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())));
}

}  // namespace

int main(int argc, char** argv) {
  unsigned port = 8080, workers = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      workers = static_cast<unsigned>(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: hello_server [--port P] [--workers N]\n");
      return 2;
    }
  }
  aio::http::application app;
  app.router().add_get("/", hello);
  app.router().add_get("/who", who);
  app.on_shutdown().push_back([](aio::http::application&) -> aio::coro<void> {
    std::printf("shutting down\n");
    std::fflush(stdout);
    co_return;
  });
  aio::http::run_app(
      app, {.host = "127.0.0.1", .port = static_cast<std::uint16_t>(port), .workers = workers});
  std::printf("bye\n");
  return 0;
}
