// SPDX-License-Identifier: MIT
// aio/sync/channel.hpp — aio::channel<T>, a bounded, thread-safe channel for handing
// values between event loops running in different threads, and between loops and
// plain threads. The asynchronous equivalent of a bounded blocking queue
// (Python's queue.Queue, Go's buffered chan, Tokio's mpsc).
//
//   co_await ch.send(v);   std::optional<T> v = co_await ch.receive();   ch.close();
//
//   aio::channel<std::string> lines(64);           // shared by two threads' loops
//   // loop A:                                     // loop B:
//   for (auto& l : input) co_await lines.send(l);  while (auto l = co_await lines.receive())
//   lines.close();                                   handle(*l);
//
// send() waits while `capacity` values are buffered (backpressure); receive() waits
// while none is. Any number of senders and receivers, each a task on any loop or a plain
// thread, in any mix; waiters are served in FIFO order. A value sent while receivers
// wait is handed straight to the first of them; a slot freed while senders wait is
// promised to the first of them. Both count toward `capacity` until their task runs.
// try_send()/try_receive() never wait; blocking_send()/blocking_receive() are the
// forms for plain threads (they block the calling thread).
//
// End of the stream: close() lets receivers drain what was sent; after that receive()
// returns std::nullopt, so `while (auto v = co_await ch.receive())` ends by itself.
// Once closed, send() and try_send() throw aio::channel_closed.
//
// Cancellation: cancelling a task waiting in send() or receive() makes that call throw
// cancelled_error and removes it from the channel; a cancelled send() did not send
// (the value it was given is destroyed). If a value had been handed to a receiver whose
// task is cancelled before it runs — the sender may be another thread, so this can
// happen at any time — the value goes to the next receiver or back to the head of the
// channel: it is never lost and never delivered twice. A slot promised to a cancelled
// sender passes to the next sender. (The scenario is written out at receive_awaiter.)
// Errors: std::invalid_argument for a capacity of 0; channel_closed as above;
// std::logic_error for blocking_send()/blocking_receive() called on a thread that runs
// an event loop (they would block it).
// Thread safety: every member function may be called from any thread. A waiting task is
// woken on its own loop (through call_soon_threadsafe when the waker is another
// thread). The channel must outlive every thread and task that uses it.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <utility>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/sync/detail/waiter_queue.hpp"

namespace aio {

/// Sending on a closed channel.
class channel_closed : public std::runtime_error {
 public:
  channel_closed() : std::runtime_error("channel is closed") {}
};

namespace detail {

/// A waiter of a channel: a task suspended in send()/receive() on some loop, or a plain
/// thread blocked in blocking_send()/blocking_receive(). Its sync_waiter flags (queued,
/// granted, cancelled) are guarded by the channel's mutex. Woken without being granted
/// or cancelled means: the channel was closed.
struct channel_waiter : sync_waiter {
  loop_base* loop = nullptr;                // the task's loop
  std::binary_semaphore* thread = nullptr;  // set for a blocked plain thread
};

/// Wakes a waiter that was just popped from a channel's list (granted or closed). Called
/// with the channel's mutex held, from any thread: a blocked thread is released, a task
/// on the calling thread's loop is woken at once, and a task on another loop through
/// that loop's call_soon_threadsafe.
void wake_channel_waiter(channel_waiter* w) noexcept;

/// Throws std::logic_error if an event loop runs on this thread.
void check_may_block(const char* what);

}  // namespace detail

template <class T>
class channel {
  // A receiver's node: a task's receive_awaiter, or blocking_receive()'s frame.
  struct receiver : detail::channel_waiter {
    std::optional<T> value;  // the value handed over (while `granted`)
  };

 public:
  using value_type = T;

  /// A channel that buffers up to `capacity` values (at least 1: std::invalid_argument).
  explicit channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("channel capacity must be at least 1");
  }
  /// A capacity given as a signed number: negative is std::invalid_argument (not a
  /// huge capacity through the conversion to std::size_t); floating point does not
  /// compile.
  template <std::signed_integral I>
  explicit channel(I capacity)
      : channel(capacity < 0 ? throw std::invalid_argument("channel capacity must be at least 1")
                             : static_cast<std::size_t>(capacity)) {}
  template <std::floating_point F>
  explicit channel(F) = delete;
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // --- awaiters ---------------------------------------------------------------------

