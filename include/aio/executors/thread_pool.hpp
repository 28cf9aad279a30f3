// SPDX-License-Identifier: MIT
// aio/executors/thread_pool.hpp — aio::thread_pool_executor (Python's
// concurrent.futures.ThreadPoolExecutor), aio::to_thread (asyncio.to_thread) and
// aio::run_in_executor (asyncio's loop.run_in_executor): running blocking code on other
// threads without blocking the event loop.
//
//   R r = co_await aio::to_thread(fn, args...);               // the loop's default pool
//   aio::thread_pool_executor pool(4);
//   R r = co_await aio::run_in_executor(pool, fn, args...);   // a pool of your own
//   co_await aio::run_in_executor(nullptr, fn, args...);      // nullptr: the default pool
//   co_await pool.shutdown_async();                           // or pool.shutdown()
//
// to_thread and run_in_executor return an aio::coro<R> (R = fn's result, decayed): lazy
// like Python's to_thread — the job is submitted when the coro is awaited — and usable
// wherever a coro is (gather, create_task, timeout). `fn` and `args` are copied or moved
// into the job, as std::thread does; pass std::ref(x) to share `x` (safe: see
// Cancellation). They are destroyed on the worker thread when `fn` returns, before the
// awaiting task resumes. (g++ 12: a lambda that captures a std::string or another
// non-trivial value by copy must be built in its own statement, not inside the
// `co_await aio::to_thread(...)` expression — docs/hazards.md, "GCC 12 bugs".)
//
// run_in_executor is a free function, not a member of aio::event_loop as in asyncio: the
// core layer (the loop) cannot name the executors, which are a layer above it (DESIGN.md
// §9). It always runs on the awaiting task's loop, as loop.run_in_executor does.
//
// The default executor: the first to_thread / run_in_executor(nullptr, ...) on a loop
// creates a thread_pool_executor of min(32, cores + 4) workers (Python's default), kept
// in the loop's `default_executor` slot. It is shut down (waiting for its jobs) by
// aio::run at the end, as asyncio.run does, through a loop shutdown hook; a loop driven
// by hand runs that hook with `co_await loop.run_shutdown_hooks()`, and otherwise the
// pool's destructor cleans up when the loop is destroyed. set_default_executor(loop,
// pool) replaces it (asyncio's loop.set_default_executor).
//
// Cancellation (DESIGN.md §5). A thread cannot be stopped from outside, and `fn` may
// borrow the caller's data, so cancelling the awaiting task never abandons a running
// job:
//   - A job still in the queue (no worker has picked it up) is removed and dropped
//     without running; the task gets cancelled_error at once.
//   - A running job is asked to stop if `fn` takes a std::stop_token as its first
//     parameter (it is passed one, as std::jthread does, and request_stop() is called on
//     cancel); the task still waits until `fn` returns, then throws cancelled_error (fn's
//     result or exception is discarded). A `fn` without a stop_token runs to its end.
//   - The one exception: a loop closed while a task awaits a job destroys the task's
//     frame without waiting (no blocking destructors, §4). A queued job is dropped; a
//     running one is asked to stop and finishes unobserved, so its `fn` must not touch
//     the task's data any more — which aio::run never lets happen: it cancels and
//     awaits every task before it closes the loop.
// Errors: an exception thrown by `fn` is rethrown by co_await in the awaiting task.
// Submitting to a pool that was shut down throws std::runtime_error; so does creating
// a worker thread when the system refuses (std::system_error).
// Thread safety: a thread_pool_executor may be shared by any threads and loops; each
// job's result goes back to the loop of the task that awaits it, through
// call_soon_threadsafe.
//
// Example:
//   aio::coro<std::string> read_config(std::string path) {
//     co_return co_await aio::to_thread([](const std::string& p) { return slurp(p); }, path);
//   }
//   auto [a, b] = co_await aio::gather(aio::to_thread(hash, x), aio::to_thread(hash, y));
#pragma once

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/executors/detail/wakeup.hpp"

namespace aio {

class thread_pool_executor;

namespace detail {

/// A job in a thread pool's queue. The queue's links are guarded by the pool's mutex;
/// `queued` tells whether the job is still in the queue (not picked up by a worker).
class pool_job : public loop_wakeup {
 public:
  /// Runs the job on a worker thread (the worker then notify()s the awaiting loop).
  virtual void run() noexcept = 0;

  pool_job* prev_ = nullptr;
  pool_job* next_ = nullptr;
  bool queued_ = false;
};

/// The state shared by a thread_pool_executor and its worker threads. Workers hold a
/// shared_ptr to it, so a worker that outlives the executor object (see the destructor
/// policy) still has its queue.
class thread_pool_core : public std::enable_shared_from_this<thread_pool_core> {
 public:
  explicit thread_pool_core(std::size_t max_workers) : max_workers_(max_workers) {}
  thread_pool_core(const thread_pool_core&) = delete;
  thread_pool_core& operator=(const thread_pool_core&) = delete;
  ~thread_pool_core();

