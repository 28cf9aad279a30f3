// SPDX-License-Identifier: MIT
// Port of CPython test_asyncio (see tests/conformance/README.md): the executor tests.
//   - ToThreadTests of Lib/test/test_asyncio/test_threads.py (asyncio.to_thread);
//   - the run_in_executor tests of EventLoopTestsMixin in test_events.py;
//   - RunCoroutineThreadsafeTests of test_tasks.py (asyncio.run_coroutine_threadsafe).
//
// Each test keeps the name of the Python test it ports: TEST(<Python class>, <method>).
// Python's RuntimeError becomes std::runtime_error, TimeoutError aio::timeout_error,
// CancelledError aio::cancelled_error. Python's concurrent future's result(timeout)
// becomes wait_for(timeout) followed by get().
//
// Not ported (Python-only): test_to_thread_contextvars (contextvars),
// test_run_coroutine_threadsafe_task_factory_exception (loop task factories). The
// keyword-argument half of test_to_thread_args_kwargs has no C++ counterpart (C++ has
// no keyword arguments; the positional half is ported).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aio/aio.hpp"
#include "aio/executors.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

// --- test_threads.py: ToThreadTests ----------------------------------------------------

AIO_TEST(ToThreadTests, test_to_thread) {
  auto sum = [](const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0); };
  std::vector<int> args{40, 2};  // (g++ 12: no braced list in a co_await statement)
  int result = co_await aio::to_thread(sum, std::move(args));
  EXPECT_EQ(result, 42);
}

AIO_TEST(ToThreadTests, test_to_thread_exception) {
  auto raise_runtime = [] { throw std::runtime_error("test"); };
  try {
    co_await aio::to_thread(raise_runtime);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "test");
  }
}

AIO_TEST(ToThreadTests, test_to_thread_once) {
  std::atomic<int> calls = 0;
  co_await aio::to_thread([&calls] { ++calls; });
  EXPECT_EQ(calls.load(), 1);  // func.assert_called_once()
}

AIO_TEST(ToThreadTests, test_to_thread_concurrent) {
  std::atomic<int> calls = 0;
  auto func = [&calls] { ++calls; };
  std::vector<aio::coro<void>> futs;
  for (int i = 0; i < 10; ++i) futs.push_back(aio::to_thread(func));
  co_await aio::gather(std::move(futs));
  EXPECT_EQ(calls.load(), 10);
}

// Python also passes a keyword argument (something=True); C++ has none, so the flag is
// passed positionally.
AIO_TEST(ToThreadTests, test_to_thread_args_kwargs) {
  std::atomic<int> calls = 0;
  std::string got;
  bool something = false;
  co_await aio::to_thread(
      [&](std::string s, bool flag) {
        ++calls;
        got = std::move(s);
        something = flag;
      },
      std::string("test"), true);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(got, "test");
  EXPECT_TRUE(something);
}

// --- test_events.py: EventLoopTestsMixin ----------------------------------------------

AIO_TEST(EventLoopTestsMixin, test_run_in_executor) {
  auto run = [](std::string arg) { return std::make_pair(arg, std::this_thread::get_id()); };
  auto [res, thread_id] = co_await aio::run_in_executor(nullptr, run, std::string("yo"));
  EXPECT_EQ(res, "yo");
  EXPECT_NE(thread_id, std::this_thread::get_id());
}

// Python cancels the future of a job that is running, shuts the default executor down,
// closes the loop, and checks that the job's completion never calls into the closed
// loop. aio differs in one point (DESIGN.md §5): the cancelled task waits for the
// running function to return before it ends cancelled. The rest holds: after the
// shutdown hooks and close(), nothing reaches the loop (ASan/TSan would see it).
TEST(EventLoopTestsMixin, test_run_in_executor_cancel) {
  std::atomic<bool> started = false;
  std::atomic<int> returned = 0;
  auto run = [&] {
    started = true;
    std::this_thread::sleep_for(50ms);  // time.sleep(0.05)
    ++returned;
  };
  aio::event_loop loop;
  auto f2 =
      loop.create_task([&]() -> aio::coro<void> { co_await aio::run_in_executor(nullptr, run); });
  loop.run_until_complete([&]() -> aio::coro<void> {
    while (!started.load()) co_await aio::sleep(1ms);
  });
  f2.cancel();
  EXPECT_THROW(loop.run_until_complete(f2), aio::cancelled_error);
  EXPECT_EQ(returned.load(), 1);                       // aio: the task waited for run() to return
  loop.run_until_complete(loop.run_shutdown_hooks());  // loop.shutdown_default_executor()
  EXPECT_EQ(aio::default_executor(loop).worker_count(), 0u);
  loop.close();
  EXPECT_EQ(returned.load(), 1);
}

