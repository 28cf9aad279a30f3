// SPDX-License-Identifier: MIT
// aio/core/event_loop.hpp — aio::event_loop, asyncio's event loop: one per thread,
// running callbacks, task steps, timers and I/O readiness callbacks in the numbered
// stages of docs/design/event_loop.md.
//
//   aio::event_loop loop;
//   loop.call_later(1s, [&] { loop.stop(); });
//   loop.run_forever();
//
// Most programs never touch the loop: aio::run(main()) makes one, runs the main
// coroutine, and closes it. Inside a coroutine, aio::get_running_loop() returns it.
//
// Errors: an exception that escapes a callback is passed to the exception handler
// (set_exception_handler; the default logs it) and the loop goes on.
// Cancellation: handle::cancel() / timer_handle::cancel() unschedule a callback.
// Thread safety: only call_soon_threadsafe may be called from another thread.
// Everything else belongs to the thread running the loop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/pool.hpp"
#include "aio/core/future.hpp"
#include "aio/core/task.hpp"

namespace aio {

namespace detail {

class backend;
struct io_watch;

/// A scheduled callback (call_soon, call_later, add_reader ...). Reference counted:
/// the loop holds one reference while the callback is queued, armed or registered,
/// and each aio::handle holds one.
class callback_node : public loop_item, public pooled {
 public:
  explicit callback_node(loop_base* loop) noexcept;
  callback_node(const callback_node&) = delete;
  callback_node& operator=(const callback_node&) = delete;
  virtual ~callback_node();

  /// Calls the function (may throw).
  virtual void invoke() = 0;
  /// Destroys the function and its captures now (after a cancel).
  virtual void drop_function() noexcept = 0;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }
  /// The callback of a handle given to the ready queue: run unless cancelled, then
  /// drop the queue's reference.
  static void run_queued(loop_item* it, bool discard);
  static const item_ops queued_ops;
  /// Cancels the callback; idempotent.
  void cancel() noexcept;

  loop_base* loop_;
  timer_entry* timer_ = nullptr;  // set for call_later/call_at nodes
  std::uint32_t refs_ = 1;
  bool cancelled_ = false;
  bool running_ = false;
  bool counted_ = false;  // counted in tls_live_callbacks

  /// "callback <type of the function>", for reports.
  std::string describe() const;
};

template <class F>
class callback_impl final : public callback_node {
 public:
  template <class G>
  callback_impl(loop_base* loop, G&& g) : callback_node(loop), fn_(std::forward<G>(g)) {}
  void invoke() override { std::invoke(*fn_); }
  void drop_function() noexcept override { fn_.reset(); }

 protected:
  std::optional<F> fn_;
};

template <class F>
class timer_callback final : public callback_node, public timer_entry {
 public:
  template <class G>
  timer_callback(loop_base* loop, G&& g) : callback_node(loop), fn_(std::forward<G>(g)) {
    timer_ = this;
    fire = &on_expired;
    discard = &on_discard;
  }
  void invoke() override { std::invoke(*fn_); }
  void drop_function() noexcept override { fn_.reset(); }

 private:
  // An expired timer moves its callback to the ready queue (asyncio's order: it runs
  // after the callbacks already queued for this iteration).
  static void on_expired(timer_entry* t) noexcept {
    auto* self = static_cast<timer_callback*>(t);
    self->loop_->push_ready(self);
  }
  static void on_discard(timer_entry* t) noexcept { static_cast<timer_callback*>(t)->release(); }
  std::optional<F> fn_;
};

template <class F, class... Args>
auto bind_callback(F&& f, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::decay_t<F>(std::forward<F>(f));
  } else {
    return [f = std::decay_t<F>(std::forward<F>(f)),
            tup = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
      std::apply(f, tup);
    };
  }
}

}  // namespace detail

