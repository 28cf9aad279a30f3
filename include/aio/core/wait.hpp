// SPDX-License-Identifier: MIT
// aio/core/wait.hpp — aio::wait and aio::as_completed: waiting on a set of tasks
// without collecting them all (asyncio.wait, asyncio.as_completed).
//
//   auto [done, pending] = co_await aio::wait(tasks, {.return_when = aio::first_completed});
//   for (auto next : aio::as_completed(std::move(coros), {.timeout = 10s})) {
//     Page p = co_await next;       // in completion order; rethrows a child's exception
//   }
//
// wait(tasks, {.timeout, .return_when}) returns when the condition holds or the timeout
// passes (no timeout_error: what is not done is in `pending`). It neither cancels nor
// owns the tasks: they keep running, as in asyncio. An empty vector is an
// std::invalid_argument. Cancellation: cancelling the waiting task stops the wait
// (cancelled_error); the tasks go on.
//
// as_completed(aws, {.timeout}) starts coros as tasks at once and yields one awaitable
// per child; each await returns the next result to come in (or rethrows that child's
// exception). After the timeout, the remaining awaits throw timeout_error.
// Cancellation: cancelling the awaiting task interrupts the current await only. The
// range owns the tasks it started: when it is destroyed with some still running, they
// are cancelled (destructors never wait). To leave early AND wait for the cancelled
// children — so they stop using what they borrow — `co_await range.cancel_remaining()`.
// Thread safety: the awaiting task's loop thread.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/multi_wait.hpp"
#include "aio/core/future.hpp"
#include "aio/core/gather.hpp"
#include "aio/core/task.hpp"

namespace aio {

/// When aio::wait returns (asyncio's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class return_when { first_completed, first_exception, all_completed };
inline constexpr return_when first_completed = return_when::first_completed;
inline constexpr return_when first_exception = return_when::first_exception;
inline constexpr return_when all_completed = return_when::all_completed;

struct wait_options {
  std::optional<duration> timeout{};

  aio::return_when return_when = aio::return_when::all_completed;
};
static_assert(std::is_trivially_destructible_v<wait_options>);  // docs/hazards.md

template <class H>
struct wait_result {
  std::vector<H> done;
  std::vector<H> pending;
};

namespace detail {
template <class H>
concept waitable = requires(const H& h) {
  { h.state() } -> std::convertible_to<future_base*>;
};
}  // namespace detail

/// Waits for the tasks (or futures) until `opts.return_when` holds or the timeout
/// passes; returns them split into done and pending, each in input order.
template <class H>
requires detail::waitable<H> coro<wait_result<H>> wait(std::vector<H> fs, wait_options opts = {}) {
  if (fs.empty()) throw std::invalid_argument("aio::wait: the set of tasks is empty");
  std::vector<detail::future_base*> states;
  states.reserve(fs.size());
  for (const H& h : fs) states.push_back(h.state());
  detail::multi_wait_options mw;
  mw.until = opts.return_when == return_when::all_completed     ? detail::wait_until::all_done
             : opts.return_when == return_when::first_completed ? detail::wait_until::first_done
                                                                : detail::wait_until::first_failure;
  if (opts.timeout) mw.deadline = detail::require_loop().time() + *opts.timeout;
  co_await detail::multi_wait(states, mw);
  wait_result<H> r;
  for (H& h : fs) (h.state()->done() ? r.done : r.pending).push_back(std::move(h));
  co_return r;
}

struct as_completed_options {
  std::optional<duration> timeout{};
};
static_assert(std::is_trivially_destructible_v<as_completed_options>);  // docs/hazards.md

/// The awaitables of as_completed, in completion order. A single-pass range: leaving a
/// `for` loop early and starting another one resumes where the first stopped. Not
/// copyable or movable (children point at it): keep it where as_completed() put it.
template <class T>
class as_completed_range : detail::timer_entry {
 public:
  as_completed_range(std::vector<task<T>> tasks, bool owned, as_completed_options opts);
  as_completed_range(const as_completed_range&) = delete;
  as_completed_range& operator=(const as_completed_range&) = delete;
  ~as_completed_range();

