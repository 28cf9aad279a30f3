// SPDX-License-Identifier: MIT
// aio/sync/queue.hpp — aio::queue<T>, aio::priority_queue<T, Compare> and
// aio::lifo_queue<T>: queues for handing work from producer tasks to consumer tasks
// (asyncio.Queue, PriorityQueue and LifoQueue, Python 3.13 semantics, shutdown
// included). The asynchronous equivalent of a bounded std::deque guarded by a mutex and
// two condition variables.
//
//   co_await q.put(v);  T v = co_await q.get();  q.task_done();  co_await q.join();
//
//   aio::queue<job> q(100);                  // at most 100 queued jobs: backpressure
//   auto worker = [&]() -> aio::coro<void> {
//     for (;;) { job j = co_await q.get(); co_await run(j); q.task_done(); }
//   };
//   for (auto& j : jobs) co_await q.put(std::move(j));   // waits while the queue is full
//   co_await q.join();                                   // every job was task_done()
//
// Size: the constructor takes std::optional<std::size_t> maxsize; std::nullopt (the
// default) makes the queue unbounded. asyncio's "maxsize <= 0 means infinite" is not
// kept (no magic values): a maxsize of 0 is an std::invalid_argument.
//
// Order: queue is FIFO, lifo_queue returns the newest item first, priority_queue the
// smallest by Compare (std::less<T>: heapq's order; equal items in no particular order).
// Fairness: waiters are served in FIFO order, and nothing that arrives later can
// overtake them. An item put while getters wait is handed straight to the first getter
// (it leaves the queue at that moment: qsize() does not count it); a slot freed while
// putters wait is promised to the first putter. Items handed to getters and slots
// promised to putters that have not run yet count toward maxsize, so full() is exactly
// "put_nowait would throw" and the queue never holds more than maxsize items.
// Cancellation: cancelling a task waiting in get(), put() or join() makes that call
// throw cancelled_error and removes it from the queue (it loses its place). If an item
// had been handed to a getter at the moment it was cancelled, the item goes to the next
// getter, or back to the head of the queue (for a lifo_queue: the bottom, where it
// would have been); if a slot had been promised to a putter, it passes to the next
// putter. Nothing is lost and nothing is delivered twice. A put() that throws
// destroys the item it was given.
// Errors: put_nowait() throws queue_full, get_nowait() queue_empty; task_done() called
// more times than items were put throws std::invalid_argument (Python's ValueError).
// After shutdown(), put() and put_nowait() throw queue_shutdown; get() and get_nowait()
// return what is left and then throw queue_shutdown. shutdown(true) also drops what
// is queued (counting each as task_done()), and wakes every waiting getter and putter
// to throw; join() returns once the unfinished count is zero. An item already handed
// to a getter before the shutdown is that getter's (its get() had completed); while such
// an item could still come back (its getter being cancelled), other getters wait for
// it instead of throwing, so that no item is stranded in a shut-down queue.
// Thread safety: a queue belongs to one loop's thread (between threads or loops, use
// aio::channel from aio/sync/channel.hpp).
#pragma once

#include <algorithm>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

/// get_nowait() on an empty queue (asyncio.QueueEmpty).
class queue_empty : public std::runtime_error {
 public:
  queue_empty() : std::runtime_error("queue is empty") {}
};

/// put_nowait() on a full queue (asyncio.QueueFull).
class queue_full : public std::runtime_error {
 public:
  queue_full() : std::runtime_error("queue is full") {}
};

/// put on a shut-down queue, or get on one that is shut down and empty
/// (asyncio.QueueShutDown).
class queue_shutdown : public std::runtime_error {
 public:
  queue_shutdown() : std::runtime_error("queue is shut down") {}
};