  /// The awaiter of receive().
  ///
  /// The race this awaiter must survive, in full: a task R on loop L waits in receive().
  /// A sender S on another thread takes the channel's mutex, pops R's node, moves the
  /// value into it, marks it granted and posts "wake R" to L. At the same time, on L,
  /// something calls R.cancel(), which asks this awaiter to abort the wait (on_cancel).
  /// Both take the mutex, so one of them comes first:
  ///  - If on_cancel comes first, R's node is still queued: it is removed and R is woken
  ///    to throw cancelled_error. S then never sees R; its value goes to the next
  ///    receiver or into the buffer.
  ///  - If S comes first, R's node is no longer queued: on_cancel returns false ("cannot
  ///    abort now"), and the task keeps the cancellation pending. S's wake-up arrives
  ///    later through L's call_soon_threadsafe; R resumes, finds both the value and the
  ///    pending cancellation, hands the value on (to the next receiver, or back to the
  ///    head of the buffer) and throws cancelled_error.
  /// In neither order is the value lost or delivered twice, and R is woken exactly once
  /// (a granted node is never cancelled, a cancelled node is never granted).
  /// S posts the wake-up while it still holds the mutex. That keeps L alive for the
  /// post: if L is being closed, destroying R's frame runs this awaiter's destructor,
  /// which needs the mutex, so it waits until S is done; it then gives the value back.
  /// If L was already closed, the post fails harmlessly and the destructor, which has
  /// yet to run, gives the value back.
  class receive_awaiter : receiver {
   public:
    explicit receive_awaiter(channel* ch) noexcept : ch_(ch) {}
    receive_awaiter(const receive_awaiter&) = delete;
    receive_awaiter& operator=(const receive_awaiter&) = delete;
    ~receive_awaiter() {
      if (!this->task) return;  // never waited
      std::lock_guard lk(ch_->mutex_);
      ch_->receivers_.remove(this);
      // Frame destroyed (its loop is closing) after a value was handed over.
      if (this->granted) ch_->give_back_locked(std::move(*this->value));
    }

    bool await_ready() {
      std::lock_guard lk(ch_->mutex_);
      return ch_->take_locked(this->value);
    }
    bool await_suspend(std::coroutine_handle<> h) {
      detail::task_base& t = detail::require_task();
      {
        std::lock_guard lk(ch_->mutex_);
        if (ch_->take_locked(this->value)) return false;  // another thread was faster
        this->task = &t;
        this->loop = t.loop();
        this->ops = &ops_;
        ch_->receivers_.push_back(this);
      }
      t.suspend_on(h, this);  // may call on_cancel at once: the mutex must be free
      return true;
    }
    std::optional<T> await_resume() {
      if (!this->task) return std::move(this->value);  // a value, or the end
      detail::task_base* t = this->task;
      std::unique_lock lk(ch_->mutex_);
      if (this->cancelled) {
        lk.unlock();
        throw cancelled_error(t->cancel_message());
      }
      if (this->granted) {
        this->granted = false;
        if (t->cancel_requested()) {
          ch_->give_back_locked(std::move(*this->value));  // see the scenario above
          lk.unlock();
          t->throw_if_cancel_requested();
        }
        ch_->handed_taken_locked();
        return std::move(this->value);
      }
      lk.unlock();  // woken by close(): the end
      t->throw_if_cancel_requested();
      return std::nullopt;
    }

   private:
    friend class channel;
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<receive_awaiter*>(s);
      {
        std::lock_guard lk(self->ch_->mutex_);
        if (!self->queued) return false;  // granted or closed: a wake-up is on its way
        self->ch_->receivers_.remove(self);
        self->cancelled = true;
      }
      self->task->wake();  // on_cancel runs on the task's own loop
      return true;
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    channel* ch_;
  };

  /// The awaiter of send(). A sender that waits is promised a slot when one frees; it
  /// puts its value in when it runs. Cancelled at that moment, it passes the slot on.
  class send_awaiter : detail::channel_waiter {
   public:
    send_awaiter(channel* ch, T&& v) : ch_(ch), value_(std::move(v)) {}
    send_awaiter(const send_awaiter&) = delete;
    send_awaiter& operator=(const send_awaiter&) = delete;
    ~send_awaiter() {
      if (!this->task) return;
      std::lock_guard lk(ch_->mutex_);
      ch_->senders_.remove(this);
      if (this->granted) ch_->release_promised_locked();  // frame destroyed: pass it on
    }

