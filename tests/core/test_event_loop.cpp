// SPDX-License-Identifier: MIT
#include "aio/core/event_loop.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::event_loop>);
static_assert(std::is_copy_constructible_v<aio::handle>);

namespace {

// Collects what the runtime logs, for the duration of a test.
struct log_capture {
  std::vector<std::string> lines;
  aio::log_handler previous;
  log_capture() {
    previous =
        aio::set_log_handler([this](aio::log_level, std::string_view m) { lines.emplace_back(m); });
  }
  ~log_capture() { aio::set_log_handler(std::move(previous)); }
  bool contains(std::string_view s) const {
    for (const auto& l : lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};

TEST(event_loop, call_soon_runs_in_fifo_order_with_arguments) {
  aio::event_loop loop;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) loop.call_soon([&order](int v) { order.push_back(v); }, i);
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(event_loop, callbacks_scheduled_while_running_wait_for_the_next_iteration) {
  aio::event_loop loop;
  std::vector<std::string> order;
  loop.call_soon([&] {
    order.push_back("a");
    loop.call_soon([&] { order.push_back("c"); });
  });
  loop.call_soon([&] {
    order.push_back("b");
    loop.stop();
  });
  loop.run_forever();  // stop() ends the iteration that is running: "c" is not run yet
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(event_loop, stop_before_run_forever_runs_one_iteration) {
  aio::event_loop loop;
  int n = 0;
  loop.call_soon([&] { ++n; });
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(n, 1);
}

TEST(event_loop, timers_fire_in_deadline_order_on_virtual_time) {
  aio::event_loop loop({.virtual_clock = true});
  std::vector<int> order;
  const auto t0 = loop.time();
  loop.call_later(30ms, [&] { order.push_back(30); });
  loop.call_later(10ms, [&] { order.push_back(10); });
  loop.call_at(t0 + 20ms, [&] { order.push_back(20); });
  loop.call_later(10ms, [&] { order.push_back(11); });  // same deadline: FIFO
  loop.call_later(40ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(order, (std::vector<int>{10, 11, 20, 30}));
  EXPECT_EQ(loop.time() - t0, 40ms);
}

TEST(event_loop, cancelled_timer_does_not_fire_and_leaves_nothing) {
  aio::event_loop loop({.virtual_clock = true});
  bool fired = false;
  aio::timer_handle h = loop.call_later(10ms, [&] { fired = true; });
  EXPECT_EQ(loop.armed_timers(), 1u);
  EXPECT_EQ(h.when(), loop.time() + 10ms);
  h.cancel();
  EXPECT_TRUE(h.cancelled());
  EXPECT_EQ(loop.armed_timers(), 0u);
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_FALSE(fired);
}

TEST(event_loop, cancel_releases_the_callback_captures_at_once) {
  aio::event_loop loop;
  auto token = std::make_shared<int>(1);
  aio::handle h = loop.call_soon([token] {});
  EXPECT_EQ(token.use_count(), 2);
  h.cancel();
  EXPECT_EQ(token.use_count(), 1);
}

TEST(event_loop, a_million_timers_scheduled_then_cancelled_leave_nothing) {
  aio::event_loop loop;
  std::vector<aio::timer_handle> hs;
  hs.reserve(1'000'000);
  for (int i = 0; i < 1'000'000; ++i)
    hs.push_back(loop.call_later(std::chrono::seconds(1 + i % 1000), [] {}));
  EXPECT_EQ(loop.armed_timers(), 1'000'000u);
  for (auto& h : hs) h.cancel();
  EXPECT_EQ(loop.armed_timers(), 0u);
  hs.clear();
  EXPECT_EQ(aio::detail::tls_live_callbacks, 0u);
}

TEST(event_loop, exception_in_callback_goes_to_the_handler_and_the_loop_goes_on) {
  aio::event_loop loop;
  std::vector<std::string> seen;
  loop.set_exception_handler([&](aio::event_loop&, const aio::exception_context& ctx) {
    seen.push_back(ctx.message + " / " + aio::describe(ctx.exception));
  });
  bool after = false;
  loop.call_soon([] { throw std::runtime_error("bad"); });
  loop.call_soon([&] {
    after = true;
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(after);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NE(seen[0].find("Exception in callback"), std::string::npos);
  EXPECT_NE(seen[0].find("std::runtime_error: bad"), std::string::npos);
}

TEST(event_loop, default_handler_logs_and_a_throwing_handler_is_contained) {
  log_capture logs;
  aio::event_loop loop;
  loop.call_soon([] { throw std::runtime_error("first"); });
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_TRUE(logs.contains("std::runtime_error: first"));

  loop.set_exception_handler(
      [](aio::event_loop&, const aio::exception_context&) { throw std::logic_error("handler"); });
  loop.call_soon([] { throw std::runtime_error("second"); });
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_TRUE(logs.contains("Unhandled error in exception handler"));
  EXPECT_TRUE(logs.contains("std::runtime_error: second"));
}

TEST(event_loop, closed_loop_refuses_work) {
  aio::event_loop loop;
  loop.close();
  EXPECT_TRUE(loop.is_closed());
  EXPECT_THROW(loop.call_soon([] {}), std::runtime_error);
  EXPECT_THROW(loop.run_forever(), std::runtime_error);
  EXPECT_THROW(loop.call_soon_threadsafe([] {}), std::runtime_error);
  loop.close();  // idempotent
}

TEST(event_loop, get_running_loop_outside_a_loop_throws) {
  EXPECT_THROW(aio::get_running_loop(), std::runtime_error);
  EXPECT_THROW((void)aio::create_task([]() -> aio::coro<void> { co_return; }), std::runtime_error);
}

TEST(event_loop, run_until_complete_returns_and_rethrows) {
  aio::event_loop loop;
  EXPECT_EQ(loop.run_until_complete([]() -> aio::coro<int> { co_return 4; }), 4);
  EXPECT_THROW(loop.run_until_complete([]() -> aio::coro<void> {
    co_await aio::sleep(0s);
    throw std::out_of_range("x");
  }),
               std::out_of_range);
  aio::future<int> f = loop.create_future<int>();
  loop.call_soon([f]() mutable { f.set_result(9); });
  EXPECT_EQ(loop.run_until_complete(f), 9);
}

TEST(event_loop, nested_run_is_refused) {
  aio::event_loop loop;
  std::string error;
  loop.call_soon([&] {
    try {
      loop.run_forever();
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(error, "this event loop is already running");
  EXPECT_THROW(aio::run([]() -> aio::coro<void> {
                 aio::run([]() -> aio::coro<void> { co_return; });
                 co_return;
               }),
               std::runtime_error);
}

TEST(event_loop, virtual_clock_skips_idle_time) {
  aio::event_loop loop({.virtual_clock = true});
  const auto wall0 = std::chrono::steady_clock::now();
  const auto t0 = loop.time();
  loop.run_until_complete([]() -> aio::coro<void> { co_await aio::sleep(1h); });
  EXPECT_EQ(loop.time() - t0, 1h);
  EXPECT_LT(std::chrono::steady_clock::now() - wall0, 1h);  // not a timing claim: a sanity bound
  loop.advance_time(5s);
  EXPECT_EQ(loop.time() - t0, 1h + 5s);
  aio::event_loop real;
  EXPECT_THROW(real.advance_time(1s), std::logic_error);
}

TEST(event_loop, reader_and_writer_callbacks_follow_readiness) {
  aio::event_loop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string got;
  loop.add_reader(fds[0], [&] {
    char buf[16];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    got.append(buf, static_cast<std::size_t>(n));
    if (got == "hello") loop.stop();
  });
  int writes = 0;
  loop.add_writer(fds[1], [&] {
    ++writes;
    ASSERT_EQ(::write(fds[1], "hello", 5), 5);
    loop.remove_writer(fds[1]);  // removing itself from inside its callback is fine
  });
  loop.run_forever();
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(writes, 1);
  EXPECT_TRUE(loop.remove_reader(fds[0]));
  EXPECT_FALSE(loop.remove_reader(fds[0]));
  EXPECT_FALSE(loop.remove_writer(fds[1]));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(event_loop, add_reader_replaces_the_previous_reader) {
  aio::event_loop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int first = 0, second = 0;
  loop.add_reader(fds[0], [&] { ++first; });
  loop.add_reader(fds[0], [&] {
    ++second;
    char c;
    (void)::read(fds[0], &c, 1);
    loop.stop();
  });
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run_forever();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  loop.remove_reader(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(event_loop, add_reader_on_a_regular_file_is_an_error) {
  aio::event_loop loop;
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_THROW(loop.add_reader(fileno(f), [] {}), std::system_error);
  EXPECT_FALSE(loop.remove_reader(fileno(f)));
  std::fclose(f);
  EXPECT_THROW(loop.add_reader(-1, [] {}), std::invalid_argument);
}

TEST(event_loop, signal_handler_runs_on_the_loop) {
  aio::event_loop loop;
  int hits = 0;
  loop.add_signal_handler(SIGUSR1, [&] {
    if (++hits == 2) loop.stop();
  });
  loop.call_soon([] { ::raise(SIGUSR1); });
  loop.call_later(1ms, [] { ::raise(SIGUSR1); });
  loop.run_forever();
  EXPECT_EQ(hits, 2);
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_THROW(loop.add_signal_handler(SIGKILL, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(0, [] {}), std::invalid_argument);
  aio::event_loop other;
  loop.add_signal_handler(SIGUSR2, [] {});
  EXPECT_THROW(other.add_signal_handler(SIGUSR2, [] {}), std::runtime_error);
}

TEST(event_loop, close_destroys_pending_tasks_and_reports_them) {
  std::vector<std::string> reports;
  bool cleaned_up = false;
  {
    aio::event_loop loop;
    loop.set_exception_handler([&](aio::event_loop&, const aio::exception_context& ctx) {
      reports.push_back(ctx.message + (ctx.task ? " " + ctx.task->get_name() : ""));
    });
    auto t = loop.create_task(
        [&]() -> aio::coro<void> {
          struct guard {
            bool& flag;
            ~guard() { flag = true; }
          } g{cleaned_up};
          co_await aio::sleep(1h);
        },
        {.name = "sleeper"});
    loop.call_later(1ms, [&] { loop.stop(); });
    loop.run_forever();
    loop.close();
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(loop.live_tasks(), 0u);
    EXPECT_EQ(loop.armed_timers(), 0u);
  }
  EXPECT_TRUE(cleaned_up);  // the frame was destroyed: its locals' destructors ran
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], "Task was destroyed but it is pending! sleeper");
}

TEST(event_loop, unretrieved_task_exception_is_reported) {
  std::vector<std::string> reports;
  aio::event_loop loop;
  loop.set_exception_handler([&](aio::event_loop&, const aio::exception_context& ctx) {
    reports.push_back(ctx.message + ": " + aio::describe(ctx.exception));
  });
  loop.create_task(
      []() -> aio::coro<void> {
        co_await aio::sleep(0s);
        throw std::runtime_error("lost");
      },
      {.name = "dropped"});
  loop.run_until_complete([]() -> aio::coro<void> { co_await aio::sleep(1ms); });
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0],
            "Task exception was never retrieved (task 'dropped'): std::runtime_error: lost");
}

TEST(event_loop, retrieved_exception_is_not_reported) {
  std::vector<std::string> reports;
  aio::event_loop loop;
  loop.set_exception_handler(
      [&](aio::event_loop&, const aio::exception_context& ctx) { reports.push_back(ctx.message); });
  {
    auto t = loop.create_task([]() -> aio::coro<void> { throw std::runtime_error("seen"); });
    EXPECT_THROW(loop.run_until_complete(t), std::runtime_error);
  }
  {
    auto f = loop.create_future<int>();
    f.set_exception(std::make_exception_ptr(std::runtime_error("seen")));
    EXPECT_NE(f.exception(), nullptr);
  }
  {
    auto f = loop.create_future<int>();
    f.set_exception(std::make_exception_ptr(std::runtime_error("not seen")));
  }
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], "Future exception was never retrieved");
}

// --- debug mode ---------------------------------------------------------------------

TEST(debug_mode, slow_step_is_logged_with_the_task_name) {
  log_capture logs;
  aio::event_loop loop({.debug = true});
  loop.slow_callback_duration = 1ms;
  loop.run_until_complete(loop.create_task(
      []() -> aio::coro<void> {
        co_await aio::sleep(0s);
        const auto until = std::chrono::steady_clock::now() + 5ms;
        while (std::chrono::steady_clock::now() < until) {
        }
      },
      {.name = "busy-worker"}));
  EXPECT_TRUE(logs.contains("Executing task 'busy-worker'"));
  EXPECT_TRUE(logs.contains("took"));
}

TEST(debug_mode, is_off_by_default_and_then_logs_nothing) {
  log_capture logs;
  aio::event_loop loop({.debug = false});
  loop.slow_callback_duration = 0ms;
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_TRUE(logs.lines.empty());
}

aio::coro<int> never_awaited() {
  co_return 1;
}

TEST(debug_mode, coroutine_that_was_never_awaited_is_reported) {
  log_capture logs;
  aio::event_loop loop({.debug = true});
  loop.run_until_complete([]() -> aio::coro<void> {
    {
      auto c = never_awaited();  // created and dropped without co_await
    }
    co_return;
  });
  EXPECT_TRUE(logs.contains("never_awaited"));
  EXPECT_TRUE(logs.contains("was never awaited"));
}

// --- other threads -------------------------------------------------------------------

TEST(threads, call_soon_threadsafe_wakes_a_sleeping_loop) {
  aio::event_loop loop;
  std::atomic<int> n{0};
  std::vector<std::thread> threads;
  constexpr int per_thread = 1000;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i)
        loop.call_soon_threadsafe([&] {
          if (++n == 4 * per_thread) loop.stop();
        });
    });
  }
  loop.run_forever();  // blocks in epoll with nothing scheduled until the posts arrive
  for (auto& t : threads) t.join();
  EXPECT_EQ(n.load(), 4 * per_thread);
}

TEST(threads, call_soon_threadsafe_after_close_throws_in_the_caller) {
  auto loop = std::make_unique<aio::event_loop>();
  loop->close();
  std::thread t([&] { EXPECT_THROW(loop->call_soon_threadsafe([] {}), std::runtime_error); });
  t.join();
}

}  // namespace

namespace {
TEST(event_loop, deadlock_is_detected_when_asked) {
  aio::event_loop loop({.virtual_clock = true, .deadlock_after = std::chrono::milliseconds(50)});
  bool threw = false;
  try {
    loop.run_until_complete(loop.create_task(
        []() -> aio::coro<void> {
          aio::future<void> never;
          co_await never;  // nothing will ever complete it
        },
        {.name = "stuck"}));
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()).find("deadlock: 1 task(s) pending") != std::string::npos &&
            std::string(e.what()).find("'stuck'") != std::string::npos;
  }
  EXPECT_TRUE(threw);
  loop.set_exception_handler([](aio::event_loop&, const aio::exception_context&) {});
}

// SIGINT is process-wide: aio::run takes it only on the main thread (asyncio.Runner
// does the same), so runs in other threads, several at once, neither compete for it nor
// touch its disposition.
TEST(run, runs_in_other_threads_leave_sigint_alone) {
  auto sigint_handler = [] {
    struct sigaction sa {};
    ::sigaction(SIGINT, nullptr, &sa);
    return sa.sa_handler;
  };
  ASSERT_EQ(sigint_handler(), SIG_DFL);
  std::atomic<int> inside = 0;
  std::atomic<bool> saw_default_inside = true;
  auto body = [&] {
    return aio::run([&]() -> aio::coro<int> {
      ++inside;
      while (inside.load() < 2) co_await aio::sleep(std::chrono::microseconds(100));
      if (sigint_handler() != SIG_DFL) saw_default_inside = false;
      co_return 1;
    });
  };
  int r1 = 0, r2 = 0;
  std::thread t1([&] { r1 = body(); });
  std::thread t2([&] { r2 = body(); });
  t1.join();
  t2.join();
  EXPECT_EQ(r1 + r2, 2);
  EXPECT_TRUE(saw_default_inside.load());  // both ran at once, neither installed a handler
  EXPECT_EQ(sigint_handler(), SIG_DFL);
}

}  // namespace
