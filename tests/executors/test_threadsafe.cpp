// SPDX-License-Identifier: MIT
#include "aio/executors/threadsafe.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/executors.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(std::is_copy_constructible_v<aio::concurrent_future<int>>);
static_assert(std::is_same_v<decltype(aio::run_coroutine_threadsafe(
                                 std::declval<aio::coro<int>>(), std::declval<aio::event_loop&>())),
                             aio::concurrent_future<int>>);

namespace {

/// An event loop running in its own thread until the object is destroyed (then the
/// loop stops, runs its shutdown hooks and closes, in its thread).
class loop_thread {
 public:
  loop_thread() {
    thread_ = std::thread([this] {
      aio::event_loop loop;
      {
        std::lock_guard lk(m_);
        loop_ = &loop;
        id_ = std::this_thread::get_id();
      }
      cv_.notify_all();
      loop.run_forever();
      loop.run_until_complete(loop.run_shutdown_hooks());
      leftover_ = aio::all_tasks(loop).size();
      loop.close();
    });
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return loop_ != nullptr; });
  }
  ~loop_thread() {
    loop_->call_soon_threadsafe([l = loop_] { l->stop(); });
    thread_.join();
    EXPECT_EQ(leftover_, 0u) << "tasks left pending on the loop thread";
  }
  aio::event_loop& loop() { return *loop_; }
  std::thread::id id() const { return id_; }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  aio::event_loop* loop_ = nullptr;
  std::thread::id id_;
  std::size_t leftover_ = 0;
  std::thread thread_;
};

aio::coro<int> add(int a, int b) {
  co_await aio::sleep(1ms);
  co_return a + b;
}

aio::coro<int> fail() {
  co_await aio::sleep(0s);
  throw std::runtime_error("Fail!");
}

/// Polls `flag` on the loop (it is set by another thread).
aio::coro<int> wait_flag(const std::atomic<bool>& flag) {
  while (!flag.load()) co_await aio::sleep(100us);
  co_return 1;
}

TEST(threadsafe, plain_thread_gets_the_result) {
  loop_thread lt;
  aio::concurrent_future<int> f = aio::run_coroutine_threadsafe(add(1, 2), lt.loop());
  EXPECT_EQ(f.get(), 3);
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.get(), 3);  // get() of an lvalue copies: it may be called again
}

TEST(threadsafe, callable_runs_on_the_loop_thread_and_keeps_its_captures) {
  loop_thread lt;
  std::string text(50, 'x');
  auto f = aio::run_coroutine_threadsafe(
      [text]() -> aio::coro<std::pair<std::size_t, std::thread::id>> {
        co_await aio::sleep(1ms);
        co_return std::make_pair(text.size(), std::this_thread::get_id());
      },
      lt.loop());
  text.clear();
  auto [n, where] = f.get();
  EXPECT_EQ(n, 50u);
  EXPECT_EQ(where, lt.id());
}

TEST(threadsafe, exception_is_rethrown_by_get) {
  loop_thread lt;
  auto f = aio::run_coroutine_threadsafe(fail(), lt.loop());
  try {
    f.get();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "Fail!");
  }
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
}

TEST(threadsafe, wait_for_reports_whether_it_is_done) {
  loop_thread lt;
  std::atomic<bool> flag = false;
  auto f = aio::run_coroutine_threadsafe(wait_flag(flag), lt.loop());
  EXPECT_FALSE(f.wait_for(0s));
  EXPECT_FALSE(f.done());
  flag = true;
  f.wait();
  EXPECT_TRUE(f.wait_for(0s));
  EXPECT_EQ(f.get(), 1);
}

TEST(threadsafe, cancel_from_the_thread) {
  loop_thread lt;
  auto f = aio::run_coroutine_threadsafe(
      []() -> aio::coro<void> { co_await aio::sleep(std::chrono::hours(1)); }, lt.loop());
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW(f.get(), aio::cancelled_error);
  EXPECT_TRUE(f.cancelled());
  EXPECT_FALSE(f.cancel());  // already done
}

// cancel() does not make the future done at once (unlike Python's): get() returns once
// the coroutine has finished its clean-up.
TEST(threadsafe, get_after_cancel_waits_for_the_coroutines_clean_up) {
  loop_thread lt;
  std::atomic<bool> started = false, cleaned_up = false;
  auto f = aio::run_coroutine_threadsafe(
      [&]() -> aio::coro<void> {
        std::exception_ptr cancelled;
        try {
          started = true;
          co_await aio::sleep(std::chrono::hours(1));
        } catch (const aio::cancelled_error&) {
          cancelled = std::current_exception();
        }
        co_await aio::sleep(5ms);  // asynchronous clean-up
        cleaned_up = true;
        std::rethrow_exception(cancelled);
      },
      lt.loop());
  while (!started.load()) std::this_thread::yield();
  f.cancel();
  EXPECT_THROW(f.get(), aio::cancelled_error);
  EXPECT_TRUE(cleaned_up.load());
}

