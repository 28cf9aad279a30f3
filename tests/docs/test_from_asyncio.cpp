// SPDX-License-Identifier: MIT
// The snippets of docs/from_asyncio.md, compiled and run: the asyncio guides' programs
// and patterns, written with aio. Each snippet lies between `// snippet-begin: NAME`
// and `// snippet-end`; tests/docs/check_snippets.py checks that the markdown shows
// exactly this code. NAME is the GoogleTest case that runs it.
//
// Mind the g++ 12 bugs of docs/hazards.md ("GCC 12 bugs"): no lambda with non-trivial
// by-value captures and no aggregate temporary with non-trivial members inside a
// co_await expression, no braced init list in a co_await expression.
#include "aio/aio.hpp"
#include "aio/testing.hpp"
#include "log_capture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using aio_docs::log_capture;

namespace {

// The guides' stand-in for a network call.
aio::coro<std::string> fetch_data(std::string url) {
  co_await aio::sleep(1s);  // simulates network latency (non-blocking)
  co_return "DATA from " + url;
}

// --- Running ---------------------------------------------------------------------------

// snippet-begin: from_asyncio.run_returns_main_value
aio::coro<int> main_async() {
  auto [users, posts] = co_await aio::gather(fetch_data("api/users"), fetch_data("api/posts"));
  std::printf("%s\n%s\n", users.c_str(), posts.c_str());
  co_return 0;
}

// int main() { return aio::run(main_async()); }
// snippet-end

TEST(from_asyncio, run_returns_main_value) {
  EXPECT_EQ(aio::run(main_async(), {.virtual_clock = true}), 0);
}

// --- Coroutines and tasks -----------------------------------------------------------------

// snippet-begin: from_asyncio.sequential_vs_concurrent
AIO_TEST_VIRTUAL_TIME(from_asyncio, sequential_vs_concurrent) {
  aio::event_loop& loop = aio::get_running_loop();
  // Sequential: ~3 seconds
  auto start = loop.time();
  std::string result1 = co_await fetch_data("api/users");
  std::string result2 = co_await fetch_data("api/posts");
  std::string result3 = co_await fetch_data("api/comments");
  EXPECT_EQ(loop.time() - start, 3s);
  // Concurrent: ~1 second
  start = loop.time();
  auto [r1, r2, r3] = co_await aio::gather(fetch_data("api/users"), fetch_data("api/posts"),
                                           fetch_data("api/comments"));
  EXPECT_EQ(loop.time() - start, 1s);
  EXPECT_EQ(r3, "DATA from api/comments");
}
// snippet-end

// snippet-begin: from_asyncio.create_task_and_await
aio::coro<std::string> worker(std::string name, std::chrono::milliseconds duration) {
  co_await aio::sleep(duration);
  co_return name + " finished in " + std::to_string(duration.count()) + " ms";
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, create_task_and_await) {
  aio::event_loop& loop = aio::get_running_loop();
  auto start = loop.time();
  // Tasks start running at once on the loop
  auto task1 = aio::create_task(worker("A", 2000ms), {.name = "worker-a"});
  auto task2 = aio::create_task(worker("B", 1500ms), {.name = "worker-b"});
  auto task3 = aio::create_task(worker("C", 3000ms), {.name = "worker-c"});
  std::string r1 = co_await task1;
  std::string r2 = co_await task2;
  std::string r3 = co_await task3;
  EXPECT_EQ(loop.time() - start, 3s);  // the longest, not the sum
  EXPECT_EQ(r2, "B finished in 1500 ms");
  EXPECT_EQ(task3.get_name(), "worker-c");
}
// snippet-end

// --- Patterns: fan-out, fan-in ------------------------------------------------------------

// snippet-begin: from_asyncio.fan_out_fan_in
struct user {
  int id;
  std::string name;
};

aio::coro<user> fetch_user(int user_id) {
  co_await aio::sleep(1s);  // simulate an API call
  co_return user{user_id, "User " + std::to_string(user_id)};
}

aio::coro<std::vector<user>> fetch_all_users(std::vector<int> user_ids) {
  std::vector<aio::coro<user>> tasks;  // fan-out: one coroutine per id...
  for (int id : user_ids) tasks.push_back(fetch_user(id));
  co_return co_await aio::gather(std::move(tasks));  // ...fan-in: all results, in order
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(from_asyncio, fan_out_fan_in) {
  std::vector<int> ids;
  for (int i = 0; i < 10'000; ++i) ids.push_back(i);
  auto start = aio::get_running_loop().time();
  std::vector<user> users = co_await fetch_all_users(std::move(ids));
  EXPECT_EQ(aio::get_running_loop().time() - start, 1s);
  CO_ASSERT_EQ(users.size(), 10'000u);
  EXPECT_EQ(users[42].name, "User 42");
}

// --- Patterns: bounded concurrency (until aio::semaphore) ------------------------------------

int in_flight = 0;
int max_in_flight = 0;
aio::coro<std::string> fetch_counted(std::string url) {
  max_in_flight = std::max(max_in_flight, ++in_flight);
  co_await aio::sleep(1s);
  --in_flight;
  co_return "Data from " + url;
}

// snippet-begin: from_asyncio.bounded_concurrency
// `limit` workers in a task group take the next item in turn: at most `limit` calls of
// `fn` run at once, and the results come back in the items' order.
template <class T, class F>
auto map_bounded(std::vector<T> items, std::size_t limit, F fn)
    -> aio::coro<std::vector<typename std::invoke_result_t<F&, T&>::value_type>> {
  std::vector<typename std::invoke_result_t<F&, T&>::value_type> results(items.size());
  std::size_t next = 0;
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    for (std::size_t w = 0; w < std::min(limit, items.size()); ++w)
      tg.create_task([&]() -> aio::coro<void> {
        while (next < items.size()) {
          std::size_t i = next++;
          results[i] = co_await fn(items[i]);
        }
      });
    co_return;
  });
  co_return results;
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, bounded_concurrency) {
  std::vector<std::string> urls;
  for (int i = 0; i < 10; ++i) urls.push_back("https://api.example.com/" + std::to_string(i));
  auto start = aio::get_running_loop().time();
  auto results = co_await map_bounded(std::move(urls), 3, fetch_counted);  // 3 at once
  EXPECT_EQ(results.size(), 10u);
  EXPECT_EQ(max_in_flight, 3);
  EXPECT_EQ(aio::get_running_loop().time() - start, 4s);  // 3 + 3 + 3 + 1
}
// snippet-end

// --- Patterns: retry with exponential backoff ------------------------------------------

// snippet-begin: from_asyncio.retry_with_backoff
struct retry_options {
  int max_retries = 3;
  std::chrono::milliseconds base_delay = 1s;
  std::chrono::milliseconds max_delay = 30s;
};  // trivially destructible, so `{.max_retries = 5}` is safe in a co_await on g++ 12

// `call` returns a new coroutine for each attempt (a coroutine runs once).
template <class F>
auto with_retry(F call, retry_options opts = {})
    -> aio::coro<typename std::invoke_result_t<F&>::value_type> {
  static thread_local std::mt19937 rng{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    try {
      co_return co_await call();
    } catch (const std::exception&) {  // not a cancellation: that propagates
      if (attempt == opts.max_retries) throw;
    }
    // (no co_await inside a catch block: the back-off sleep comes after it)
    auto delay = std::min(opts.base_delay * (1 << attempt), opts.max_delay);
    std::uniform_real_distribution<double> jitter(0.0, 0.1);
    co_await aio::sleep(delay + delay * jitter(rng));
  }
}

aio::coro<std::string> flaky_api_call(int& calls) {
  co_await aio::sleep(0s);
  if (++calls < 3) throw std::runtime_error("API returned 503");
  co_return "ok";
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, retry_with_backoff) {
  int calls = 0;
  auto start = aio::get_running_loop().time();
  std::string result =
      co_await with_retry([&] { return flaky_api_call(calls); }, {.max_retries = 5});
  auto waited = aio::get_running_loop().time() - start;
  EXPECT_EQ(result, "ok");
  EXPECT_EQ(calls, 3);
  EXPECT_GE(waited, 3s);      // 1 s + 2 s of back-off...
  EXPECT_LE(waited, 3300ms);  // ...plus at most 10% jitter
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(from_asyncio, retry_gives_up) {
  int calls = 0;
  EXPECT_THROW(co_await with_retry([&] { return flaky_api_call(calls); }, {.max_retries = 1}),
               std::runtime_error);
  EXPECT_EQ(calls, 2);
}

// --- Patterns: timeout around a block ---------------------------------------------------

aio::coro<std::string> slow_operation() {
  co_await aio::sleep(10s);
  co_return "Finally done!";
}

// snippet-begin: from_asyncio.timeout_around_a_block
aio::coro<std::optional<std::string>> fetch_with_timeout() {
  try {
    co_return co_await aio::timeout(5s, slow_operation());
  } catch (const aio::timeout_error&) {
    co_return std::nullopt;  // handle the timeout
  }
}

aio::coro<std::vector<std::string>> two_steps_within(std::chrono::seconds budget) {
  std::vector<std::string> done;
  // A block of several awaits: a lambda that returns a coro ([&] captures only).
  co_await aio::timeout(budget, [&]() -> aio::coro<void> {
    done.push_back(co_await fetch_data("step 1"));
    done.push_back(co_await fetch_data("step 2"));
  });
  co_return done;
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(from_asyncio, timeout_around_a_block) {
  auto start = aio::get_running_loop().time();
  EXPECT_EQ(co_await fetch_with_timeout(), std::nullopt);
  EXPECT_EQ(aio::get_running_loop().time() - start, 5s);  // slow_operation was cancelled
  EXPECT_EQ((co_await two_steps_within(3s)).size(), 2u);
  EXPECT_THROW(co_await two_steps_within(1s), aio::timeout_error);
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, wait_for_a_task) {
  // snippet-begin: from_asyncio.wait_for_a_task
  auto task = aio::create_task(slow_operation());
  try {
    std::string result = co_await aio::wait_for(task, 2s);
  } catch (const aio::timeout_error&) {
    // the task was cancelled, and has ended
  }
  EXPECT_TRUE(task.cancelled());
  // snippet-end
}

// --- Patterns: fire-and-forget ------------------------------------------------------------

// snippet-begin: from_asyncio.fire_and_forget
aio::coro<void> background_job(std::string name, std::vector<std::string>& log) {
  co_await aio::sleep(1s);
  log.push_back(name + " completed");
}

aio::coro<void> main_with_background_jobs(std::vector<std::string>& log) {
  aio::create_task(background_job("job-1", log));  // no handle kept: the loop keeps the task
  aio::create_task(background_job("job-2", log));
  log.push_back("Tasks are running in the background");
  co_await aio::sleep(2s);
  // If main returned before they finished, aio::run would cancel them and wait.
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(from_asyncio, fire_and_forget) {
  std::vector<std::string> log;
  co_await main_with_background_jobs(log);
  EXPECT_EQ(log, (std::vector<std::string>{"Tasks are running in the background", "job-1 completed",
                                           "job-2 completed"}));
}

// --- Patterns: exception handler --------------------------------------------------------

aio::coro<void> risky_job() {
  co_await aio::sleep(10ms);
  throw std::runtime_error("upstream returned 503");
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, exception_handler) {
  aio::event_loop& loop = aio::get_running_loop();
  const auto saved = loop.get_exception_handler();  // the test harness's own
  std::vector<std::string> logged;
  // snippet-begin: from_asyncio.exception_handler
  loop.set_exception_handler([&logged](aio::event_loop&, const aio::exception_context& ctx) {
    std::string what = ctx.exception ? aio::describe(ctx.exception) : ctx.message;
    logged.push_back("Unhandled async exception: " + what);
  });
  aio::create_task(risky_job());  // fails, and nobody awaits it
  co_await aio::sleep(1s);
  // snippet-end
  loop.set_exception_handler(saved);
  EXPECT_EQ(logged, std::vector<std::string>{
                        "Unhandled async exception: std::runtime_error: upstream returned 503"});
}

// --- Patterns: debug mode ---------------------------------------------------------------

aio::coro<std::string> compute() {
  std::this_thread::sleep_for(60ms);  // a blocking call
  co_return "computed";
}

// snippet-begin: from_asyncio.debug_mode
aio::coro<void> main_under_debug() {
  aio::get_running_loop().slow_callback_duration = 50ms;        // default: 100 ms
  auto forgotten = compute();                                   // never awaited: reported
  co_await aio::create_task(compute(), {.name = "compute-1"});  // blocks 60 ms: reported
}

TEST(from_asyncio, debug_mode) {
  log_capture logs;
  aio::run(main_under_debug(), {.debug = true});  // or AIO_DEBUG=1 in the environment
  EXPECT_TRUE(logs.contains("compute"));
  EXPECT_TRUE(logs.contains("was never awaited"));
  EXPECT_TRUE(logs.contains("Executing task 'compute-1'"));
}
// snippet-end

// --- Patterns: named tasks, all_tasks ---------------------------------------------------

// snippet-begin: from_asyncio.named_tasks_and_all_tasks
std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const aio::any_task& t : aio::all_tasks()) names.push_back(t.get_name());
  std::sort(names.begin(), names.end());
  return names;
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, named_tasks_and_all_tasks) {
  std::vector<aio::task<user>> tasks;
  for (int id : {41, 42})
    tasks.push_back(aio::create_task(fetch_user(id), {.name = "fetch-user-" + std::to_string(id)}));
  auto unnamed = aio::create_task(fetch_user(43));  // the loop's 4th task: "Task-4"
  EXPECT_EQ(task_names(),
            (std::vector<std::string>{"Task-4", "fetch-user-41", "fetch-user-42", "test body"}));
  EXPECT_EQ(aio::current_task()->get_name(), "test body");
  for (auto& t : tasks) co_await t;
  co_await unnamed;
}
// snippet-end

// --- Gather with return_exceptions, and fail-fast ------------------------------------------

aio::coro<std::string> fetch_or_fail(std::string url, bool should_fail) {
  co_await aio::sleep(500ms);
  if (should_fail) throw std::runtime_error("Failed to connect to " + url);
  co_return url + ": ok";
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, gather_return_exceptions) {
  std::vector<std::string> report;
  // snippet-begin: from_asyncio.gather_return_exceptions
  std::vector<aio::coro<std::string>> tasks;
  tasks.push_back(fetch_or_fail("https://api1.com", false));
  tasks.push_back(fetch_or_fail("https://api2.com", true));
  tasks.push_back(fetch_or_fail("https://api3.com", false));
  auto results = co_await aio::gather(aio::return_exceptions, std::move(tasks));
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i])  // an aio::outcome<std::string>: a value or an exception
      report.push_back("Task " + std::to_string(i) +
                       " failed: " + aio::describe(results[i].error()));
    else
      report.push_back("Task " + std::to_string(i) + " succeeded: " + *results[i]);
  }
  // snippet-end
  EXPECT_EQ(report, (std::vector<std::string>{
                        "Task 0 succeeded: https://api1.com: ok",
                        "Task 1 failed: std::runtime_error: Failed to connect to https://api2.com",
                        "Task 2 succeeded: https://api3.com: ok"}));
}

