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
#include <coroutine>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/task_base.hpp"

namespace aio {
namespace detail {

class sleep_awaiter : suspension, timer_entry {
 public:
  using aio_awaitable = void;

  explicit sleep_awaiter(duration d) noexcept : delay_(d) {}
  // Movable only before it is awaited (await_transform hands it over by value).
  sleep_awaiter(sleep_awaiter&&) noexcept = default;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  ~sleep_awaiter() {
    if (armed()) task_->loop()->disarm_timer(this);  // frame destroyed while asleep
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task();
    if (delay_ <= duration::zero()) {
      // Yield: back of the ready queue. A cancel meanwhile is delivered on resume.
      cancel = [](suspension*, task_base*) { return false; };
      task_->suspend_on(h, this);
      task_->wake();
      return;
    }
    cancel = &on_cancel;
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

  duration delay_;
  task_base* task_ = nullptr;
  bool cancelled_ = false;
};

}  // namespace detail

/// Suspends the calling task for `d` (zero or negative: yields once).
template <class Rep, class Period>
detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
  return detail::sleep_awaiter(std::chrono::duration_cast<duration>(d));
}

}  // namespace aio
