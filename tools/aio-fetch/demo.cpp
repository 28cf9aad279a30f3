// SPDX-License-Identifier: MIT
#include "demo.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"
#include "aio/net/subprocess.hpp"
#include "fetch.hpp"

namespace aio_fetch {

namespace http = aio::http;
using namespace std::chrono_literals;

namespace {

long peak_rss_kib() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string item_url(std::uint16_t port, unsigned i, std::chrono::milliseconds latency) {
  return "http://127.0.0.1:" + std::to_string(port) + "/item/" + std::to_string(i) +
         "?delay=" + std::to_string(latency.count());
}

unsigned query_uint(const http::request& req, std::string_view name, unsigned fallback) {
  auto v = req.query_param(name);
  unsigned n = fallback;
  if (v) std::from_chars(v->data(), v->data() + v->size(), n);
  return n;
}

// The demo's server (httpbin's /delay and /status, and a flaky endpoint):
//   GET /item/{id}?delay=MS&size=BYTES    waits MS, answers a JSON body of ~BYTES
//   GET /flaky/{id}?fail=K                503 (Retry-After: 0.05) K times, then 200
//   GET /status/{code}                    answers that status
struct demo_server {
  http::application app;
  std::map<std::string, unsigned> flaky_seen;

  demo_server() {
    app.router().add_get("/item/{id}", [](http::request& req) -> aio::coro<http::response> {
      const unsigned delay = query_uint(req, "delay", 0);
      const unsigned size = query_uint(req, "size", 512);
      if (delay > 0) co_await aio::sleep(std::chrono::milliseconds(delay));
      std::string body = "{\"id\":\"" + std::string(req.match_info("id")) + "\",\"data\":\"";
      body.append(size > body.size() + 2 ? size - body.size() - 2 : 0, 'x');
      body += "\"}";
      co_return http::response::text(std::move(body), 200, "application/json");
    });
    app.router().add_get("/flaky/{id}", [this](http::request& req) -> aio::coro<http::response> {
      unsigned& seen = flaky_seen[std::string(req.match_info("id"))];
      if (seen++ < query_uint(req, "fail", 1)) {
        http::response r = http::response::text("try again", 503);
        r.headers.add("Retry-After", "0.05");
        co_return r;
      }
      co_return http::response::text("ok");
    });
    app.router().add_get("/status/{code}", [](http::request& req) -> aio::coro<http::response> {
      unsigned code = 200;
      std::string_view c = req.match_info("code");
      std::from_chars(c.data(), c.data() + c.size(), code);
      if (code < 200 || code > 599) code = 400;
      co_return http::response::text(std::string(http::reason_phrase(static_cast<int>(code))),
                                     static_cast<int>(code));
    });
  }
};

// One request, the whole body read; true for a 2xx.
aio::coro<bool> get_one(http::client_session& s, std::string url) {
  http::client_response r = co_await s.get(std::move(url));
  std::string body = co_await r.read();
  co_return r.status() / 100 == 2 && !body.empty();
}

aio::coro<unsigned> run_sequential(demo_options o) {
  http::client_session s;
  unsigned ok = 0;
  for (unsigned i = 0; i < o.urls; ++i) {
    const bool good = co_await get_one(s, item_url(o.port, i, o.latency));
    ok += good ? 1 : 0;
  }
  co_await s.close();
  co_return ok;
}

// What a thread of the "threads" mode does: blocking requests, one after another (an
// event loop of its own, used as a blocking client).
aio::coro<unsigned> run_thread_share(demo_options o, std::atomic<unsigned>& next) {
  http::client_session s;
  unsigned ok = 0;
  for (;;) {
    const unsigned i = next++;
    if (i >= o.urls) break;
    const bool good = co_await get_one(s, item_url(o.port, i, o.latency));
    ok += good ? 1 : 0;
  }
  co_await s.close();
  co_return ok;
}

unsigned run_threads(demo_options o, unsigned threads) {
  std::atomic<unsigned> next{0}, ok{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] { ok += aio::run(run_thread_share(o, next)); });
  }
  for (auto& t : pool) t.join();
  return ok;
}

aio::coro<unsigned> run_aio(demo_options o, unsigned concurrency) {
  options f;
  for (unsigned i = 0; i < o.urls; ++i) f.urls.push_back(item_url(o.port, i, o.latency));
  f.concurrency = concurrency;
  unsigned ok = 0;
  co_await fetch_all(f, [&](const result& r) { ok += r.ok() ? 1 : 0; });
  co_return ok;
}

struct mode_result {
  double wall = 0;
  unsigned ok = 0;
  long rss_kib = 0;
};