// snippet-begin: from_asyncio.gather_fails_fast_and_waits
aio::coro<int> risky_task(int task_id, std::vector<int>& finished) {
  co_await aio::sleep(task_id * 100ms);
  if (task_id == 2) throw std::invalid_argument("Task 2 exploded!");
  finished.push_back(task_id);
  co_return task_id;
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, gather_fails_fast_and_waits) {
  std::vector<int> finished;
  std::vector<aio::coro<int>> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(risky_task(i, finished));
  EXPECT_THROW(co_await aio::gather(std::move(tasks)), std::invalid_argument);
  // Unlike asyncio, tasks 3 and 4 were cancelled, and have ended, before gather threw.
  EXPECT_EQ(finished, (std::vector<int>{0, 1}));
  EXPECT_EQ(aio::all_tasks().size(), 1u);  // only this test's task
}
// snippet-end

// --- wait and as_completed ----------------------------------------------------------------

aio::coro<std::string> fetch_url(std::string url, std::chrono::milliseconds delay) {
  co_await aio::sleep(delay);
  co_return "Data from " + url;
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, wait_first_completed) {
  std::vector<std::string> got;
  // snippet-begin: from_asyncio.wait_first_completed
  std::vector<aio::task<std::string>> tasks;
  tasks.push_back(aio::create_task(fetch_url("https://slow.com", 3s)));
  tasks.push_back(aio::create_task(fetch_url("https://fast.com", 1s)));
  tasks.push_back(aio::create_task(fetch_url("https://medium.com", 2s)));
  auto [done, pending] = co_await aio::wait(tasks, {.return_when = aio::first_completed});
  for (auto& t : pending) t.cancel();
  if (!pending.empty()) co_await aio::wait(pending);  // asyncio does not wait; do, if they borrow
  for (auto& t : done) got.push_back(t.result());
  // snippet-end
  EXPECT_EQ(got, std::vector<std::string>{"Data from https://fast.com"});
  EXPECT_TRUE(tasks[0].cancelled());
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, as_completed_in_completion_order) {
  std::vector<std::string> got;
  // snippet-begin: from_asyncio.as_completed_in_completion_order
  std::vector<aio::coro<std::string>> tasks;
  tasks.push_back(fetch_url("https://fast.com", 500ms));
  tasks.push_back(fetch_url("https://medium.com", 1500ms));
  tasks.push_back(fetch_url("https://slow.com", 2500ms));
  for (auto next : aio::as_completed(std::move(tasks))) {
    std::string result = co_await next;  // fastest first
    got.push_back(result);
  }
  // snippet-end
  EXPECT_EQ(got,
            (std::vector<std::string>{"Data from https://fast.com", "Data from https://medium.com",
                                      "Data from https://slow.com"}));
}

