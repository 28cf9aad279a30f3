// SPDX-License-Identifier: MIT
// The snippets of docs/hazards.md, compiled and run. Each snippet lies between
// `// snippet-begin: NAME` and `// snippet-end`; tests/docs/check_snippets.py checks that
// the markdown shows exactly this code. NAME is the GoogleTest case that runs it.
//
// Mind the g++ 12 bugs this page is about (docs/hazards.md, "GCC 12 bugs"): no lambda
// with non-trivial by-value captures and no aggregate temporary with non-trivial
// members inside a co_await expression, no co_await inside a braced init list.
#include "aio/aio.hpp"
#include "aio/testing.hpp"
#include "log_capture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using aio_docs::log_capture;

// Stands in for a network call.
aio::coro<std::string> fetch(std::string url) {
  co_await aio::sleep(1s);
  co_return "DATA from " + url;
}

// --- 1. Lambda captures that die ------------------------------------------------------

// snippet-begin: hazards.lambda_captures_kept_alive
aio::task<std::size_t> start_count(const std::string& text) {
  // create_task keeps the lambda (and so its copy of `text`) alive until the coroutine ends.
  return aio::create_task([text]() -> aio::coro<std::size_t> {
    co_await aio::sleep(10ms);
    co_return text.size();
  });
}

