// SPDX-License-Identifier: MIT
// aio/sync/lock.hpp — aio::lock, a mutual-exclusion lock for tasks (asyncio.Lock); the
// asynchronous equivalent of std::mutex.
//
//   aio::lock l;
//   {
//     auto held = co_await l.acquire();  // RAII: released when `held` goes out of scope
//     co_await write_both(a, b);         // no other task in here meanwhile
//   }
//   co_await aio::with(l, [&]() -> aio::coro<void> { co_await write_both(a, b); });
//
// Fairness: FIFO. release() hands the lock straight to the first waiter, so a task that
// arrives later cannot take it first. Not re-entrant, and not owned: any task may
// release it (as asyncio's).
// Cancellation: cancelling a waiting task makes acquire() throw cancelled_error and
// removes it from the queue (it loses its place). If the lock was handed to it at the
// moment it was cancelled, it passes the lock on before throwing: nothing is lost.
// Errors: release() of an unlocked lock throws std::runtime_error (asyncio's
// RuntimeError).
// Thread safety: a lock belongs to one loop's thread (between loops, use aio::channel).
#pragma once

#include <coroutine>
#include <stdexcept>
#include <utility>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

class lock {
 public:
  lock() = default;
  lock(const lock&) = delete;
  lock& operator=(const lock&) = delete;

  /// Releases the lock when destroyed, unless released or moved from.
  class [[nodiscard]] guard {
   public:
    guard() noexcept = default;
    explicit guard(lock* l) noexcept : l_(l) {}
    guard(guard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    guard& operator=(guard&& o) noexcept {
      if (this != &o) {
        unlock();
        l_ = std::exchange(o.l_, nullptr);
      }
      return *this;
    }
    ~guard() { unlock(); }
    /// Releases now (idempotent).
    void unlock() noexcept {
      if (l_) std::exchange(l_, nullptr)->release_held();
    }
    /// Gives up the guard without releasing (the caller calls lock::release()).
    void release() noexcept { l_ = nullptr; }
    bool owns_lock() const noexcept { return l_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }

   private:
    lock* l_ = nullptr;
  };

  class awaiter : detail::sync_waiter {
   public:
    explicit awaiter(lock* l) noexcept : l_(l) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      l_->waiters_.remove(this);
      if (granted && !resumed) l_->release_held();  // frame destroyed before it ran
    }

    bool await_ready() noexcept {
      // Free and nobody queued: take it at once, without suspending.
      if (l_->locked_ || !l_->waiters_.empty()) return false;
      l_->locked_ = true;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      l_->waiters_.push_back(this);
      task->suspend_on(h, this);
    }
    guard await_resume() {
      resumed = true;
      if (task && (task->cancel_requested() || cancelled)) {
        if (granted) l_->release_held();  // handed over as we were cancelled: pass it on
        task->throw_if_cancel_requested();
        throw cancelled_error(task->cancel_message());
      }
      return guard(l_);
    }

   private:
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(s);
      return detail::cancel_queued_waiter(self, self->l_->waiters_);
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    lock* l_;
  };

  /// Waits for the lock; the guard releases it.
  class acquire_awaitable {
   public:
    using aio_awaitable = void;
    explicit acquire_awaitable(lock* l) noexcept : l_(l) {}
    awaiter operator co_await() const noexcept { return awaiter(l_); }

   private:
    lock* l_;
  };
  acquire_awaitable acquire() noexcept { return acquire_awaitable(this); }

  /// Releases the lock (for code that did not keep the guard). std::runtime_error if
  /// it is not locked.
  void release() {
    if (!locked_) throw std::runtime_error("lock is not acquired");
    release_held();
  }

  bool locked() const noexcept { return locked_; }

  /// The async-context-manager protocol (aio::with): the guard it yields releases the
  /// lock when the body ends, however it ends.
  acquire_awaitable aenter() noexcept { return acquire(); }

 private:
  friend class guard;
  // Hands the lock to the first waiter, or unlocks.
  void release_held() noexcept {
    if (!waiters_.grant_first()) locked_ = false;
  }

  detail::waiter_queue waiters_;
  bool locked_ = false;
};

}  // namespace aio