  /// Queues a job (the queue takes a reference) and starts a worker if none is idle
  /// and the pool is below max_workers. Throws std::runtime_error after shutdown.
  void submit(pool_job* job);
  /// Removes a job that no worker has picked up; false if it is running or done. On
  /// success the queue's reference is the caller's to release.
  bool try_remove(pool_job* job) noexcept;

  /// Stops accepting jobs; workers finish the queue, then exit.
  void request_shutdown() noexcept;
  /// Joins every worker (they exit after the queue is drained).
  void join_all();
  /// Shutdown and exit wait for shutdown_async: true if every worker has exited
  /// already; otherwise `w` (one reference taken) is notified when the last one exits.
  bool add_exit_waiter(loop_wakeup* w);
  /// Removes an exit waiter that was not notified; false if notification is under way.
  bool remove_exit_waiter(loop_wakeup* w) noexcept;
  /// The destructor policy (see thread_pool_executor's destructor).
  void release_workers() noexcept;

  std::size_t max_workers() const noexcept { return max_workers_; }
  std::size_t worker_count() const;
  bool is_shutdown() const;

 private:
  void worker_main(std::size_t index) noexcept;
  void start_worker();  // with m_ held

  mutable std::mutex m_;
  std::condition_variable cv_;
  pool_job* head_ = nullptr;  // the queue (FIFO)
  pool_job* tail_ = nullptr;
  std::size_t queued_ = 0;
  std::size_t idle_ = 0;              // workers not running a job (see worker_main)
  std::size_t live_ = 0;              // workers whose thread function has not returned
  std::vector<std::thread> threads_;  // worker i is threads_[i] (until join_all)
  std::vector<char> busy_;            // worker i is running a job; never shrinks
  std::vector<loop_wakeup*> exit_waiters_;
  const std::size_t max_workers_;
  bool shutdown_ = false;
};

// --- the job of one to_thread / run_in_executor call ---------------------------------

template <class F, class... Args>
inline constexpr bool takes_stop_token_v =
    std::is_invocable_v<std::decay_t<F>, std::stop_token, std::decay_t<Args>...>;

template <class F, class... Args>
using job_result_t = std::decay_t<typename std::conditional_t<
    takes_stop_token_v<F, Args...>,
    std::invoke_result<std::decay_t<F>, std::stop_token, std::decay_t<Args>...>,
    std::invoke_result<std::decay_t<F>, std::decay_t<Args>...>>::type>;

template <class F, class... Args>
inline constexpr bool thread_callable_v =
    takes_stop_token_v<F, Args...> || std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>;

/// The typed part of a job: where the worker leaves fn's outcome, read by the awaiter
/// after the wakeup fired (the call_soon_threadsafe hand-over orders the accesses).
template <class R>
class result_job : public pool_job {
 public:
  value_slot<R> value_;
  std::exception_ptr error_;
  std::stop_source stop_{std::nostopstate};
};

template <class R, class F, class... Args>
class thread_job final : public result_job<R> {
 public:
  template <class G, class... A>
  explicit thread_job(G&& g, A&&... a)
      : call_(std::in_place, std::forward<G>(g), std::forward<A>(a)...) {
    if constexpr (takes_stop_token_v<F, Args...>) this->stop_ = std::stop_source();
  }

  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        invoke();
      } else {
        this->value_.set(invoke());
      }
    } catch (...) {
      this->error_ = std::current_exception();
    }
    // fn and its arguments die here, on the worker, before the task resumes.
    try {
      call_.reset();
    } catch (...) {
    }
  }

 private:
  decltype(auto) invoke() {
    return std::apply(
        [this](F& f, Args&... a) -> decltype(auto) {
          if constexpr (takes_stop_token_v<F, Args...>)
            return std::invoke(std::move(f), this->stop_.get_token(), std::move(a)...);
          else
            return std::invoke(std::move(f), std::move(a)...);
        },
        *call_);
  }
  std::optional<std::tuple<F, Args...>> call_;
};

