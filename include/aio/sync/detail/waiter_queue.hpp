// SPDX-License-Identifier: MIT
// aio/sync/detail/waiter_queue.hpp — the FIFO of tasks waiting on a synchronization
// primitive (a lock, a semaphore permit, a queue slot …), and the awaiter protocol
// every primitive follows.
//
// The protocol, in full sentences, because every primitive must get it right:
//
// A waiter is a node in the awaiting coroutine's frame (no allocation). It is queued in
// FIFO order. The primitive *grants* a waiter by popping it from the queue, setting
// `granted`, and waking its task: ownership (a lock, a permit, an item) is handed over
// at that moment, so no task that arrives later can take it first (asyncio's fairness).
//
// Cancellation has two cases. (1) The task is cancelled while the waiter is queued:
// `cancel` removes the node and wakes the task, whose await_resume throws
// cancelled_error; nothing was granted, nothing is lost. (2) The task is cancelled
// after the grant but before it runs again (the cancel arrives while the task sits in
// the ready queue): await_resume finds `granted` and a pending cancellation; it must
// hand what it was granted on — to the next waiter, or back to the primitive — and then
// throw. This is exactly the bug asyncio had in Lock, Semaphore and Queue; every
// primitive's tests cover both cases.
//
// A frame destroyed while its waiter is queued (the loop is closing) unlinks it in the
// awaiter's destructor; one destroyed after the grant but before it resumed passes what
// it was granted on, there too (`resumed` tells the two apart).
#pragma once

#include <cstddef>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"

namespace aio::detail {

struct sync_waiter : suspension {
  sync_waiter* prev = nullptr;
  sync_waiter* next = nullptr;
  task_base* task = nullptr;
  bool queued = false;
  bool granted = false;    // the primitive handed it over (see the protocol above)
  bool cancelled = false;  // cancelled while queued: nothing was granted
  bool resumed = false;    // await_resume ran: the grant was taken (or passed on)
};

class waiter_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  sync_waiter* front() const noexcept { return head_; }

  void push_back(sync_waiter* w) noexcept {
    w->prev = tail_;
    w->next = nullptr;
    (tail_ ? tail_->next : head_) = w;
    tail_ = w;
    w->queued = true;
    ++size_;
  }
  void remove(sync_waiter* w) noexcept {
    if (!w->queued) return;
    (w->prev ? w->prev->next : head_) = w->next;
    (w->next ? w->next->prev : tail_) = w->prev;
    w->prev = w->next = nullptr;
    w->queued = false;
    --size_;
  }
  sync_waiter* pop_front() noexcept {
    sync_waiter* w = head_;
    if (w) remove(w);
    return w;
  }
  /// Grants the first waiter (pops it, marks it granted, wakes its task). False if none.
  bool grant_first() noexcept {
    sync_waiter* w = pop_front();
    if (!w) return false;
    w->granted = true;
    w->task->wake();
    return true;
  }
  /// Wakes every waiter without granting (event.set(), shutdown, abort).
  template <class F>
  void wake_all(F&& mark) noexcept {
    while (sync_waiter* w = pop_front()) {
      mark(*w);
      w->task->wake();
    }
  }

 private:
  sync_waiter* head_ = nullptr;
  sync_waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// The standard cancel operation of a queued sync_waiter: leave the queue, remember
/// the cancellation, wake the task (its await_resume throws).
inline bool cancel_queued_waiter(sync_waiter* w, waiter_queue& q) noexcept {
  q.remove(w);
  w->cancelled = true;
  w->task->wake();
  return true;
}

}  // namespace aio::detail
