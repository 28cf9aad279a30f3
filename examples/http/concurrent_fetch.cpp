// SPDX-License-Identifier: MIT
// The guides' bulk fetch: many URLs, one shared session, a semaphore capping the
// requests in flight, the results collected with gather and then streamed as they
// complete with as_completed, and a timing summary.
//
//   concurrent_fetch --demo      100 URLs against a server started in-process (port 0),
//                                whose items take 5-54 ms and of which 4 answer 503
//   concurrent_fetch URL...      the same against real URLs
//
// aiohttp (guide 001, "Pattern 1: Concurrent HTTP Requests with Semaphores"):
//   semaphore = asyncio.Semaphore(CONCURRENCY_LIMIT)
//   async def fetch_one(session: aiohttp.ClientSession, url: str) -> dict:
//       async with semaphore:
//           try:
//               async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
//                   resp.raise_for_status()
//                   return await resp.json()
//           except aiohttp.ClientError as e:
//               print(f"❌ Error fetching {url}: {e}")
//               return {"error": str(e), "url": url}
//
//   async def fetch_all(urls: list[str]) -> list[dict]:
//       async with aiohttp.ClientSession() as session:
//           results = await asyncio.gather(*[fetch_one(session, url) for url in urls])
//       return results
//   ...
//   successful = [r for r in results if "error" not in r]
//   print(f"Fetched {len(successful)}/{len(urls)} successfully")
//
// and guide 003, "aiohttp in Practice" (a pool, timeouts, a semaphore, as_completed):
//   timeout = aiohttp.ClientTimeout(total=30, connect=5)
//   connector = aiohttp.TCPConnector(limit=50)
//   async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
//       sem = asyncio.Semaphore(20)
//       tasks = {asyncio.create_task(_fetch_one(session, sem, url)): url for url in urls}
//       for coro in asyncio.as_completed(tasks):
//           result = await coro
//
// "The semaphore limits concurrency independently of the connection pool. You might
// want 50 connections but only 20 active requests." Both are here: session_options'
// limit is TCPConnector(limit=...), the aio::semaphore is asyncio.Semaphore.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

constexpr int concurrency_limit = 10;

// What the client saw: requests in flight now, and at most.
struct flight_stats {
  int in_flight = 0;
  int peak = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// session, sem and stats are borrowed: gather and as_completed do not return (or, for
// as_completed, are not left) before their children have ended.
aio::coro<aio::json::value> fetch_one(http::client_session& session, aio::semaphore& sem,
                                      flight_stats& stats, std::string url) {
  auto permit = co_await sem.acquire();  // given back when `permit` goes out of scope
  ++stats.in_flight;
  stats.peak = std::max(stats.peak, stats.in_flight);
  std::string error;
  try {
    http::client_response resp = co_await session.get(url);
    resp.raise_for_status();
    aio::json::value data = co_await resp.json();
    --stats.in_flight;
    co_return data;
  } catch (const http::client_error& e) {  // no co_await in a catch block: keep the text
    error = e.what();
  } catch (const aio::timeout_error& e) {
    error = e.what();
  }
  --stats.in_flight;
  std::printf("Error fetching %s: %s\n", url.c_str(), error.c_str());
  aio::json::value failed = {{"error", error}, {"url", url}};
  co_return failed;
}

http::session_options pool_options() {
  http::session_options opts;
  opts.timeout = {.total = 30s, .connect = 5s};  // ClientTimeout(total=30, connect=5)
  opts.limit = 50;                               // TCPConnector(limit=50)
  return opts;
}

// Pattern 1: everything at once, results in the order of the URLs.
aio::coro<void> fetch_all(std::vector<std::string> urls) {
  http::client_session session(pool_options());
  aio::semaphore sem(concurrency_limit);
  flight_stats stats;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<aio::coro<aio::json::value>> tasks;
  for (const std::string& url : urls) tasks.push_back(fetch_one(session, sem, stats, url));
  std::vector<aio::json::value> results = co_await aio::gather(std::move(tasks));
  const double elapsed = seconds_since(t0);
  const auto successful = std::count_if(results.begin(), results.end(),
                                        [](const auto& r) { return !r.contains("error"); });
  std::printf("gather: Fetched %zd/%zu successfully in %.2f s, at most %d requests in flight\n",
              static_cast<std::ptrdiff_t>(successful), urls.size(), elapsed, stats.peak);
  co_await session.close();
}

// Guide 003: the results as they come in, fastest first.
aio::coro<void> fetch_as_completed(std::vector<std::string> urls, std::size_t show) {
  http::client_session session(pool_options());
  aio::semaphore sem(concurrency_limit);
  flight_stats stats;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<aio::coro<aio::json::value>> tasks;
  for (const std::string& url : urls) tasks.push_back(fetch_one(session, sem, stats, url));
  std::size_t done = 0, failed = 0;
  for (auto next : aio::as_completed(std::move(tasks))) {  // started now, as tasks
    aio::json::value result = co_await next;
    ++done;
    if (result.contains("error")) ++failed;
    if (done <= show) {
      const std::string what = result.contains("error") ? "error from " + result.value("url", "?")
                                                        : aio::json::dump(result);
      std::printf("as_completed #%zu after %3.0f ms: %s\n", done, seconds_since(t0) * 1000,
                  what.c_str());
    }
  }
  if (done > show) std::printf("as_completed: ... and %zu more\n", done - show);
  std::printf("as_completed: %zu results, %zu failed, in %.2f s\n", done, failed,
              seconds_since(t0));
  co_await session.close();
}

// --- The demo server: /items/{id}, 5-54 ms each, every 25th from 13 answers 503 ----------

int item_delay_ms(int id) {
  return 5 + (id * 37) % 50;
}

aio::coro<http::response> get_item(http::request& req) {
  const int id = std::stoi(std::string(req.match_info("id")));
  co_await aio::sleep(std::chrono::milliseconds(item_delay_ms(id)));  // the work
  if (id % 25 == 13) throw http::http_error(503, "try again later");
  aio::json::value item = {{"id", id}, {"name", "item " + std::to_string(id)}};
  co_return http::json_response(item);
}

aio::coro<void> demo() {
  http::application app;
  app.router().add_get("/items/{id}", get_item);
  http::app_server server =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::vector<std::string> urls;
  int sequential_ms = 0;
  for (int i = 0; i < 100; ++i) {
    urls.push_back(base + "/items/" + std::to_string(i));
    sequential_ms += item_delay_ms(i);
  }
  std::printf("%zu URLs, at most %d at once; one after another they would take %.2f s\n",
              urls.size(), concurrency_limit, sequential_ms / 1000.0);
  co_await fetch_all(urls);
  co_await fetch_as_completed(urls, 5);
  co_await server.shutdown();
}

aio::coro<void> fetch_urls(std::vector<std::string> urls) {
  co_await fetch_all(urls);
  co_await fetch_as_completed(urls, urls.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: concurrent_fetch --demo | URL...\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0) {
      aio::run(demo());
    } else {
      std::vector<std::string> urls(argv + 1, argv + argc);
      aio::run(fetch_urls(std::move(urls)));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "concurrent_fetch: %s\n", e.what());
    return 1;
  }
}
