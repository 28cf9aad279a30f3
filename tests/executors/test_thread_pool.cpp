// SPDX-License-Identifier: MIT
#include "aio/executors/thread_pool.hpp"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <semaphore>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::thread_pool_executor>);
static_assert(std::is_same_v<decltype(aio::to_thread([] { return 1; })), aio::coro<int>>);
static_assert(
    std::is_same_v<decltype(aio::to_thread([](std::stop_token, int) {}, 1)), aio::coro<void>>);
// A reference result comes back as a value (aio::coro<T&> does not exist).
static_assert(std::is_same_v<decltype(aio::to_thread([]() -> const std::string& {
                               static const std::string s;
                               return s;
                             })),
                             aio::coro<std::string>>);

namespace {

/// Threads of this process (/proc/self/task).
std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

/// A joined thread leaves /proc/self/task a moment after pthread_join returns (the
/// kernel clears the thread id before it unhashes the task): wait for the count to
/// drop to `expected`. Correctness, not speed: the bound is generous and never reached
/// in a pass. (The count may also end below `expected`: a worker detached by an
/// earlier test may exit meanwhile. Tests therefore check "no more than before".)
std::size_t settled_thread_count(std::size_t expected) {
  for (int i = 0; i < 10000 && thread_count() > expected; ++i) std::this_thread::sleep_for(1ms);
  return thread_count();
}

/// The thread count to compare with after a pool is gone. A sanitizer's runtime may
/// start a helper thread of its own when the process makes its first thread (TSan
/// does): make one first, so that it is counted here and not blamed on the pool.
/// (The dummy itself leaves /proc a moment after its join: give it half a second.)
std::size_t baseline_thread_count() {
  const std::size_t n0 = thread_count();
  std::thread([] {}).join();
  for (int i = 0; i < 500 && thread_count() > n0; ++i) std::this_thread::sleep_for(1ms);
  return thread_count();
}

/// Blocks the calling thread until `flag` is true (the loop thread may block in a test
/// while it waits for a worker to reach a known point).
void wait_for_flag(const std::atomic<bool>& flag) {
  while (!flag.load()) flag.wait(false);
}
void set_flag(std::atomic<bool>& flag) {
  flag.store(true);
  flag.notify_all();
}

/// Lets the loop run `n` iterations.
aio::coro<void> spin(int n) {
  for (int i = 0; i < n; ++i) co_await aio::sleep(0s);
}

// --- results and errors -------------------------------------------------------------------

AIO_TEST(thread_pool, to_thread_returns_the_result_computed_on_another_thread) {
  const auto loop_thread = std::this_thread::get_id();
  auto [sum, where] = co_await aio::to_thread(
      [](int a, int b) { return std::make_pair(a + b, std::this_thread::get_id()); }, 40, 2);
  EXPECT_EQ(sum, 42);
  EXPECT_NE(where, loop_thread);
}

AIO_TEST(thread_pool, exception_comes_back_to_the_awaiting_task) {
  auto fail = [] { throw std::runtime_error("boom"); };
  try {
    co_await aio::to_thread(fail);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
}

AIO_TEST(thread_pool, arguments_are_moved_in_and_std_ref_shares) {
  auto p = std::make_unique<int>(7);
  int shared = 0;
  int got = co_await aio::to_thread(
      [](std::unique_ptr<int> q, int& out) {
        out = *q * 2;
        return *q;
      },
      std::move(p), std::ref(shared));
  EXPECT_EQ(got, 7);
  EXPECT_EQ(shared, 14);
}

AIO_TEST(thread_pool, move_only_result_and_void_function) {
  std::unique_ptr<std::string> s =
      co_await aio::to_thread([] { return std::make_unique<std::string>("moved"); });
  EXPECT_EQ(*s, "moved");
  std::atomic<int> calls = 0;
  co_await aio::to_thread([&calls] { ++calls; });
  EXPECT_EQ(calls.load(), 1);
}

AIO_TEST(thread_pool, function_and_arguments_are_destroyed_on_the_worker_before_resuming) {
  struct tracker {
    std::thread::id* died_on;
    bool armed = true;
    explicit tracker(std::thread::id* d) : died_on(d) {}
    tracker(tracker&& o) noexcept : died_on(o.died_on) { o.armed = false; }
    ~tracker() {
      if (armed) *died_on = std::this_thread::get_id();
    }
  };
  std::thread::id died_on{};
  std::thread::id ran_on = co_await aio::to_thread(
      [](tracker) { return std::this_thread::get_id(); }, tracker(&died_on));
  EXPECT_EQ(died_on, ran_on);
}

AIO_TEST(thread_pool, run_in_executor_uses_the_given_pool_or_the_default_one) {
  aio::thread_pool_executor pool(2);
  int a = co_await aio::run_in_executor(
      pool, [](int x) { return x + 1; }, 1);
  EXPECT_EQ(a, 2);
  EXPECT_EQ(pool.worker_count(), 1u);
  int b = co_await aio::run_in_executor(nullptr, [] { return 3; });
  EXPECT_EQ(b, 3);
  EXPECT_TRUE(aio::get_running_loop().default_executor != nullptr);
  pool.shutdown();
}

AIO_TEST(thread_pool, the_job_is_submitted_when_the_coro_is_awaited) {
  aio::thread_pool_executor pool(1);
  std::atomic<bool> ran = false;
  auto c = aio::run_in_executor(pool, [&ran] { ran = true; });
  co_await spin(3);
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(pool.worker_count(), 0u);
  co_await std::move(c);
  EXPECT_TRUE(ran.load());
  pool.shutdown();
}

// --- cancellation ---------------------------------------------------------------------------

// The awaiting task is cancelled while fn runs: fn is asked to stop through its
// stop_token, and the task does not end before fn has returned.
AIO_TEST(thread_pool, stop_token_is_asked_to_stop_and_the_task_waits_for_fn) {
  std::atomic<bool> started = false, saw_stop = false, returned = false;
  std::binary_semaphore release(0);
  auto fn = [&](std::stop_token st) {
    set_flag(started);
    while (!st.stop_requested()) std::this_thread::yield();
    set_flag(saw_stop);
    release.acquire();  // the test checks the task is still waiting meanwhile
    returned = true;
    return 5;
  };
  auto t = aio::create_task([&]() -> aio::coro<int> { co_return co_await aio::to_thread(fn); });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  t.cancel("stop it");
  wait_for_flag(saw_stop);
  co_await spin(5);
  EXPECT_FALSE(t.done());  // fn has not returned: the task keeps waiting
  release.release();
  try {
    co_await t;
    ADD_FAILURE() << "not cancelled";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "stop it");
  }
  EXPECT_TRUE(returned.load());
  EXPECT_TRUE(t.cancelled());
}

AIO_TEST(thread_pool, fn_without_stop_token_runs_to_its_end_after_cancel) {
  std::atomic<bool> started = false, returned = false;
  std::binary_semaphore release(0);
  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::to_thread([&] {
      set_flag(started);
      release.acquire();
      returned = true;
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  t.cancel();
  co_await spin(3);
  EXPECT_FALSE(t.done());
  release.release();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_TRUE(returned.load());
}

AIO_TEST(thread_pool, exception_of_a_cancelled_job_is_replaced_by_cancelled_error) {
  std::atomic<bool> started = false;
  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::to_thread([&](std::stop_token st) {
      set_flag(started);
      while (!st.stop_requested()) std::this_thread::yield();
      throw std::runtime_error("interrupted");
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
}

// A pool of one worker is busy; a second job waits in the queue. Cancelling the task
// that awaits the queued job drops it: the task ends at once, fn never runs, and its
// arguments are destroyed on the loop's thread.
AIO_TEST(thread_pool, queued_job_is_dropped_on_cancel) {
  aio::thread_pool_executor pool(1);
  std::atomic<bool> first_started = false, second_ran = false;
  std::binary_semaphore release(0);
  auto first = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::run_in_executor(pool, [&] {
      set_flag(first_started);
      release.acquire();
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(first_started);

  auto arg = std::make_shared<int>(1);
  std::weak_ptr<int> arg_alive = arg;
  auto second = aio::create_task([&, a = std::move(arg)]() -> aio::coro<void> {
    co_await aio::run_in_executor(
        pool, [&second_ran](std::shared_ptr<int>) { second_ran = true; }, a);
  });
  co_await aio::sleep(0s);  // `second` is queued behind `first`
  second.cancel();
  EXPECT_THROW(co_await second, aio::cancelled_error);  // without waiting for `first`
  EXPECT_FALSE(first.done());
  EXPECT_TRUE(arg_alive.expired());  // the dropped job's copy was destroyed, unrun
  release.release();
  co_await first;
  pool.shutdown();
  EXPECT_FALSE(second_ran.load());
}

AIO_TEST(thread_pool, task_cancelled_before_it_starts_submits_nothing) {
  aio::thread_pool_executor pool(1);
  std::atomic<bool> ran = false;
  auto t = aio::create_task(
      [&]() -> aio::coro<void> { co_await aio::run_in_executor(pool, [&] { ran = true; }); });
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_EQ(pool.worker_count(), 0u);
  pool.shutdown();
  EXPECT_FALSE(ran.load());
}

AIO_TEST(thread_pool, timeout_asks_the_job_to_stop_and_then_raises_timeout_error) {
  std::atomic<bool> stopped = false;
  auto body = [&](std::stop_token st) {
    while (!st.stop_requested()) std::this_thread::sleep_for(100us);
    stopped = true;
  };
  EXPECT_THROW(co_await aio::wait_for(aio::to_thread(body), 20ms), aio::timeout_error);
  EXPECT_TRUE(stopped.load());
}

TEST(thread_pool, brute_force_cancellation_of_to_thread_chains) {
  const aio::testing::cancel_stats stats = aio::testing::cancel_at_every_step(
      []() -> aio::coro<void> {
        int a = co_await aio::to_thread([] { return 1; });
        int b = co_await aio::to_thread([](std::stop_token, int x) { return x + 1; }, a);
        auto both = co_await aio::gather(aio::to_thread([b] { return b; }),
                                         aio::to_thread([] { return 10; }));
        EXPECT_EQ(std::get<0>(both) + std::get<1>(both), 12);
      },
      {});
  EXPECT_GT(stats.steps, 3u);
  EXPECT_EQ(stats.completed + stats.cancelled, stats.steps);
}

// --- shutdown -------------------------------------------------------------------------------

AIO_TEST(thread_pool, submitting_after_shutdown_throws_runtime_error) {
  aio::thread_pool_executor pool(2);
  pool.shutdown();
  EXPECT_THROW(co_await aio::run_in_executor(pool, [] {}), std::runtime_error);
  pool.shutdown();  // idempotent
}

AIO_TEST(thread_pool, shutdown_wait_runs_the_queued_jobs_first) {
  aio::thread_pool_executor pool(1);
  std::atomic<int> done = 0;
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 3; ++i)
    ts.push_back(aio::create_task([&]() -> aio::coro<void> {
      co_await aio::run_in_executor(pool, [&] {
        std::this_thread::sleep_for(1ms);
        ++done;
      });
    }));
  co_await aio::sleep(0s);  // all three submitted
  pool.shutdown(true);      // blocks this (loop) thread until the queue is drained
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(pool.worker_count(), 0u);
  co_await aio::gather(std::move(ts));  // the results are delivered all the same
}

AIO_TEST(thread_pool, shutdown_without_wait_returns_at_once_and_jobs_still_complete) {
  aio::thread_pool_executor pool(1);
  std::atomic<bool> started = false;
  std::binary_semaphore release(0);
  auto t = aio::create_task([&]() -> aio::coro<int> {
    co_return co_await aio::run_in_executor(pool, [&] {
      set_flag(started);
      release.acquire();
      return 9;
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  pool.shutdown(false);
  EXPECT_THROW(co_await aio::run_in_executor(pool, [] {}), std::runtime_error);
  release.release();
  EXPECT_EQ(co_await t, 9);
  pool.shutdown(true);
}

AIO_TEST(thread_pool, shutdown_async_waits_without_blocking_the_loop) {
  aio::thread_pool_executor pool(2);
  std::atomic<bool> started = false;
  std::binary_semaphore release(0);
  auto job = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::run_in_executor(pool, [&] {
      set_flag(started);
      release.acquire();
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  // The job is released by another task, which can only run if shutdown_async does not
  // block the loop.
  auto releaser = aio::create_task([&]() -> aio::coro<void> {
    co_await spin(3);
    release.release();
  });
  co_await pool.shutdown_async();
  EXPECT_EQ(pool.worker_count(), 0u);
  co_await releaser;
  co_await job;
  co_await pool.shutdown_async();  // again: nothing to wait for
}

AIO_TEST(thread_pool, cancelled_shutdown_async_stops_waiting) {
  aio::thread_pool_executor pool(1);
  std::atomic<bool> started = false;
  std::binary_semaphore release(0);
  auto job = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::run_in_executor(pool, [&] {
      set_flag(started);
      release.acquire();
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  auto waiter = aio::create_task([&]() -> aio::coro<void> { co_await pool.shutdown_async(); });
  co_await spin(2);
  waiter.cancel();
  EXPECT_THROW(co_await waiter, aio::cancelled_error);
  EXPECT_THROW(co_await aio::run_in_executor(pool, [] {}), std::runtime_error);  // still shut
  release.release();
  co_await job;
  co_await pool.shutdown_async();
}

AIO_TEST(thread_pool, shutdown_from_one_of_its_own_jobs_does_not_deadlock) {
  aio::thread_pool_executor pool(2);
  co_await aio::run_in_executor(pool, [&pool] { pool.shutdown(true); });
  EXPECT_THROW(co_await aio::run_in_executor(pool, [] {}), std::runtime_error);
}

TEST(thread_pool, workers_start_on_demand_up_to_max_workers) {
  aio::thread_pool_executor pool(3);
  EXPECT_EQ(pool.max_workers(), 3u);
  EXPECT_EQ(pool.worker_count(), 0u);
  aio::run([&]() -> aio::coro<void> {
    std::atomic<int> running = 0;
    std::atomic<bool> go = false;
    std::vector<aio::coro<void>> jobs;
    for (int i = 0; i < 6; ++i)
      jobs.push_back(aio::run_in_executor(pool, [&] {
        ++running;
        wait_for_flag(go);
      }));
    auto all = aio::create_task(aio::gather(std::move(jobs)));
    while (running.load() < 3) co_await aio::sleep(1ms);
    EXPECT_EQ(pool.worker_count(), 3u);  // never more than max_workers
    set_flag(go);
    co_await all;
  });
  EXPECT_THROW(aio::thread_pool_executor(0), std::invalid_argument);
}

TEST(thread_pool, destructor_joins_idle_workers) {
  const std::size_t before = baseline_thread_count();
  {
    aio::thread_pool_executor pool(4);
    aio::run([&]() -> aio::coro<void> {
      std::vector<aio::coro<int>> cs;
      for (int i = 0; i < 8; ++i) cs.push_back(aio::run_in_executor(pool, [i] { return i; }));
      auto v = co_await aio::gather(std::move(cs));
      EXPECT_EQ(std::accumulate(v.begin(), v.end(), 0), 28);
    });
    EXPECT_GE(thread_count(), before + 1);
  }
  EXPECT_LE(settled_thread_count(before), before);
}

// The pool is destroyed while one of its jobs runs: the destructor returns at once (no
// blocking destructors), and the job's result still reaches the awaiting task.
AIO_TEST(thread_pool, destructor_does_not_block_on_a_running_job) {
  auto pool = std::make_unique<aio::thread_pool_executor>(1);
  std::atomic<bool> started = false;
  std::binary_semaphore release(0);
  auto t = aio::create_task([&]() -> aio::coro<int> {
    co_return co_await aio::run_in_executor(*pool, [&] {
      set_flag(started);
      release.acquire();
      return 11;
    });
  });
  co_await aio::sleep(0s);
  wait_for_flag(started);
  pool.reset();  // returns although the job is blocked
  release.release();
  EXPECT_EQ(co_await t, 11);
}

// --- the default executor -------------------------------------------------------------------

AIO_TEST(thread_pool, default_executor_is_created_once_with_pythons_size) {
  auto& loop = aio::get_running_loop();
  EXPECT_FALSE(loop.default_executor);
  co_await aio::to_thread([] {});
  const std::shared_ptr<void> first = loop.default_executor;
  CO_ASSERT_TRUE(first);
  co_await aio::to_thread([] {});
  co_await aio::run_in_executor(nullptr, [] {});
  EXPECT_EQ(loop.default_executor, first);
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(aio::default_executor(loop).max_workers(), std::min<std::size_t>(32, cores + 4));
  EXPECT_EQ(&aio::default_executor(loop), first.get());
}

TEST(thread_pool, aio_run_shuts_the_default_executor_down) {
  const std::size_t before = baseline_thread_count();
  std::size_t during = 0;
  std::shared_ptr<void> executor;
  const int sum = aio::run([&]() -> aio::coro<int> {
    std::vector<aio::coro<int>> cs;
    for (int i = 0; i < 20; ++i)
      cs.push_back(aio::to_thread([i] {
        std::this_thread::sleep_for(1ms);
        return i;
      }));
    auto v = co_await aio::gather(std::move(cs));
    during = thread_count();
    executor = aio::get_running_loop().default_executor;
    co_return std::accumulate(v.begin(), v.end(), 0);
  });
  EXPECT_EQ(sum, 190);
  EXPECT_GT(during, before);
  // aio::run ran the shutdown hook: the executor is shut down and its threads joined,
  // even though `executor` still holds it.
  auto* pool = static_cast<aio::thread_pool_executor*>(executor.get());
  EXPECT_EQ(pool->worker_count(), 0u);
  EXPECT_LE(settled_thread_count(before), before);
}

TEST(thread_pool, set_default_executor_replaces_it_and_aio_run_shuts_it_down) {
  auto mine = std::make_shared<aio::thread_pool_executor>(2);
  aio::run([&]() -> aio::coro<void> {
    auto& loop = aio::get_running_loop();
    aio::set_default_executor(loop, mine);
    EXPECT_EQ(&aio::default_executor(loop), mine.get());
    co_await aio::to_thread([] {});
    co_await aio::run_in_executor(nullptr, [] {});
    EXPECT_EQ(mine->worker_count(), 1u);
    EXPECT_THROW(aio::set_default_executor(loop, nullptr), std::invalid_argument);
  });
  EXPECT_EQ(mine->worker_count(), 0u);  // shut down by aio::run's hook
  EXPECT_THROW(aio::run([&]() -> aio::coro<void> { co_await aio::run_in_executor(*mine, [] {}); }),
               std::runtime_error);
}

TEST(thread_pool, aio_run_waits_for_a_job_still_running_at_the_end) {
  // main() leaves a to_thread job running in a task; aio::run cancels that task, which
  // waits for the job, then shuts the executor down.
  std::atomic<bool> started = false, returned = false;
  const std::size_t before = baseline_thread_count();
  aio::run([&]() -> aio::coro<void> {
    aio::create_task([&]() -> aio::coro<void> {
      co_await aio::to_thread([&](std::stop_token st) {
        set_flag(started);
        while (!st.stop_requested()) std::this_thread::sleep_for(100us);
        returned = true;
      });
    });
    while (!started.load()) co_await aio::sleep(100us);
  });
  EXPECT_TRUE(returned.load());
  EXPECT_LE(settled_thread_count(before), before);
}

// A loop closed while a task awaits a running job destroys the task's frame; the job
// then finishes without touching the (gone) loop.
TEST(thread_pool, loop_closed_with_a_job_running_does_not_touch_the_loop_afterwards) {
  std::atomic<bool> started = false, returned = false;
  std::binary_semaphore release(0);
  {
    aio::event_loop loop;
    std::vector<std::string> reports;
    loop.set_exception_handler(
        [&](aio::event_loop&, const aio::exception_context& c) { reports.push_back(c.message); });
    auto t = loop.create_task([&]() -> aio::coro<void> {
      co_await aio::to_thread([&] {
        set_flag(started);
        release.acquire();
        set_flag(returned);
      });
    });
    loop.run_until_complete([&]() -> aio::coro<void> {
      while (!started.load()) co_await aio::sleep(100us);
    });
    loop.close();  // destroys the pending task's frame
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(reports.size(), 1u);
  }  // the loop (and its default executor) are gone; the worker is detached
  release.release();
  wait_for_flag(returned);
}

// --- many concurrent calls --------------------------------------------------------------------

AIO_TEST(thread_pool, many_concurrent_to_thread_calls) {
  std::atomic<int> calls = 0;
  std::vector<aio::coro<long>> cs;
  for (long i = 0; i < 2000; ++i)
    cs.push_back(aio::to_thread(
        [&calls](long x) {
          ++calls;
          return x * x;
        },
        i));
  std::vector<long> v = co_await aio::gather(std::move(cs));
  EXPECT_EQ(calls.load(), 2000);
  long expected = 0;
  for (long i = 0; i < 2000; ++i) expected += i * i;
  EXPECT_EQ(std::accumulate(v.begin(), v.end(), 0L), expected);
}

AIO_TEST(thread_pool, many_tasks_share_a_small_pool) {
  aio::thread_pool_executor pool(4);
  std::vector<aio::task<int>> ts;
  for (int i = 0; i < 300; ++i)
    ts.push_back(aio::create_task([&pool, i]() -> aio::coro<int> {
      int a = co_await aio::run_in_executor(pool, [i] { return i; });
      int b = co_await aio::run_in_executor(pool, [a] { return a + 1; });
      co_return b;
    }));
  int sum = 0;
  for (auto& t : ts) sum += co_await t;
  EXPECT_EQ(sum, 300 * 299 / 2 + 300);
  co_await pool.shutdown_async();
}

TEST(thread_pool, two_loops_in_two_threads_share_one_pool) {
  aio::thread_pool_executor pool(3);
  auto body = [&pool](int base) {
    return aio::run([&pool, base]() -> aio::coro<int> {
      int sum = 0;
      for (int i = 0; i < 100; ++i) sum += co_await aio::run_in_executor(pool, [i] { return i; });
      co_return sum + base;
    });
  };
  int r1 = 0, r2 = 0;
  std::thread t1([&] { r1 = body(1); });
  std::thread t2([&] { r2 = body(2); });
  t1.join();
  t2.join();
  EXPECT_EQ(r1, 4951);
  EXPECT_EQ(r2, 4952);
  pool.shutdown();
}

}  // namespace
