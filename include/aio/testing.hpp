// SPDX-License-Identifier: MIT
// aio/testing.hpp — testing async code with GoogleTest (pytest-asyncio's role).
//
//   AIO_TEST(fetcher, retries_three_times) {          // the body is a coroutine
//     auto r = co_await fetch_with_retries(url);
//     EXPECT_EQ(r.attempts, 3);
//   }
//   AIO_TEST_VIRTUAL_TIME(fetcher, gives_up_after_30s) {  // time jumps when idle
//     auto t0 = aio::get_running_loop().time();
//     co_await aio::sleep(30s);                          // takes no wall time
//   }
//
// Each test body runs as the main task of a fresh event loop. When it ends, the test
// fails if anything is left behind: pending tasks (cancelled and named in the
// failure), armed timers, live callback handles, file descriptors that were not
// open before, or errors that went to the loop's exception handler (an exception
// nobody retrieved, a callback that threw). A test that expects such a report takes
// it with aio::testing::take_reports().
//
// GoogleTest's ASSERT_* macros `return`, which a coroutine cannot do: use the
// CO_ASSERT_* forms below (they stop the body by throwing); EXPECT_* work as usual.
//
// cancel_at_every_step(scenario) is the brute-force cancellation mode: it runs the
// scenario once to count the loop steps it takes, then once more for every step k,
// cancelling the scenario's task right after step k, and checks each run for leaks.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "aio/aio.hpp"

namespace aio::testing {

struct options {
  /// Run on virtual time (loop_options::virtual_clock).
  bool virtual_clock = false;
  /// Debug mode for the test's loop.
  bool debug = false;
};

/// Thrown by CO_ASSERT_* to end a test body after a fatal failure.
struct fatal_failure {};

/// Runs `body()` as the main task of a fresh loop and checks for leaks (see above).
void run_test(const std::function<coro<void>()>& body, options opts = {});

/// The messages reported to the running test loop's exception handler so far; clears
/// them (a report left at the end of the test fails it).
std::vector<exception_context> take_reports();

/// Result of cancel_at_every_step.
struct cancel_stats {
  std::size_t steps = 0;      // task steps the uncancelled run took
  std::size_t completed = 0;  // cancelled runs whose scenario still returned normally
  std::size_t cancelled = 0;  // cancelled runs that ended with cancelled_error
};

/// Brute-force cancellation (see the file comment). The scenario must end normally or
/// with cancelled_error in every run; anything else, a hang or a leak fails the test.
cancel_stats cancel_at_every_step(const std::function<coro<void>()>& scenario,
                                  options opts = {.virtual_clock = true});

/// Number of open file descriptors of the process.
std::size_t open_fd_count();

}  // namespace aio::testing

#define AIO_TEST_IMPL_(suite, name, opts)                            \
  static ::aio::coro<void> aio_test_body_##suite##_##name();         \
  TEST(suite, name) {                                                \
    ::aio::testing::run_test(&aio_test_body_##suite##_##name, opts); \
  }                                                                  \
  static ::aio::coro<void> aio_test_body_##suite##_##name()

/// A GoogleTest test whose body is a coroutine, on a real clock.
#define AIO_TEST(suite, name) AIO_TEST_IMPL_(suite, name, ::aio::testing::options{})
/// The same on virtual time: sleeping and timeouts take no wall time and are exact.
#define AIO_TEST_VIRTUAL_TIME(suite, name) \
  AIO_TEST_IMPL_(suite, name, ::aio::testing::options{.virtual_clock = true})
/// With explicit options: AIO_TEST_WITH(suite, name, {.virtual_clock = true, .debug = true}).
#define AIO_TEST_WITH(suite, name, ...) \
  AIO_TEST_IMPL_(suite, name, (::aio::testing::options __VA_ARGS__))

#define AIO_CO_ASSERT_(statement)                                                  \
  do {                                                                             \
    [&]() { statement; }();                                                        \
    if (::testing::Test::HasFatalFailure()) throw ::aio::testing::fatal_failure{}; \
  } while (0)

#define CO_ASSERT_TRUE(c) AIO_CO_ASSERT_(ASSERT_TRUE(c))
#define CO_ASSERT_FALSE(c) AIO_CO_ASSERT_(ASSERT_FALSE(c))
#define CO_ASSERT_EQ(a, b) AIO_CO_ASSERT_(ASSERT_EQ(a, b))
#define CO_ASSERT_NE(a, b) AIO_CO_ASSERT_(ASSERT_NE(a, b))
#define CO_ASSERT_LT(a, b) AIO_CO_ASSERT_(ASSERT_LT(a, b))
#define CO_ASSERT_LE(a, b) AIO_CO_ASSERT_(ASSERT_LE(a, b))
#define CO_ASSERT_GT(a, b) AIO_CO_ASSERT_(ASSERT_GT(a, b))
#define CO_ASSERT_GE(a, b) AIO_CO_ASSERT_(ASSERT_GE(a, b))
