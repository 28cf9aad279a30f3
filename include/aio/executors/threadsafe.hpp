// SPDX-License-Identifier: MIT
// aio/executors/threadsafe.hpp — aio::run_coroutine_threadsafe (asyncio's function of
// that name) and aio::concurrent_future (Python's concurrent.futures.Future): handing a
// coroutine to a loop that runs in another thread, and waiting for its result from a
// plain thread, as with std::future.
//
//   aio::event_loop* loop = ...;                      // running in another thread
//   aio::concurrent_future<int> f = aio::run_coroutine_threadsafe(fetch_count(), *loop);
//   int n = f.get();                                  // blocks this thread, not the loop
//   if (!f.wait_for(2s)) f.cancel();                  // or give up
//
// run_coroutine_threadsafe(c, loop) takes an aio::coro<T>, or a callable returning one
// (then the coroutine is created on the loop's thread and the callable, with its
// captures, lives until it ends). It posts the coroutine to `loop` with
// call_soon_threadsafe, where it runs as a task, and returns at once. It may be called
// from any thread, including the loop's own.
//
// Cancellation: f.cancel() asks the loop (through call_soon_threadsafe) to cancel the
// task; the coroutine gets cancelled_error at its suspension point and may clean up.
// Unlike Python's concurrent future, which becomes cancelled at once while the task
// winds down on its own, f stays pending until the task has ended (DESIGN.md §4: the
// coroutine may use data that the waiting thread owns), so get() returns only after the
// coroutine is done: it throws cancelled_error if the task ended cancelled (and returns
// its value if the coroutine caught the cancellation and returned one). cancel()
// returns false if f is already done.
// Errors: get() rethrows the coroutine's exception. A coroutine that never ran to its
// end — its loop was closed first, or the task was cancelled before it started — makes
// get() throw cancelled_error. run_coroutine_threadsafe throws std::runtime_error if
// the loop is closed. get(), wait(), wait_for() and wait_until() called on the thread
// of the loop that must complete f, while that loop runs and f is pending, throw
// std::logic_error instead of deadlocking (or blocking the loop for the whole timeout).
// Thread safety: a concurrent_future may be used (and copied) from any thread.
//
// Example (a worker thread asks the loop thread for data):
//   std::thread worker([&loop] {
//     auto f = aio::run_coroutine_threadsafe([]() -> aio::coro<std::string> {
//       co_return co_await read_config();
//     }, loop);
//     use(f.get());
//   });
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/task.hpp"

namespace aio {

template <class T>
class concurrent_future;

namespace detail {

/// Throws std::logic_error when the calling thread runs `loop` (a wait would deadlock).
void check_not_on_loop_thread(const event_loop* loop);

/// The state shared by a concurrent_future's handles and the task that completes it.
/// Everything is guarded by `m`.
template <class T>
class concurrent_state {
 public:
  enum class status { pending, finished, cancelled };

  explicit concurrent_state(event_loop* loop) noexcept : loop_(loop) {}

  template <class... U>
  void set_value(U&&... v) {
    std::lock_guard lk(m_);
    if (st_ != status::pending) return;
    if constexpr (!std::is_void_v<T>) value_.emplace(std::forward<U>(v)...);
    st_ = status::finished;
    task_ = nullptr;
    cv_.notify_all();
  }
  void set_exception(std::exception_ptr e, status s) noexcept {
    std::lock_guard lk(m_);
    if (st_ != status::pending) return;
    error_ = std::move(e);
    st_ = s;
    task_ = nullptr;
    cv_.notify_all();
  }
  /// The coroutine's frame is being destroyed: if it did not complete the state, it
  /// never will (cancelled before it started, or its loop closed).
  void abandon() noexcept {
    std::exception_ptr e;
    try {
      e = std::make_exception_ptr(
          cancelled_error("the coroutine did not finish (cancelled before it started, or "
                          "its event loop was closed)"));
    } catch (...) {
      e = std::current_exception();
    }
    set_exception(std::move(e), status::cancelled);
  }

  void set_task(task_base* t) noexcept {
    std::lock_guard lk(m_);
    if (st_ == status::pending) task_ = t;
  }
  /// Loop thread: the running task, if the coroutine is still running.
  task_base* task() noexcept {
    std::lock_guard lk(m_);
    return task_;
  }

  bool done() const {
    std::lock_guard lk(m_);
    return st_ != status::pending;
  }
  bool cancelled() const {
    std::lock_guard lk(m_);
    return st_ == status::cancelled;
  }
  void wait() const {
    std::unique_lock lk(m_);
    if (st_ != status::pending) return;
    lk.unlock();
    check_not_on_loop_thread(loop_);
    lk.lock();
    cv_.wait(lk, [&] { return st_ != status::pending; });
  }
  template <class Clock, class Dur>
  bool wait_until(std::chrono::time_point<Clock, Dur> deadline) const {
    std::unique_lock lk(m_);
    if (st_ != status::pending) return true;
    lk.unlock();
    check_not_on_loop_thread(loop_);
    lk.lock();
    return cv_.wait_until(lk, deadline, [&] { return st_ != status::pending; });
  }

  /// Waits, then returns the value (copied, or moved out when `move`) or rethrows.
  template <bool Move>
  T get() {
    wait();
    std::lock_guard lk(m_);
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) {
      if (!value_) throw invalid_state_error("concurrent_future: the value was already moved out");
      if constexpr (Move) {
        T v = std::move(*value_);
        value_.reset();
        return v;
      } else {
        return *value_;
      }
    }
  }

  event_loop* loop() const noexcept { return loop_; }

