// SPDX-License-Identifier: MIT
// aio/time/timeout.hpp — deadlines: aio::timeout, aio::timeout_at, aio::wait_for
// (asyncio.timeout, asyncio.timeout_at, asyncio.wait_for).
//
//   std::string body = co_await aio::timeout(10s, fetch(url));        // an awaitable
//   co_await aio::timeout(10s, [&]() -> aio::coro<void> { ... });    // a block
//   co_await aio::timeout(10s, [&](aio::timeout_scope& cm) -> aio::coro<void> {
//     co_await connect();
//     cm.reschedule(aio::get_running_loop().time() + 30s);           // move the deadline
//   });
//   int v = co_await aio::wait_for(compute(), 2s);
//
// timeout(d, body) runs `body` in the current task (like `async with
// asyncio.timeout(d):` — no new task). When the deadline passes, the current task is
// cancelled; once the body has unwound, timeout throws aio::timeout_error. Only the
// timeout that expired converts the cancellation: an outer timeout, or a cancel() from
// elsewhere, stays a cancelled_error (told apart with cancelling()/uncancel(), as in
// asyncio 3.11+). The deadline counts from the call to timeout(); timeout_at takes an
// absolute loop time; std::nullopt means "no deadline (yet)".
//
// Body: an awaitable (coro, task, future), or a callable returning a coro, optionally
// taking the aio::timeout_scope& (asyncio's Timeout object: when(), reschedule(),
// expired()).
// Errors: timeout_error when the deadline passed; anything the body throws.
// Cancellation: an outer cancel propagates as cancelled_error. Awaiting a task inside
// a timeout cancels that task when the deadline passes (as asyncio).
// Thread safety: the calling task's loop thread.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/body.hpp"
#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/multi_wait.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/future.hpp"
#include "aio/core/task.hpp"

namespace aio {

/// The running timeout that a body may inspect and move (asyncio.Timeout).
class timeout_scope : detail::timer_entry {
 public:
  explicit timeout_scope(std::optional<time_point> when) noexcept : when_(when) {}
  timeout_scope(const timeout_scope&) = delete;
  timeout_scope& operator=(const timeout_scope&) = delete;
  ~timeout_scope();

  /// The deadline, or nullopt for none.
  std::optional<time_point> when() const noexcept { return when_; }
  /// Moves the deadline (nullopt: no deadline). A deadline in the past expires on the
  /// next loop iteration. Throws std::runtime_error unless the scope is active.
  void reschedule(std::optional<time_point> when);
  /// True once the deadline has passed and the scope cancelled its task.
  bool expired() const noexcept { return state_ == state::expiring || state_ == state::expired; }

  // --- used by timeout_at (asyncio's __aenter__/__aexit__) ---
  void enter();
  /// The body ended (normally, or by an exception other than cancelled_error).
  void exit() noexcept;
  /// The body ended with cancelled_error: true if this scope expired and the
  /// cancellation is its own, so timeout_error must be thrown instead.
  bool exit_cancelled() noexcept;

 private:
  enum class state : std::uint8_t { created, entered, expiring, expired, exited };
  static void on_timeout(detail::timer_entry* t) noexcept;
  void leave() noexcept;

  std::optional<time_point> when_;
  detail::task_base* task_ = nullptr;
  std::uint32_t cancelling_ = 0;
  state state_ = state::created;
};

namespace detail {

template <class Body>
coro<body_result_t<Body, timeout_scope>> timeout_impl(std::optional<time_point> when, Body body) {
  using R = body_result_t<Body, timeout_scope>;
  timeout_scope scope(when);
  scope.enter();
  try {
    if constexpr (std::is_void_v<R>) {
      co_await invoke_body(body, scope);
      scope.exit();
      co_return;
    } else {
      R r = co_await invoke_body(body, scope);
      scope.exit();
      co_return r;
    }
  } catch (const cancelled_error&) {
    if (scope.exit_cancelled()) throw timeout_error();
    throw;
  } catch (...) {
    scope.exit();
    throw;
  }
}

}  // namespace detail

/// Runs `body` with a deadline at loop time `when` (nullopt: none, until rescheduled).
template <class Body>
auto timeout_at(std::optional<time_point> when, Body&& body) {
  return detail::timeout_impl(when, std::decay_t<Body>(std::forward<Body>(body)));
}

/// Runs `body` with a deadline `delay` from now.
template <class Rep, class Period, class Body>
auto timeout(std::chrono::duration<Rep, Period> delay, Body&& body) {
  return timeout_at(detail::require_loop().time() + std::chrono::duration_cast<duration>(delay),
                    std::forward<Body>(body));
}

/// Runs `body` with no deadline, which the body may set with reschedule().
template <class Body>
auto timeout(std::nullopt_t, Body&& body) {
  return timeout_at(std::nullopt, std::forward<Body>(body));
}

namespace detail {
template <class T>
coro<T> wait_for_now(task<T> t) {
  // asyncio.wait_for with timeout <= 0: the result if it is already there; else cancel
  // the task, wait until it is done (a cancel of *this* task propagates meanwhile),
  // and return its result — or timeout_error if the cancellation took.
  if (!t.done()) {
    t.cancel();
    co_await aio::detail::wait_done(t.state());
  }
  try {
    co_return co_await std::move(t);
  } catch (const cancelled_error&) {
    throw timeout_error();
  }
}
}  // namespace detail

/// Awaits `aw` (a coro, task or future) with a timeout: its result, or timeout_error
/// after `delay` (the awaited work is cancelled then; a coro or task is waited for).
template <class Aw, class Rep, class Period>
auto wait_for(Aw&& aw, std::chrono::duration<Rep, Period> delay) {
  using A = std::remove_cvref_t<Aw>;
  using T = detail::awaited_t<A>;
  if (delay <= delay.zero()) {
    if constexpr (detail::is_coro<A>::value)
      return detail::wait_for_now<T>(create_task(std::forward<Aw>(aw)));
    else if constexpr (std::is_base_of_v<any_task, A>)
      return detail::wait_for_now<T>(A(std::forward<Aw>(aw)));
  }
  return coro<T>(timeout(delay, A(std::forward<Aw>(aw))));
}

/// wait_for without a deadline (Python's `wait_for(aw, None)`): just awaits `aw`.
template <class Aw>
auto wait_for(Aw&& aw, std::nullopt_t) {
  using A = std::remove_cvref_t<Aw>;
  return coro<detail::awaited_t<A>>(timeout(std::nullopt, A(std::forward<Aw>(aw))));
}

}  // namespace aio
