// SPDX-License-Identifier: MIT
// The guides' rate-limited client: 20 calls, at most 50 per second with bursts of 5
// (a token bucket: the guides' RateLimiter class, aio::rate_limiter here).
#include <chrono>
#include <cstdio>
#include <vector>

#include "aio/aio.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;

aio::coro<void> main_async() {
  aio::rate_limiter limiter({.rate = 50, .burst = 5});
  const auto t0 = std::chrono::steady_clock::now();
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    for (int i = 0; i < 20; ++i)
      tg.create_task([&]() -> aio::coro<void> {
        co_await limiter.acquire();
        co_await aio::sleep(1ms);  // the call itself
      });
    co_return;
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // 5 at once from the full bucket, then 15 more at 50/s: about 0.3 s.
  std::printf("20 calls in %.2f s: %s\n", s, s >= 0.29 ? "rate respected" : "TOO FAST");
}

int main() {
  aio::run(main_async());
}