    bool await_ready() {
      std::lock_guard lk(ch_->mutex_);
      return ch_->send_now_locked(value_, sent_);
    }
    bool await_suspend(std::coroutine_handle<> h) {
      detail::task_base& t = detail::require_task();
      {
        std::lock_guard lk(ch_->mutex_);
        if (ch_->send_now_locked(value_, sent_)) return false;
        this->task = &t;
        this->loop = t.loop();
        this->ops = &ops_;
        ch_->senders_.push_back(this);
      }
      t.suspend_on(h, this);
      return true;
    }
    void await_resume() {
      detail::task_base* t = this->task;
      if (!t) {
        if (!sent_) throw channel_closed();
        return;
      }
      std::unique_lock lk(ch_->mutex_);
      if (this->cancelled) {
        lk.unlock();
        throw cancelled_error(t->cancel_message());
      }
      if (this->granted) {
        this->granted = false;
        if (t->cancel_requested() || ch_->closed_) {
          ch_->release_promised_locked();
          lk.unlock();
          t->throw_if_cancel_requested();
          throw channel_closed();
        }
        --ch_->promised_;
        ch_->place_locked(std::move(value_));
        return;
      }
      lk.unlock();  // woken by close()
      t->throw_if_cancel_requested();
      throw channel_closed();
    }

   private:
    friend class channel;
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<send_awaiter*>(s);
      {
        std::lock_guard lk(self->ch_->mutex_);
        if (!self->queued) return false;
        self->ch_->senders_.remove(self);
        self->cancelled = true;
      }
      self->task->wake();
      return true;
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    channel* ch_;
    T value_;
    bool sent_ = false;
  };

  // --- awaitable handles ------------------------------------------------------------

  class [[nodiscard]] receive_awaitable {
   public:
    using aio_awaitable = void;
    explicit receive_awaitable(channel* ch) noexcept : ch_(ch) {}
    receive_awaiter operator co_await() const noexcept { return receive_awaiter(ch_); }

   private:
    channel* ch_;
  };

  class [[nodiscard]] send_awaitable {
   public:
    using aio_awaitable = void;
    send_awaitable(channel* ch, T&& v) : ch_(ch), value_(std::move(v)) {}
    send_awaiter operator co_await() && { return send_awaiter(ch_, std::move(value_)); }

   private:
    channel* ch_;
    T value_;
  };

  // --- the API ----------------------------------------------------------------------

  /// Sends `v`, waiting while the channel is full. Throws channel_closed if the channel
  /// is (or gets) closed before the value went in.
  send_awaitable send(T v) { return send_awaitable(this, std::move(v)); }

  /// The next value, waiting while there is none; std::nullopt once the channel is
  /// closed and every value sent has been received.
  receive_awaitable receive() noexcept { return receive_awaitable(this); }

  /// Sends `v` if there is room: true if it went in (and was moved from), false if the
  /// channel is full (`v` untouched). Throws channel_closed after close().
  bool try_send(T&& v) {
    std::lock_guard lk(mutex_);
    if (closed_) throw channel_closed();
    if (full_locked()) return false;
    place_locked(std::move(v));
    return true;
  }
  bool try_send(const T& v) {
    std::lock_guard lk(mutex_);
    if (closed_) throw channel_closed();
    if (full_locked()) return false;
    place_locked(T(v));
    return true;
  }

  /// A buffered value, or std::nullopt if none is there right now. Throws
  /// channel_closed once the channel is closed and drained (nothing can come any more),
  /// so that a polling loop can tell "not yet" from "never".
  std::optional<T> try_receive() {
    std::lock_guard lk(mutex_);
    std::optional<T> v;
    if (!take_locked(v)) return std::nullopt;
    if (!v) throw channel_closed();
    return v;
  }

  /// send() for a plain thread: blocks the calling thread while the channel is full.
  /// channel_closed as send(); std::logic_error on a thread that runs an event loop.
  void blocking_send(T v) {
    detail::check_may_block("aio::channel::blocking_send");
    std::unique_lock lk(mutex_);
    bool sent = false;
    if (send_now_locked(v, sent)) {
      if (!sent) throw channel_closed();
      return;
    }
    std::binary_semaphore sem(0);
    detail::channel_waiter node;
    node.thread = &sem;
    senders_.push_back(&node);
    lk.unlock();
    sem.acquire();
    // The waker released `sem` with the mutex held: once we hold it, it is done with
    // `node` and `sem`.
    lk.lock();
    if (!node.granted) throw channel_closed();
    --promised_;
    if (closed_) {
      fill_slots_locked();
      throw channel_closed();
    }
    place_locked(std::move(v));
  }

