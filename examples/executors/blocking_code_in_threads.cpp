// SPDX-License-Identifier: MIT
// The guides' "never block the event loop": blocking calls (a legacy client, a sleep,
// a synchronous driver) go to threads with aio::to_thread or run_in_executor, and the
// loop keeps serving its other tasks meanwhile. A plain thread that needs the loop's
// data asks for it with run_coroutine_threadsafe.
//
// asyncio:
//   result = await asyncio.to_thread(blocking_operation, 0.05)
//   with ThreadPoolExecutor(max_workers=4) as pool:
//       results = await asyncio.gather(*[loop.run_in_executor(pool, blocking_operation, d) ...])
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/executors.hpp"

using namespace std::chrono_literals;

namespace {

// A blocking function that cannot be made async.
std::string blocking_operation(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return "slept for " + std::to_string(ms) + " ms";
}

// Ticks while the blocking work runs elsewhere: proof that the loop is free.
aio::coro<void> heartbeat(int& ticks) {
  for (;;) {
    co_await aio::sleep(5ms);
    ++ticks;
  }
}

aio::coro<int> count_on_the_loop(int x) {
  co_await aio::sleep(1ms);
  co_return x * 2;
}

aio::coro<void> main_async() {
  int ticks = 0;
  auto beat = aio::create_task(heartbeat(ticks));

  // The default executor (min(32, cores + 4) threads), as asyncio.to_thread.
  std::string one = co_await aio::to_thread(blocking_operation, 50);
  std::printf("to_thread: %s\n", one.c_str());

  // A pool of our own, four calls at once (about 50 ms in all, not 200).
  aio::thread_pool_executor pool(4);
  std::vector<aio::coro<std::string>> calls;
  for (int i = 0; i < 4; ++i) calls.push_back(aio::run_in_executor(pool, blocking_operation, 50));
  std::vector<std::string> results = co_await aio::gather(std::move(calls));
  std::printf("run_in_executor: %zu calls on %zu threads\n", results.size(), pool.max_workers());
  co_await pool.shutdown_async();

  // The other direction: a plain thread asks the loop for a value and blocks on it.
  auto& loop = aio::get_running_loop();
  int from_loop = 0;
  std::thread worker(
      [&] { from_loop = aio::run_coroutine_threadsafe(count_on_the_loop(21), loop).get(); });
  co_await aio::to_thread([&] { worker.join(); });  // joining blocks: not on the loop
  std::printf("run_coroutine_threadsafe: %d\n", from_loop);

  beat.cancel();
  std::printf("the loop kept running: %s\n", ticks > 0 ? "yes" : "no");
}

}  // namespace

int main() {
  aio::run(main_async());
}