// --- Cancellation -----------------------------------------------------------------------

// snippet-begin: from_asyncio.cancel_a_task
aio::coro<std::string> long_running_task(std::string name, std::vector<std::string>& log) {
  try {
    log.push_back(name + ": Starting...");
    co_await aio::sleep(10s);
    co_return name + " result";
  } catch (const aio::cancelled_error&) {
    log.push_back(name + ": Cancelled! Cleaning up...");
    throw;  // re-raise to propagate the cancellation
  }
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, cancel_a_task) {
  std::vector<std::string> log;
  auto task = aio::create_task(long_running_task("MyTask", log));
  co_await aio::sleep(1s);  // let it run for a bit
  task.cancel();
  try {
    co_await task;
  } catch (const aio::cancelled_error&) {
    log.push_back("Task was cancelled");
  }
  EXPECT_EQ(log,
            (std::vector<std::string>{"MyTask: Starting...", "MyTask: Cancelled! Cleaning up...",
                                      "Task was cancelled"}));
}
// snippet-end

// --- Task groups ------------------------------------------------------------------------

aio::coro<std::vector<std::string>> fetch_posts(int user_id) {
  co_await aio::sleep(800ms);
  co_return std::vector<std::string>{"Hello Async by " + std::to_string(user_id)};
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, task_group_results) {
  // snippet-begin: from_asyncio.task_group_results
  aio::task<user> user_task;
  aio::task<std::vector<std::string>> posts_task;
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    user_task = tg.create_task(fetch_user(42));
    posts_task = tg.create_task(fetch_posts(42));
    co_return;
  });  // both have finished here
  const user& u = user_task.result();
  const std::vector<std::string>& posts = posts_task.result();
  // snippet-end
  EXPECT_EQ(u.name, "User 42");
  EXPECT_EQ(posts.size(), 1u);
}

