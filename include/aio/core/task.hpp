// SPDX-License-Identifier: MIT
// aio/core/task.hpp — aio::task<T>, asyncio's Task: a coroutine scheduled to run
// concurrently on the loop, and the handle to its outcome.
//
//   aio::task<T> t = aio::create_task(f(args...), {.name = "fetch-42"});
//   T v = co_await t;          // wait for it (any number of awaiters)
//
// A task starts at once (its first step is queued on the running loop). The handle
// is cheap and copyable; dropping every handle does not stop the task: the loop keeps
// it until it finishes (the "save a reference to your task" footgun of asyncio is
// gone). An exception that nobody retrieves (by awaiting, result() or exception()) is
// reported through the loop's exception handler when the last handle goes, as
// asyncio's "Task exception was never retrieved".
//
// create_task also accepts a callable that returns a coro; the task keeps the
// callable, and so its lambda captures, alive until the coroutine ends — the safe way
// to start a task from a lambda:
//
//   aio::create_task([url = std::string(url)]() -> aio::coro<void> { co_await get(url); });
//
// Cancellation: t.cancel(msg) throws aio::cancelled_error(msg) at the task's current
// (or next) suspension point. The task may catch it, clean up (awaiting again), and
// rethrow; it ends cancelled if cancelled_error escapes its coroutine. Awaiting a task
// from a task that gets cancelled cancels the awaited task too (as asyncio); the
// awaiter still waits for it to finish. aio::shield prevents this.
// Errors: result() and co_await rethrow the task's exception; result() of a pending
// task throws aio::invalid_state_error.
// Thread safety: a task belongs to its loop's thread; use call_soon_threadsafe or
// run_coroutine_threadsafe to reach it from elsewhere.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/future_awaiter.hpp"
#include "aio/core/detail/task_base.hpp"

namespace aio {

template <class T>
class task;

/// Options for create_task (Python's keyword arguments).
///
/// Like every options struct in aio, it holds only trivially destructible members
/// (views, numbers, durations): g++ 12 destroys an aggregate temporary with
/// non-trivial members twice when it appears in a co_await expression
/// (docs/hazards.md, "g++ 12 and temporaries"). The callee copies what it keeps.
struct task_options {
  std::string_view name{};  // empty: "Task-<n>"
};
static_assert(std::is_trivially_destructible_v<task_options>);

namespace detail {

template <class T>
class task_state final : public task_base {
 public:
  explicit task_state(loop_base* loop) noexcept : task_base(loop, &ops_) {}
  [[no_unique_address]] value_slot<T> value_;

 private:
  static std::exception_ptr take_result(task_base* t) noexcept {
    auto* self = static_cast<task_state*>(t);
    if (std::exception_ptr e = take_coro_exception()) return e;
    if constexpr (!std::is_void_v<T>) {
      auto& p =
          std::coroutine_handle<coro_promise<T>>::from_address(self->top_.address()).promise();
      try {
        self->value_.set(std::move(*p.value));
      } catch (...) {
        return std::current_exception();
      }
    }
    return nullptr;
  }
  static void destroy(future_base* f) noexcept { delete static_cast<task_state*>(f); }
  static constexpr task_ops ops_{{{&task_base::run_step}, &destroy}, &take_result};
};

template <class F>
using invoke_coro_t = std::invoke_result_t<std::decay_t<F>&>;

template <class F>
concept coro_factory = std::is_invocable_v < std::decay_t<F>
& > &&is_coro<invoke_coro_t<F>>::value;

/// Runs `f()` and keeps `f` (its captures) alive until the coroutine it returned ends.
template <class F>
invoke_coro_t<F> invoke_owned(F f) {
  co_return co_await std::invoke(f);
}

template <class T>
task<T> spawn(loop_base* loop, coro<T> c, std::string_view name);

}  // namespace detail

/// A handle to a task of any result type: what current_task(), all_tasks() and wait()
/// deal in. Awaiting it waits for the task and rethrows its exception.
class any_task {
 public:
  using aio_awaitable = void;

  any_task() noexcept = default;

  /// False for a default-constructed handle.
  bool valid() const noexcept { return static_cast<bool>(state_); }
  explicit operator bool() const noexcept { return valid(); }

  bool done() const noexcept { return state_->done(); }
  bool cancelled() const noexcept { return state_->is_cancelled(); }
  /// Requests cancellation; false if the task is already done.
  bool cancel(std::string_view msg = {}) { return state_->cancel(msg); }
  /// Number of pending cancellation requests (asyncio 3.11).
  std::uint32_t cancelling() const noexcept { return state_->cancelling(); }
  /// Decrements the cancellation count; returns the new count.
  std::uint32_t uncancel() noexcept { return state_->uncancel(); }
  std::string get_name() const { return state_->get_name(); }
  void set_name(std::string name) { state_->set_name(std::move(name)); }
  /// The exception of a finished task, or nullptr. Throws cancelled_error if it was
  /// cancelled, invalid_state_error if it is still pending.
  std::exception_ptr exception() const { return state_->exception(); }