TEST(threadsafe, coroutine_that_swallows_the_cancel_returns_its_value) {
  loop_thread lt;
  std::atomic<bool> started = false;
  auto f = aio::run_coroutine_threadsafe(
      [&]() -> aio::coro<int> {
        try {
          started = true;
          co_await aio::sleep(std::chrono::hours(1));
        } catch (const aio::cancelled_error&) {
          co_return 7;
        }
        co_return 0;
      },
      lt.loop());
  while (!started.load()) std::this_thread::yield();
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(f.get(), 7);
  EXPECT_FALSE(f.cancelled());
}

TEST(threadsafe, move_only_result_is_moved_out_once) {
  loop_thread lt;
  auto f = aio::run_coroutine_threadsafe(
      []() -> aio::coro<std::unique_ptr<int>> { co_return std::make_unique<int>(5); }, lt.loop());
  auto copy = f;  // a second handle to the same state
  std::unique_ptr<int> p = std::move(f).get();
  EXPECT_EQ(*p, 5);
  EXPECT_THROW(std::move(copy).get(), aio::invalid_state_error);
}

TEST(threadsafe, many_threads_submit_to_one_loop) {
  loop_thread lt;
  std::atomic<int> total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::vector<aio::concurrent_future<int>> fs;
      for (int i = 0; i < 50; ++i)
        fs.push_back(aio::run_coroutine_threadsafe(add(t, i), lt.loop()));
      for (auto& f : fs) total += f.get();
    });
  for (auto& th : threads) th.join();
  int expected = 0;
  for (int t = 0; t < 8; ++t)
    for (int i = 0; i < 50; ++i) expected += t + i;
  EXPECT_EQ(total.load(), expected);
}

TEST(threadsafe, two_loops_in_two_threads_call_each_other) {
  loop_thread a, b;
  // A coroutine on loop `a` asks loop `b` for a value; it waits on a worker thread of
  // a's default executor, so that a's loop is never blocked.
  auto f = aio::run_coroutine_threadsafe(
      [&b]() -> aio::coro<int> {
        auto g = aio::run_coroutine_threadsafe(add(20, 22), b.loop());
        // (g++ 12: a lambda with a non-trivial by-value capture is built in its own
        // statement, not inside the co_await expression: docs/hazards.md.)
        auto wait_for_b = [g] { return g.get(); };
        co_return co_await aio::to_thread(std::move(wait_for_b));
      },
      a.loop());
  EXPECT_EQ(f.get(), 42);
}

AIO_TEST(threadsafe, get_on_the_loops_own_thread_would_deadlock_and_throws) {
  auto& loop = aio::get_running_loop();
  auto f = aio::run_coroutine_threadsafe(add(2, 3), loop);  // from the loop's own thread
  EXPECT_THROW(f.get(), std::logic_error);
  EXPECT_THROW((void)f.wait_for(10s), std::logic_error);  // would block the loop 10 s in vain
  while (!f.done()) co_await aio::sleep(1ms);
  EXPECT_TRUE(f.wait_for(10s));
  EXPECT_EQ(f.get(), 5);  // done: no wait needed
}

TEST(threadsafe, closed_loop_refuses_and_a_closing_loop_cancels) {
  {
    aio::event_loop loop;
    loop.close();
    EXPECT_THROW((void)aio::run_coroutine_threadsafe(add(1, 1), loop), std::runtime_error);
  }
  {
    // Posted, but the loop is closed before it runs: the future does not hang.
    aio::event_loop loop;
    auto f = aio::run_coroutine_threadsafe(add(1, 1), loop);
    loop.close();
    EXPECT_TRUE(f.done());
    EXPECT_THROW(f.get(), aio::cancelled_error);
  }
  {
    // Running when the loop is closed.
    aio::event_loop loop;
    std::vector<std::string> reports;
    loop.set_exception_handler(
        [&](aio::event_loop&, const aio::exception_context& c) { reports.push_back(c.message); });
    auto f = aio::run_coroutine_threadsafe(
        []() -> aio::coro<void> { co_await aio::sleep(std::chrono::hours(1)); }, loop);
    loop.run_until_complete([]() -> aio::coro<void> { co_await aio::sleep(1ms); });
    loop.close();
    EXPECT_THROW(f.get(), aio::cancelled_error);
    EXPECT_EQ(reports.size(), 1u);  // "Task was destroyed but it is pending!"
  }
}

}  // namespace