aio::coro<void> might_fail() {
  co_await aio::sleep(10ms);
  throw std::invalid_argument("bad value");
}
aio::coro<void> might_also_fail() {
  co_await aio::sleep(1s);
  throw std::runtime_error("connection reset");
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, task_group_except_star) {
  std::vector<std::string> log;
  // snippet-begin: from_asyncio.task_group_except_star
  try {
    co_await aio::with_task_group([](aio::task_group& tg) -> aio::coro<void> {
      tg.create_task(might_fail());
      tg.create_task(might_also_fail());  // cancelled when might_fail fails
      co_return;
    });
  } catch (const aio::exception_group& eg) {
    auto [value_errors, rest] = eg.split<std::invalid_argument>();  // except* ValueError
    if (value_errors)
      for (const auto& e : value_errors->exceptions()) log.push_back(aio::describe(e));
    if (rest) {
      auto [runtime_errors, others] = rest->split<std::runtime_error>();  // except* ...
      if (runtime_errors) log.push_back("runtime errors");
      if (others) throw *others;  // what no except* clause matched
    }
  }
  // snippet-end
  EXPECT_EQ(log, std::vector<std::string>{"std::invalid_argument: bad value"});
}

// --- Your own async context manager -----------------------------------------------------

struct connection {
  std::string host;
  bool connected = false;
  aio::coro<std::vector<std::string>> query(std::string sql) {
    if (!connected) throw std::runtime_error("Not connected!");
    co_await aio::sleep(200ms);
    co_return std::vector<std::string>{"result of " + sql};
  }
};

