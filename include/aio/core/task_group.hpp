// SPDX-License-Identifier: MIT
// aio/core/task_group.hpp — structured concurrency: a scope that cannot be left before
// the tasks started in it have ended (asyncio.TaskGroup, `async with`).
//
//   co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
//     for (auto& url : urls) tg.create_task(fetch(url));
//     co_return;
//   });                                  // every fetch has finished here
//
// with_task_group(body) runs `body(tg)` in the current task, then waits for every
// child. It returns the body's value.
//
// Errors (asyncio's TaskGroup, as of CPython's main branch): the first child that
// fails (with anything but cancelled_error) cancels the body and all other children;
// when everything has ended, the failures — and the body's own exception, if any —
// are thrown together as aio::exception_group("unhandled errors in a task group").
// Use exception_group::split<E>() for `except*`. aio::keyboard_interrupt (Python's
// KeyboardInterrupt) is not grouped: it propagates alone, and the other failures go
// to the loop's exception handler.
// Cancellation: cancelling the task cancels the body and the children, waits for them,
// and propagates cancelled_error — unless children failed, whose exception_group then
// takes precedence. The group tells its own cancellation of the task apart from one
// that came from outside with cancelling()/uncancel().
// create_task throws std::runtime_error once the group is shutting down (after a
// failure or a cancellation) or finished.
// Thread safety: the loop thread of the task that runs with_task_group.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/body.hpp"
#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/task.hpp"

namespace aio {

class task_group {
 public:
  task_group() = default;
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  /// A group destroyed with children running (its frame destroyed: the loop is
  /// closing) only requests their cancellation; destructors never block.
  ~task_group();

  /// Starts a child task in the group. Throws std::runtime_error (and drops the
  /// coroutine unstarted) if the group is not entered, finished or shutting down.
  template <class T>
  task<T> create_task(coro<T> c, task_options opts = {}) {
    if (const char* why = refusal()) {
      if (auto h = c.release()) h.destroy();  // refused on purpose: not "never awaited"
      refuse(why);
    }
    task<T> t = aio::create_task(std::move(c), opts);
    adopt(t.state());
    return t;
  }
  /// Starts `f()` as a child, keeping `f` (its captures) alive until it ends.
  template <class F>
  requires detail::coro_factory<F>
  auto create_task(F&& f, task_options opts = {}) {
    return create_task(detail::invoke_owned(std::decay_t<F>(std::forward<F>(f))), opts);
  }

  /// Cancels the group (Python 3.15's TaskGroup.cancel): every child and the body are
  /// cancelled, and with_task_group then returns normally — no cancelled_error —
  /// unless children failed. Idempotent; a no-op once the group has finished. Called
  /// before the group is entered, it cancels the group as soon as it is entered.
  void cancel() noexcept;

  /// Number of children still running.
  std::size_t size() const noexcept { return count_; }

  // --- asyncio's __aenter__ / __aexit__; with_task_group calls them ---
  /// Binds the group to the current task. std::runtime_error if entered before.
  void enter();
  /// Waits for the children and decides what propagates (see the file comment).
  coro<void> exit(std::exception_ptr body_exception);

 private:
  struct child;
  struct link {
    link* prev;
    link* next;
  };
  class all_done_awaiter;
  const char* refusal() const noexcept;
  [[noreturn]] static void refuse(const char* why);
  void adopt(detail::task_base* t);
  void on_child_done(child* c) noexcept;
  void abort() noexcept;

  detail::task_base* parent_ = nullptr;
  link children_{&children_, &children_};
  std::size_t count_ = 0;
  std::vector<std::exception_ptr> errors_;
  std::exception_ptr base_error_;        // a keyboard_interrupt: propagates alone
  detail::task_base* waiter_ = nullptr;  // the parent, waiting in exit() for the children
  bool entered_ = false;
  bool exiting_ = false;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;
  bool cancel_on_enter_ = false;
};

namespace detail {
template <class Body>
coro<body_result_t<Body, task_group>> with_task_group_impl(Body body) {
  using R = body_result_t<Body, task_group>;
  task_group tg;
  tg.enter();
  std::exception_ptr body_exception;
  if constexpr (std::is_void_v<R>) {
    try {
      co_await invoke_body(body, tg);
    } catch (...) {
      body_exception = std::current_exception();
    }
    co_await tg.exit(std::move(body_exception));
  } else {
    std::optional<R> result;
    try {
      result.emplace(co_await invoke_body(body, tg));
    } catch (...) {
      body_exception = std::current_exception();
    }
    co_await tg.exit(std::move(body_exception));
    co_return std::move(*result);
  }
}
}  // namespace detail

/// Runs `body` (a callable taking task_group& and returning a coro) and waits for
/// every task it starts in the group. Returns the body's value.
template <class Body>
auto with_task_group(Body&& body) {
  return detail::with_task_group_impl(std::decay_t<Body>(std::forward<Body>(body)));
}

}  // namespace aio
