// SPDX-License-Identifier: MIT
// aio/sync/condition.hpp — aio::condition, a condition variable for tasks
// (asyncio.Condition); the asynchronous equivalent of std::condition_variable_any
// over an aio::lock.
//
//   co_await cond.acquire() -> lock::guard  ·  co_await cond.wait()  ·
//   co_await cond.wait_for(pred) -> pred's value  ·  notify(n = 1)  ·  notify_all()
//
// A condition owns an aio::lock, or shares one given to its constructor (several
// conditions over one lock, as asyncio.Condition(lock)). wait() must be called with
// the lock held: it releases the lock, waits until notify() wakes it, and takes the
// lock again before it returns. wait_for(pred) waits until pred() is true (checked
// with the lock held) and returns pred()'s last value. notify(n) wakes the first n
// waiting tasks (FIFO), notify_all() all of them; the caller must hold the lock, and a
// woken task returns from wait() only once it has the lock back (after the notifier
// released it). As with every condition variable, check the state again after wait():
// wait_for does that for you.
//
// Cancellation: wait() always takes the lock again before it throws, as asyncio's —
// if the task is cancelled while waiting for a notification, or while waiting for the
// lock afterwards (even repeatedly), it keeps waiting for the lock, then throws the
// last cancelled_error. The caller's guard therefore always finds the lock held. A
// notification must not be lost: a task that was notified and then cancelled before it
// got the lock back passes the notification on to the next waiter (asyncio ≥ 3.13,
// gh-112202). A task cancelled while merely waiting passes nothing on (asyncio notifies
// another waiter then too: a spurious wake-up, which aio knows it can spare).
// Errors: wait(), wait_for() with a false predicate, notify() and notify_all() throw
// std::runtime_error when the lock is not held (asyncio's RuntimeError); release() of an
// unlocked lock too. Anything pred() throws propagates (with the lock held).
// Thread safety: a condition belongs to one loop's thread (between loops, use
// aio::channel).
//
// Example (a consumer and a producer of a job list):
//   auto held = co_await cond.acquire();                    // consumer
//   co_await cond.wait_for([&] { return !jobs.empty(); });  // holds the lock again here
//   run(take_front(jobs));
//   auto held = co_await cond.acquire();                    // producer
//   jobs.push_back(std::move(j)); cond.notify();
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"
#include "aio/sync/lock.hpp"

namespace aio {

class condition {
 public:
  /// A condition with a lock of its own.
  condition() noexcept : lock_(&own_lock_) {}
  /// A condition over `l` (which must outlive it), shared with whoever else uses `l`.
  explicit condition(aio::lock& l) noexcept : lock_(&l) {}
  condition(const condition&) = delete;
  condition& operator=(const condition&) = delete;

  /// Waits for the lock (lock::acquire); the guard releases it.
  lock::acquire_awaitable acquire() noexcept { return lock_->acquire(); }
  /// Releases the lock (lock::release): std::runtime_error if it is not held.
  void release() { lock_->release(); }
  bool locked() const noexcept { return lock_->locked(); }

  /// Releases the lock, waits for a notification, takes the lock again (see the file
  /// comment for cancellation). std::runtime_error if the lock is not held.
  coro<void> wait();

  /// Waits until pred() is true; returns its last value (pred() runs with the lock
  /// held, first before any wait). The predicate's value must be testable as a bool.
  /// On g++ 12 a predicate written inside the co_await expression must capture by
  /// reference only (docs/hazards.md, GCC 12 bugs around co_await).
  template <class Pred>
  coro<std::decay_t<std::invoke_result_t<Pred&>>> wait_for(Pred pred) {
    auto result = pred();
    while (!result) {
      co_await wait();
      result = pred();
    }
    co_return result;
  }

  /// Wakes the first `n` waiting tasks (fewer if fewer wait). std::runtime_error if
  /// the lock is not held.
  void notify(std::size_t n = 1) {
    if (!lock_->locked()) throw std::runtime_error("cannot notify on un-acquired lock");
    notify_waiters(n);
  }
  /// Wakes every waiting task. std::runtime_error if the lock is not held.
  void notify_all() { notify(waiters_.size()); }

  /// The async-context-manager protocol (aio::with): holds the lock during the body.
  lock::acquire_awaitable aenter() noexcept { return acquire(); }

 private:
  // Waits for notify(): the first half of wait(). Granting here means "notified".
  class notified_awaiter : detail::sync_waiter {
   public:
    explicit notified_awaiter(condition* c) noexcept : c_(c) {}
    notified_awaiter(const notified_awaiter&) = delete;
    notified_awaiter& operator=(const notified_awaiter&) = delete;
    ~notified_awaiter() { c_->waiters_.remove(this); }

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      c_->waiters_.push_back(this);
      task->suspend_on(h, this);
    }
    void await_resume() {
      if (task->cancel_requested() || cancelled) {
        // Notified and cancelled before it ran: the notification goes to the next
        // waiter, or it would be lost (asyncio's lost-wakeup bug, gh-112202).
        if (granted) c_->notify_waiters(1);
        task->throw_if_cancel_requested();
        throw cancelled_error(task->cancel_message());
      }
    }

   private:
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<notified_awaiter*>(s);
      return detail::cancel_queued_waiter(self, self->c_->waiters_);
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    condition* c_;
  };
  class notified_awaitable {
   public:
    using aio_awaitable = void;
    explicit notified_awaitable(condition* c) noexcept : c_(c) {}
    notified_awaiter operator co_await() const noexcept { return notified_awaiter(c_); }

   private:
    condition* c_;
  };

  void notify_waiters(std::size_t n) noexcept {
    for (; n > 0 && waiters_.grant_first(); --n) {
    }
  }

  aio::lock own_lock_;
  aio::lock* lock_;
  detail::waiter_queue waiters_;  // tasks in wait(), between release and notification
};

// wait() in two halves. The first (notified_awaiter) waits in this condition's queue;
// the second re-takes the lock with lock::acquire, which has its own queue and its own
// cancellation protocol. A coroutine joins them because the lock must be re-taken even
// when the first half throws, and a cancellation while re-taking it must not stop the
// re-take: the loop below keeps acquiring until it has the lock, remembering the last
// cancellation, and rethrows that once the lock is held.
//
// Scenario (test_cancelled_wakeup_relock): A and B wait; the producer notifies A and
// keeps the lock; A wakes and queues for the lock; A is cancelled there. A leaves the
// lock's queue, queues again (the loop), gets the lock when the producer waits or
// releases, and throws. Since A was notified but will not act on it, it notifies B
// before throwing — with the lock held, as notify() requires.
inline coro<void> condition::wait() {
  if (!lock_->locked()) throw std::runtime_error("cannot wait on un-acquired lock");
  detail::require_task();  // (std::logic_error outside a task) before letting the lock go
  lock_->release();
  std::exception_ptr err;
  bool notified = false;
  try {
    co_await notified_awaitable(this);
    notified = true;
  } catch (const cancelled_error&) {
    // (If it had been notified, notified_awaiter passed the notification on.)
    err = std::current_exception();
  }
  for (;;) {
    try {
      lock::guard g = co_await lock_->acquire();
      g.release();  // the caller's guard (or release()) owns it again
      break;
    } catch (const cancelled_error&) {
      err = std::current_exception();  // keep re-taking; throw the last one after
    }
  }
  if (err) {
    if (notified) notify_waiters(1);
    std::rethrow_exception(err);
  }
}

}  // namespace aio
