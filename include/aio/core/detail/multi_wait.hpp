// SPDX-License-Identifier: MIT
// aio/core/detail/multi_wait.hpp — waiting for several futures/tasks at once: the
// engine under gather and wait.
#pragma once

#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/task_base.hpp"

namespace aio::detail {

/// Cancels a child: a task is asked to cancel, a plain future is cancelled.
inline bool cancel_child(future_base* f, std::string_view msg) {
  if (f->is_task()) return static_cast<task_base*>(f)->cancel(msg);
  return f->cancel_future(msg);
}

/// When a multi_wait stops waiting.
enum class wait_until { all_done, first_done, first_failure };

struct multi_wait_options {
  wait_until until = wait_until::all_done;
  /// gather: the first failure cancels the other children (and they are waited for).
  bool cancel_others_on_failure = false;
  /// gather: cancelling the awaiting task cancels the children and waits for them;
  /// otherwise (wait) the awaiting task stops waiting at once and the children go on.
  bool cancel_children_on_cancel = false;
  /// wait(timeout): stop waiting at this time.
  std::optional<time_point> deadline{};
};

class multi_wait;

/// One child of a multi_wait: the child and the node registered with it. Callers with
/// many children provide the slots (one allocation for everything they track).
struct wait_slot : completion_node {
  future_base* child = nullptr;
  multi_wait* owner = nullptr;
};

/// The leaf awaiter: suspends the awaiting task until the condition holds. co_await
/// returns the index of the first child seen failing (npos if none), or throws
/// cancelled_error if the awaiting task was cancelled.
class multi_wait : suspension, timer_entry {
 public:
  using aio_awaitable = void;

  /// Waits on the children of caller-provided slots (their `child` set).
  multi_wait(std::span<wait_slot> slots, multi_wait_options opts) noexcept
      : slots_(slots), opts_(opts) {}
  /// Waits on `children`, with slots of its own.
  multi_wait(std::span<future_base* const> children, multi_wait_options opts)
      : own_(new wait_slot[children.size()]), slots_(own_.get(), children.size()), opts_(opts) {
    for (std::size_t i = 0; i < children.size(); ++i) own_[i].child = children[i];
  }
  multi_wait(multi_wait&& o) noexcept  // before use only (await_transform moves it)
      : suspension(), timer_entry(), own_(std::move(o.own_)), slots_(o.slots_), opts_(o.opts_) {}
  multi_wait& operator=(const multi_wait&) = delete;
  ~multi_wait() { detach(); }

  bool await_ready() noexcept;
  void await_suspend(std::coroutine_handle<> h);
  std::size_t await_resume();

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 private:
  bool satisfied() const noexcept;
  void on_child_done(std::size_t i) noexcept;
  void cancel_children(std::size_t except) noexcept;
  void finish() noexcept;  // condition met: stop listening, wake the task
  void detach() noexcept;
  static void node_done(completion_node* n) noexcept;
  static void on_deadline(timer_entry* t) noexcept;
  static bool on_cancel(suspension* s, task_base* t);
  static constexpr wait_ops node_ops_{&node_done, nullptr};
  static constexpr wait_ops self_ops_{nullptr, &on_cancel};

  std::unique_ptr<wait_slot[]> own_;
  std::span<wait_slot> slots_;
  multi_wait_options opts_;
  bool registered_ = false;
  task_base* task_ = nullptr;
  std::size_t pending_ = 0;
  std::size_t first_failure_ = npos;
  bool any_done_ = false;
  bool outer_cancelled_ = false;
  bool woken_ = false;
};

/// Waits until `f` is done, ignoring its outcome. Cancelling the waiting task stops
/// the wait (cancelled_error) without touching `f`.
inline multi_wait wait_done(future_base* const& f) {
  return multi_wait(std::span<future_base* const>(&f, 1), {.until = wait_until::all_done});
}

}  // namespace aio::detail
