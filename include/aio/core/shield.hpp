// SPDX-License-Identifier: MIT
// aio/core/shield.hpp — aio::shield(aw): await something without letting a
// cancellation of the awaiting task reach it (asyncio.shield).
//
//   co_await aio::shield(save_to_disk(data));   // a cancel of this task interrupts
//                                               // the wait, not the save
//
// A coro is wrapped in a task at once (the task is what keeps running). If the
// awaiting task is cancelled, the await throws cancelled_error right away and the
// inner task runs on to its end; the loop keeps it alive. An exception it then ends
// with, which nobody awaits any more, is reported once through the loop's exception
// handler ("Task exception was never retrieved"): never silently lost.
//
// Hazard (docs/hazards.md): a shielded coroutine can outlive the scope that awaited
// it, so it must own what it uses — pass values, not references to the caller's
// locals. That is the one place where aio lets a child outlive its caller.
// Errors: the inner exception is rethrown by the await (if it was not cancelled).
// Thread safety: the awaiting task's loop thread.
#pragma once

#include <coroutine>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/future_awaiter.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/task.hpp"

namespace aio {
namespace detail {

template <class T>
class shield_awaitable {
 public:
  using aio_awaitable = void;
  shield_awaitable(task<T> inner, bool owned) noexcept : inner_(std::move(inner)), owned_(owned) {}

  class awaiter : completion_node {
   public:
    awaiter(task<T>& inner, bool owned) noexcept : inner_(inner), owned_(owned) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      if (linked()) unlink();
    }
    bool await_ready() const noexcept { return inner_.done(); }
    void await_suspend(std::coroutine_handle<> h) {
      task_ = &require_task();
      ops = &ops_;
      inner_.state()->add_waiter(this);
      task_->suspend_on(h, this);
    }
    T await_resume() {
      if (task_) {
        task_->throw_if_cancel_requested();
        if (cancelled_) throw cancelled_error(task_->cancel_message());
      }
      auto* st = static_cast<task_state<T>*>(inner_.state());
      st->check_result();
      if constexpr (!std::is_void_v<T>) {
        if (owned_ || !std::is_copy_constructible_v<T>) return st->value_.take();
        if constexpr (std::is_copy_constructible_v<T>) return st->value_.get();
      }
    }

   private:
    static void on_done(completion_node* n) noexcept { static_cast<awaiter*>(n)->task_->wake(); }
    static bool on_cancel(suspension* s, task_base*) {
      auto* self = static_cast<awaiter*>(static_cast<completion_node*>(s));
      self->unlink();
      self->cancelled_ = true;
      self->task_->wake();
      return true;
    }
    static constexpr wait_ops ops_{&on_done, &on_cancel};
    task<T>& inner_;
    bool owned_;
    task_base* task_ = nullptr;
    bool cancelled_ = false;
  };
  awaiter operator co_await() & noexcept { return awaiter(inner_, owned_); }
  awaiter operator co_await() && noexcept { return awaiter(inner_, owned_); }

 private:
  task<T> inner_;
  bool owned_;
};

}  // namespace detail

/// Awaits a task — or a coro, started as a task now — shielded from cancellation.
template <class T>
detail::shield_awaitable<T> shield(coro<T> c) {
  return detail::shield_awaitable<T>(create_task(std::move(c)), true);
}
template <class T>
detail::shield_awaitable<T> shield(task<T> t) {
  return detail::shield_awaitable<T>(std::move(t), false);
}

}  // namespace aio
