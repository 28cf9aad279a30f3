// SPDX-License-Identifier: MIT
// aio/core/detail/future_base.hpp — the shared state behind aio::future and aio::task
// (asyncio's Future, of which Task is a subclass), and the protocol by which an
// awaiter suspends a task and lets task.cancel() abort the wait.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/pool.hpp"
#include "aio/core/errors.hpp"

namespace aio::detail {

struct list_hook {
  list_hook* prev = nullptr;
  list_hook* next = nullptr;
  bool linked() const noexcept { return next != nullptr; }
  void unlink() noexcept {
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

/// A waiter in a future's list. `on_done` runs when the future completes, after the
/// node has been unlinked; it must not throw and must not run user code directly
/// (it schedules: wakes a task or queues a callback).
struct completion_node : list_hook {
  void (*on_done)(completion_node*) noexcept = nullptr;
};

/// The wait a suspended task is blocked in, registered by the awaiter that suspended
/// it. task.cancel() calls `cancel` (asyncio's `Task._fut_waiter.cancel()`): it
/// returns true when the wait accepted the cancellation — it will wake the task so
/// that the awaiter's await_resume throws, or it forwarded the cancellation to what
/// it awaits — and false when it cannot cancel (the task then delivers the
/// cancellation at its next suspension point).
struct suspension {
  bool (*cancel)(suspension*, task_base*) = nullptr;
};

/// Shared state of a future or task. Reference counted, single-threaded (owned by
/// its loop's thread). Invariants:
///  - status_ moves pending -> finished | cancelled exactly once (complete()).
///  - while pending, waiters_ holds the nodes to notify; after, it is empty.
///  - exc_ holds the exception of a finished future, or the cancelled_error of a
///    cancelled one (created lazily for plain futures).
class future_base : public pooled {
 public:
  enum class status : std::uint8_t { pending, finished, cancelled };

  explicit future_base(loop_base* loop) noexcept : loop_(loop) {
    waiters_.prev = waiters_.next = &waiters_;
  }
  future_base(const future_base&) = delete;
  future_base& operator=(const future_base&) = delete;
  virtual ~future_base();

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  bool done() const noexcept { return status_ != status::pending; }
  bool is_cancelled() const noexcept { return status_ == status::cancelled; }
  bool is_task() const noexcept { return is_task_; }
  /// Done and cancelled or holding an exception.
  bool failed() const noexcept { return status_ == status::cancelled || (done() && exc_); }
  /// Marks the outcome as looked at (no "exception was never retrieved" report).
  void mark_retrieved() noexcept { retrieved_ = true; }
  loop_base* loop() const noexcept { return loop_; }

  /// Registers a node to be notified on completion. Requires !done().
  void add_waiter(completion_node* n) noexcept {
    n->prev = waiters_.prev;
    n->next = &waiters_;
    waiters_.prev->next = n;
    waiters_.prev = n;
  }

  /// The exception of a finished or cancelled future, or nullptr. Marks it retrieved.
  std::exception_ptr exception_for_result() noexcept {
    retrieved_ = true;
    return exc_;
  }
  /// asyncio's exception(): throws cancelled_error for a cancelled future,
  /// invalid_state_error for a pending one.
  std::exception_ptr exception();
  /// Throws if the future has no value: pending, cancelled or failed.
  void check_result();

  /// Completes the future (exactly once) and notifies its waiters.
  void complete(status s, std::exception_ptr e) noexcept;

  /// Cancels a plain future; for tasks see task_base::cancel.
  bool cancel_future(std::string_view msg) noexcept;

 protected:
  loop_base* loop_;
  list_hook waiters_;
  std::exception_ptr exc_;
  std::uint32_t refs_ = 1;
  status status_ = status::pending;
  bool is_task_ = false;
  bool retrieved_ = false;  // result()/exception()/await took the outcome
};

/// Storage for a future's value. T = void stores nothing.
template <class T>
struct value_slot {
  std::optional<T> value;
  template <class U>
  void set(U&& u) {
    value.emplace(std::forward<U>(u));
  }
  const T& get() const { return *value; }
  T take() { return std::move(*value); }
};
template <>
struct value_slot<void> {
  void get() const noexcept {}
  void take() noexcept {}
};

/// Intrusive pointer to a future_base.
template <class State>
class state_ptr {
 public:
  state_ptr() noexcept = default;
  explicit state_ptr(State* s) noexcept : s_(s) {}  // adopts one reference
  state_ptr(const state_ptr& o) noexcept : s_(o.s_) {
    if (s_) s_->add_ref();
  }
  state_ptr(state_ptr&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  state_ptr& operator=(state_ptr o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~state_ptr() {
    if (s_) s_->release();
  }
  State* get() const noexcept { return s_; }
  State* operator->() const noexcept { return s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }
  State* release_ownership() noexcept { return std::exchange(s_, nullptr); }

 private:
  State* s_ = nullptr;
};

/// The running task on this thread, or nullptr.
inline task_base* current_task_base() noexcept {
  return tls_context.task;
}

/// The running task, or throws std::logic_error: an awaitable that suspends can only
/// be awaited inside a task (aio::run, create_task and the combinators make tasks).
task_base& require_task();

}  // namespace aio::detail
