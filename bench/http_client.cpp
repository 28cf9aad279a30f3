// SPDX-License-Identifier: MIT
// bench_http_client — aio's HTTP client for the client case of bench/run http: N GETs
// at concurrency C over one client_session (keep-alive pool of C connections), each
// body read whole, against a local server; prints "requests=N ok=N wall=S".
//
//   bench_http_client --url http://127.0.0.1:PORT/ [--requests 20000] [--concurrency 100]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"

namespace {

struct config {
  std::string url;
  unsigned requests = 20000;
  unsigned concurrency = 100;
};

aio::coro<void> worker(aio::http::client_session& s, const config& c, unsigned& next,
                       unsigned& ok) {
  while (next < c.requests) {
    ++next;
    aio::http::client_response r = co_await s.get(c.url);
    std::string body = co_await r.read();
    if (r.status() == 200 && !body.empty()) ++ok;
  }
}

aio::coro<int> run(config c) {
  aio::http::client_session s({.limit = c.concurrency});
  unsigned next = 0, ok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    for (unsigned i = 0; i < c.concurrency; ++i) tg.create_task(worker(s, c, next, ok));
    co_return;
  });
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  co_await s.close();
  std::printf("requests=%u ok=%u wall=%.3f\n", c.requests, ok, wall);
  co_return ok == c.requests ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--url") == 0) {
      c.url = argv[i + 1];
    } else if (std::strcmp(argv[i], "--requests") == 0) {
      c.requests = static_cast<unsigned>(std::atoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--concurrency") == 0) {
      c.concurrency = static_cast<unsigned>(std::atoi(argv[i + 1]));
    }
  }
  if (c.url.empty() || c.concurrency == 0) {
    std::fprintf(stderr, "usage: bench_http_client --url URL [--requests N] [--concurrency C]\n");
    return 2;
  }
  return aio::run(run(c));
}
