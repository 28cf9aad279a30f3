// SPDX-License-Identifier: MIT
// The sync and executors layers' costs, case for case the same work as
// bench/peers/sync_asyncio.py (bench/run sync runs both and prints ratios). Each case
// runs its whole N as one benchmark iteration, after one untimed warm-up run; bench/run
// divides the CPU time (or, for the cases that use other threads or processes, the wall
// time) by N.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <vector>

#include "aio/aio.hpp"
#include "aio/executors.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;

namespace {

long trivial(long x) {
  return x + 1;
}
const auto trivial_fn = aio::process_pool_executor::register_function<&trivial>("trivial");

// One task takes and releases a free lock n times.
aio::coro<void> lock_uncontended(long n) {
  aio::lock l;
  for (long i = 0; i < n; ++i) {
    auto held = co_await l.acquire();
  }
}

// 10 tasks take turns: each holds the lock across a yield, so the others queue.
aio::coro<void> lock_worker(aio::lock& l, long per) {
  for (long i = 0; i < per; ++i) {
    auto held = co_await l.acquire();
    co_await aio::sleep(0s);
  }
}
aio::coro<void> lock_contended(long n) {
  aio::lock l;
  std::vector<aio::coro<void>> ws;
  for (int i = 0; i < 10; ++i) ws.push_back(lock_worker(l, n / 10));
  co_await aio::gather(std::move(ws));
}

// 1000 tasks share 10 permits, each holding one across a yield.
aio::coro<void> semaphore_worker(aio::semaphore& sem, long per) {
  for (long i = 0; i < per; ++i) {
    auto permit = co_await sem.acquire();
    co_await aio::sleep(0s);
  }
}
aio::coro<void> semaphore_1000_waiters(long n) {
  aio::semaphore sem(10);
  std::vector<aio::coro<void>> ws;
  for (int i = 0; i < 1000; ++i) ws.push_back(semaphore_worker(sem, n / 1000));
  co_await aio::gather(std::move(ws));
}

// 4 producers, 4 consumers, a bounded queue; a sentinel (-1) per consumer ends it.
aio::coro<void> producer(aio::queue<long>& q, long per) {
  for (long i = 0; i < per; ++i) co_await q.put(i);
}
aio::coro<long> consumer(aio::queue<long>& q) {
  long got = 0;
  for (;;) {
    if (co_await q.get() < 0) co_return got;
    ++got;
  }
}
aio::coro<void> queue_4x4(long n) {
  aio::queue<long> q(1000);
  const long per = n / 4;
  std::vector<aio::task<long>> consumers;
  for (int i = 0; i < 4; ++i) consumers.push_back(aio::create_task(consumer(q)));
  std::vector<aio::coro<void>> producers;
  for (int i = 0; i < 4; ++i) producers.push_back(producer(q, per));
  co_await aio::gather(std::move(producers));
  for (int i = 0; i < 4; ++i) co_await q.put(-1);
  std::vector<long> got = co_await aio::gather(std::move(consumers));
  long total = 0;
  for (long g : got) total += g;
  if (total != per * 4) std::abort();
}

// n sequential round trips to the default thread pool.
aio::coro<void> to_thread_roundtrip(long n) {
  for (long i = 0; i < n; ++i)
    if (co_await aio::to_thread(trivial, i) != i + 1) std::abort();
}

// n sequential round trips to a one-worker process pool (made once, like the peer's).
aio::process_pool_executor* pool = nullptr;
aio::coro<void> process_pool_roundtrip(long n) {
  for (long i = 0; i < n; ++i)
    if (co_await aio::run_in_executor(*pool, trivial_fn, i) != i + 1) std::abort();
}

template <class F>
void run_case(benchmark::State& state, F body) {
  const long n = state.range(0);
  aio::run(body(n));  // warm-up: frame pool, heap, worker threads or processes
  for (auto _ : state) aio::run(body(n));
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_lock_uncontended(benchmark::State& s) {
  run_case(s, lock_uncontended);
}
void BM_lock_contended(benchmark::State& s) {
  run_case(s, lock_contended);
}
void BM_semaphore_1000_waiters(benchmark::State& s) {
  run_case(s, semaphore_1000_waiters);
}
void BM_queue_1M_4x4(benchmark::State& s) {
  run_case(s, queue_4x4);
}
void BM_to_thread_roundtrip(benchmark::State& s) {
  run_case(s, to_thread_roundtrip);
}
void BM_process_pool_roundtrip(benchmark::State& s) {
  run_case(s, process_pool_roundtrip);
}

}  // namespace

BENCHMARK(BM_lock_uncontended)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_lock_contended)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_semaphore_1000_waiters)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_queue_1M_4x4)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_to_thread_roundtrip)
    ->Arg(5'000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_process_pool_roundtrip)
    ->Arg(2'000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  // The process pool forks its server first thing, before any thread exists.
  aio::process_pool_executor process_pool(1);
  pool = &process_pool;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