namespace detail {

/// FIFO storage: put at the back, get from the front; an item given back by a cancelled
/// getter returns to the front (it was the oldest when it was handed over).
template <class T>
class fifo_store {
 public:
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& v) { items_.push_back(std::move(v)); }
  void give_back(T&& v) { items_.push_front(std::move(v)); }
  T pop() {
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

 private:
  std::deque<T> items_;
};

/// LIFO storage: the newest item first. An item given back by a cancelled getter goes
/// to the bottom: it was handed over when the queue was empty, so every item put since
/// is newer.
template <class T>
class lifo_store {
 public:
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& v) { items_.push_back(std::move(v)); }
  void give_back(T&& v) { items_.push_front(std::move(v)); }
  T pop() {
    T v = std::move(items_.back());
    items_.pop_back();
    return v;
  }

 private:
  std::deque<T> items_;
};

/// A binary heap whose top is the smallest item by Compare (heapq's order).
template <class T, class Compare>
class heap_store {
 public:
  explicit heap_store(Compare comp = Compare()) : greater_{std::move(comp)} {}
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& v) {
    items_.push_back(std::move(v));
    std::push_heap(items_.begin(), items_.end(), greater_);
  }
  void give_back(T&& v) { push(std::move(v)); }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), greater_);
    T v = std::move(items_.back());
    items_.pop_back();
    return v;
  }

 private:
  // std heaps keep the largest on top; inverting the comparison keeps the smallest.
  struct inverted {
    Compare comp;
    bool operator()(const T& a, const T& b) const { return comp(b, a); }
  };
  std::vector<T> items_;
  inverted greater_;
};

/// The queue machinery shared by queue, priority_queue and lifo_queue; Store decides
/// the order.
template <class T, class Store>
class basic_queue {
 public:
  using value_type = T;

  basic_queue(const basic_queue&) = delete;
  basic_queue& operator=(const basic_queue&) = delete;

  // --- awaiters ---------------------------------------------------------------------

  class get_awaiter : sync_waiter {
   public:
    explicit get_awaiter(basic_queue* q) noexcept : q_(q) {}
    get_awaiter(const get_awaiter&) = delete;
    get_awaiter& operator=(const get_awaiter&) = delete;
    ~get_awaiter() {
      q_->getters_.remove(this);
      // Frame destroyed (the loop is closing) after an item was handed over: give it
      // back rather than destroy it.
      if (granted) q_->give_back(std::move(*item_));
    }

    bool await_ready() const noexcept { return !q_->store_.empty() || q_->exhausted(); }
    void await_suspend(std::coroutine_handle<> h) {
      task = &require_task();
      ops = &ops_;
      q_->getters_.push_back(this);
      task->suspend_on(h, this);
    }
    T await_resume() {
      if (!task) return q_->get_nowait();  // did not wait: an item, or queue_shutdown
      if (cancelled) throw cancelled_error(task->cancel_message());
      if (granted) {
        granted = false;
        if (task->cancel_requested()) {
          // Handed an item and cancelled before running: pass the item on.
          q_->give_back(std::move(*item_));
          task->throw_if_cancel_requested();
        }
        q_->handed_item_taken();
        return std::move(*item_);
      }
      // Woken by shutdown().
      task->throw_if_cancel_requested();
      throw queue_shutdown();
    }

   private:
    friend class basic_queue;
    static bool on_cancel(suspension* s, task_base*) {
      auto* self = static_cast<get_awaiter*>(s);
      if (!self->queued) return false;
      return cancel_queued_waiter(self, self->q_->getters_);
    }
    static constexpr wait_ops ops_{nullptr, &on_cancel};
    basic_queue* q_;
    std::optional<T> item_;  // the item handed over (while `granted`)
  };

  class put_awaiter : sync_waiter {
   public:
    put_awaiter(basic_queue* q, T&& item) : q_(q), item_(std::move(item)) {}
    put_awaiter(const put_awaiter&) = delete;
    put_awaiter& operator=(const put_awaiter&) = delete;
    ~put_awaiter() {
      q_->putters_.remove(this);
      if (granted) q_->release_promised_slot();  // frame destroyed: the slot passes on
    }