/// Suspends the awaiting task until its job has run (see the Cancellation section of
/// the file comment; the hand-over is described in wakeup.hpp).
template <class R>
class thread_job_awaiter : suspension {
 public:
  thread_job_awaiter(std::shared_ptr<thread_pool_core> pool, ref_ptr<result_job<R>> job) noexcept
      : pool_(std::move(pool)), job_(std::move(job)) {}
  thread_job_awaiter(const thread_job_awaiter&) = delete;
  thread_job_awaiter& operator=(const thread_job_awaiter&) = delete;
  ~thread_job_awaiter() {
    if (!submitted_ || job_->fired() || dropped_) return;
    // The frame is destroyed while the job is queued or running (the loop is closing
    // with this task pending). A queued job is dropped; a running one is asked to stop
    // and left to finish on its own: this destructor does not block (DESIGN.md §4).
    if (pool_->try_remove(job_.get())) {
      job_->release();  // the queue's reference
    } else {
      job_->stop_.request_stop();
    }
    job_->abandon();
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task();
    job_->arm(get_running_loop(), task_);
    job_->add_ref();  // the queue's reference
    try {
      pool_->submit(job_.get());
    } catch (...) {
      job_->release();
      throw;
    }
    submitted_ = true;
    ops = &ops_;
    task_->suspend_on(h, this);
  }
  R await_resume() {
    if (cancelled_) throw cancelled_error(task_->cancel_message());
    task_->throw_if_cancel_requested();
    // Move the outcome out: the worker may drop the job's last reference, and the
    // exception's own reference count lives in the (uninstrumented) C++ runtime, so
    // everything the task reads stays on the loop's thread.
    if (std::exception_ptr e = std::exchange(job_->error_, nullptr)) std::rethrow_exception(e);
    return job_->value_.take();
  }

 private:
  // Scenario: the task awaiting a job is cancelled.
  // If no worker has picked the job up yet, it is taken out of the queue and dropped
  // (its function and arguments are destroyed here, on the loop's thread, unrun); the
  // task is woken at once and await_resume throws cancelled_error.
  // If a worker is running it, the job's stop_source is asked to stop (a function that
  // took a std::stop_token sees stop_requested(); others are not told), and the task
  // stays suspended: the worker's notify() wakes it when the function has returned, and
  // only then does await_resume throw cancelled_error. The function may be using the
  // caller's data (std::ref arguments, captured references), so the caller's frame must
  // not unwind before it returns. Returning true tells the task that the cancellation
  // was accepted and will be delivered by this awaiter.
  static bool on_cancel(suspension* s, task_base*) {
    auto* self = static_cast<thread_job_awaiter*>(s);
    self->cancelled_ = true;
    if (self->pool_->try_remove(self->job_.get())) {
      self->job_->release();  // the queue's reference: fn and args are destroyed unrun
      self->job_->abandon();
      self->dropped_ = true;
      self->task_->wake();
    } else {
      self->job_->stop_.request_stop();
    }
    return true;
  }
  static constexpr wait_ops ops_{nullptr, &on_cancel};

  std::shared_ptr<thread_pool_core> pool_;
  ref_ptr<result_job<R>> job_;
  task_base* task_ = nullptr;
  bool submitted_ = false;
  bool cancelled_ = false;
  bool dropped_ = false;
};

template <class R>
class thread_job_awaitable {
 public:
  using aio_awaitable = void;
  thread_job_awaitable(std::shared_ptr<thread_pool_core> pool, ref_ptr<result_job<R>> job) noexcept
      : pool_(std::move(pool)), job_(std::move(job)) {}
  thread_job_awaiter<R> operator co_await() && noexcept {
    return thread_job_awaiter<R>(std::move(pool_), std::move(job_));
  }

 private:
  std::shared_ptr<thread_pool_core> pool_;
  ref_ptr<result_job<R>> job_;
};

/// The default executor's core of the running loop (created on first use).
std::shared_ptr<thread_pool_core> default_executor_core(event_loop& loop);

/// The coroutine behind to_thread / run_in_executor. `pool` empty: the default executor
/// of the loop that runs the coroutine.
template <class R>
coro<R> run_job(std::shared_ptr<thread_pool_core> pool, ref_ptr<result_job<R>> job) {
  if (!pool) pool = default_executor_core(get_running_loop());
  co_return co_await thread_job_awaitable<R>(std::move(pool), std::move(job));
}

template <class F, class... Args>
auto make_thread_job(F&& fn, Args&&... args) {
  static_assert(thread_callable_v<F, Args...>,
                "fn cannot be called with these arguments (as rvalues of their decayed "
                "types, optionally after a std::stop_token)");
  using R = job_result_t<F, Args...>;
  using job_t = thread_job<R, std::decay_t<F>, std::decay_t<Args>...>;
  return ref_ptr<result_job<R>>(new job_t(std::forward<F>(fn), std::forward<Args>(args)...));
}

}  // namespace detail

