// SPDX-License-Identifier: MIT
#include "aio/time/retry.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

struct transient : std::runtime_error {
  transient() : std::runtime_error("transient") {}
};
struct fatal : std::runtime_error {
  fatal() : std::runtime_error("fatal") {}
};

AIO_TEST_VIRTUAL_TIME(retry, succeeds_after_failures_with_exponential_backoff) {
  auto& loop = aio::get_running_loop();
  int attempts = 0;
  std::vector<aio::duration> delays;
  const auto t0 = loop.time();
  auto on_retry = [&](int, const std::exception_ptr&, aio::duration d) { delays.push_back(d); };
  std::string r = co_await aio::retry(
      [&]() -> aio::coro<std::string> {
        if (++attempts < 4) throw transient();
        co_return "ok";
      },
      {.max_retries = 5, .base_delay = 100ms, .jitter = 0, .on_retry = on_retry});
  EXPECT_EQ(r, "ok");
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(delays, (std::vector<aio::duration>{100ms, 200ms, 400ms}));
  EXPECT_EQ(loop.time() - t0, 700ms);
}

AIO_TEST_VIRTUAL_TIME(retry, gives_up_with_the_last_exception) {
  int attempts = 0;
  EXPECT_THROW(co_await aio::retry(
                   [&]() -> aio::coro<void> {
                     ++attempts;
                     throw transient();
                   },
                   {.max_retries = 2, .base_delay = 1ms}),
               transient);
  EXPECT_EQ(attempts, 3);
}

AIO_TEST_VIRTUAL_TIME(retry, retry_if_decides) {
  int attempts = 0;
  auto only_transient = [](const std::exception_ptr& e) {
    return aio::exception_group::matches<transient>(e);
  };
  EXPECT_THROW(co_await aio::retry(
                   [&]() -> aio::coro<void> {
                     ++attempts;
                     throw fatal();
                   },
                   {.retry_if = only_transient}),
               fatal);
  EXPECT_EQ(attempts, 1);
}

bool only_transient_fn(const std::exception_ptr& e) {
  return aio::exception_group::matches<transient>(e);
}

AIO_TEST_VIRTUAL_TIME(retry, retry_if_may_be_a_plain_function) {
  int attempts = 0;
  EXPECT_THROW(co_await aio::retry(
                   [&]() -> aio::coro<void> {
                     ++attempts;
                     if (attempts < 3) throw transient();
                     throw fatal();
                   },
                   {.base_delay = 1ms, .retry_if = only_transient_fn}),
               fatal);
  EXPECT_EQ(attempts, 3);
}

AIO_TEST_VIRTUAL_TIME(retry, delays_are_capped_and_jittered_within_bounds) {
  aio::retry_options o{.base_delay = 1s, .max_delay = 5s, .multiplier = 10, .jitter = 0.5};
  for (int attempt = 0; attempt < 5; ++attempt) {
    for (int k = 0; k < 100; ++k) {
      const auto d = aio::detail::backoff_delay(o, attempt);
      const auto full = attempt == 0 ? aio::duration(1s) : aio::duration(5s);
      EXPECT_GE(d, full / 2);
      EXPECT_LE(d, full);
    }
  }
  co_return;
}

AIO_TEST_VIRTUAL_TIME(retry, cancellation_is_never_retried) {
  int attempts = 0;
  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::retry(
        [&]() -> aio::coro<void> {
          ++attempts;
          co_await aio::sleep(1h);
        },
        {.max_retries = 10});
  });
  co_await aio::sleep(1s);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_EQ(attempts, 1);
}

AIO_TEST_VIRTUAL_TIME(retry, cancelled_during_backoff_sleep) {
  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::retry([&]() -> aio::coro<void> { throw transient(); },
                        {.max_retries = 10, .base_delay = 1h});
  });
  co_await aio::sleep(1s);  // in the first backoff sleep
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
}

}  // namespace