// snippet-begin: from_asyncio.async_context_manager
// asyncio: `async with AsyncDatabaseConnection(host) as db:` (__aenter__/__aexit__).
// C++ has no asynchronous destructor: the scope is a function that runs a body.
template <class Body>
aio::coro<void> with_connection(std::string host, Body body) {
  connection db{host};
  co_await aio::sleep(500ms);  // connect
  db.connected = true;
  std::exception_ptr error;
  try {
    co_await body(db);
  } catch (...) {  // also a cancellation: it is rethrown below
    error = std::current_exception();
  }
  co_await aio::sleep(100ms);  // disconnect: runs on success, failure and cancellation
  db.connected = false;
  if (error) std::rethrow_exception(error);
}

AIO_TEST_VIRTUAL_TIME(from_asyncio, async_context_manager) {
  std::vector<std::string> rows;
  co_await with_connection("localhost:5432", [&](connection& db) -> aio::coro<void> {
    rows = co_await db.query("SELECT * FROM users");
  });  // disconnected here
  EXPECT_EQ(rows, std::vector<std::string>{"result of SELECT * FROM users"});
}
// snippet-end

// --- Futures and the loop -------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(from_asyncio, future_and_call_later) {
  // snippet-begin: from_asyncio.future_and_call_later
  aio::event_loop& loop = aio::get_running_loop();
  aio::future<int> fut = loop.create_future<int>();
  loop.call_later(1s, [fut]() mutable { fut.set_result(42); });  // a callback, not a coroutine
  int value = co_await fut;

  // `await asyncio.Future()`: wait until cancelled (a server's main, until Ctrl-C)
  auto server = aio::create_task([]() -> aio::coro<void> { co_await aio::future<void>(); });
  co_await aio::sleep(1h);
  server.cancel();
  // snippet-end
  EXPECT_EQ(value, 42);
  EXPECT_THROW(co_await server, aio::cancelled_error);
}