AIO_TEST_VIRTUAL_TIME(hazards, lambda_captures_kept_alive) {
  aio::task<std::size_t> t;
  {
    std::string local(100, 'x');
    t = start_count(local);
  }  // `local` and the lambda expression are gone; the task's copy is not
  EXPECT_EQ(co_await t, 100u);
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(hazards, lambda_parameters_live_in_the_frame) {
  std::string text(100, 'x');
  // snippet-begin: hazards.lambda_parameters_live_in_the_frame
  // Parameters, unlike captures, are copied into the coroutine frame.
  auto c = [](std::string s) -> aio::coro<std::size_t> {
    co_await aio::sleep(10ms);
    co_return s.size();
  }(text);
  // ... later ...
  std::size_t n = co_await std::move(c);
  // snippet-end
  EXPECT_EQ(n, 100u);
}

// --- 2. References into a suspended frame -------------------------------------------

// snippet-begin: hazards.by_value_parameters_own_their_data
aio::coro<std::size_t> count_words(std::string text) {  // by value: the frame owns a copy
  co_await aio::sleep(10ms);
  std::size_t words = 0;
  bool in_word = false;
  for (char ch : text) {
    if (ch != ' ' && !in_word) ++words;
    in_word = ch != ' ';
  }
  co_return words;
}

AIO_TEST_VIRTUAL_TIME(hazards, by_value_parameters_own_their_data) {
  auto c = count_words(std::string("three little words"));  // the temporary dies here...
  EXPECT_EQ(co_await std::move(c), 3u);                     // ...but the frame has its copy
}
// snippet-end

// snippet-begin: hazards.borrowing_is_safe_under_structured_combinators
aio::coro<std::size_t> count_chars(std::string_view text, char ch) {  // borrows
  co_await aio::sleep(10ms);
  co_return static_cast<std::size_t>(std::count(text.begin(), text.end(), ch));
}

AIO_TEST_VIRTUAL_TIME(hazards, borrowing_is_safe_under_structured_combinators) {
  const std::string text = "borrowed, not copied";
  // gather (like a task group or a timeout) does not return before its children have
  // ended, so they may borrow the caller's locals.
  auto [o, e] = co_await aio::gather(count_chars(text, 'o'), count_chars(text, 'e'));
  EXPECT_EQ(o, 4u);
  EXPECT_EQ(e, 2u);
}
// snippet-end

// snippet-begin: hazards.shielded_work_owns_its_data
aio::coro<void> save_to_db(std::string record, std::vector<std::string>& db) {
  co_await aio::sleep(100ms);  // the write
  db.push_back(std::move(record));
}

aio::coro<void> handle_request(std::string data, std::vector<std::string>& db) {
  std::string result = "processed " + data;
  // The save goes on if this task is cancelled, so it gets its own copy of `result`.
  co_await aio::shield(save_to_db(result, db));
}

AIO_TEST_VIRTUAL_TIME(hazards, shielded_work_owns_its_data) {
  std::vector<std::string> db;  // outlives everything below
  auto request = aio::create_task(handle_request("order 66", db));
  co_await aio::sleep(50ms);
  request.cancel();  // the client went away in the middle of the save
  EXPECT_THROW(co_await request, aio::cancelled_error);
  EXPECT_TRUE(db.empty());
  co_await aio::sleep(100ms);  // the shielded save finishes on its own
  CO_ASSERT_EQ(db.size(), 1u);
  EXPECT_EQ(db[0], "processed order 66");
}
// snippet-end

// --- 3. Blocking the loop ---------------------------------------------------------

// snippet-begin: hazards.blocking_call_is_reported_in_debug_mode
aio::coro<void> blocking_fetch() {
  std::this_thread::sleep_for(30ms);  // BAD: the whole loop stands still for 30 ms
  co_return;
}

TEST(hazards, blocking_call_is_reported_in_debug_mode) {
  log_capture logs;
  aio::run(
      []() -> aio::coro<void> {
        aio::get_running_loop().slow_callback_duration = 20ms;  // 100 ms by default
        co_await aio::create_task(blocking_fetch(), {.name = "fetch-1"});
      },
      {.debug = true});
  // aio: warning: Executing task 'fetch-1' resumed in blocking_fetch (file:line) took 0.030 seconds
  EXPECT_TRUE(logs.contains("Executing task 'fetch-1'"));
}
// snippet-end

// snippet-begin: hazards.cpu_work_yields_to_the_loop
aio::coro<long> sum_of_squares(long n) {
  long total = 0;
  for (long i = 1; i <= n; ++i) {
    total += i * i;
    if (i % 10'000 == 0) co_await aio::sleep(0s);  // let the other tasks run
  }
  co_return total;
}

AIO_TEST(hazards, cpu_work_yields_to_the_loop) {
  bool done = false;
  int heartbeats = 0;
  auto heartbeat = aio::create_task([&]() -> aio::coro<void> {
    while (!done) {
      ++heartbeats;
      co_await aio::sleep(0s);
    }
  });
  EXPECT_EQ(co_await sum_of_squares(100'000), 333'338'333'350'000);
  done = true;
  co_await heartbeat;
  EXPECT_GE(heartbeats, 10);  // it kept beating during the computation
}
// snippet-end

// --- 4. Forgotten co_await ---------------------------------------------------------

aio::coro<std::string> fetch_data() {
  co_await aio::sleep(10ms);
  co_return "data";
}

// snippet-begin: hazards.never_awaited_coroutine_is_reported
aio::coro<void> forgetful() {
  auto data = fetch_data();  // BAD: `data` is a coroutine that never runs, not a string
  co_return;
}

TEST(hazards, never_awaited_coroutine_is_reported) {
  log_capture logs;
  aio::run(forgetful(), {.debug = true});
  // aio: warning: coroutine fetch_data (file:line) was never awaited
  EXPECT_TRUE(logs.contains("fetch_data"));
  EXPECT_TRUE(logs.contains("was never awaited"));
}
// snippet-end

// snippet-begin: hazards.discarded_task_still_runs
aio::coro<void> send_email(std::string to, std::vector<std::string>& outbox) {
  co_await aio::sleep(2s);
  outbox.push_back(to);
}

AIO_TEST_VIRTUAL_TIME(hazards, discarded_task_still_runs) {
  std::vector<std::string> outbox;
  aio::create_task(send_email("ada@example.com", outbox));  // handle dropped: fine
  co_await aio::sleep(3s);
  EXPECT_EQ(outbox, std::vector<std::string>{"ada@example.com"});
}
// snippet-end

// --- 5. Lost exceptions -------------------------------------------------------------

// snippet-begin: hazards.unretrieved_exception_is_reported
aio::coro<void> risky_job() {
  co_await aio::sleep(10ms);
  throw std::runtime_error("upstream returned 503");
}

AIO_TEST_VIRTUAL_TIME(hazards, unretrieved_exception_is_reported) {
  aio::create_task(risky_job(), {.name = "risky-1"});  // nobody will look at its outcome
  co_await aio::sleep(1s);
  // The default handler logs it; the test harness collects it instead.
  auto reports = aio::testing::take_reports();
  CO_ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task exception was never retrieved (task 'risky-1')");
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(hazards, awaited_exception_is_handled) {
  std::string error;
  // snippet-begin: hazards.awaited_exception_is_handled
  auto job = aio::create_task(risky_job(), {.name = "risky-1"});
  // ... other work ...
  try {
    co_await job;
  } catch (const std::exception& e) {
    error = e.what();  // retrieved: nothing is reported
  }
  // snippet-end
  EXPECT_EQ(error, "upstream returned 503");
}

// --- 6. Unbounded task creation -------------------------------------------------------

// fetch() with a gauge of how many run at once.
int in_flight = 0;
int max_in_flight = 0;
aio::coro<std::string> fetch_page(std::string url) {
  max_in_flight = std::max(max_in_flight, ++in_flight);
  co_await aio::sleep(100ms);
  --in_flight;
  co_return "page " + url;
}

std::vector<std::string> make_urls(int n) {
  std::vector<std::string> urls;
  for (int i = 0; i < n; ++i) urls.push_back("/item/" + std::to_string(i));
  return urls;
}

// snippet-begin: hazards.unbounded_fan_out_in_batches
aio::coro<std::vector<std::string>> fetch_in_batches(std::vector<std::string> urls,
                                                     std::size_t batch_size) {
  std::vector<std::string> pages;
  for (std::size_t i = 0; i < urls.size(); i += batch_size) {
    std::vector<aio::coro<std::string>> batch;
    for (std::size_t j = i; j < std::min(i + batch_size, urls.size()); ++j)
      batch.push_back(fetch_page(urls[j]));
    std::vector<std::string> done = co_await aio::gather(std::move(batch));
    for (std::string& page : done) pages.push_back(std::move(page));
  }
  co_return pages;
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(hazards, unbounded_fan_out_in_batches) {
  max_in_flight = 0;
  auto t0 = aio::get_running_loop().time();
  auto pages = co_await fetch_in_batches(make_urls(10'000), 50);
  EXPECT_EQ(pages.size(), 10'000u);
  EXPECT_EQ(pages[9'999], "page /item/9999");
  EXPECT_EQ(max_in_flight, 50);
  EXPECT_EQ(aio::get_running_loop().time() - t0, 200 * 100ms);  // 200 batches
}

// snippet-begin: hazards.unbounded_fan_out_with_workers
aio::coro<std::vector<std::string>> fetch_with_workers(std::vector<std::string> urls,
                                                       std::size_t workers) {
  std::vector<std::string> pages(urls.size());
  std::size_t next = 0;  // the next url to fetch, shared by the workers
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    for (std::size_t w = 0; w < workers; ++w)
      tg.create_task([&]() -> aio::coro<void> {
        while (next < urls.size()) {
          std::size_t i = next++;
          pages[i] = co_await fetch_page(urls[i]);
        }
      });
    co_return;
  });
  co_return pages;
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(hazards, unbounded_fan_out_with_workers) {
  max_in_flight = 0;
  auto t0 = aio::get_running_loop().time();
  auto pages = co_await fetch_with_workers(make_urls(10'000), 50);
  EXPECT_EQ(pages.size(), 10'000u);
  EXPECT_EQ(pages[9'999], "page /item/9999");
  EXPECT_EQ(max_in_flight, 50);
  EXPECT_EQ(aio::get_running_loop().time() - t0, 200 * 100ms);
}

// --- 7. Swallowed cancellation ----------------------------------------------------------

// snippet-begin: hazards.catch_std_exception_lets_cancellation_through
aio::coro<void> worker(int& handled) {
  for (;;) {
    try {
      co_await aio::sleep(1s);  // process one item
      ++handled;
    } catch (const std::exception& e) {  // Python's `except Exception:`
      // log and go on with the next item; a cancellation is not a std::exception
    }
  }
}

AIO_TEST_VIRTUAL_TIME(hazards, catch_std_exception_lets_cancellation_through) {
  int handled = 0;
  auto t = aio::create_task(worker(handled));
  co_await aio::sleep(2500ms);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(handled, 2);
}
// snippet-end

// snippet-begin: hazards.catch_all_swallows_cancellation
aio::coro<void> stubborn() {
  try {
    co_await aio::sleep(1h);
  } catch (...) {  // BAD: also catches aio::cancelled_error
  }
}

AIO_TEST_VIRTUAL_TIME(hazards, catch_all_swallows_cancellation) {
  auto t = aio::create_task(stubborn());
  co_await aio::sleep(0s);
  t.cancel();
  co_await t;                   // no cancelled_error: the task ended "normally"...
  EXPECT_FALSE(t.cancelled());  // ...and whoever cancelled it cannot tell
}
// snippet-end

// snippet-begin: hazards.catch_all_rethrows_cancellation
aio::coro<void> careful() {
  try {
    co_await aio::sleep(1h);
  } catch (const aio::cancelled_error&) {
    throw;  // clean up if needed, then let it go on
  } catch (...) {
    // handle everything else
  }
}

AIO_TEST_VIRTUAL_TIME(hazards, catch_all_rethrows_cancellation) {
  auto t = aio::create_task(careful());
  co_await aio::sleep(0s);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_TRUE(t.cancelled());
}
// snippet-end

// snippet-begin: hazards.async_clean_up_after_the_handler
aio::coro<void> release(std::vector<std::string>& log) {
  co_await aio::sleep(10ms);  // an asynchronous clean-up: close a connection...
  log.push_back("released");
}

aio::coro<void> use_resource(std::vector<std::string>& log) {
  std::exception_ptr error;
  try {
    co_await aio::sleep(1h);  // the work
  } catch (...) {
    error = std::current_exception();  // no co_await allowed in here
  }
  co_await release(log);  // runs after success, failure and cancellation alike
  if (error) std::rethrow_exception(error);
}

AIO_TEST_VIRTUAL_TIME(hazards, async_clean_up_after_the_handler) {
  std::vector<std::string> log;
  auto t = aio::create_task(use_resource(log));
  co_await aio::sleep(1s);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_EQ(log, std::vector<std::string>{"released"});
}
// snippet-end

// --- 8. GCC 12 bugs -------------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(hazards, gcc12_lambda_built_in_its_own_statement) {
  const std::string x = "a string longer than the small-string buffer";
  std::size_t seen = 0;
  // snippet-begin: hazards.gcc12_lambda_built_in_its_own_statement
  auto body = [s = std::string(x), &seen]() -> aio::coro<void> {
    co_await aio::sleep(10ms);
    seen = s.size();
  };
  co_await aio::timeout(1s, std::move(body));
  // snippet-end
  EXPECT_EQ(seen, x.size());
}

struct fetch_request {
  std::string url;
  int retries = 3;
};
aio::coro<std::string> fetch_with(fetch_request req) {
  co_await aio::sleep(10ms);
  co_return req.url + " x" + std::to_string(req.retries);
}

AIO_TEST_VIRTUAL_TIME(hazards, gcc12_aggregate_built_in_its_own_statement) {
  std::string url = "https://example.com/a/long/enough/path";
  // snippet-begin: hazards.gcc12_aggregate_built_in_its_own_statement
  fetch_request req{.url = url, .retries = 5};
  std::string page = co_await fetch_with(std::move(req));
  // snippet-end
  EXPECT_EQ(page, url + " x5");
}

AIO_TEST_VIRTUAL_TIME(hazards, gcc12_no_co_await_in_braced_init_list) {
  // snippet-begin: hazards.gcc12_no_co_await_in_braced_init_list
  std::string a = co_await fetch("/a");
  std::string b = co_await fetch("/b");
  std::vector<std::string> v{a, b};
  // or, concurrently:
  auto [c, d] = co_await aio::gather(fetch("/c"), fetch("/d"));
  v.push_back(c);
  v.push_back(d);
  // snippet-end
  EXPECT_EQ(v, (std::vector<std::string>{"DATA from /a", "DATA from /b", "DATA from /c",
                                         "DATA from /d"}));
}

// snippet-begin: hazards.gcc12_no_statement_expression_with_co_return
aio::coro<int> parse_port(std::string s) {
  co_await aio::sleep(0s);
  co_return std::stoi(s);  // std::invalid_argument for "http"
}

aio::coro<int> port_or_default(std::string s) {
  auto port = co_await aio::as_result(parse_port(s));  // the co_await, then...
  if (!port) co_return 80;                             // ...the early co_return
  co_return *port;
}

AIO_TEST(hazards, gcc12_no_statement_expression_with_co_return) {
  EXPECT_EQ(co_await port_or_default("8080"), 8080);
  EXPECT_EQ(co_await port_or_default("http"), 80);
}
// snippet-end

// --- 9. as_completed left early ---------------------------------------------------------

// snippet-begin: hazards.as_completed_cancel_remaining
aio::coro<std::string> ask(const std::string& query, std::chrono::milliseconds latency) {
  co_await aio::sleep(latency);  // borrows `query` while it waits
  co_return query + " answered in " + std::to_string(latency.count()) + " ms";
}

aio::coro<std::string> first_answer(std::vector<std::chrono::milliseconds> mirrors) {
  const std::string query = "GET /status";
  std::vector<aio::coro<std::string>> asks;
  for (auto latency : mirrors) asks.push_back(ask(query, latency));
  auto range = aio::as_completed(std::move(asks));
  std::string answer;
  std::exception_ptr error;
  try {
    answer = co_await range.next();
  } catch (...) {
    error = std::current_exception();
  }
  co_await range.cancel_remaining();  // the others stop using `query` before it goes
  if (error) std::rethrow_exception(error);
  co_return answer;
}

AIO_TEST_VIRTUAL_TIME(hazards, as_completed_cancel_remaining) {
  std::vector<std::chrono::milliseconds> mirrors{300ms, 100ms, 200ms};
  EXPECT_EQ(co_await first_answer(std::move(mirrors)), "GET /status answered in 100 ms");
  EXPECT_EQ(aio::all_tasks().size(), 1u);  // only this test's own task is left
}
// snippet-end

// --- 10. Awaiting a coro twice --------------------------------------------------------

// snippet-begin: hazards.coro_is_awaited_once
template <class A>
concept awaitable_as_lvalue = requires(A& a) {
  a.operator co_await();
};
template <class A>
concept awaitable_as_rvalue = requires(A&& a) {
  std::move(a).operator co_await();
};

TEST(hazards, coro_is_awaited_once) {
  // `auto c = f(); co_await c;` does not compile: a coro is awaited once, as an rvalue.
  static_assert(!awaitable_as_lvalue<aio::coro<int>>);
  static_assert(awaitable_as_rvalue<aio::coro<int>>);
  static_assert(!std::is_copy_constructible_v<aio::coro<int>>);
  // A task is the handle to await many times, or to copy around.
  static_assert(awaitable_as_lvalue<aio::task<int>>);
  static_assert(std::is_copy_constructible_v<aio::task<int>>);
}
// snippet-end

AIO_TEST_VIRTUAL_TIME(hazards, task_is_awaited_many_times) {
  // snippet-begin: hazards.task_is_awaited_many_times
  auto page = aio::create_task(fetch("/index.html"));
  std::string first = co_await page;  // a copy of the value
  std::string again = co_await page;  // the same value, no second fetch
  CO_ASSERT_TRUE(page.done());
  std::string last = co_await std::move(page);  // moved out
  // snippet-end
  EXPECT_EQ(first, "DATA from /index.html");
  EXPECT_EQ(again, first);
  EXPECT_EQ(last, first);
}

// --- 11. aio::run inside a running loop ------------------------------------------------

aio::coro<int> answer() {
  co_await aio::sleep(0s);
  co_return 42;
}

// snippet-begin: hazards.run_inside_a_running_loop_throws
int sync_api() {  // a synchronous bridge: fine from plain code...
  return aio::run(answer());
}

AIO_TEST(hazards, run_inside_a_running_loop_throws) {
  // ...but not from a coroutine: await the coroutine instead.
  EXPECT_THROW(sync_api(), std::runtime_error);
  EXPECT_EQ(co_await answer(), 42);
}
// snippet-end

TEST(hazards, run_from_plain_code) {
  EXPECT_EQ(sync_api(), 42);
}

// --- 12. Other threads -------------------------------------------------------------------

// snippet-begin: hazards.other_threads_use_call_soon_threadsafe
AIO_TEST(hazards, other_threads_use_call_soon_threadsafe) {
  aio::event_loop& loop = aio::get_running_loop();
  aio::future<int> result;  // belongs to the loop's thread
  std::thread worker([&loop, result]() mutable {
    int v = 6 * 7;  // blocking or CPU-heavy work, off the loop
    // The loop's objects may only be touched on the loop's thread:
    loop.call_soon_threadsafe([r = std::move(result), v]() mutable { r.set_result(v); });
  });
  EXPECT_EQ(co_await result, 42);
  worker.join();
}
// snippet-end

}  // namespace
