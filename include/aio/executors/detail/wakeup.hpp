// SPDX-License-Identifier: MIT
// aio/executors/detail/wakeup.hpp — waking a suspended task from another thread.
//
// A task that waits for work done on another thread (a thread-pool job, the exit of a
// pool's workers) suspends on its own loop; the other thread must wake it through
// call_soon_threadsafe. The awaiter lives in the task's coroutine frame, and that frame
// can be destroyed while the other thread is still busy (the loop is closing with the
// task pending). So the two sides meet in a small reference-counted object on the heap,
// the loop_wakeup, and never through the frame.
//
// The protocol, in full sentences, because the executors depend on it:
//
// The awaiter arms the wakeup on the loop's thread (arm) before it hands it to the other
// thread, and suspends its task. The other thread calls notify() once, when the work is
// done: under the wakeup's mutex, unless the awaiter has abandoned it, it posts a callback
// (holding a reference) to the loop with call_soon_threadsafe. That callback runs on the
// loop's thread, marks the wakeup fired and wakes the task.
//
// If the awaiter goes away before the callback ran (its frame is destroyed), it calls
// abandon() on the loop's thread: under the same mutex it sets `abandoned`, so a notify()
// that has not started will not touch the loop; a notify() in progress is waited for (it
// only posts a callback, which takes microseconds). After abandon() returns, the other
// thread never touches the loop again, and the loop may be destroyed. A callback that
// was already posted finds no task to wake; if the loop closes before running it, the
// loop drops it, which releases its reference.
//
// A notify() that finds the loop closed (call_soon_threadsafe throws) is ignored: the
// loop's close destroys the task's frame, whose awaiter abandons the wakeup.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include "aio/core/detail/task_base.hpp"
#include "aio/core/event_loop.hpp"

namespace aio::detail {

class loop_wakeup {
 public:
  loop_wakeup() = default;
  loop_wakeup(const loop_wakeup&) = delete;
  loop_wakeup& operator=(const loop_wakeup&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Loop thread, before the wakeup is handed to the other thread: whom to wake.
  void arm(event_loop& loop, task_base* task) noexcept {
    loop_ = &loop;
    task_ = task;
  }

  /// Any thread, at most once: schedules the wake-up on the loop's thread, unless the
  /// awaiter abandoned the wakeup.
  void notify() noexcept;

  /// Loop thread: the awaiter is going away. After this returns, notify() does not touch
  /// the loop.
  void abandon() noexcept {
    std::lock_guard lk(m_);
    abandoned_ = true;
    task_ = nullptr;
  }

  /// Loop thread: the posted callback ran (the other side's work is visible).
  bool fired() const noexcept { return fired_; }

 protected:
  virtual ~loop_wakeup() = default;

 private:
  struct callback;
  std::atomic<std::uint32_t> refs_{1};
  std::mutex m_;
  event_loop* loop_ = nullptr;
  bool abandoned_ = false;  // guarded by m_
  // Loop thread only:
  task_base* task_ = nullptr;
  bool fired_ = false;
};

/// A wakeup that carries nothing else (a wait for an event on another thread).
class plain_wakeup final : public loop_wakeup {};

/// An owning pointer to a reference-counted object (add_ref/release).
template <class T>
class ref_ptr {
 public:
  ref_ptr() noexcept = default;
  explicit ref_ptr(T* p) noexcept : p_(p) {}  // adopts a reference
  ref_ptr(const ref_ptr& o) noexcept : p_(o.p_) {
    if (p_) p_->add_ref();
  }
  ref_ptr(ref_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ref_ptr& operator=(ref_ptr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ref_ptr() {
    if (p_) p_->release();
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /// Gives up the reference without releasing it.
  T* detach() noexcept { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

}  // namespace aio::detail
