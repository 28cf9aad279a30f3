// SPDX-License-Identifier: MIT
// The guides' CPU-bound work in a process pool: eight chunks of numbers, summed as
// squares in worker processes, gathered by the loop. Functions run in a pool are
// registered by name before the pool starts (its workers are copies of the program
// made at that moment).
//
// asyncio:
//   def cpu_intensive(data): return sum(x ** 2 for x in data)
//   with ProcessPoolExecutor() as pool:
//       results = await asyncio.gather(*[loop.run_in_executor(pool, cpu_intensive, chunk)
//                                        for chunk in data_chunks])
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/executors.hpp"

namespace {

double cpu_intensive(const std::vector<double>& data) {
  double s = 0;
  for (double x : data) s += x * x;
  return s;
}

int crashy(int x) {
  if (x < 0) std::abort();  // legacy code that may crash: contained in its worker
  return x;
}

const auto cpu_intensive_fn =
    aio::process_pool_executor::register_function<&cpu_intensive>("cpu_intensive");
const auto crashy_fn = aio::process_pool_executor::register_function<&crashy>("crashy");

aio::coro<void> main_async(aio::process_pool_executor& pool) {
  std::vector<std::vector<double>> chunks(8, std::vector<double>(100'000));
  for (auto& c : chunks) std::iota(c.begin(), c.end(), 0.0);

  std::vector<aio::coro<double>> jobs;
  for (const auto& c : chunks) jobs.push_back(aio::run_in_executor(pool, cpu_intensive_fn, c));
  std::vector<double> results = co_await aio::gather(std::move(jobs));
  std::printf("Total: %.0f\n", std::accumulate(results.begin(), results.end(), 0.0));

  // A worker that crashes fails its own job; the pool replaces it and keeps serving.
  try {
    co_await aio::run_in_executor(pool, crashy_fn, -1);
  } catch (const aio::broken_process_pool& e) {
    std::printf("crashed job: %s\n", e.what());
  }
  std::printf("next job: %d\n", co_await aio::run_in_executor(pool, crashy_fn, 7));
  co_await pool.shutdown_async();
}

}  // namespace

int main() {
  // Made first, before any thread exists: the pool forks its server here.
  aio::process_pool_executor pool(std::max(1u, std::thread::hardware_concurrency()));
  aio::run(main_async(pool));
}