// --- Testing ----------------------------------------------------------------------------

aio::coro<void> my_async_function() {
  co_await aio::sleep(1s);
}

// snippet-begin: from_asyncio.testing_virtual_time
// pytest: `with patch('asyncio.sleep') as mock_sleep: ... assert_called_once_with(1.0)`
AIO_TEST_VIRTUAL_TIME(from_asyncio, testing_virtual_time) {
  aio::event_loop& loop = aio::get_running_loop();
  auto start = loop.time();
  co_await my_async_function();
  EXPECT_EQ(loop.time() - start, 1s);  // exact, and no wall-clock time passed
}
// snippet-end

// snippet-begin: from_asyncio.testing_fake_dependency
// The code under test takes its dependency as a callable returning a coro...
using fetcher = std::function<aio::coro<std::string>(std::string)>;

aio::coro<std::size_t> page_length(fetcher fetch, std::string url) {
  std::string body = co_await fetch(url);
  co_return body.size();
}

// ...and the test passes a fake (unittest.mock.AsyncMock's role).
AIO_TEST(from_asyncio, testing_fake_dependency) {
  int calls = 0;
  fetcher fake = [&calls](std::string url) -> aio::coro<std::string> {
    ++calls;
    co_return "<html>" + url + "</html>";
  };
  EXPECT_EQ(co_await page_length(fake, "/users"), 19u);
  EXPECT_EQ(calls, 1);
}
// snippet-end

}  // namespace