/// A pool of worker threads running jobs in FIFO order (concurrent.futures'
/// ThreadPoolExecutor). Workers are started on demand — when a job is submitted and no
/// worker is idle — up to max_workers, and then live until shutdown.
///
/// Destructor policy. The destructor never blocks on a job (DESIGN.md §4: no blocking
/// destructors; a job may block for ever on I/O). It requests shutdown — no new jobs;
/// jobs already queued still run, as after Python's shutdown(wait=False) — then joins
/// the workers that have nothing left to do (idle, with the queue empty: they exit at
/// once, so an idle pool leaves no thread behind), and detaches the others: they finish
/// the queue, deliver the results to the tasks awaiting them, and exit on their own,
/// keeping the pool's shared state alive until then. To wait for the jobs, call
/// shutdown() (or co_await shutdown_async()) before the destructor.
class thread_pool_executor {
 public:
  /// Up to `max_workers` threads. std::invalid_argument if it is 0.
  explicit thread_pool_executor(std::size_t max_workers);
  thread_pool_executor(const thread_pool_executor&) = delete;
  thread_pool_executor& operator=(const thread_pool_executor&) = delete;
  ~thread_pool_executor();

  /// Stops accepting jobs (submitting then throws std::runtime_error). The queued jobs
  /// still run. With `wait`, blocks until every worker has finished them and exited
  /// (Python's shutdown(wait=True)); otherwise returns at once. Idempotent. Called
  /// from one of the pool's own workers, it does not wait for that worker.
  void shutdown(bool wait = true);

  /// shutdown(wait=true) without blocking the loop: `co_await pool.shutdown_async()`.
  /// Cancellation: the task stops waiting (cancelled_error); the shutdown stays
  /// requested and the workers still exit when the queue is empty.
  class shutdown_awaitable;
  [[nodiscard]] shutdown_awaitable shutdown_async();

  std::size_t max_workers() const noexcept { return core_->max_workers(); }
  /// Worker threads started so far (and not joined).
  std::size_t worker_count() const { return core_->worker_count(); }

  /// The shared state (for to_thread / run_in_executor).
  const std::shared_ptr<detail::thread_pool_core>& core() const noexcept { return core_; }

 private:
  std::shared_ptr<detail::thread_pool_core> core_;
};

class thread_pool_executor::shutdown_awaitable {
 public:
  using aio_awaitable = void;
  explicit shutdown_awaitable(std::shared_ptr<detail::thread_pool_core> core) noexcept
      : core_(std::move(core)) {}

  class awaiter : detail::suspension {
   public:
    explicit awaiter(std::shared_ptr<detail::thread_pool_core> core) noexcept
        : core_(std::move(core)) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter();
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h);
    void await_resume();

   private:
    static bool on_cancel(detail::suspension* s, detail::task_base*);
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    std::shared_ptr<detail::thread_pool_core> core_;
    detail::ref_ptr<detail::loop_wakeup> wakeup_;
    detail::task_base* task_ = nullptr;
    bool cancelled_ = false;
  };
  awaiter operator co_await() && noexcept { return awaiter(std::move(core_)); }

 private:
  std::shared_ptr<detail::thread_pool_core> core_;
};

inline thread_pool_executor::shutdown_awaitable thread_pool_executor::shutdown_async() {
  return shutdown_awaitable(core_);
}

/// Runs `fn(args...)` on the running loop's default executor and returns its result
/// (asyncio.to_thread). See the file comment for cancellation and errors.
template <class F, class... Args>
[[nodiscard]] auto to_thread(F&& fn, Args&&... args) {
  auto job = detail::make_thread_job(std::forward<F>(fn), std::forward<Args>(args)...);
  using R = detail::job_result_t<F, Args...>;
  return detail::run_job<R>(nullptr, std::move(job));
}

/// asyncio's loop.run_in_executor(executor, fn, *args) on `pool`.
template <class F, class... Args>
[[nodiscard]] auto run_in_executor(thread_pool_executor& pool, F&& fn, Args&&... args) {
  auto job = detail::make_thread_job(std::forward<F>(fn), std::forward<Args>(args)...);
  using R = detail::job_result_t<F, Args...>;
  return detail::run_job<R>(pool.core(), std::move(job));
}

/// asyncio's loop.run_in_executor(None, fn, *args): the running loop's default executor.
template <class F, class... Args>
[[nodiscard]] auto run_in_executor(std::nullptr_t, F&& fn, Args&&... args) {
  return to_thread(std::forward<F>(fn), std::forward<Args>(args)...);
}

/// The default executor of `loop` (created on first use with min(32, cores + 4)
/// workers, shut down by aio::run). asyncio's loop._default_executor.
thread_pool_executor& default_executor(event_loop& loop);

/// asyncio's loop.set_default_executor: to_thread and run_in_executor(nullptr, ...) on
/// `loop` use `executor` from now on, and aio::run shuts it down at the end (the loop
/// shares its ownership). A previous default executor is released, not shut down.
/// std::invalid_argument for a null pointer.
void set_default_executor(event_loop& loop, std::shared_ptr<thread_pool_executor> executor);

}  // namespace aio
