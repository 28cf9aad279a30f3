// SPDX-License-Identifier: MIT
// aio/sync/barrier.hpp — aio::barrier, a meeting point for a fixed number of tasks
// (asyncio.Barrier, Python 3.11); the asynchronous equivalent of std::barrier (or
// threading.Barrier).
//
//   barrier(parties)  ·  co_await b.wait() -> index in 0..parties-1  ·  reset()  ·
//   abort()  ·  parties()  ·  n_waiting()  ·  broken()
//
// Tasks that call wait() block until `parties` of them have called it; then all are
// let through together, and each gets its arrival index: the number of tasks waiting
// when it arrived (the last to arrive gets parties-1; after a waiter was cancelled, two
// tasks of a round can share an index, as in asyncio). The barrier can be used again
// and again, with asyncio's phases:
//  - filling: tasks arrive and wait; n_waiting() counts them;
//  - draining: the barrier has tripped; the tasks it let through are leaving. A task
//    that calls wait() now blocks until all of them have left (then it joins the next
//    round), so rounds never mix;
//  - resetting: reset() was called while tasks were inside; the waiting ones get
//    broken_barrier_error, and new arrivals block until all have left;
//  - broken: abort() was called; every waiting task, and every later wait(), gets
//    broken_barrier_error until reset().
//
// Blocked tasks join the next round in the order they arrived, and after the current
// task step: the last task to leave a round can still act "between rounds" (reset() the
// barrier, say) until it next suspends, before anybody has joined the next one — as in
// asyncio, where the blocked tasks re-check the state only when they run. A task that
// calls wait() while blocked tasks are about to join queues behind them.
//
// Difference from asyncio (direct hand-over): in asyncio a task let through by the trip
// only checks the state when it runs, so a reset() or abort() that comes between the
// trip and that moment makes it raise BrokenBarrierError after all. Here the trip hands
// every waiting task its result at once, and nothing can take it back: reset() and
// abort() affect the tasks still waiting, never those already let through.
// reset() and abort() are plain functions (asyncio's are coroutines only because they
// take the barrier's internal lock; aio's barrier has none).
//
// Cancellation: cancelling a task waiting at the barrier makes wait() throw
// cancelled_error and withdraws its arrival (n_waiting() drops by one; the barrier is
// not broken, as asyncio); a task blocked by the draining phase just leaves the queue.
// A task cancelled after the trip let it through, but before it ran, throws
// cancelled_error too; the others were let through already, so nothing is lost — it
// still counts as having left (the draining phase ends).
// Errors: broken_barrier_error (a std::runtime_error: Python's BrokenBarrierError) from
// wait() when the barrier is broken or was reset while this task waited;
// std::invalid_argument from the constructor if parties < 1 (asyncio's ValueError).
// Thread safety: a barrier belongs to one loop's thread (between loops, use aio::channel).
//
// Example (workers that proceed in lockstep):
//   aio::barrier step(n_workers);
//   for (int round = 0; round < rounds; ++round) {
//     co_await compute_my_part(round);
//     std::size_t i = co_await step.wait();  // all parts of `round` are done
//   }
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

/// The barrier was aborted, or reset while the task waited (Python's
/// BrokenBarrierError).
class broken_barrier_error : public std::runtime_error {
 public:
  broken_barrier_error() : std::runtime_error("barrier aborted") {}
  explicit broken_barrier_error(const std::string& what) : std::runtime_error(what) {}
};

/// The phase of a barrier (the word asyncio's repr shows).
enum class barrier_state : std::uint8_t { filling, draining, resetting, broken };

class barrier {
 public:
  /// A barrier for `parties` tasks; std::invalid_argument if parties < 1.
  explicit barrier(std::ptrdiff_t parties) : parties_(checked(parties)) {}
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;
  ~barrier() { admission_.cancel(); }

  class awaiter : detail::sync_waiter {
   public:
    explicit awaiter(barrier* b) noexcept : b_(b) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      // The frame is destroyed while waiting (the loop is closing): withdraw.
      b_->waiters_of(where_).remove(this);
      if (counted_) b_->leave();
    }