aio::coro<mode_result> run_child(const char* self, const std::string& mode, demo_options o) {
  aio::subprocess_options so;
  so.output = aio::stdio::pipe;
  std::vector<std::string> args = {"--demo-run",     mode,
                                   "--demo-port",    std::to_string(o.port),
                                   "--demo-urls",    std::to_string(o.urls),
                                   "--demo-latency", std::to_string(o.latency.count()) + "ms"};
  aio::process p = co_await aio::create_subprocess_exec(self, std::move(args), so);
  std::string out = co_await p.out.read();
  const int rc = co_await p.wait();
  mode_result m;
  if (rc != 0 ||
      std::sscanf(out.c_str(), "wall=%lf ok=%u rss_kib=%ld", &m.wall, &m.ok, &m.rss_kib) != 3) {
    throw std::runtime_error("the demo's " + mode + " run failed (exit " + std::to_string(rc) +
                             "): " + out);
  }
  co_return m;
}

aio::coro<int> demo_main(const char* self, demo_options o) {
  demo_server srv;
  http::app_server server =
      co_await http::start_app(srv.app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  o.port = server.port();
  std::printf(
      "aio-fetch demo: a local server on 127.0.0.1:%u answers each request after %lld ms;\n"
      "%u URLs are fetched three ways (each in a child process, for its own memory "
      "figure).\n\n",
      static_cast<unsigned>(o.port), static_cast<long long>(o.latency.count()), o.urls);
  std::printf("  %-26s %10s %14s %12s %9s\n", "", "wall", "throughput", "peak memory", "ok");
  struct row {
    const char* label;
    const char* mode;
  };
  const row rows[] = {{"sequential (one by one)", "sequential"},
                      {"20 threads, blocking", "threads"},
                      {"aio, concurrency 100", "aio"}};
  std::vector<mode_result> got;
  for (const row& r : rows) {
    mode_result m = co_await run_child(self, r.mode, o);
    std::printf("  %-26s %8.2f s %10.0f/s %9.1f MiB %5u/%u\n", r.label, m.wall,
                m.wall > 0 ? o.urls / m.wall : 0.0, static_cast<double>(m.rss_kib) / 1024.0, m.ok,
                o.urls);
    std::fflush(stdout);
    got.push_back(m);
  }
  if (got[2].wall > 0) {
    std::printf("\n  aio is %.0fx faster than sequential and %.1fx faster than 20 threads.\n",
                got[0].wall / got[2].wall, got[1].wall / got[2].wall);
  }

  // Failures: every /flaky URL fails its first requests with 503 + Retry-After; the
  // fetcher retries with backoff; one URL keeps failing and is reported as failed.
  std::printf(
      "\nWith injected failures (503 with Retry-After, then success; /status/500 "
      "always fails), 3 retries:\n");
  options f;
  const std::string base = "http://127.0.0.1:" + std::to_string(o.port);
  for (unsigned i = 0; i < 12; ++i) {
    f.urls.push_back(base + "/flaky/" + std::to_string(i) + "?fail=" + std::to_string(i % 3));
  }
  f.urls.push_back(base + "/status/500");
  f.concurrency = 5;
  f.retries = 3;
  f.backoff = 20ms;
  std::map<int, unsigned> ok_by_attempts;
  unsigned failed = 0, retried_ok = 0, retries = 0;
  co_await fetch_all(f, [&](const result& r) {
    retries += static_cast<unsigned>(r.attempts - 1);
    if (r.ok()) {
      ++ok_by_attempts[r.attempts];
      if (r.attempts > 1) ++retried_ok;
    } else {
      ++failed;
      std::printf("  failed after %d attempts: %s (status %d)\n", r.attempts, r.url.c_str(),
                  r.status);
    }
  });
  for (const auto& [attempts, n] : ok_by_attempts) {
    std::printf("  %2u URL%s succeeded after %d attempt%s\n", n, n == 1 ? "" : "s", attempts,
                attempts == 1 ? "" : "s");
  }
  std::printf("  %zu URLs, %u retries: %u succeeded only thanks to them, %u failed.\n",
              f.urls.size(), retries, retried_ok, failed);
  co_await server.shutdown();
  co_return 0;
}

}  // namespace

int demo(const char* self, demo_options o) {
  // The children are this program: find it by /proc/self/exe if argv[0] has no path.
  std::string exe = self;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) exe.assign(buf, static_cast<std::size_t>(n));
  return aio::run(demo_main(exe.c_str(), o));
}

int demo_run(const std::string& mode, demo_options o) {
  if (o.port == 0) throw std::invalid_argument("--demo-run needs --demo-port");
  const double t0 = now_s();
  unsigned ok = 0;
  if (mode == "sequential") {
    ok = aio::run(run_sequential(o));
  } else if (mode == "threads") {
    ok = run_threads(o, 20);
  } else if (mode == "aio") {
    ok = aio::run(run_aio(o, 100));
  } else {
    throw std::invalid_argument("--demo-run: unknown mode " + mode);
  }
  std::printf("wall=%.4f ok=%u rss_kib=%ld\n", now_s() - t0, ok, peak_rss_kib());
  return 0;
}

}  // namespace aio_fetch