    bool await_ready() const noexcept { return q_->shutdown_ || !q_->full(); }
    void await_suspend(std::coroutine_handle<> h) {
      task = &require_task();
      ops = &ops_;
      q_->putters_.push_back(this);
      task->suspend_on(h, this);
    }
    void await_resume() {
      if (!task) return q_->put_nowait(std::move(item_));  // room, or queue_shutdown
      if (cancelled) throw cancelled_error(task->cancel_message());
      if (granted) {
        granted = false;
        if (task->cancel_requested() || q_->shutdown_) {
          // Promised a slot, but cancelled (or the queue was shut down) before running:
          // the slot passes to the next putter.
          q_->release_promised_slot();
          task->throw_if_cancel_requested();
          throw queue_shutdown();
        }
        --q_->promised_;
        q_->place(std::move(item_));
        return;
      }
      // Woken by shutdown().
      task->throw_if_cancel_requested();
      throw queue_shutdown();
    }

   private:
    friend class basic_queue;
    static bool on_cancel(suspension* s, task_base*) {
      auto* self = static_cast<put_awaiter*>(s);
      if (!self->queued) return false;
      return cancel_queued_waiter(self, self->q_->putters_);
    }
    static constexpr wait_ops ops_{nullptr, &on_cancel};
    basic_queue* q_;
    T item_;
  };

  class join_awaiter : sync_waiter {
   public:
    explicit join_awaiter(basic_queue* q) noexcept : q_(q) {}
    join_awaiter(const join_awaiter&) = delete;
    join_awaiter& operator=(const join_awaiter&) = delete;
    ~join_awaiter() { q_->joiners_.remove(this); }

    bool await_ready() const noexcept { return q_->unfinished_ == 0; }
    void await_suspend(std::coroutine_handle<> h) {
      task = &require_task();
      ops = &ops_;
      q_->joiners_.push_back(this);
      task->suspend_on(h, this);
    }
    void await_resume() {
      if (!task) return;
      if (cancelled) throw cancelled_error(task->cancel_message());
      task->throw_if_cancel_requested();
    }

   private:
    static bool on_cancel(suspension* s, task_base*) {
      auto* self = static_cast<join_awaiter*>(s);
      if (!self->queued) return false;
      return cancel_queued_waiter(self, self->q_->joiners_);
    }
    static constexpr wait_ops ops_{nullptr, &on_cancel};
    basic_queue* q_;
  };

  // --- awaitable handles ------------------------------------------------------------

  class [[nodiscard]] get_awaitable {
   public:
    using aio_awaitable = void;
    explicit get_awaitable(basic_queue* q) noexcept : q_(q) {}
    get_awaiter operator co_await() const noexcept { return get_awaiter(q_); }

   private:
    basic_queue* q_;
  };

  class [[nodiscard]] put_awaitable {
   public:
    using aio_awaitable = void;
    put_awaitable(basic_queue* q, T&& item) : q_(q), item_(std::move(item)) {}
    put_awaiter operator co_await() && { return put_awaiter(q_, std::move(item_)); }

   private:
    basic_queue* q_;
    T item_;
  };

  class [[nodiscard]] join_awaitable {
   public:
    using aio_awaitable = void;
    explicit join_awaitable(basic_queue* q) noexcept : q_(q) {}
    join_awaiter operator co_await() const noexcept { return join_awaiter(q_); }

   private:
    basic_queue* q_;
  };

  // --- the API ----------------------------------------------------------------------

  /// Removes and returns an item, waiting while the queue is empty. Throws
  /// queue_shutdown once the queue is shut down and nothing is left.
  get_awaitable get() noexcept { return get_awaitable(this); }

  /// Puts an item, waiting while the queue is full. Throws queue_shutdown after
  /// shutdown().
  put_awaitable put(T item) { return put_awaitable(this, std::move(item)); }

  /// Waits until every item put has been marked task_done() (at once if none is
  /// unfinished).
  join_awaitable join() noexcept { return join_awaitable(this); }

  /// Removes and returns an item if one is there: queue_empty if not, queue_shutdown if
  /// the queue is shut down and nothing is left.
  T get_nowait() {
    if (!store_.empty()) return take_item();
    if (exhausted()) throw queue_shutdown();
    throw queue_empty();
  }

  /// Puts an item if there is room: queue_full if not, queue_shutdown after shutdown().
  /// `item` is moved from only when it was put.
  void put_nowait(T&& item) {
    check_room();
    place(std::move(item));
  }
  void put_nowait(const T& item) {
    check_room();
    place(T(item));
  }

