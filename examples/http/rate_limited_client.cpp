// SPDX-License-Identifier: MIT
// The guides' rate-limited API client: 20 GETs through one session, at most N requests
// per second, and the rate actually achieved measured from the send times.
//
//   rate_limited_client --demo              20 posts at 20/s from a server started
//                                           in-process (port 0)
//   rate_limited_client BASE_URL [RATE]     GET BASE_URL/1 ... /20 at RATE per second
//                                           (default 5; e.g.
//                                           https://jsonplaceholder.typicode.com/posts)
//
// aiohttp (guide 002, "Rate-Limited API Client"):
//   class RateLimitedClient:
//       def __init__(self, requests_per_second: float = 10):
//           self.semaphore = asyncio.Semaphore(int(requests_per_second))
//           self.delay = 1.0 / requests_per_second
//       async def fetch(self, session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
//           async with self.semaphore:
//               async with session.get(url) as response:
//                   data = await response.json()
//                   await asyncio.sleep(self.delay)  # Rate limit
//                   return data
//       async def fetch_many(self, urls: list[str]) -> list[dict]:
//           async with aiohttp.ClientSession() as session:
//               tasks = [self.fetch(session, url) for url in urls]
//               return await asyncio.gather(*tasks, return_exceptions=True)
//
//   client = RateLimitedClient(requests_per_second=5)
//   urls = [f"https://jsonplaceholder.typicode.com/posts/{i}" for i in range(1, 21)]
//   results = await client.fetch_many(urls)
//   print(f"Fetched {len(results)} posts")
//
// The guide's semaphore + sleep bounds requests in flight, and only approximates a rate
// (a slow server makes it slower, a burst of fast answers faster). Guide 001's "Token
// Bucket Rate Limiter" is the real thing, and that is aio::rate_limiter: at most `rate`
// acquisitions per second on average, bursts of up to `burst`, FIFO.
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

class rate_limited_client {
 public:
  explicit rate_limited_client(double requests_per_second)
      : limiter_({.rate = requests_per_second, .burst = 1}) {}

  // A member coroutine keeps `this`: the client must outlive its calls (it does: it is
  // a local of the coroutine that awaits fetch_many).
  aio::coro<aio::json::value> fetch(http::client_session& session, std::string url) {
    co_await limiter_.acquire();  // a token from the bucket: waits for its turn
    sent_.push_back(std::chrono::steady_clock::now());
    http::client_response response = co_await session.get(url);
    response.raise_for_status();
    co_return co_await response.json();
  }

  aio::coro<std::vector<aio::outcome<aio::json::value>>> fetch_many(std::vector<std::string> urls) {
    http::client_session session;
    std::vector<aio::coro<aio::json::value>> tasks;
    for (const std::string& url : urls) tasks.push_back(fetch(session, url));
    auto results = co_await aio::gather(aio::return_exceptions, std::move(tasks));
    co_await session.close();
    co_return results;
  }

  // Requests per second between the first and the last send.
  double achieved_rate() const {
    if (sent_.size() < 2) return 0;
    const double s = std::chrono::duration<double>(sent_.back() - sent_.front()).count();
    return s > 0 ? static_cast<double>(sent_.size() - 1) / s : 0;
  }

 private:
  aio::rate_limiter limiter_;
  std::vector<std::chrono::steady_clock::time_point> sent_;
};

aio::coro<void> fetch_posts(std::string base_url, double rate) {
  rate_limited_client client(rate);
  std::vector<std::string> urls;
  for (int i = 1; i <= 20; ++i) urls.push_back(base_url + "/" + std::to_string(i));
  const auto t0 = std::chrono::steady_clock::now();
  auto results = co_await client.fetch_many(urls);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t ok = 0;
  for (const auto& r : results)
    if (r)
      ++ok;
    else
      std::printf("failed: %s\n", aio::describe(r.error()).c_str());
  std::printf("Fetched %zu posts in %.2f s", ok, s);
  if (!results.empty() && results.front()) {
    const aio::json::value& first = *results.front();
    std::printf(" (first: \"%s\")", first.value("title", "?").c_str());
  }
  std::printf("\n");
  const double achieved = client.achieved_rate();
  std::printf("requests went out at %.1f per second (limit %.0f): %s\n", achieved, rate,
              achieved <= rate * 1.05 ? "rate respected" : "TOO FAST");
}

// --- The demo server: jsonplaceholder's /posts/{id} --------------------------------------

aio::coro<http::response> get_post(http::request& req) {
  const int id = std::stoi(std::string(req.match_info("id")));
  aio::json::value post = {{"userId", (id + 9) / 10},
                           {"id", id},
                           {"title", "post number " + std::to_string(id)},
                           {"body", "..."}};
  co_return http::json_response(post);
}

aio::coro<void> demo() {
  http::application app;
  app.router().add_get("/posts/{id}", get_post);
  http::app_server server =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  std::printf("20 requests, at most 20 per second\n");
  co_await fetch_posts("http://127.0.0.1:" + std::to_string(server.port()) + "/posts", 20);
  co_await server.shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rate_limited_client --demo | BASE_URL [RATE]\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0)
      aio::run(demo());
    else
      aio::run(fetch_posts(argv[1], argc > 2 ? std::atof(argv[2]) : 5.0));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rate_limited_client: %s\n", e.what());
    return 1;
  }
}