  /// receive() for a plain thread: blocks the calling thread while the channel is
  /// empty; std::nullopt at the end. std::logic_error on a thread that runs a loop.
  std::optional<T> blocking_receive() {
    detail::check_may_block("aio::channel::blocking_receive");
    std::unique_lock lk(mutex_);
    std::optional<T> v;
    if (take_locked(v)) return v;
    std::binary_semaphore sem(0);
    receiver node;
    node.thread = &sem;
    receivers_.push_back(&node);
    lk.unlock();
    sem.acquire();
    lk.lock();
    if (!node.granted) return std::nullopt;  // closed
    handed_taken_locked();
    return std::move(node.value);
  }

  /// Closes the channel: no more sends; receivers drain what is buffered, then get
  /// std::nullopt. Waiting senders throw channel_closed. Idempotent.
  void close() {
    std::lock_guard lk(mutex_);
    if (closed_) return;
    closed_ = true;
    while (sync_waiter_ptr w = senders_.pop_front()) wake(w);
    end_receivers_if_drained_locked();
  }

  bool closed() const {
    std::lock_guard lk(mutex_);
    return closed_;
  }
  /// Values buffered now (not counting those handed to receivers that have not run).
  std::size_t size() const {
    std::lock_guard lk(mutex_);
    return buffer_.size();
  }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  using sync_waiter_ptr = detail::sync_waiter*;

  // Invariants (under mutex_):
  //  - receivers_ is non-empty only while buffer_ is empty: a value sent while receivers
  //    wait is handed to the first (granted, value in its node, counted in handed_).
  //  - senders_ is non-empty only while full_locked(): a freed slot is promised to the
  //    first waiting sender (granted, counted in promised_).
  //  - buffer_.size() + handed_ + promised_ <= capacity_.
  //  - after close(), senders_ is empty, and receivers_ is empty unless handed values
  //    may still come back from receivers cancelled before they ran.
  //  - a node is woken exactly once per wait: when it is popped (granted, or closed),
  //    or by on_cancel when it is removed while queued.

  static void wake(sync_waiter_ptr w) noexcept {
    detail::wake_channel_waiter(static_cast<detail::channel_waiter*>(w));
  }

  bool full_locked() const noexcept { return buffer_.size() + handed_ + promised_ >= capacity_; }

  // A new value enters: handed to the first waiting receiver, or buffered.
  void place_locked(T&& v) { hand_or_buffer_locked(std::move(v), false); }

  void hand_or_buffer_locked(T&& v, bool to_front) {
    if (sync_waiter_ptr w = receivers_.pop_front()) {
      auto* r = static_cast<receiver*>(static_cast<detail::channel_waiter*>(w));
      r->value.emplace(std::move(v));
      r->granted = true;
      ++handed_;
      wake(w);
    } else if (to_front) {
      buffer_.push_front(std::move(v));
    } else {
      buffer_.push_back(std::move(v));
    }
  }

  // Sends at once if possible; true when done (sent, or the channel is closed).
  bool send_now_locked(T& v, bool& sent) {
    if (closed_) return true;
    if (full_locked()) return false;
    place_locked(std::move(v));
    sent = true;
    return true;
  }

  // Receives at once if possible; true when done (`out` holds a value, or stays empty
  // at the end of the channel).
  bool take_locked(std::optional<T>& out) {
    if (!buffer_.empty()) {
      out.emplace(std::move(buffer_.front()));
      buffer_.pop_front();
      fill_slots_locked();
      return true;
    }
    return closed_ && handed_ == 0;
  }

  // A woken receiver took the value handed to it.
  void handed_taken_locked() noexcept {
    --handed_;
    fill_slots_locked();
    end_receivers_if_drained_locked();
  }

  // A receiver handed a value did not take it: to the next receiver, or the head.
  void give_back_locked(T&& v) {
    --handed_;
    hand_or_buffer_locked(std::move(v), true);
  }

  void release_promised_locked() noexcept {
    --promised_;
    fill_slots_locked();
  }

  void fill_slots_locked() noexcept {
    while (!senders_.empty() && !full_locked()) {
      sync_waiter_ptr w = senders_.pop_front();
      w->granted = true;
      ++promised_;
      wake(w);
    }
  }

  void end_receivers_if_drained_locked() noexcept {
    if (closed_ && buffer_.empty() && handed_ == 0)
      while (sync_waiter_ptr w = receivers_.pop_front()) wake(w);
  }

  mutable std::mutex mutex_;
  std::deque<T> buffer_;
  detail::waiter_queue receivers_;
  detail::waiter_queue senders_;
  const std::size_t capacity_;
  std::size_t handed_ = 0;    // values handed to receivers that have not run yet
  std::size_t promised_ = 0;  // slots promised to senders that have not run yet
  bool closed_ = false;
};

}  // namespace aio