  /// Marks one item taken by get() as processed; join() returns when every item put
  /// has been. std::invalid_argument if called more times than items were put.
  void task_done() {
    if (unfinished_ == 0) throw std::invalid_argument("task_done() called too many times");
    if (--unfinished_ == 0) joiners_.wake_all([](sync_waiter&) noexcept {});
  }

  /// Shuts the queue down (asyncio 3.13): put() and put_nowait() throw queue_shutdown
  /// from now on, and get() throws it once nothing is left. With `immediate`, what is
  /// queued is dropped (each counted as task_done()), so get() throws at once, and
  /// join() returns when no item is left unfinished. Waiting putters (and getters that
  /// will get nothing) are woken and throw queue_shutdown. Idempotent.
  void shutdown(bool immediate = false) {
    shutdown_ = true;
    if (immediate) {
      immediate_ = true;
      while (!store_.empty()) {
        store_.pop();  // dropped
        if (unfinished_ > 0) --unfinished_;
      }
      if (unfinished_ == 0) joiners_.wake_all([](sync_waiter&) noexcept {});
    }
    end_getters_if_exhausted();
    putters_.wake_all([](sync_waiter&) noexcept {});
  }

  /// Number of items in the queue (not counting items already handed to getters that
  /// have not run yet).
  std::size_t qsize() const noexcept { return store_.size(); }
  bool empty() const noexcept { return store_.empty(); }
  /// True when put_nowait() would throw queue_full: the queue is bounded and its items,
  /// plus items handed to getters and slots promised to putters that have not run yet,
  /// reach maxsize.
  bool full() const noexcept {
    return maxsize_ && store_.size() + handed_ + promised_ >= *maxsize_;
  }
  /// The bound given to the constructor; std::nullopt for an unbounded queue.
  std::optional<std::size_t> maxsize() const noexcept { return maxsize_; }
  bool is_shutdown() const noexcept { return shutdown_; }

 protected:
  explicit basic_queue(std::optional<std::size_t> maxsize, Store store = Store())
      : store_(std::move(store)), maxsize_(maxsize) {
    if (maxsize_ && *maxsize_ == 0)
      throw std::invalid_argument(
          "queue maxsize must be at least 1 (std::nullopt, the default, means unbounded)");
  }
  ~basic_queue() = default;

 private:
  // Invariants (between loop steps):
  //  - getters_ is non-empty only while store_ is empty: an item put while getters wait
  //    is handed to the first one (granted, item in its frame, counted in handed_).
  //  - putters_ is non-empty only while full(): a slot freed while putters wait is
  //    promised to the first one (granted, counted in promised_).
  //  - store_.size() + handed_ + promised_ <= maxsize.
  //  - unfinished_ counts items put and not yet task_done() (handed items included).
  //  - after shutdown(), putters_ is empty, and getters_ is empty unless handed items
  //    may still come back from getters that are cancelled before running.

  void check_room() const {
    if (shutdown_) throw queue_shutdown();
    if (full()) throw queue_full();
  }

  // A new item enters: handed to the first waiting getter, or stored.
  void place(T&& item) {
    ++unfinished_;
    hand_or_store(std::move(item), false);
  }

  void hand_or_store(T&& item, bool to_front) {
    if (sync_waiter* w = getters_.pop_front()) {
      auto* g = static_cast<get_awaiter*>(w);
      g->item_.emplace(std::move(item));
      g->granted = true;
      ++handed_;
      g->task->wake();
    } else if (to_front) {
      store_.give_back(std::move(item));
    } else {
      store_.push(std::move(item));
    }
  }

  T take_item() {
    T v = store_.pop();
    fill_free_slots();
    return v;
  }

  // A woken getter took the item handed to it.
  void handed_item_taken() noexcept {
    --handed_;
    fill_free_slots();
    end_getters_if_exhausted();
  }

