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

struct suspension;
struct completion_node;

/// The behaviour of a waiter, one static table per kind of waiter.
struct wait_ops {
  /// Called when the awaited future completes, after the node was unlinked. Must not
  /// throw and must not run user code directly (it schedules: wakes a task, queues a
  /// callback, counts down).
  void (*on_done)(completion_node*) noexcept;
  /// Called by task.cancel() while the task is suspended here (asyncio's
  /// `Task._fut_waiter.cancel()`). Returns true when the wait accepted the
  /// cancellation — it will wake the task so that the awaiter's await_resume throws,
  /// or it forwarded the cancellation to what it awaits — and false when it cannot
  /// (the task then delivers the cancellation at its next suspension point).
  bool (*cancel)(suspension*, task_base*);
};

/// The wait a suspended task is blocked in, registered by the awaiter that suspended
/// it (task_base::suspend_on).
struct suspension {
  const wait_ops* ops = nullptr;
};

/// A waiter in a future's list (an intrusive "hlist": one pointer in the future,
/// O(1) unlink without knowing the list).
struct completion_node : suspension {
  completion_node* next = nullptr;
  completion_node** pprev = nullptr;
  bool linked() const noexcept { return pprev != nullptr; }
  void unlink() noexcept {
    *pprev = next;
    if (next) next->pprev = pprev;
    next = nullptr;
    pprev = nullptr;
  }
  void link_front(completion_node*& head) noexcept {
    next = head;
    if (head) head->pprev = &next;
    head = this;
    pprev = &head;
  }
};

class future_base;

/// Type information of a future or task state (instead of a vtable: for a task the
/// same pointer is its loop_item ops).
struct future_ops : item_ops {
  void (*destroy)(future_base*) noexcept;
};

/// Shared state of a future or task. Reference counted, single-threaded (owned by
/// its loop's thread). Invariants:
///  - status_ moves pending -> finished | cancelled exactly once (complete()).
///  - while pending, waiters_ holds the nodes to notify; after, it is empty.
///  - the exception (of a failed future, or the cancelled_error of a cancelled one)
///    lives in the derived state: plain_future_base::exc_ or the task's extras.
/// Its loop_item part is used by tasks only (their ready-queue link).
class future_base : public loop_item, public pooled {
 public:
  enum class status : std::uint8_t { pending, finished, cancelled };

  future_base(const future_base&) = delete;
  future_base& operator=(const future_base&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) static_cast<const future_ops*>(ops)->destroy(this);
  }

  bool done() const noexcept { return status_ != status::pending; }
  bool is_cancelled() const noexcept { return status_ == status::cancelled; }
  bool is_task() const noexcept { return is_task_; }
  loop_base* loop() const noexcept { return loop_; }
  /// Done and cancelled or holding an exception.
  bool failed() const noexcept { return status_ == status::cancelled || has_exception_; }
  /// Marks the outcome as looked at (no "exception was never retrieved" report).
  void mark_retrieved() noexcept { retrieved_ = true; }

  /// Registers a node to be notified on completion. Requires !done().
  void add_waiter(completion_node* n) noexcept { n->link_front(waiters_); }

  /// The exception of a failed or cancelled future, or nullptr. Marks it retrieved.
  std::exception_ptr exception_for_result() noexcept {
    retrieved_ = true;
    return stored_exception();
  }
  /// asyncio's exception(): throws cancelled_error for a cancelled future,
  /// invalid_state_error for a pending one.
  std::exception_ptr exception();
  /// Throws if the future has no value: pending, cancelled or failed.
  void check_result() {
    if (status_ == status::finished && !has_exception_) [[likely]] {
      retrieved_ = true;
      return;
    }
    check_result_slow();
  }
  void check_result_slow();

  /// Completes the future (exactly once) and notifies its waiters in the order they
  /// were added.
  void complete(status s, std::exception_ptr e) noexcept;

  /// Cancels a plain future; for tasks see task_base::cancel.
  bool cancel_future(std::string_view msg) noexcept;

 protected:
  explicit future_base(loop_base* loop, const future_ops* o) noexcept : loop_(loop) { ops = o; }
  ~future_base();  // not virtual: destroyed through future_ops::destroy

  std::exception_ptr stored_exception() const noexcept;
  void store_exception(std::exception_ptr e) noexcept;

  loop_base* loop_;
  completion_node* waiters_ = nullptr;
  std::uint32_t refs_ = 1;
  // The task's fields that fit in this word (see task_base), so a task state is
  // 96 bytes: asyncio's cancelling() count and the task flags.
  std::uint16_t num_cancels_requested_ = 0;
  status status_ = status::pending;
  bool is_task_ : 1 = false;
  bool retrieved_ : 1 = false;  // result()/exception()/await took the outcome
  bool must_cancel_ : 1 = false;
  bool scheduled_ : 1 = false;
  bool started_ : 1 = false;
  bool has_exception_ : 1 = false;  // an exception is stored (see stored_exception)
  std::uint64_t id_ = 0;            // the task's number ("Task-<id>")
};

/// A plain future's state: the exception lives here.
class plain_future_base : public future_base {
 public:
  std::exception_ptr exc_;

 protected:
  using future_base::future_base;
  ~plain_future_base();
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

 private:
  State* s_ = nullptr;
};

/// The running task on this thread, or nullptr.
inline task_base* current_task_base() noexcept {
  return tls_context.task;
}

[[noreturn]] void throw_no_task();

/// The running task, or throws std::logic_error: an awaitable that suspends can only
/// be awaited inside a task (aio::run, create_task and the combinators make tasks).
inline task_base& require_task() {
  if (task_base* t = tls_context.task) [[likely]]
    return *t;
  throw_no_task();
}

}  // namespace aio::detail
