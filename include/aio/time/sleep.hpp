// SPDX-License-Identifier: MIT
// aio/time/sleep.hpp — aio::sleep(d): suspend the current task for a duration
// (asyncio.sleep; the asynchronous std::this_thread::sleep_for).
//
//   co_await aio::sleep(250ms);
//   co_await aio::sleep(0s);     // yield: let every other ready task run once
//
// Cancellation: cancelling the task wakes it at once with aio::cancelled_error; the
// timer is removed (no trace left in the timer heap).
// Errors: none besides cancellation. Must be awaited inside a task.
// Thread safety: the awaiting task's loop thread only.
// Cost: no allocation; the timer entry lives in the awaiting coroutine's frame.
#pragma once

#include <chrono>
#include <cmath>
#include <coroutine>
#include <stdexcept>
#include <type_traits>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/task_base.hpp"

namespace aio {
namespace detail {

class sleep_awaiter : suspension, timer_entry {
 public:
  explicit sleep_awaiter(duration d) noexcept : delay_(d) {}
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  ~sleep_awaiter() {
    if (armed()) task_->loop()->disarm_timer(this);  // frame destroyed while asleep
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task();
    if (delay_ <= duration::zero()) {
      // Yield: back of the ready queue. A cancel meanwhile is delivered on resume.
      ops = &yield_ops_;
      task_->suspend_on(h, this);
      task_->wake();
      return;
    }
    ops = &sleep_ops_;
    fire = &on_fire;
    loop_base* loop = task_->loop();
    loop->arm_timer(this, loop->time() + delay_);
    task_->suspend_on(h, this);
  }
  void await_resume() {
    task_->throw_if_cancel_requested();
    if (cancelled_) throw cancelled_error(task_->cancel_message());
  }

 private:
  static void on_fire(timer_entry* t) noexcept { static_cast<sleep_awaiter*>(t)->task_->wake(); }
  static bool on_cancel(suspension* s, task_base*) {
    auto* self = static_cast<sleep_awaiter*>(s);
    self->task_->loop()->disarm_timer(self);
    self->cancelled_ = true;
    self->task_->wake();
    return true;
  }
  static bool no_cancel(suspension*, task_base*) { return false; }
  static constexpr wait_ops sleep_ops_{nullptr, &on_cancel};
  static constexpr wait_ops yield_ops_{nullptr, &no_cancel};

  duration delay_;
  task_base* task_ = nullptr;
  bool cancelled_ = false;
};

/// What aio::sleep returns: 8 bytes to hand around; the awaiter (with its timer entry)
/// is made in place by co_await.
class sleep_awaitable {
 public:
  using aio_awaitable = void;
  explicit sleep_awaitable(duration d) noexcept : delay_(d) {}
  sleep_awaiter operator co_await() const noexcept { return sleep_awaiter(delay_); }

 private:
  duration delay_;
};

}  // namespace detail

/// Suspends the calling task for `d` (zero or negative: yields once).
template <class Rep, class Period>
detail::sleep_awaitable sleep(std::chrono::duration<Rep, Period> d) {
  if constexpr (std::is_floating_point_v<Rep>) {
    // A NaN or infinite delay has no meaning (and duration_cast of it is undefined).
    if (!std::isfinite(d.count())) throw std::invalid_argument("aio::sleep: delay is not finite");
  }
  return detail::sleep_awaitable(std::chrono::duration_cast<duration>(d));
}

}  // namespace aio