/// A callback scheduled with call_soon (asyncio.Handle). Dropping the handle does not
/// cancel the callback.
class handle {
 public:
  handle() noexcept = default;
  explicit handle(detail::callback_node* n) noexcept : n_(n) {}  // adopts a reference
  handle(const handle& o) noexcept : n_(o.n_) {
    if (n_) n_->add_ref();
  }
  handle(handle&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  handle& operator=(handle o) noexcept {
    std::swap(n_, o.n_);
    return *this;
  }
  ~handle() {
    if (n_) n_->release();
  }
  /// Unschedules the callback (no effect once it ran). Releases its function at once.
  void cancel() noexcept {
    if (n_) n_->cancel();
  }
  bool cancelled() const noexcept { return n_ && n_->cancelled_; }
  explicit operator bool() const noexcept { return n_ != nullptr; }

 protected:
  detail::callback_node* n_ = nullptr;
};

/// A callback scheduled with call_later/call_at (asyncio.TimerHandle).
class timer_handle : public handle {
 public:
  using handle::handle;
  /// When the callback is (or was) due.
  time_point when() const noexcept { return n_->timer_->when; }
};

/// What went wrong, for the exception handler (asyncio's context dict).
struct exception_context {
  std::string message{};
  std::exception_ptr exception{};
  /// The task concerned, if any.
  std::optional<any_task> task{};
};

/// The OS interface under the loop (DESIGN.md §2, docs/design/io_uring.md).
enum class backend_kind : unsigned char {
  /// The AIO_BACKEND environment variable ("epoll" or "io_uring") if set; otherwise
  /// io_uring when the kernel allows it, epoll when it does not (a debug-mode note says
  /// why).
  automatic,
  epoll,
  /// Throws std::system_error if the kernel refuses io_uring (seccomp, sysctl
  /// kernel.io_uring_disabled, a kernel older than 5.11).
  io_uring,
};

/// Options of an event loop.
struct loop_options {
  /// Debug mode (DESIGN.md §7). Unset: from the AIO_DEBUG environment variable.
  std::optional<bool> debug{};
  /// Virtual time for tests: the clock starts at the real time, and whenever the loop
  /// has nothing ready to run and no I/O is pending, it jumps to the next timer at
  /// once instead of sleeping. Timeout tests are then exact and take no wall time.
  bool virtual_clock = false;
  /// Deadlock detection (tests): when the loop has nothing at all to wait for — nothing
  /// ready, no timer, no watched fd, no signal handler — and no other thread posts work
  /// within this much real time, run_forever throws std::runtime_error naming the
  /// pending tasks, instead of waiting forever. Unset: wait forever (asyncio's way).
  std::optional<duration> deadlock_after{};
  /// Which backend polls for I/O.
  backend_kind backend = backend_kind::automatic;
};
static_assert(std::is_trivially_destructible_v<loop_options>);  // docs/hazards.md

class event_loop : public detail::loop_base {
 public:
  using exception_handler = std::function<void(event_loop&, const exception_context&)>;

  event_loop() : event_loop(loop_options{}) {}
  explicit event_loop(loop_options opts);
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;
  /// Closes the loop if it is not closed (see close()).
  ~event_loop();

  // --- scheduling callbacks -------------------------------------------------------

  /// Runs `f(args...)` on the next iteration, after what is already queued (FIFO).
  template <class F, class... Args>
  handle call_soon(F&& f, Args&&... args) {
    check_open();
    auto bound = detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...);
    auto* n = new detail::callback_impl<decltype(bound)>(this, std::move(bound));
    n->add_ref();  // the handle's
    push_ready(n);
    return handle(n);
  }

