// SPDX-License-Identifier: MIT
// aio/core/detail/future_awaiter.hpp — awaiting a future or a task, and done callbacks.
#pragma once

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"

namespace aio::detail {

[[noreturn]] void throw_await_self();
[[noreturn]] void throw_other_loop();

/// Suspends the awaiting task until `State` completes. Cancelling the awaiting task
/// cancels what it awaits (asyncio: awaiting a task or a future and being cancelled
/// cancels that task or future; use aio::shield to prevent it). For a task, the
/// awaiter then keeps waiting until the awaited task has finished.
template <class State>
class future_awaiter : completion_node {
 public:
  explicit future_awaiter(State* st) noexcept : st_(st) {}
  future_awaiter(const future_awaiter&) = delete;
  future_awaiter& operator=(const future_awaiter&) = delete;
  ~future_awaiter() {
    // The awaiting frame is destroyed while suspended here (its loop is closing).
    if (linked()) unlink();
  }

  bool await_ready() const noexcept { return st_->done(); }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = &require_task();
    if (static_cast<future_base*>(st_) == waiter_) throw_await_self();
    if (st_->loop() != waiter_->loop()) throw_other_loop();
    ops = &ops_;
    st_->add_waiter(this);
    waiter_->suspend_on(h, this);
  }
  /// Checks for a pending cancellation and for the awaited outcome; the caller reads
  /// the value afterwards.
  void check() {
    if (waiter_) waiter_->throw_if_cancel_requested();
    st_->check_result();
  }
  State* state() const noexcept { return st_; }

 private:
  static void done_cb(completion_node* n) noexcept {
    static_cast<future_awaiter*>(n)->waiter_->wake();
  }
  static bool cancel_cb(suspension* s, task_base* t) {
    State* st = static_cast<future_awaiter*>(static_cast<completion_node*>(s))->st_;
    if constexpr (std::is_base_of_v<task_base, State>) {
      return st->cancel(t->cancel_message());
    } else {
      return st->cancel_future(t->cancel_message());
    }
  }

  static constexpr wait_ops ops_{&done_cb, &cancel_cb};
  State* st_;
  task_base* waiter_ = nullptr;
};

/// The value an awaiter returns: a copy for an lvalue handle, moved out for an rvalue.
template <class T, bool Move, class Slot>
T take_value(Slot& slot) {
  if constexpr (std::is_void_v<T>) {
    return;
  } else if constexpr (Move) {
    return slot.take();
  } else {
    static_assert(std::is_copy_constructible_v<T>,
                  "the result is move-only: co_await std::move(handle) to take it");
    return slot.get();
  }
}

/// A done callback: queued on the loop when the future completes, then run once with
/// the future's state. While registered it holds no reference to the future (that
/// would be a cycle); if the future is destroyed still pending, the node is dropped.
template <class F>
class done_callback final : completion_node, loop_item, public pooled {
 public:
  static void add(future_base* st, F&& f) {
    auto* n = new done_callback(st, std::move(f));
    if (st->done()) {
      st->add_ref();
      st->loop()->push_ready(n);
    } else {
      st->add_waiter(n);
    }
  }

 private:
  done_callback(future_base* st, F&& f) : st_(st), f_(std::move(f)) {
    completion_node::ops = &wops_;
    loop_item::ops = &iops_;
  }
  static void done_cb(completion_node* n) noexcept {
    auto* self = static_cast<done_callback*>(n);
    if (!self->st_->done()) {  // the future is being destroyed unfinished
      delete self;
      return;
    }
    self->st_->add_ref();
    self->st_->loop()->push_ready(self);
  }
  static void run_cb(loop_item* it, bool discard) {
    auto* self = static_cast<done_callback*>(it);
    struct guard {
      done_callback* p;
      ~guard() {
        p->st_->release();
        delete p;
      }
    } g{self};
    if (!discard) self->f_(self->st_);
  }
  static constexpr wait_ops wops_{&done_cb, nullptr};
  static constexpr item_ops iops_{&run_cb};
  future_base* st_;
  F f_;
};

}  // namespace aio::detail
