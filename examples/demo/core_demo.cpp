// SPDX-License-Identifier: MIT
// The guides' first lessons on real timers: what concurrency buys, what cancellation
// and timeouts do. This is what ./scripts/demo runs (until the HTTP fetcher exists).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "aio/aio.hpp"

using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

double since(steady_clock::time_point t0) {
  return std::chrono::duration<double>(steady_clock::now() - t0).count();
}

// Stands in for a network call that takes a second.
aio::coro<std::string> fetch(std::string name) {
  co_await aio::sleep(1s);
  co_return name + ": 200 OK";
}

aio::coro<void> sequential() {
  const auto t0 = steady_clock::now();
  for (const char* name : {"users", "orders", "prices"})
    std::printf("    %s\n", (co_await fetch(name)).c_str());
  std::printf("  sequential: 3 fetches of 1 s each took %.2f s\n", since(t0));
}

aio::coro<void> with_gather() {
  const auto t0 = steady_clock::now();
  auto [a, b, c] = co_await aio::gather(fetch("users"), fetch("orders"), fetch("prices"));
  std::printf("    %s\n    %s\n    %s\n", a.c_str(), b.c_str(), c.c_str());
  std::printf("  gather: the same 3 fetches, concurrently, took %.2f s\n", since(t0));
}

aio::coro<void> with_task_group() {
  const auto t0 = steady_clock::now();
  std::vector<aio::task<std::string>> tasks;
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    for (const char* name : {"users", "orders", "prices"})
      tasks.push_back(tg.create_task(fetch(name)));
    co_return;
  });
  for (auto& t : tasks) std::printf("    %s\n", t.result().c_str());
  std::printf("  task group: 3 fetches took %.2f s, and none can outlive the group\n", since(t0));
}

aio::coro<void> fan_out_fan_in() {
  constexpr int n = 10'000;
  const auto t0 = steady_clock::now();
  std::vector<aio::coro<int>> work;
  work.reserve(n);
  for (int i = 0; i < n; ++i)
    work.push_back([](int i) -> aio::coro<int> {
      co_await aio::sleep(10ms);  // every task waits on its own timer
      co_return i;
    }(i));
  std::vector<int> results = co_await aio::gather(std::move(work));
  long long sum = 0;
  for (int r : results) sum += r;
  std::printf("  fan-out/fan-in: %d tasks sleeping 10 ms each, gathered in %.3f s (sum %lld)\n", n,
              since(t0), sum);
}

aio::coro<void> timeout_fires() {
  const auto t0 = steady_clock::now();
  bool finished = false;
  try {
    co_await aio::timeout(300ms, [&]() -> aio::coro<void> {
      co_await aio::sleep(5s);  // "slow upstream"
      finished = true;
    });
  } catch (const aio::timeout_error&) {
    std::printf(
        "  timeout: a 5 s operation under a 300 ms timeout gave timeout_error after %.2f s; "
        "the operation %s\n",
        since(t0), finished ? "finished (wrong!)" : "was cancelled");
  }
}

aio::coro<void> cancelled_task_cleans_up() {
  const auto t0 = steady_clock::now();
  auto worker = aio::create_task(
      []() -> aio::coro<void> {
        try {
          co_await aio::sleep(1h);
        } catch (const aio::cancelled_error& e) {
          std::printf("    worker: cancelled (\"%s\"), closing its connection...\n",
                      e.message().c_str());
        }
        co_await aio::sleep(200ms);  // clean-up may await
        std::printf("    worker: clean-up done\n");
        throw aio::cancelled_error("shutdown");  // and then re-raise, as asyncio asks
      },
      {.name = "worker"});
  co_await aio::sleep(100ms);
  worker.cancel("shutdown");
  try {
    co_await worker;
  } catch (const aio::cancelled_error&) {
  }
  std::printf("  cancellation: the worker ended cancelled=%s after %.2f s, clean-up included\n",
              worker.cancelled() ? "yes" : "no", since(t0));
}

aio::coro<void> demo() {
  const auto t0 = steady_clock::now();
  std::printf("aio demo: the asyncio guides' first lessons, on real timers\n\n1. concurrency\n");
  co_await sequential();
  co_await with_gather();
  co_await with_task_group();
  std::printf("\n2. many tasks\n");
  co_await fan_out_fan_in();
  std::printf("\n3. timeouts and cancellation\n");
  co_await timeout_fires();
  co_await cancelled_task_cleans_up();
  std::printf("\ndone in %.2f s\n", since(t0));
}

}  // namespace

int main() {
  aio::run(demo());
}