  /// Calls `fn(const any_task&)` on the loop (via call_soon) once the task is done.
  template <class F>
  void add_done_callback(F fn) {
    detail::done_callback<wrapped<F>>::add(state_.get(), wrapped<F>{std::move(fn)});
  }

  friend bool operator==(const any_task& a, const any_task& b) noexcept {
    return a.state_.get() == b.state_.get();
  }

  class awaiter : public detail::future_awaiter<detail::task_base> {
   public:
    using future_awaiter::future_awaiter;
    void await_resume() { check(); }
  };
  awaiter operator co_await() const noexcept { return awaiter{state_.get()}; }

  /// The underlying state (for the library's combinators).
  detail::task_base* state() const noexcept { return state_.get(); }
  static any_task from_state(detail::task_base* st) noexcept {
    st->add_ref();
    return any_task(st);
  }

 protected:
  explicit any_task(detail::task_base* st) noexcept : state_(st) {}  // adopts a reference
  detail::state_ptr<detail::task_base> state_;

 private:
  template <class F>
  struct wrapped {
    F fn;
    void operator()(detail::future_base* st) {
      const any_task h = from_state(static_cast<detail::task_base*>(st));
      std::invoke(fn, h);
    }
  };
};

/// A handle to a task whose coroutine returns T.
template <class T = void>
class task : public any_task {
 public:
  using value_type = T;

  task() noexcept = default;

  /// The value of a finished task (a reference into the task, valid while a handle
  /// lives). Rethrows its exception; cancelled_error if cancelled;
  /// invalid_state_error if pending.
  decltype(auto) result() const {
    state_->check_result();
    if constexpr (!std::is_void_v<T>) return typed()->value_.get();
  }

  /// Calls `fn(const task<T>&)` on the loop (via call_soon) once the task is done.
  template <class F>
  void add_done_callback(F fn) {
    detail::done_callback<wrapped<F>>::add(state_.get(), wrapped<F>{std::move(fn)});
  }

  template <bool Move>
  class awaiter : public detail::future_awaiter<detail::task_base> {
   public:
    using future_awaiter::future_awaiter;
    T await_resume() {
      check();
      return detail::take_value<T, Move>(static_cast<detail::task_state<T>*>(state())->value_);
    }
  };
  /// Waits for the task; returns a copy of its value.
  awaiter<false> operator co_await() const& noexcept { return awaiter<false>{state_.get()}; }
  /// Waits for the task; moves its value out (for move-only results).
  awaiter<true> operator co_await() && noexcept { return awaiter<true>{state_.get()}; }

 private:
  template <class U>
  friend task<U> detail::spawn(detail::loop_base*, coro<U>, std::string_view);
  explicit task(detail::task_state<T>* st) noexcept : any_task(st) {}
  detail::task_state<T>* typed() const noexcept {
    return static_cast<detail::task_state<T>*>(state_.get());
  }
  template <class F>
  struct wrapped {
    F fn;
    void operator()(detail::future_base* st) {
      auto* ts = static_cast<detail::task_state<T>*>(st);
      ts->add_ref();
      const task<T> h(ts);
      std::invoke(fn, h);
    }
  };
};

namespace detail {
template <class T>
task<T> spawn(loop_base* loop, coro<T> c, std::string_view name) {
  auto* st = new task_state<T>(loop);
  task<T> t(st);                            // the handle's reference
  st->start(c.release(), std::move(name));  // the loop's reference, first step queued
  return t;
}
}  // namespace detail

/// Schedules `c` on the running loop (asyncio.create_task). Throws std::runtime_error
/// outside of a running loop (use event_loop::create_task there).
template <class T>
task<T> create_task(coro<T> c, task_options opts = {}) {
  return detail::spawn(&detail::require_loop(), std::move(c), opts.name);
}

/// Schedules `f()` and keeps `f` alive until the coroutine it returns ends.
template <class F>
requires detail::coro_factory<F>
auto create_task(F&& f, task_options opts = {}) {
  return create_task(detail::invoke_owned(std::decay_t<F>(std::forward<F>(f))), opts);
}

/// The task running on this thread, or nullopt outside of a task step.
std::optional<any_task> current_task();

/// The pending tasks of the running loop (asyncio.all_tasks()).
std::vector<any_task> all_tasks();
/// The pending tasks of `loop` (asyncio.all_tasks(loop)).
std::vector<any_task> all_tasks(event_loop& loop);

}  // namespace aio

template <>
struct std::hash<aio::any_task> {
  std::size_t operator()(const aio::any_task& t) const noexcept {
    return std::hash<const void*>()(t.state());
  }
};
template <class T>
struct std::hash<aio::task<T>> : std::hash<aio::any_task> {};