 private:
  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  event_loop* const loop_;
  status st_ = status::pending;
  std::optional<std::conditional_t<std::is_void_v<T>, char, T>> value_;
  std::exception_ptr error_;
  task_base* task_ = nullptr;  // the task running the coroutine (loop thread reads it)
};

/// Completes the state if the coroutine's frame goes without having completed it. A
/// by-value parameter of the wrapper coroutine, so that it dies with the frame even if
/// the coroutine never started.
template <class T>
class threadsafe_guard {
 public:
  explicit threadsafe_guard(std::shared_ptr<concurrent_state<T>> st) noexcept
      : st_(std::move(st)) {}
  threadsafe_guard(threadsafe_guard&& o) noexcept : st_(std::move(o.st_)) {}
  threadsafe_guard& operator=(threadsafe_guard&&) = delete;
  ~threadsafe_guard() {
    if (st_) st_->abandon();
  }
  concurrent_state<T>& state() const noexcept { return *st_; }

 private:
  std::shared_ptr<concurrent_state<T>> st_;
};

template <class Aw>
decltype(auto) start_awaitable(Aw& aw) {
  if constexpr (is_coro<Aw>::value)
    return std::move(aw);
  else
    return std::invoke(aw);
}

/// The coroutine that runs on the loop: awaits the user's coroutine and moves its
/// outcome into the shared state. A cancellation is recorded and rethrown, so that the
/// task ends cancelled (asyncio: task.cancelled()).
template <class T, class Aw>
coro<void> threadsafe_body(threadsafe_guard<T> g, Aw aw) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await start_awaitable(aw);
      g.state().set_value();
    } else {
      g.state().set_value(co_await start_awaitable(aw));
    }
  } catch (const cancelled_error&) {
    g.state().set_exception(std::current_exception(), concurrent_state<T>::status::cancelled);
    throw;
  } catch (...) {
    g.state().set_exception(std::current_exception(), concurrent_state<T>::status::finished);
  }
}

template <class C>
struct coro_value;
template <class T>
struct coro_value<coro<T>> {
  using type = T;
};
template <class Aw>
auto threadsafe_value_of() {
  if constexpr (is_coro<Aw>::value)
    return std::type_identity<typename coro_value<Aw>::type>();
  else
    return std::type_identity<typename coro_value<std::invoke_result_t<Aw&>>::type>();
}
/// T of the coro<T> that `Aw` is or returns.
template <class Aw>
using threadsafe_value_t = typename decltype(threadsafe_value_of<std::decay_t<Aw>>())::type;

/// The callback posted to the loop: starts the task.
template <class T>
struct threadsafe_starter {
  std::shared_ptr<concurrent_state<T>> st;
  coro<void> body;
  void operator()() {
    task<void> t = st->loop()->create_task(std::move(body));
    st->set_task(t.state());
  }
};

}  // namespace detail

/// Python's concurrent.futures.Future, as returned by run_coroutine_threadsafe. A
/// copyable handle to shared state; every member may be called from any thread.
template <class T>
class concurrent_future {
 public:
  using value_type = T;

  concurrent_future() noexcept = default;
  explicit concurrent_future(std::shared_ptr<detail::concurrent_state<T>> st) noexcept
      : st_(std::move(st)) {}

  bool valid() const noexcept { return static_cast<bool>(st_); }
  /// True once the coroutine has ended (with a value, an exception, or cancelled).
  bool done() const { return st_->done(); }
  /// True if it ended cancelled.
  bool cancelled() const { return st_->cancelled(); }

  /// Blocks until done.
  void wait() const { st_->wait(); }
  /// Blocks until done or `d` has passed; true if done.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    return st_->wait_until(std::chrono::steady_clock::now() + d);
  }
  template <class Clock, class Dur>
  bool wait_until(std::chrono::time_point<Clock, Dur> deadline) const {
    return st_->wait_until(deadline);
  }

  /// Blocks until done; returns a copy of the value or rethrows the exception
  /// (cancelled_error if it was cancelled). Python's result().
  T get() const& {
    static_assert(std::is_void_v<T> || std::is_copy_constructible_v<T>,
                  "the result is move-only: std::move(future).get() takes it");
    return st_->template get<false>();
  }
  /// The same, moving the value out (a second get() then throws invalid_state_error).
  T get() && { return st_->template get<true>(); }

  /// Asks the loop to cancel the task (see threadsafe.hpp, Cancellation). False if the
  /// future is already done or the loop is closed.
  bool cancel() {
    if (st_->done()) return false;
    try {
      st_->loop()->call_soon_threadsafe([st = st_] {
        if (detail::task_base* t = st->task()) t->cancel();
      });
    } catch (const std::runtime_error&) {
      return false;  // the loop is closed: the coroutine's frame is gone or going
    }
    return true;
  }

 private:
  std::shared_ptr<detail::concurrent_state<T>> st_;
};

/// asyncio.run_coroutine_threadsafe(coro, loop): runs `c` (an aio::coro<T>, or a
/// callable returning one) as a task on `loop` and returns a concurrent_future<T>.
template <class Aw>
[[nodiscard]] auto run_coroutine_threadsafe(Aw&& c, event_loop& loop) {
  static_assert(detail::is_coro<std::decay_t<Aw>>::value || detail::coro_factory<Aw>,
                "run_coroutine_threadsafe takes an aio::coro or a callable returning one");
  using T = detail::threadsafe_value_t<Aw>;
  auto st = std::make_shared<detail::concurrent_state<T>>(&loop);
  coro<void> body = detail::threadsafe_body<T, std::decay_t<Aw>>(
      detail::threadsafe_guard<T>(st), std::decay_t<Aw>(std::forward<Aw>(c)));
  loop.call_soon_threadsafe(detail::threadsafe_starter<T>{st, std::move(body)});
  return concurrent_future<T>(std::move(st));
}

}  // namespace aio
