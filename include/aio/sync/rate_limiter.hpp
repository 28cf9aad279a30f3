// SPDX-License-Identifier: MIT
// aio/sync/rate_limiter.hpp — aio::rate_limiter, a token bucket: at most `rate`
// acquisitions per second on average, with bursts of up to `burst` (the guides'
// hand-written RateLimiter; aiolimiter's AsyncLimiter).
//
//   aio::rate_limiter limiter({.rate = 10, .burst = 5});   // 10/s, up to 5 at once
//   for (auto& url : urls)
//     tg.create_task([&, url]() -> aio::coro<void> {
//       co_await limiter.acquire();                       // waits for a token
//       co_await fetch(url);
//     });
//
// The bucket holds up to `burst` tokens and refills continuously at `rate` tokens per
// second (it starts full). acquire() takes one token, waiting until one is there.
// Fairness: FIFO — a task that arrives later never overtakes one that waits, even when
// a token is available for it (no starvation under load).
// Cancellation: a cancelled waiter leaves the queue; a token granted to a waiter that is
// cancelled at the same moment goes back to the bucket for the next one.
// Errors: std::invalid_argument for a rate or burst that is not positive and finite.
// Thread safety: one loop's thread. Timer: one per limiter, armed only while tasks wait.
#pragma once

#include <coroutine>
#include <cstddef>
#include <type_traits>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

struct rate_limiter_options {
  double rate = 1.0;   // tokens per second, on average
  double burst = 1.0;  // bucket size: how many may go at once after a quiet spell
};
static_assert(std::is_trivially_destructible_v<rate_limiter_options>);  // docs/hazards.md

class rate_limiter : detail::timer_entry {
 public:
  explicit rate_limiter(rate_limiter_options opts);
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;
  ~rate_limiter();

  class awaiter : detail::sync_waiter {
   public:
    explicit awaiter(rate_limiter* r) noexcept : r_(r) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() { r_->leave(this); }
    bool await_ready() noexcept { return r_->try_take(); }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      r_->enqueue(this);
      task->suspend_on(h, this);
    }
    void await_resume() {
      if (task && (task->cancel_requested() || cancelled)) {
        if (granted) r_->give_back();  // granted as it was cancelled: the token is not lost
        task->throw_if_cancel_requested();
        throw cancelled_error(task->cancel_message());
      }
    }

   private:
    friend class rate_limiter;
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(s);
      self->r_->leave(self);
      self->cancelled = true;
      self->task->wake();
      return true;
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    rate_limiter* r_;
  };

  class acquire_awaitable {
   public:
    using aio_awaitable = void;
    explicit acquire_awaitable(rate_limiter* r) noexcept : r_(r) {}
    awaiter operator co_await() const noexcept { return awaiter(r_); }

   private:
    rate_limiter* r_;
  };
  /// Waits for a token and takes it.
  acquire_awaitable acquire() noexcept { return acquire_awaitable(this); }
  /// Takes a token if one is there and nobody waits; never waits.
  bool try_acquire() noexcept { return try_take(); }
  /// The async-context-manager protocol (aio::with): acquires a token.
  acquire_awaitable aenter() noexcept { return acquire(); }

  /// Tokens in the bucket now (fractional).
  double tokens() noexcept;
  /// Tasks waiting for a token.
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  void refill() noexcept;
  bool try_take() noexcept;
  void enqueue(awaiter* w);
  void leave(awaiter* w) noexcept;
  void give_back() noexcept;
  void dispatch() noexcept;  // grant tokens to waiters, arm the timer for the next
  static void on_timer(timer_entry* t) noexcept;

  rate_limiter_options opts_;
  double tokens_;
  time_point last_{};
  detail::loop_base* loop_ = nullptr;
  detail::waiter_queue waiters_;
};

}  // namespace aio