  class awaiter;
  /// One result: awaiting it returns the next child to finish.
  class next_awaitable {
   public:
    using aio_awaitable = void;
    explicit next_awaitable(as_completed_range* r) noexcept : r_(r) {}
    awaiter operator co_await() const noexcept { return awaiter(r_); }

   private:
    as_completed_range* r_;
  };

  class iterator {
   public:
    using value_type = next_awaitable;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(as_completed_range* r) noexcept : r_(r) {}
    // Like Python's next(): taking an awaitable is what advances, so a loop left with
    // `break` and a new loop over the same range go on from there.
    next_awaitable operator*() const noexcept {
      ++r_->yielded_;
      return next_awaitable(r_);
    }
    iterator& operator++() noexcept { return *this; }
    void operator++(int) noexcept {}
    bool operator==(std::default_sentinel_t) const noexcept {
      return r_->yielded_ >= r_->tasks_.size();
    }

   private:
    as_completed_range* r_ = nullptr;
  };
  iterator begin() noexcept { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }
  std::size_t size() const noexcept { return tasks_.size(); }
  /// An awaitable for the next result (the same as `*it`).
  next_awaitable next() noexcept { return next_awaitable(this); }

  /// Cancels the children still running and waits for them to end.
  coro<void> cancel_remaining();

  /// Any number of awaits may wait at once; results go to them in the order they
  /// started waiting. An awaiter cancelled after a result was handed to it passes the
  /// result on (nothing is lost).
  class awaiter : detail::suspension {
   public:
    explicit awaiter(as_completed_range* r) noexcept : r_(r) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      if (queued_) r_->remove_waiter(this);
    }
    bool await_ready() noexcept {
      if (!r_->ready_.empty()) {
        index_ = r_->ready_.front();
        r_->ready_.pop_front();
        return true;
      }
      return r_->timed_out_;
    }
    void await_suspend(std::coroutine_handle<> h) {
      task_ = &detail::require_task();
      r_->add_waiter(this);
      ops = &ops_;
      task_->suspend_on(h, this);
    }
    T await_resume() {
      if (task_ && (task_->cancel_requested() || cancelled_)) {
        if (index_ != npos) r_->deliver(std::exchange(index_, npos), true);  // pass it on
        task_->throw_if_cancel_requested();
        throw cancelled_error(task_->cancel_message());
      }
      if (index_ == npos) throw timeout_error();
      task<T>& t = r_->tasks_[index_];
      t.state()->check_result();
      if constexpr (!std::is_void_v<T>) {
        if (r_->owned_ || !std::is_copy_constructible_v<T>) return detail::slot_of(t).take();
        if constexpr (std::is_copy_constructible_v<T>) return detail::slot_of(t).get();
      }
    }

   private:
    friend class as_completed_range;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    static bool on_cancel(suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(s);
      self->r_->remove_waiter(self);
      self->cancelled_ = true;
      self->task_->wake();
      return true;
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    as_completed_range* r_;
    detail::task_base* task_ = nullptr;
    awaiter* next_waiter_ = nullptr;
    std::size_t index_ = npos;
    bool queued_ = false;
    bool cancelled_ = false;
  };

 private:
  struct node : detail::completion_node {
    as_completed_range* owner;
  };
  static void node_done(detail::completion_node* n) noexcept {
    auto* nd = static_cast<node*>(n);
    nd->owner->deliver(static_cast<std::size_t>(nd - nd->owner->nodes_.get()), false);
  }
  static constexpr detail::wait_ops node_ops_{&node_done, nullptr};

