// SPDX-License-Identifier: MIT
// aio/time/retry.hpp — aio::retry(fn, opts): call an operation again on failure, with
// exponential backoff and jitter (the loop the asyncio guides write by hand, and what
// the tenacity/backoff libraries do).
//
//   std::string body = co_await aio::retry([&]() { return fetch(url); },
//                                          {.max_retries = 4, .base_delay = 200ms});
//
// `fn` is called for every attempt and must return an awaitable (a coro). After a failed
// attempt k (0-based), retry sleeps min(max_delay, base_delay · multiplier^k), of which
// the fraction `jitter` is random (0: none; 0.5 default: half fixed, half uniform — the
// "equal jitter" scheme; 1: "full jitter", uniform in [0, delay]), then tries again — at
// most max_retries times after the first attempt. It gives up with the last exception.
//
// Which failures are retried: by default every std::exception; set `retry_if` to decide
// (timeouts and connection errors, say). aio::cancelled_error is never retried and never
// delayed: a cancellation of the calling task propagates at once, also from the sleep.
// `on_retry(attempt, exception, delay)` is called before each sleep (for logging).
// Errors: the last attempt's exception.
// Thread safety: the calling task's loop thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <random>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/body.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/function_ref.hpp"
#include "aio/time/sleep.hpp"

namespace aio {

struct retry_options {
  int max_retries = 3;                                   // attempts after the first
  duration base_delay = std::chrono::milliseconds(100);  // delay after the first failure
  duration max_delay = std::chrono::seconds(10);         // cap on any one delay
  double multiplier = 2.0;                               // growth per attempt
  double jitter = 0.5;                                   // random fraction of each delay
  /// Which exceptions are retried (default: every std::exception).
  function_ref<bool(const std::exception_ptr&)> retry_if{};
  /// Called before each sleep: attempt number (1 = the first retry), the exception, delay.
  function_ref<void(int, const std::exception_ptr&, duration)> on_retry{};
};
static_assert(std::is_trivially_destructible_v<retry_options>);  // docs/hazards.md

namespace detail {
bool retry_by_default(const std::exception_ptr& e) noexcept;
duration backoff_delay(const retry_options& o, int attempt);
}  // namespace detail

/// Calls `fn()` and awaits it; on failure retries as described above.
template <class F>
auto retry(F fn, retry_options opts = {}) -> coro<detail::awaited_t<std::invoke_result_t<F&>>> {
  using T = detail::awaited_t<std::invoke_result_t<F&>>;
  for (int attempt = 0;; ++attempt) {
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::invoke(fn);
        co_return;
      } else {
        co_return co_await std::invoke(fn);
      }
    } catch (const cancelled_error&) {
      throw;  // never retried
    } catch (...) {
      error = std::current_exception();
    }
    const bool retryable = opts.retry_if ? opts.retry_if(error) : detail::retry_by_default(error);
    if (!retryable || attempt >= opts.max_retries) std::rethrow_exception(error);
    const duration delay = detail::backoff_delay(opts, attempt);
    if (opts.on_retry) opts.on_retry(attempt + 1, error, delay);
    co_await sleep(delay);
  }
}

}  // namespace aio