    bool await_ready() noexcept {
      switch (b_->state_) {
        case barrier_state::broken:
          outcome_ = outcome::broken;
          return true;
        case barrier_state::draining:
        case barrier_state::resetting:
          where_ = queue::blocked;  // wait for the previous round to leave
          return false;
        case barrier_state::filling:
          if (!b_->blocked_.empty()) {  // they join first (an admission is scheduled)
            where_ = queue::blocked;
            return false;
          }
          // The last to arrive trips the barrier and does not suspend.
          return b_->arrive(this);
      }
      return false;
    }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      b_->waiters_of(where_).push_back(this);
      task->suspend_on(h, this);
    }
    std::size_t await_resume() {
      // Leave first (however wait() ends): the draining phase waits for this.
      if (counted_) {
        counted_ = false;
        b_->leave();
      }
      if (task && (task->cancel_requested() || cancelled)) {
        // Cancelled while waiting (withdrawn by on_cancel), or after the trip let it
        // through: the others are through already, there is nothing to pass on.
        task->throw_if_cancel_requested();
        throw cancelled_error(task->cancel_message());
      }
      if (outcome_ == outcome::broken) throw broken_barrier_error();
      return index_;
    }

   private:
    friend class barrier;
    enum class queue : std::uint8_t { filling, blocked };
    enum class outcome : std::uint8_t { passed, broken };

    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(s);
      barrier* b = self->b_;
      b->waiters_of(self->where_).remove(self);
      self->cancelled = true;
      if (self->counted_) {  // withdraw its arrival
        self->counted_ = false;
        b->leave();
      }
      self->task->wake();
      return true;
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};

    barrier* b_;
    std::size_t index_ = 0;
    queue where_ = queue::filling;
    outcome outcome_ = outcome::passed;
    bool counted_ = false;  // counted in b_->count_ (arrived, has not left yet)
  };

  /// Waits until `parties` tasks wait; returns this task's arrival index.
  class wait_awaitable {
   public:
    using aio_awaitable = void;
    explicit wait_awaitable(barrier* b) noexcept : b_(b) {}
    awaiter operator co_await() const noexcept { return awaiter(b_); }

   private:
    barrier* b_;
  };
  wait_awaitable wait() noexcept { return wait_awaitable(this); }

  /// Returns the barrier to its initial (filling) state. Tasks waiting at it get
  /// broken_barrier_error; if some are still inside (not yet resumed), the barrier is
  /// "resetting" until they have left, and new arrivals wait for that.
  void reset() noexcept {
    if (count_ > 0) {
      state_ = barrier_state::resetting;
      fail_all(filling_);
    } else {
      state_ = barrier_state::filling;
      schedule_admission();
    }
  }

  /// Breaks the barrier: every waiting task, and every later wait() until reset(),
  /// gets broken_barrier_error.
  void abort() noexcept {
    state_ = barrier_state::broken;
    fail_all(filling_);
    fail_all(blocked_);
  }

  std::size_t parties() const noexcept { return parties_; }
  /// Tasks waiting for the barrier to fill (0 unless it is filling).
  std::size_t n_waiting() const noexcept { return state_ == barrier_state::filling ? count_ : 0; }
  bool broken() const noexcept { return state_ == barrier_state::broken; }
  barrier_state state() const noexcept { return state_; }

  /// The async-context-manager protocol (aio::with): the body gets the arrival index
  /// (`async with barrier as i`); nothing to release afterwards.
  wait_awaitable aenter() noexcept { return wait(); }

 private:
  static std::size_t checked(std::ptrdiff_t parties) {
    if (parties < 1) throw std::invalid_argument("barrier parties must be > 0");
    return static_cast<std::size_t>(parties);
  }

  detail::waiter_queue& waiters_of(awaiter::queue q) noexcept {
    return q == awaiter::queue::filling ? filling_ : blocked_;
  }

  // Counts `w` in while filling. Trips the barrier and returns true if `w` is the last
  // party; else returns false (w is to wait in filling_).
  bool arrive(awaiter* w) noexcept {
    w->index_ = count_++;
    w->counted_ = true;
    w->where_ = awaiter::queue::filling;
    if (count_ < parties_) return false;
    // Trip: every waiting task is let through now (direct hand-over); they leave as
    // they run, and the barrier drains until the last has left.
    state_ = barrier_state::draining;
    filling_.wake_all([](detail::sync_waiter& s) noexcept { s.granted = true; });
    return true;
  }

  // A task that arrived leaves the barrier (resumed, cancelled, or destroyed). The last
  // to leave ends a draining or resetting phase; the blocked tasks join the next round
  // soon after (schedule_admission).
  void leave() noexcept {
    if (--count_ > 0) return;
    if (state_ == barrier_state::draining || state_ == barrier_state::resetting) {
      state_ = barrier_state::filling;
      schedule_admission();
    }
  }

  // Lets the blocked tasks join from a loop callback, i.e. after the current task step:
  // the task that ended the draining (or reset the barrier) keeps a window "between
  // rounds" until it suspends, as it has in asyncio. If no callback can be scheduled
  // (no running loop: a frame destroyed while the loop closes; or no memory), they join
  // at once.
  void schedule_admission() noexcept {
    if (blocked_.empty() || admission_scheduled_) return;
    admission_scheduled_ = true;
    try {
      admission_ = get_running_loop().call_soon([this] {
        admission_scheduled_ = false;
        admission_ = {};
        admit_blocked();
      });
    } catch (...) {
      admission_scheduled_ = false;
      admit_blocked();
    }
  }

  // The barrier is filling again: blocked tasks arrive in FIFO order (their arrival
  // indices are given now). If they fill it, it trips at once and the rest stay blocked.
  void admit_blocked() noexcept {
    while (state_ == barrier_state::filling && !blocked_.empty()) {
      auto* w = static_cast<awaiter*>(blocked_.pop_front());
      if (arrive(w)) {
        w->granted = true;  // the last party: let through with the others
        w->task->wake();
      } else {
        filling_.push_back(w);
      }
    }
  }

  static void fail_all(detail::waiter_queue& q) noexcept {
    q.wake_all([](detail::sync_waiter& s) noexcept {
      auto& w = static_cast<awaiter&>(s);
      w.granted = true;
      w.outcome_ = awaiter::outcome::broken;
    });
  }

  // Invariants: count_ is the number of awaiters with counted_ set — those waiting in
  // filling_ plus those let through (or failed) that have not resumed yet. filling_ is
  // non-empty only while filling (a trip, reset or abort empties it). blocked_ is
  // non-empty only while draining or resetting, or while filling with an admission
  // scheduled (abort() fails it).
  detail::waiter_queue filling_;  // arrived, waiting for the barrier to fill
  detail::waiter_queue blocked_;  // waiting for the previous round to leave
  std::size_t parties_;
  std::size_t count_ = 0;
  barrier_state state_ = barrier_state::filling;
  bool admission_scheduled_ = false;
  handle admission_;  // the scheduled admit_blocked() callback
};

}  // namespace aio