  // A finished child goes to the first waiter, or waits in ready_ for the next await.
  void deliver(std::size_t i, bool to_front) noexcept {
    if (awaiter* w = waiters_head_) {
      remove_waiter(w);
      w->index_ = i;
      w->task_->wake();
      return;
    }
    try {
      if (to_front)
        ready_.push_front(i);
      else
        ready_.push_back(i);
    } catch (...) {
      std::terminate();  // out of memory for one index
    }
  }
  void add_waiter(awaiter* w) noexcept {
    w->queued_ = true;
    w->next_waiter_ = nullptr;
    if (waiters_tail_)
      waiters_tail_->next_waiter_ = w;
    else
      waiters_head_ = w;
    waiters_tail_ = w;
  }
  void remove_waiter(awaiter* w) noexcept {
    awaiter* prev = nullptr;
    for (awaiter* p = waiters_head_; p; prev = p, p = p->next_waiter_) {
      if (p != w) continue;
      (prev ? prev->next_waiter_ : waiters_head_) = p->next_waiter_;
      if (waiters_tail_ == p) waiters_tail_ = prev;
      break;
    }
    w->queued_ = false;
  }
  static void on_deadline(detail::timer_entry* t) noexcept {
    auto* self = static_cast<as_completed_range*>(t);
    self->timed_out_ = true;
    while (awaiter* w = self->waiters_head_) {
      self->remove_waiter(w);
      w->task_->wake();
    }
  }

  std::vector<task<T>> tasks_;
  std::unique_ptr<node[]> nodes_;
  std::deque<std::size_t> ready_;  // finished children no await has taken yet
  std::size_t yielded_ = 0;        // awaitables handed out by the iterator
  detail::loop_base* loop_;
  awaiter* waiters_head_ = nullptr;
  awaiter* waiters_tail_ = nullptr;
  bool owned_;
  bool timed_out_ = false;
};

template <class T>
as_completed_range<T>::as_completed_range(std::vector<task<T>> tasks, bool owned,
                                          as_completed_options opts)
    : tasks_(std::move(tasks)),
      nodes_(new node[tasks_.size()]),
      loop_(&detail::require_loop()),
      owned_(owned) {
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    nodes_[i].owner = this;
    nodes_[i].ops = &node_ops_;
    if (tasks_[i].done())
      ready_.push_back(i);
    else
      tasks_[i].state()->add_waiter(&nodes_[i]);
  }
  if (opts.timeout) {
    fire = &on_deadline;
    loop_->arm_timer(this, loop_->time() + *opts.timeout);
  }
}

template <class T>
as_completed_range<T>::~as_completed_range() {
  loop_->disarm_timer(this);
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    if (nodes_[i].linked()) nodes_[i].unlink();
    if (!owned_) continue;
    if (!tasks_[i].done()) tasks_[i].cancel();
    tasks_[i].state()->mark_retrieved();  // outcomes nobody took were abandoned on purpose
  }
}

template <class T>
coro<void> as_completed_range<T>::cancel_remaining() {
  for (task<T>& t : tasks_)
    if (!t.done()) t.cancel();
  for (task<T>& t : tasks_) {
    try {
      co_await t;
    } catch (...) {
    }
  }
}

namespace detail {
template <class A>
struct as_completed_child;
template <class T>
struct as_completed_child<coro<T>> {
  using value = T;
  static constexpr bool owned = true;
  static task<T> make(coro<T>&& c) { return create_task(std::move(c)); }
};
template <class T>
struct as_completed_child<task<T>> {
  using value = T;
  static constexpr bool owned = false;
  static task<T> make(task<T>&& t) { return std::move(t); }
};
}  // namespace detail

/// The results of `aws` (coros, started now, or tasks) in the order they finish.
template <class A>
as_completed_range<typename detail::as_completed_child<A>::value> as_completed(
    std::vector<A> aws, as_completed_options opts = {}) {
  using C = detail::as_completed_child<A>;
  std::vector<task<typename C::value>> tasks;
  tasks.reserve(aws.size());
  for (A& a : aws) tasks.push_back(C::make(std::move(a)));
  return as_completed_range<typename C::value>(std::move(tasks), C::owned, opts);
}

}  // namespace aio