  // A getter handed an item did not take it (cancelled, or its frame destroyed): the
  // item goes to the next getter or back to the head of the queue — unless the queue
  // was shut down immediately meanwhile, whose drain would have dropped it.
  void give_back(T&& item) {
    --handed_;
    if (immediate_) {
      [[maybe_unused]] T dropped(std::move(item));  // destroyed here
      if (unfinished_ > 0 && --unfinished_ == 0) joiners_.wake_all([](sync_waiter&) noexcept {});
      fill_free_slots();
      end_getters_if_exhausted();
      return;
    }
    hand_or_store(std::move(item), true);
  }

  // A putter promised a slot did not use it.
  void release_promised_slot() noexcept {
    --promised_;
    fill_free_slots();
  }

  // Promises freed slots to waiting putters, in FIFO order.
  void fill_free_slots() noexcept {
    while (!putters_.empty() && !full()) {
      ++promised_;
      putters_.grant_first();
    }
  }

  // Shut down and nothing left or coming back: no get can succeed any more.
  bool exhausted() const noexcept {
    return shutdown_ && store_.empty() && (immediate_ || handed_ == 0);
  }
  void end_getters_if_exhausted() noexcept {
    if (exhausted()) getters_.wake_all([](sync_waiter&) noexcept {});
  }

  Store store_;
  std::optional<std::size_t> maxsize_;
  waiter_queue getters_;
  waiter_queue putters_;
  waiter_queue joiners_;
  std::size_t handed_ = 0;    // items handed to woken getters that have not run yet
  std::size_t promised_ = 0;  // slots promised to woken putters that have not run yet
  std::size_t unfinished_ = 0;
  bool shutdown_ = false;
  bool immediate_ = false;
};

}  // namespace detail

namespace detail {
/// A queue size given as a signed number (`queue<int> q(10)`): a negative one is an
/// error, not a huge bound through std::optional<std::size_t>'s conversion.
template <std::signed_integral I>
std::size_t checked_queue_size(I n) {
  if (n < 0) throw std::invalid_argument("queue maxsize must not be negative");
  return static_cast<std::size_t>(n);
}
}  // namespace detail

/// A first-in, first-out queue (asyncio.Queue). See the file comment.
template <class T>
class queue : public detail::basic_queue<T, detail::fifo_store<T>> {
 public:
  /// std::nullopt: unbounded; otherwise at least 1 (std::invalid_argument).
  explicit queue(std::optional<std::size_t> maxsize = std::nullopt)
      : detail::basic_queue<T, detail::fifo_store<T>>(maxsize) {}
  template <std::signed_integral I>
  explicit queue(I maxsize) : queue(detail::checked_queue_size(maxsize)) {}
  template <std::floating_point F>
  explicit queue(F) = delete;  // asyncio rejects maxsize=1.5 too (test_float_maxsize)
};

/// A queue that returns the smallest item first by `Compare` (asyncio.PriorityQueue,
/// heapq's order). See the file comment.
template <class T, class Compare = std::less<T>>
class priority_queue : public detail::basic_queue<T, detail::heap_store<T, Compare>> {
 public:
  explicit priority_queue(std::optional<std::size_t> maxsize = std::nullopt,
                          Compare comp = Compare())
      : detail::basic_queue<T, detail::heap_store<T, Compare>>(
            maxsize, detail::heap_store<T, Compare>(std::move(comp))) {}
  template <std::signed_integral I>
  explicit priority_queue(I maxsize, Compare comp = Compare())
      : priority_queue(detail::checked_queue_size(maxsize), std::move(comp)) {}
  template <std::floating_point F>
  explicit priority_queue(F, Compare = Compare()) = delete;
};

/// A last-in, first-out queue (asyncio.LifoQueue). See the file comment.
template <class T>
class lifo_queue : public detail::basic_queue<T, detail::lifo_store<T>> {
 public:
  explicit lifo_queue(std::optional<std::size_t> maxsize = std::nullopt)
      : detail::basic_queue<T, detail::lifo_store<T>>(maxsize) {}
  template <std::signed_integral I>
  explicit lifo_queue(I maxsize) : lifo_queue(detail::checked_queue_size(maxsize)) {}
  template <std::floating_point F>
  explicit lifo_queue(F) = delete;
};

}  // namespace aio
