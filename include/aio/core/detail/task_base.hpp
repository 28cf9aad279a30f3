// SPDX-License-Identifier: MIT
// aio/core/detail/task_base.hpp — the state of a task: a future that drives a
// coroutine. The typed handle is aio::task<T> (task.hpp).
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/loop_base.hpp"

namespace aio::detail {

/// A task's type information: how to move its coroutine's value into the state.
struct task_ops : future_ops {
  /// Moves the finished top coroutine's value into the state, or returns its
  /// exception (nullptr when it returned normally).
  std::exception_ptr (*take_result)(task_base*) noexcept;
};

/// A task is a future whose outcome is that of a coroutine it runs step by step.
///
/// Life cycle. create_task schedules the first step at once (asyncio: the task is
/// scheduled at creation). Each step resumes the coroutine chain where it stopped
/// and runs it until it suspends on an awaitable or finishes. The loop holds one
/// reference from creation to completion, so a task runs to its end even when every
/// handle to it was dropped (DESIGN.md §3).
///
/// Suspension. An awaitable that suspends the task calls suspend_on(h, s): `h` is the
/// coroutine to resume next time, `s` the wait that task.cancel() can abort. Whoever
/// ends the wait calls wake(), which clears the wait and schedules the next step.
///
/// Cancellation (asyncio's Task.cancel, 3.11+ semantics). cancel(msg) counts the
/// request (cancelling()), then asks the current wait to abort. If it cannot (the task
/// is running, or already woken), must_cancel_ is set and the next suspension point
/// throws cancelled_error instead: an awaiter's await_resume calls
/// throw_if_cancel_requested(), and suspend_on() cancels a new wait at once. A task
/// cancelled before its first step never runs its body. A coroutine that returns
/// normally while must_cancel_ is still set ends cancelled, as in asyncio.
///
/// Size. A task state is 96 bytes (+ the value): the fields that are rarely used
/// (name, cancel message, exception) live in a separately allocated `extras`.
class task_base : public future_base {
 public:
  task_base(loop_base* loop, const task_ops* o) noexcept : future_base(loop, o) {
    is_task_ = true;
    id_ = loop->next_task_id();
  }

  /// Starts owning `top` and schedules the first step. Called once by create_task.
  void start(std::coroutine_handle<> top, std::string_view name) {
    top_ = top;
    resume_ = top;
    if (!name.empty()) set_name(std::string(name));
    loop_->task_started(this);
    schedule();
  }

  bool cancel(std::string_view msg = {});
  std::uint32_t cancelling() const noexcept { return num_cancels_requested_; }
  std::uint32_t uncancel() noexcept;

  std::string get_name() const;
  void set_name(std::string name);
  std::uint64_t id() const noexcept { return id_; }

  // --- the protocol for awaiters (see the class comment) ---
  void suspend_on(std::coroutine_handle<> h, suspension* s) noexcept {
    resume_ = h;
    waiting_on_ = s;
    if (must_cancel_ && s->ops->cancel(s, this)) must_cancel_ = false;
  }
  void wake() noexcept {
    waiting_on_ = nullptr;
    schedule();
  }
  /// Throws cancelled_error if a cancellation is waiting to be delivered.
  void throw_if_cancel_requested() {
    if (must_cancel_) deliver_cancel();
  }
  bool cancel_requested() const noexcept { return must_cancel_; }
  /// Throws the pending cancellation: cancelled_error(message).
  [[noreturn]] void deliver_cancel();
  /// The message of the last cancel() call (empty if none).
  std::string cancel_message() const { return extras_ ? extras_->cancel_msg : std::string(); }

  /// The coroutine the next step resumes: the innermost suspended frame.
  std::coroutine_handle<> resume_point() const noexcept { return resume_; }
  bool started() const noexcept { return started_; }
  bool scheduled() const noexcept { return scheduled_; }

  /// True if the ready-queue item is a task step.
  static bool is_task_item(const loop_item* it) noexcept;

  /// Destroys the coroutine of a task that is still pending (the loop is closing).
  void destroy_pending() noexcept;

  // Intrusive list of the loop's pending tasks.
  task_base* all_prev_ = nullptr;
  task_base* all_next_ = nullptr;

  /// The rarely used fields.
  struct extras {
    std::string name;        // empty: "Task-<id>"
    std::string cancel_msg;  // of the last cancel()
    std::exception_ptr exc;  // the exception the task ended with
  };
  extras& more();
  const extras* more_if_any() const noexcept { return extras_.get(); }

 protected:
  ~task_base();
  static void run_step(loop_item* self, bool discard);

  std::coroutine_handle<> top_{};

 private:
  void schedule() noexcept {
    if (!scheduled_) {
      scheduled_ = true;
      loop_->push_ready(this);
    }
  }
  void step() noexcept;
  void finish() noexcept;
  void end(status s, std::exception_ptr e) noexcept;

  std::coroutine_handle<> resume_{};
  suspension* waiting_on_ = nullptr;
  std::unique_ptr<extras> extras_;
};

inline void loop_base::task_started(task_base* t) noexcept {
  t->add_ref();  // the loop's reference, released in task_finished
  t->all_prev_ = nullptr;
  t->all_next_ = all_tasks_;
  if (all_tasks_) all_tasks_->all_prev_ = t;
  all_tasks_ = t;
  ++live_tasks_;
}

inline void loop_base::task_finished(task_base* t) noexcept {
  if (t->all_prev_)
    t->all_prev_->all_next_ = t->all_next_;
  else
    all_tasks_ = t->all_next_;
  if (t->all_next_) t->all_next_->all_prev_ = t->all_prev_;
  t->all_prev_ = t->all_next_ = nullptr;
  --live_tasks_;
  t->release();
}

}  // namespace aio::detail
