// SPDX-License-Identifier: MIT
// The guides' worker-queue pipeline: N workers drain a queue; one item's failure is
// logged and does not stop the others (asyncio: `except Exception: logging...;
// finally: queue.task_done()`).
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;

namespace {

aio::coro<void> process(int item) {
  co_await aio::sleep(5ms);
  if (item % 7 == 0) throw std::runtime_error("bad item " + std::to_string(item));
}

aio::coro<void> run_pipeline(const std::vector<int>& items, int concurrency) {
  aio::queue<int> q;
  for (int it : items) q.put_nowait(it);
  int ok = 0, failed = 0;
  auto worker = [&]() -> aio::coro<void> {
    while (!q.empty()) {
      int it = co_await q.get();
      try {
        co_await process(it);
        ++ok;
      } catch (const std::exception&) {
        ++failed;  // logged, and the pipeline goes on
      }
      q.task_done();
    }
  };
  std::vector<aio::task<void>> workers;
  for (int w = 0; w < concurrency; ++w) workers.push_back(aio::create_task(worker));
  co_await q.join();
  co_await aio::gather(std::move(workers));
  std::printf("%d items processed, %d failed, with %d workers\n", ok, failed, concurrency);
}

}  // namespace

int main() {
  std::vector<int> items;
  for (int i = 1; i <= 30; ++i) items.push_back(i);
  aio::run(run_pipeline(items, 10));
}