// --- test_tasks.py: RunCoroutineThreadsafeTests ---------------------------------------

struct add_options {
  bool fail = false;
  bool cancel = false;
  aio::duration delay = std::chrono::milliseconds(50);
};
static_assert(std::is_trivially_destructible_v<add_options>);

/// Wait 0.05 second (by default) and return a + b.
aio::coro<int> add(int a, int b, add_options o = {}) {
  co_await aio::sleep(o.delay);
  if (o.fail) throw std::runtime_error("Fail!");
  if (o.cancel) {
    aio::current_task()->cancel();
    co_await aio::sleep(0s);
  }
  co_return a + b;
}

/// Runs add in the event loop, from a plain (executor) thread.
int target(aio::event_loop& loop, add_options o = {},
           std::optional<aio::duration> timeout = std::nullopt) {
  auto future = aio::run_coroutine_threadsafe(add(1, 2, o), loop);
  struct finally {
    aio::concurrent_future<int>& f;
    ~finally() {
      if (!f.done()) f.cancel();
    }
  } cleanup{future};
  if (timeout && !future.wait_for(*timeout)) throw aio::timeout_error();  // result(timeout)
  return future.get();
}

AIO_TEST(RunCoroutineThreadsafeTests, test_run_coroutine_threadsafe) {
  auto& loop = aio::get_running_loop();
  int result = co_await aio::run_in_executor(nullptr, [&loop] { return target(loop); });
  EXPECT_EQ(result, 3);
}

AIO_TEST(RunCoroutineThreadsafeTests, test_run_coroutine_threadsafe_with_exception) {
  auto& loop = aio::get_running_loop();
  try {
    co_await aio::run_in_executor(nullptr, [&loop] { return target(loop, {.fail = true}); });
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "Fail!");
  }
}

// add() sleeps for an hour here (Python: 0.05 s) so that the zero timeout always
// expires first, however slow the machine.
AIO_TEST(RunCoroutineThreadsafeTests, test_run_coroutine_threadsafe_with_timeout) {
  auto& loop = aio::get_running_loop();
  auto callback = [&loop] { return target(loop, {.delay = std::chrono::hours(1)}, 0s); };
  EXPECT_THROW(co_await aio::run_in_executor(nullptr, callback), aio::timeout_error);
  // Check that there's no pending task (add has been cancelled). aio's all_tasks lists
  // pending tasks only; the test body is one.
  for (int i = 0; i < 1000 && aio::all_tasks().size() > 1; ++i) co_await aio::sleep(1ms);
  EXPECT_EQ(aio::all_tasks().size(), 1u);
}

AIO_TEST(RunCoroutineThreadsafeTests, test_run_coroutine_threadsafe_task_cancelled) {
  auto& loop = aio::get_running_loop();
  auto callback = [&loop] { return target(loop, {.cancel = true}); };
  EXPECT_THROW(co_await aio::run_in_executor(nullptr, callback), aio::cancelled_error);
}

// CPython 3.13: the thread future and the task are both cancelled. (Python captures the
// task with a task factory; aio has none, and checks that no task is left pending.)
AIO_TEST(RunCoroutineThreadsafeTests, test_run_coroutine_threadsafe_and_cancel) {
  auto& loop = aio::get_running_loop();
  auto thread_future =
      aio::run_coroutine_threadsafe([]() -> aio::coro<void> { co_await aio::sleep(10s); }, loop);
  co_await aio::sleep(0s);
  EXPECT_TRUE(thread_future.cancel());
  for (int i = 0; i < 1000 && !thread_future.done(); ++i) co_await aio::sleep(1ms);
  EXPECT_TRUE(thread_future.cancelled());
  EXPECT_EQ(aio::all_tasks().size(), 1u);
}

}  // namespace