  /// Runs `f(args...)` at `when` (loop time), or soon after.
  template <class F, class... Args>
  timer_handle call_at(time_point when, F&& f, Args&&... args) {
    check_open();
    auto bound = detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...);
    auto* n = new detail::timer_callback<decltype(bound)>(this, std::move(bound));
    n->add_ref();
    arm_timer(n->timer_, when);
    return timer_handle(n);
  }

  /// Runs `f(args...)` after `delay`.
  template <class Rep, class Period, class F, class... Args>
  timer_handle call_later(std::chrono::duration<Rep, Period> delay, F&& f, Args&&... args) {
    return call_at(time() + std::chrono::duration_cast<duration>(delay), std::forward<F>(f),
                   std::forward<Args>(args)...);
  }

  /// Thread-safe call_soon: may be called from any thread (also from a signal-free
  /// context of another loop). Wakes the loop if it is waiting for I/O.
  template <class F, class... Args>
  void call_soon_threadsafe(F&& f, Args&&... args) {
    auto bound = detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...);
    auto* n = new detail::callback_impl<decltype(bound)>(nullptr, std::move(bound));
    post_threadsafe(n);
  }

  /// The loop's clock (steady, or virtual). asyncio's loop.time().
  using detail::loop_base::time;

  // --- I/O readiness (asyncio's add_reader family) ---------------------------------

  /// Calls `f(args...)` whenever `fd` is readable, until remove_reader(fd). Replaces
  /// a previous reader of the same fd. The fd must stay open until removed.
  template <class F, class... Args>
  void add_reader(int fd, F&& f, Args&&... args) {
    auto bound = detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...);
    set_fd_callback(fd, false, new detail::callback_impl<decltype(bound)>(this, std::move(bound)));
  }
  /// Stops watching `fd` for reading; false if it was not watched.
  bool remove_reader(int fd);
  template <class F, class... Args>
  void add_writer(int fd, F&& f, Args&&... args) {
    auto bound = detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...);
    set_fd_callback(fd, true, new detail::callback_impl<decltype(bound)>(this, std::move(bound)));
  }
  bool remove_writer(int fd);

  /// For the I/O layers (sockets, pipes): registers `fd` once, edge-triggered, for
  /// reading and writing; `w->on_event` is called on this loop's thread whenever
  /// readiness arrives, until remove_watch(fd). `w` must stay valid until then, and the
  /// fd open. An fd has either a watch or add_reader/add_writer callbacks, not both
  /// (std::logic_error). Throws std::system_error if the poller refuses the fd.
  void add_watch(int fd, detail::io_watch* w);
  /// Stops the watch of `fd` (before the fd is closed). Events of the current batch
  /// that were not delivered yet are dropped.
  void remove_watch(int fd) noexcept;

  // --- Unix signals (asyncio's add_signal_handler) -------------------------------------

  /// Calls `f(args...)` on the loop each time signal `sig` arrives (the OS handler only
  /// records the signal and wakes the loop; `f` runs as an ordinary callback, so it may
  /// do anything). Replaces a previous handler for `sig` on this loop. One loop per
  /// signal: std::runtime_error if another loop handles it. std::invalid_argument for
  /// SIGKILL, SIGSTOP or a number out of range.
  template <class F, class... Args>
  void add_signal_handler(int sig, F&& f, Args&&... args) {
    check_open();
    auto bound = detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...);
    set_signal_callback(sig, new detail::callback_impl<decltype(bound)>(this, std::move(bound)));
  }
  /// Restores the signal's previous disposition; false if no handler was set.
  bool remove_signal_handler(int sig);
  /// Called by the OS-level handler (async-signal-safe). Not for users.
  void signal_arrived(int sig) noexcept;

  // --- errors ------------------------------------------------------------------------

  /// Replaces the exception handler; an empty function restores the default.
  void set_exception_handler(exception_handler h) { handler_ = std::move(h); }
  const exception_handler& get_exception_handler() const noexcept { return handler_; }
  /// Logs the context at error level (what happens without a custom handler).
  void default_exception_handler(const exception_context& ctx);
  /// Passes the context to the handler. An exception from the handler itself is
  /// logged by the default handler; it never propagates.
  void call_exception_handler(const exception_context& ctx) noexcept;

  // --- debug mode ----------------------------------------------------------------------

  bool get_debug() const noexcept { return debug_; }
  /// The backend in use: "epoll" or "io_uring".
  const char* backend_name() const noexcept;
  void set_debug(bool on) noexcept { debug_ = on; }
  /// A task step or callback longer than this is logged in debug mode (100 ms).
  duration slow_callback_duration = std::chrono::milliseconds(100);

  // --- running -------------------------------------------------------------------------

  /// Runs until stop() is called.
  void run_forever();
  /// Runs `aw` (a coro, a callable returning one, a task or a future) to completion
  /// and returns its result or rethrows its exception.
  template <class Aw>
  auto run_until_complete(Aw&& aw);
  /// Makes run_forever return after the current iteration.
  void stop() noexcept { stopping_ = true; }
  bool is_running() const noexcept { return running_; }
  bool is_closed() const noexcept { return closed_; }
  /// Closes the loop: drops queued callbacks and timers, destroys the coroutines of
  /// tasks still pending (reporting each: "Task was destroyed but it is pending!")
  /// and releases the backend. Throws std::runtime_error if the loop is running.
  void close();

  /// asyncio's loop.create_task.
  template <class T>
  task<T> create_task(coro<T> c, task_options opts = {}) {
    check_open();
    return detail::spawn(this, std::move(c), opts.name);
  }
  template <class F>
  requires detail::coro_factory<F>
  auto create_task(F&& f, task_options opts = {}) {
    return create_task(detail::invoke_owned(std::decay_t<F>(std::forward<F>(f))), std::move(opts));
  }
  /// asyncio's loop.create_future.
  template <class T = void>
  future<T> create_future() {
    return future<T>(this);
  }

  // --- virtual time (tests) ----------------------------------------------------------

  bool uses_virtual_clock() const noexcept { return virtual_clock_; }
  /// Moves virtual time forward by `d` (timers due by then fire on the next
  /// iteration). Throws std::logic_error on a real clock.
  void advance_time(duration d);

  // --- for the library's other layers --------------------------------------------------

  /// A coroutine that aio::run awaits when it shuts down, after the remaining tasks were
  /// cancelled and before the loop closes (asyncio.run's shutdown_default_executor).
  /// Hooks run in the order they were added; an exception is reported, not thrown.
  void add_shutdown_hook(std::function<coro<void>()> hook) {
    shutdown_hooks_.push_back(std::move(hook));
  }
  /// Runs and clears the shutdown hooks (aio::run calls it; so can a program that
  /// drives a loop by hand before close()).
  coro<void> run_shutdown_hooks();

  /// The loop's default executor, owned here and typed by the executors layer
  /// (asyncio's loop._default_executor). Empty until first used.
  std::shared_ptr<void> default_executor;

  /// Number of loop iterations so far.
  std::uint64_t iteration() const noexcept { return iteration_; }
  /// Observer called after every task step in debug mode (testing: the brute-force
  /// cancellation mode counts suspension points with it).
  std::function<void(detail::task_base&)> step_observer;

 private:
  friend class detail::loop_base;
  void check_open() const;
  void run_once();
  [[noreturn]] void throw_deadlock();
  void run_ready();
  void process_timers();
  void post_threadsafe(detail::callback_node* n);
  void drain_threadsafe();
  void set_fd_callback(int fd, bool writer, detail::callback_node* n);
  void set_signal_callback(int sig, detail::callback_node* n);
  void dispatch_signals();
  void invoke_persistent(detail::callback_node* n, const char* what);
  bool remove_fd_callback(int fd, bool writer);
  void update_fd(int fd);
  void dispatch_io(int fd, std::uint32_t gen, std::uint32_t events);
  void run_debug_item(detail::loop_item* it);
  void run_item(detail::loop_item* it) noexcept;
  void discard_ready() noexcept;

  struct fd_entry {
    detail::callback_node* reader = nullptr;
    detail::callback_node* writer = nullptr;
    detail::io_watch* watch = nullptr;
    std::uint32_t gen = 0;
    std::uint32_t registered = 0;  // events currently registered with the backend
  };

  std::vector<std::function<coro<void>()>> shutdown_hooks_;
  std::unique_ptr<detail::backend> backend_;
  std::vector<fd_entry> fds_;
  std::uint32_t fd_gen_ = 0;
  exception_handler handler_;
  std::mutex ts_mutex_;
  std::vector<detail::callback_node*> ts_queue_;  // guarded by ts_mutex_
  std::vector<detail::callback_node*> ts_batch_;
  bool ts_closed_ = false;  // guarded by ts_mutex_
  std::atomic<bool> ts_pending_{false};
  std::atomic<std::uint64_t> pending_signals_{0};
  struct signal_slot {
    int sig;
    detail::callback_node* cb;
    void* previous;  // struct sigaction*, restored on removal
  };
  std::vector<signal_slot> signals_;
  std::uint64_t iteration_ = 0;
  std::optional<duration> deadlock_after_;
  std::size_t watched_fds_ = 0;   // fds registered with the backend
  unsigned busy_iterations_ = 0;  // iterations since the last poll while busy
  static constexpr unsigned busy_poll_interval = 61;
  bool running_ = false;
  bool stopping_ = false;
  bool closed_ = false;
};

