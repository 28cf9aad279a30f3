// SPDX-License-Identifier: MIT
// aio/sync/event.hpp — aio::event, a flag that tasks can wait for (asyncio.Event); the
// asynchronous equivalent of threading.Event (or of a std::latch that can be re-armed).
//
//   set() / clear() / is_set()  ·  co_await ev.wait() -> void
//
// set() raises the flag and wakes every task waiting for it; a task that waits while
// the flag is raised does not suspend at all. clear() lowers it again: later waits
// block until the next set(). Tasks woken by a set() return from wait() even if the
// flag was cleared before they ran (what wakes them is the set, not the flag at the
// moment they run — as asyncio).
//
// Cancellation: cancelling a waiting task makes wait() throw cancelled_error and
// removes it from the waiters. A task cancelled after a set() woke it, but before it
// ran, throws cancelled_error too; nothing is lost, since a set() wakes every waiter
// (there is nothing to pass on).
// Errors: none besides cancelled_error. wait() may only be awaited inside a task
// (std::logic_error otherwise, as every aio awaitable that suspends).
// Thread safety: an event belongs to one loop's thread (between loops, use aio::channel).
//
// Example:
//   aio::event ready;
//   auto worker = aio::create_task([&]() -> aio::coro<void> {
//     co_await ready.wait();  // blocks until set()
//     co_await serve();
//   });
//   co_await load_config();
//   ready.set();
#pragma once

#include <coroutine>
#include <cstddef>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

class event {
 public:
  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// True while the flag is raised.
  bool is_set() const noexcept { return set_; }

  /// Raises the flag and wakes every waiting task (in the order they started
  /// waiting). No effect if the flag is raised already.
  void set() noexcept {
    if (set_) return;
    set_ = true;
    waiters_.wake_all([](detail::sync_waiter& w) noexcept { w.granted = true; });
  }

  /// Lowers the flag. Tasks that a set() woke already still return from wait().
  void clear() noexcept { set_ = false; }

  class awaiter : detail::sync_waiter {
   public:
    explicit awaiter(event* e) noexcept : e_(e) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() { e_->waiters_.remove(this); }

    bool await_ready() const noexcept { return e_->set_; }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      e_->waiters_.push_back(this);
      task->suspend_on(h, this);
    }
    void await_resume() {
      if (task && (task->cancel_requested() || cancelled)) {
        // Woken by set() and cancelled before running (granted), or cancelled while
        // waiting: either way the cancellation wins; set() woke everyone, so nothing
        // needs to be passed on.
        task->throw_if_cancel_requested();
        throw cancelled_error(task->cancel_message());
      }
    }

   private:
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(s);
      return detail::cancel_queued_waiter(self, self->e_->waiters_);
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    event* e_;
  };

  /// Waits until the flag is raised (at once if it is raised now).
  class wait_awaitable {
   public:
    using aio_awaitable = void;
    explicit wait_awaitable(event* e) noexcept : e_(e) {}
    awaiter operator co_await() const noexcept { return awaiter(e_); }

   private:
    event* e_;
  };
  wait_awaitable wait() noexcept { return wait_awaitable(this); }

 private:
  // Invariant: waiters_ is empty while set_ is true (set() wakes them all, and a wait
  // on a raised flag does not queue).
  detail::waiter_queue waiters_;
  bool set_ = false;
};

}  // namespace aio
