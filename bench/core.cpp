// SPDX-License-Identifier: MIT
// The core runtime's costs, case for case the same work as bench/peers/core_asyncio.py
// (bench/run core runs both and prints ratios). Each case runs its whole N as one
// benchmark iteration, after one untimed warm-up run; bench/run divides the CPU time
// by N. pending_task_memory has no warm-up: it measures fresh memory.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "aio/aio.hpp"

using namespace std::chrono_literals;

namespace {

long rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

aio::coro<int> trivial() {
  co_return 1;
}
aio::coro<void> noop() {
  co_await aio::sleep(0s);
}

// Create n tasks that return at once, then await each of them.
aio::coro<long> create_await(long n) {
  std::vector<aio::task<int>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) tasks.push_back(aio::create_task(trivial()));
  long sum = 0;
  for (auto& t : tasks) sum += co_await t;
  co_return sum;
}

// gather of n coroutines that each yield once (sleep(0)).
aio::coro<void> gather_n(long n) {
  std::vector<aio::coro<void>> cs;
  cs.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) cs.push_back(noop());
  co_await aio::gather(std::move(cs));
}

aio::coro<void> call_soon_n(long n) {
  auto& loop = aio::get_running_loop();
  aio::future<void> done = loop.create_future();
  long count = 0;
  for (long i = 0; i < n; ++i)
    loop.call_soon([&count, &done, n] {
      if (++count == n) done.set_result();
    });
  co_await done;
}

aio::coro<void> player(long k) {
  for (long i = 0; i < k; ++i) co_await aio::sleep(0s);
}
// Two tasks taking turns through the ready queue, n switches in all.
aio::coro<void> pingpong(long n) {
  co_await aio::gather(player(n / 2), player(n / 2));
}

// Schedule n timers (spread over 1000 s) and cancel them all: one op = add + cancel.
aio::coro<void> timers(long n) {
  auto& loop = aio::get_running_loop();
  std::vector<aio::timer_handle> hs;
  hs.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i)
    hs.push_back(loop.call_later(std::chrono::seconds(1 + i % 1000), [] {}));
  for (auto& h : hs) h.cancel();
  if (loop.armed_timers() != 0) std::abort();  // cancelled timers leave nothing behind
  co_return;
}

aio::coro<void> waiter(aio::future<void> f) {
  co_await f;
}

aio::coro<double> pending_memory(long n) {
  aio::future<void> fut;
  std::vector<aio::task<void>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  const long rss0 = rss_bytes();
  for (long i = 0; i < n; ++i) tasks.push_back(aio::create_task(waiter(fut)));
  co_await aio::sleep(0s);  // every task runs to its first suspension point
  const long rss1 = rss_bytes();
  fut.set_result();
  co_await aio::gather(std::move(tasks));
  co_return static_cast<double>(rss1 - rss0 - static_cast<long>(n * sizeof(aio::task<void>))) /
      static_cast<double>(n);
}

// One untimed run first: the figure is the steady state of a warm process (the
// frame pool and the heap already hold the memory), as for the Python peers.
template <class F>
void run_case(benchmark::State& state, F body) {
  const long n = state.range(0);
  aio::run(body(n));
  for (auto _ : state) aio::run(body(n));
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_create_await(benchmark::State& s) {
  run_case(s, create_await);
}
void BM_gather(benchmark::State& s) {
  run_case(s, gather_n);
}
void BM_call_soon(benchmark::State& s) {
  run_case(s, call_soon_n);
}
void BM_sleep0_pingpong(benchmark::State& s) {
  run_case(s, pingpong);
}
void BM_timers(benchmark::State& s) {
  run_case(s, timers);
}
void BM_pending_task_memory(benchmark::State& s) {
  const long n = s.range(0);
  double per_task = 0;
  for (auto _ : s) per_task = aio::run(pending_memory(n));
  s.SetItemsProcessed(s.iterations() * n);
  s.counters["bytes_per_task"] = per_task;
}

}  // namespace

BENCHMARK(BM_create_await)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gather)->Arg(100'000)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_call_soon)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sleep0_pingpong)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_timers)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_pending_task_memory)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