/// The running loop of this thread. Throws std::runtime_error("no running event
/// loop") outside of one.
event_loop& get_running_loop();

namespace detail {
template <class Aw>
auto to_task(event_loop& loop, Aw&& aw) {
  using A = std::remove_cvref_t<Aw>;
  if constexpr (is_coro<A>::value) {
    return loop.create_task(std::forward<Aw>(aw));
  } else if constexpr (coro_factory<Aw>) {
    return loop.create_task(std::forward<Aw>(aw));
  } else {
    return A(aw);  // task<T> or future<T>
  }
}
void run_until_done(event_loop& loop, future_base* st);

/// Moves the value out of a finished task or future (rethrows its exception).
template <class H>
auto take_result(H& h) {
  using T = typename H::value_type;
  h.state()->check_result();
  if constexpr (!std::is_void_v<T>) {
    if constexpr (std::is_base_of_v<any_task, H>)
      return static_cast<task_state<T>*>(h.state())->value_.take();
    else
      return h.state()->value_.take();
  }
}
}  // namespace detail

template <class Aw>
auto event_loop::run_until_complete(Aw&& aw) {
  auto t = detail::to_task(*this, std::forward<Aw>(aw));
  detail::run_until_done(*this, t.state());
  return detail::take_result(t);
}

}  // namespace aio
