// SPDX-License-Identifier: MIT
// aio/sync/semaphore.hpp — aio::semaphore and aio::bounded_semaphore, counters of
// permits that tasks wait for (asyncio.Semaphore, asyncio.BoundedSemaphore); the
// asynchronous equivalent of std::counting_semaphore.
//
//   semaphore(value = 1)  ·  co_await sem.acquire() -> semaphore::guard  ·  release()
//
// acquire() takes a permit, waiting while none is left; the guard it returns gives the
// permit back when it goes out of scope. release() gives one back by hand (for code
// that did not keep a guard). A bounded_semaphore refuses to hold more permits than it
// started with: releasing one too many is a bug in the caller, reported at once.
//
// Fairness: FIFO. release() hands the permit straight to the first waiter, so a task
// that arrives later cannot take it first. (asyncio instead wakes the waiter, which
// takes a permit when it runs, and makes newcomers wait until the woken waiters have
// run. Here a handed-over permit is the waiter's already, so a newcomer that finds
// another permit free takes it at once, even before a woken waiter has run.)
// Cancellation: cancelling a waiting task makes acquire() throw cancelled_error and
// removes it from the queue (it loses its place). If a permit was handed to it at the
// moment it was cancelled, it passes the permit on before throwing: nothing is lost.
// Errors: a negative initial value is std::invalid_argument (asyncio's ValueError);
// bounded_semaphore::release() beyond the initial value is std::invalid_argument
// ("bounded_semaphore released too many times"). A guard cannot throw from its
// destructor: a guard that would over-release a bounded semaphore (because its permit
// was released by hand as well) drops the extra permit and reports the error to the
// running loop's exception handler.
// Thread safety: a semaphore belongs to one loop's thread (between loops, use
// aio::channel).
//
// Example (bounded fan-out: at most 10 requests in flight):
//   aio::semaphore sem(10);
//   auto fetch_one = [&](std::string url) -> aio::coro<page> {
//     auto permit = co_await sem.acquire();
//     co_return co_await fetch(url);
//   };
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

class semaphore {
 public:
  /// `value` permits; std::invalid_argument if negative.
  explicit semaphore(std::ptrdiff_t value = 1) : value_(checked(value)) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// Gives one permit back when destroyed, unless given back already or moved from.
  class [[nodiscard]] guard {
   public:
    guard() noexcept = default;
    explicit guard(semaphore* s) noexcept : s_(s) {}
    guard(guard&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    guard& operator=(guard&& o) noexcept {
      if (this != &o) {
        unlock();
        s_ = std::exchange(o.s_, nullptr);
      }
      return *this;
    }
    ~guard() { unlock(); }
    /// Gives the permit back now (idempotent).
    void unlock() noexcept {
      if (s_) std::exchange(s_, nullptr)->release_from_guard();
    }
    /// Gives up the guard without giving the permit back (the caller calls
    /// semaphore::release()).
    void release() noexcept { s_ = nullptr; }
    bool owns_permit() const noexcept { return s_ != nullptr; }
    explicit operator bool() const noexcept { return owns_permit(); }

   private:
    semaphore* s_ = nullptr;
  };

  class awaiter : detail::sync_waiter {
   public:
    explicit awaiter(semaphore* s) noexcept : s_(s) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      s_->waiters_.remove(this);
      if (granted && !resumed) s_->release_permit();  // frame destroyed before it ran
    }

    bool await_ready() noexcept {
      // A permit is free (and then nobody is queued, see value_): take it at once.
      if (s_->value_ == 0) return false;
      --s_->value_;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      s_->waiters_.push_back(this);
      task->suspend_on(h, this);
    }
    guard await_resume() {
      resumed = true;
      if (task && (task->cancel_requested() || cancelled)) {
        if (granted) s_->release_permit();  // handed over as we were cancelled: pass it on
        task->throw_if_cancel_requested();
        throw cancelled_error(task->cancel_message());
      }
      return guard(s_);
    }

   private:
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(s);
      return detail::cancel_queued_waiter(self, self->s_->waiters_);
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    semaphore* s_;
  };

  /// Waits for a permit; the guard gives it back.
  class acquire_awaitable {
   public:
    using aio_awaitable = void;
    explicit acquire_awaitable(semaphore* s) noexcept : s_(s) {}
    awaiter operator co_await() const noexcept { return awaiter(s_); }

   private:
    semaphore* s_;
  };
  acquire_awaitable acquire() noexcept { return acquire_awaitable(this); }

  /// Gives one permit back (for code that did not keep the guard): to the first waiter
  /// if there is one. For a bounded_semaphore, std::invalid_argument if that would
  /// hold more permits than it started with.
  void release() {
    if (bound_ && value_ >= *bound_)
      throw std::invalid_argument("bounded_semaphore released too many times");
    release_permit();
  }

  /// True when acquire() would wait (no permit is free).
  bool locked() const noexcept { return value_ == 0; }

  /// The permits free now (asyncio's private Semaphore._value).
  std::size_t value() const noexcept { return value_; }

  /// The async-context-manager protocol (aio::with): the guard it yields gives the
  /// permit back when the body ends, however it ends.
  acquire_awaitable aenter() noexcept { return acquire(); }

 protected:
  struct bounded_tag {};
  semaphore(std::ptrdiff_t value, bounded_tag) : value_(checked(value)), bound_(value_) {}

 private:
  friend class guard;

  static std::size_t checked(std::ptrdiff_t value) {
    if (value < 0) throw std::invalid_argument("semaphore initial value must be >= 0");
    return static_cast<std::size_t>(value);
  }

  // Hands the permit to the first waiter, or puts it back.
  void release_permit() noexcept {
    if (!waiters_.grant_first()) ++value_;
  }
  void release_from_guard() noexcept;

  // Invariant: waiters_ is non-empty only while value_ == 0 — a permit given back
  // while tasks wait goes straight to the first of them (release_permit), so a free
  // permit and a queued waiter never coexist.
  detail::waiter_queue waiters_;
  std::size_t value_;
  std::optional<std::size_t> bound_;  // bounded_semaphore: the initial value
};

/// A semaphore whose release() refuses to go above the initial value
/// (asyncio.BoundedSemaphore). See the file comment.
class bounded_semaphore : public semaphore {
 public:
  /// `value` permits, and at most that many; std::invalid_argument if negative.
  explicit bounded_semaphore(std::ptrdiff_t value = 1) : semaphore(value, bounded_tag{}) {}
};

inline void semaphore::release_from_guard() noexcept {
  if (bound_ && value_ >= *bound_) {
    // The guard's permit was given back by hand already (release() as well as the
    // guard): keep the bound, and say so rather than corrupting the count.
    if (detail::loop_base* loop = detail::tls_context.loop) {
      try {
        loop->report(
            "bounded_semaphore released too many times (by a guard whose permit "
            "was released by hand as well)",
            nullptr, detail::tls_context.task);
      } catch (...) {  // no memory for the message: the permit is still dropped
      }
    }
    return;
  }
  release_permit();
}

}  // namespace aio
