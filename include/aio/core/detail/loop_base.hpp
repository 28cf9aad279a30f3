// SPDX-License-Identifier: MIT
// aio/core/detail/loop_base.hpp — the parts of the event loop that tasks, futures and
// awaitables touch on their hot paths: the ready queue, the timer heap and the
// per-thread running context. The public API is aio::event_loop (event_loop.hpp).
#pragma once

#include <cassert>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace aio {
class event_loop;

using clock = std::chrono::steady_clock;
using duration = std::chrono::nanoseconds;
using time_point = std::chrono::time_point<clock, duration>;
}  // namespace aio

namespace aio::detail {

class task_base;
class loop_base;

struct loop_item;

/// What the loop can do with an item. One static table per kind of item (task,
/// callback, done callback); tasks extend it (future_ops) so that one pointer serves
/// as their whole type information.
struct item_ops {
  // Runs the item, or with discard = true drops it unrun (the loop is closing).
  // May throw only for user callbacks; the loop reports what escapes.
  void (*run)(loop_item*, bool discard);
};

/// Something the loop runs in stage 5 (docs/design/event_loop.md): a task step or a
/// callback. Intrusive: an item is in at most one ready queue at a time.
struct loop_item {
  loop_item* next_ready = nullptr;
  const item_ops* ops = nullptr;
};

/// FIFO of loop items (singly linked, O(1) push and splice).
class ready_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push(loop_item* it) noexcept {
    it->next_ready = nullptr;
    if (tail_)
      tail_->next_ready = it;
    else
      head_ = it;
    tail_ = it;
  }
  /// Removes one item (O(n); only used while closing a loop).
  void remove(loop_item* it) noexcept {
    loop_item* prev = nullptr;
    for (loop_item* p = head_; p; prev = p, p = p->next_ready) {
      if (p != it) continue;
      (prev ? prev->next_ready : head_) = p->next_ready;
      if (tail_ == p) tail_ = prev;
      p->next_ready = nullptr;
      return;
    }
  }
  /// Takes every queued item; new pushes go to a fresh queue.
  loop_item* take_all() noexcept {
    loop_item* h = head_;
    head_ = tail_ = nullptr;
    return h;
  }

 private:
  loop_item* head_ = nullptr;
  loop_item* tail_ = nullptr;
};

/// An entry in the timer heap. Embedded in whoever owns the timer (a sleep awaiter, a
/// call_later node, a timeout scope): arming and cancelling never allocate.
struct timer_entry {
  time_point when{};
  std::uint64_t seq = 0;
  std::uint32_t heap_index = npos;
  void (*fire)(timer_entry*) = nullptr;     // called in stage 4; must not throw
  void (*discard)(timer_entry*) = nullptr;  // called when the loop closes with it armed
  static constexpr std::uint32_t npos = 0xffffffffu;
  bool armed() const noexcept { return heap_index != npos; }
};

/// A 4-ary min-heap of timer entries ordered by (when, seq), with each entry's
/// position stored in the entry: add, cancel (remove) and pop are O(log n) and a
/// cancelled timer leaves nothing behind.
class timer_heap {
 public:
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  timer_entry* top() const noexcept { return heap_.front(); }
  void push(timer_entry* t);
  void remove(timer_entry* t) noexcept;
  timer_entry* pop() noexcept;
  /// Frees the array when it is far larger than needed (after a burst).
  void shrink() noexcept;

 private:
  static bool less(const timer_entry* a, const timer_entry* b) noexcept {
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
  }
  void sift_up(std::uint32_t i) noexcept;
  void sift_down(std::uint32_t i) noexcept;
  void place(std::uint32_t i, timer_entry* t) noexcept {
    heap_[i] = t;
    t->heap_index = i;
  }
  std::vector<timer_entry*> heap_;
  std::uint64_t next_seq_ = 0;
};

/// What is running on this thread right now. The driver fields implement the
/// coroutine trampoline that replaces symmetric transfer (coro.hpp explains why).
struct thread_context {
  std::coroutine_handle<> next{};  // the driver resumes this next
  bool driving = false;            // a driver loop is active on this stack
  task_base* task = nullptr;       // the task whose step is running
  loop_base* loop = nullptr;       // the running loop
};

// Constant-initialised and trivially destructible: no TLS wrapper calls.
inline thread_local thread_context tls_context;

/// The exception a coroutine of this thread just ended with, on its way to the
/// awaiter that resumes next (coro.hpp). Kept out of the coroutine frames so that
/// each frame is 8 bytes smaller; a raw pointer so that access needs no TLS wrapper.
inline thread_local std::exception_ptr* tls_coro_exception = nullptr;

/// Callback nodes (handles) alive on this thread, for leak checks.
inline thread_local std::size_t tls_live_callbacks = 0;

/// The loop internals that tasks and awaitables use. event_loop derives from it.
class loop_base {
 public:
  void push_ready(loop_item* it) noexcept { ready_.push(it); }

  time_point time() const noexcept {
    return virtual_clock_ ? virtual_now_ : std::chrono::time_point_cast<duration>(clock::now());
  }
  void arm_timer(timer_entry* t, time_point when) {
    t->when = when;
    timers_.push(t);
  }
  void disarm_timer(timer_entry* t) noexcept {
    if (t->armed()) timers_.remove(t);
  }

  bool debug() const noexcept { return debug_; }

  /// Counts of live objects, for leak checks (aio/testing.hpp).
  std::size_t live_tasks() const noexcept { return live_tasks_; }
  std::size_t armed_timers() const noexcept { return timers_.size(); }

  // Bookkeeping hooks used by task_base and the callback nodes.
  void task_started(task_base* t) noexcept;
  void task_finished(task_base* t) noexcept;
  std::uint64_t next_task_id() noexcept { return ++task_counter_; }
  /// The pending tasks, newest first (task_base::all_next_ links them).
  task_base* first_pending_task() const noexcept { return all_tasks_; }
  ready_queue& ready() noexcept { return ready_; }

  /// Passes an error to the loop's exception handler (event_loop::call_exception_handler).
  void report(std::string message, std::exception_ptr e, task_base* t) noexcept;

 protected:
  ready_queue ready_;
  timer_heap timers_;
  bool debug_ = false;
  bool virtual_clock_ = false;
  time_point virtual_now_{};
  std::size_t live_tasks_ = 0;
  std::uint64_t task_counter_ = 0;
  task_base* all_tasks_ = nullptr;  // intrusive list of pending tasks (task_base::all_next_)
  friend class task_base;
};

/// Reports through `loop`'s exception handler if that loop still exists, else logs.
/// Used when the last handle of a failed future goes away.
void report_unretrieved(loop_base* loop, std::string message, std::exception_ptr e) noexcept;

/// The loop running on this thread; nullptr outside of one.
inline loop_base* running_loop_base() noexcept {
  return tls_context.loop;
}

[[noreturn]] void throw_no_loop();

/// The running loop, or throws std::runtime_error("no running event loop").
inline loop_base& require_loop() {
  if (loop_base* l = tls_context.loop) [[likely]]
    return *l;
  throw_no_loop();
}

}  // namespace aio::detail
