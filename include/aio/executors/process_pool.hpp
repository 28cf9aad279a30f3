// SPDX-License-Identifier: MIT
// aio/executors/process_pool.hpp — aio::process_pool_executor, Python's
// concurrent.futures.ProcessPoolExecutor: CPU-bound or crash-prone work in pre-forked
// worker processes, awaited without blocking the loop.
//
//   int square(int x) { return x * x; }
//   static const auto square_fn = aio::process_pool_executor::register_function<&square>("square");
//   aio::process_pool_executor pool(4);                   // forks at construction
//   int r = co_await aio::run_in_executor(pool, square_fn, 7);
//   co_await pool.shutdown_async();                       // or pool.shutdown()
//
// Functions. A worker runs only functions registered by name before the pool was
// constructed (the workers are copies of the program made at that moment), through the
// typed handle that register_function returns: a call is checked at compile time
// against the function's signature (argument count and types). Parameters are taken by
// value, `const&` or `&&`; the parameter and result types must be serialisable:
// trivially copyable types that are not pointers, std::string, and std::vector of
// serialisable types (detail/codec.hpp). The arguments are encoded when
// run_in_executor is called — the job borrows nothing from the caller — and the job is
// sent when the returned aio::coro<R> is awaited.
//
// The parent side never blocks on a job: requests and results travel as length-
// prefixed frames over one Unix stream socket per worker (a socketpair: a pipe in both
// directions that reports a dead peer with EPIPE instead of SIGPIPE), watched with the
// loop's add_reader/add_writer while a job is out. No thread is used.
//
// Fork safety. The constructor forks once, a small "fork server" process (Python's
// forkserver start method), before it creates anything else; every worker, including
// the replacement of a crashed one, is forked from that server, which has a single
// thread and no locks held. So:
//   - Construct the pool early — at the start of main(), before threads exist — or at
//     least at a moment when no other thread holds a lock that the registered functions
//     need (malloc and stdio are safe: glibc resets them in a forked child). A pool
//     built while threads run is still correct if the functions touch nothing those
//     threads may have locked.
//   - Register every function before the constructor runs (a later registration is
//     refused with std::logic_error when it is used with this pool).
//   - Workers start with only stdin, stdout and stderr open: every other descriptor of
//     the parent (sockets, the loop's epoll, files) is closed in the fork server, so a
//     worker never keeps a parent's connection or listening port alive. Their signal
//     handlers are reset to the defaults, and they ignore SIGINT: Ctrl-C reaches the
//     parent, which shuts the pool down. Workers end with _exit (no atexit handlers, no
//     static destructors of the parent's objects), and stdio is flushed after each job.
//   - A worker dies with the fork server (PR_SET_PDEATHSIG), and the fork server ends,
//     after reaping its workers, when the parent closes its end (also when the parent
//     dies). No process is left behind: after shutdown or destruction the pool's
//     processes have all been reaped (no zombies).
//
// Cancellation: a job that has not been sent to a worker is dropped. A job that is
//   running is stopped by killing its worker (SIGKILL), which is reaped and replaced
//   before the task gets cancelled_error. Why kill and not wait, as to_thread does: the
//   arguments were copied, so nothing in the caller's frame is borrowed and there is no
//   reason to make the task wait; a process, unlike a thread, can be stopped safely
//   (the OS reclaims everything it had); and the use of a process pool is long CPU-bound
//   work, which would otherwise hold a worker for nothing. A function that must not be
//   interrupted half-way (it writes a file, say) should be awaited under aio::shield.
// Errors:
//   - An exception thrown by the function comes back as aio::process_error, with the
//     exception's what() and its C++ type name (the exception object itself cannot
//     cross the process boundary).
//   - A worker that dies while running a job (a crash, abort(), exit(), kill -9) gives
//     that job aio::broken_process_pool, with the exit status in the message; the
//     worker is reaped and replaced at once, and the pool keeps serving the other
//     jobs. (Python marks the whole pool broken instead.) If no worker can be started
//     any more, every job fails with broken_process_pool.
//   - Submitting after shutdown throws std::runtime_error.
// Thread safety: a process_pool_executor belongs to one thread at a time (the thread of
//   the loop whose tasks use it); it has no locks.
//
// Destructor: never waits for a job. Jobs still queued or running fail with
// broken_process_pool (running workers are killed), then every process is reaped. To
// let the jobs finish, call shutdown() or co_await shutdown_async() first.
#pragma once

#include <sys/types.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/executors/detail/codec.hpp"

namespace aio {

/// A worker process died while running the job (Python's BrokenProcessPool), or the
/// pool can no longer start workers, or it was destroyed with the job pending.
class broken_process_pool : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An exception thrown by a function run in a worker process: what() is the original
/// exception's what(), type_name() its C++ type (demangled, e.g. "std::out_of_range").
class process_error : public std::runtime_error {
 public:
  process_error(std::string type_name, const std::string& what)
      : std::runtime_error(what), type_name_(std::move(type_name)) {}
  const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

class process_pool_executor;

namespace detail {

/// Decodes the arguments, calls the function, encodes its result (in a worker).
using process_invoker = void (*)(frame_reader& args, frame_writer& result);

/// Adds a function to the process-wide registry; returns its id. The same name and
/// invoker again return the same id; the same name for another function throws
/// std::invalid_argument.
std::uint32_t register_process_function(std::string_view name, process_invoker invoke);
/// The registered name of `id`.
std::string process_function_name(std::uint32_t id);

template <class F>
struct function_signature;
template <class R, class... Ps>
struct function_signature<R (*)(Ps...)> {
  using type = R(Ps...);
};
template <class R, class... Ps>
struct function_signature<R (*)(Ps...) noexcept> {
  using type = R(Ps...);
};

template <class P>
inline constexpr bool process_param_ok_v =
    serialisable_v<std::remove_cvref_t<P>> &&
    !(std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>);

template <auto Fn, class R, class... Ps>
void invoke_registered(frame_reader& in, frame_writer& out) {
  // A braced list evaluates its elements in order: the arguments are read in order.
  std::tuple<std::remove_cvref_t<Ps>...> args{in.get<std::remove_cvref_t<Ps>>()...};
  if (in.remaining() != 0) throw codec_error("process pool: trailing bytes in the arguments");
  if constexpr (std::is_void_v<R>) {
    std::apply([](auto&... a) { Fn(std::move(a)...); }, args);
  } else {
    out.put<std::remove_cvref_t<R>>(
        std::apply([](auto&... a) -> decltype(auto) { return Fn(std::move(a)...); }, args));
  }
}

}  // namespace detail

/// A typed handle to a function registered with process_pool_executor::register_function.
template <class Sig>
class process_function;

template <class R, class... Ps>
class process_function<R(Ps...)> {
 public:
  using result_type = std::remove_cvref_t<R>;
  std::uint32_t id() const noexcept { return id_; }
  std::string name() const { return detail::process_function_name(id_); }

 private:
  friend class process_pool_executor;
  explicit process_function(std::uint32_t id) noexcept : id_(id) {}
  std::uint32_t id_;
};

namespace detail {

class process_pool_core;

/// A node in the list of shutdown_async waiters.
struct sync_link : suspension {
  sync_link* next = nullptr;
  sync_link** pprev = nullptr;
  task_base* task = nullptr;
};

/// One job of a process pool, embedded in the awaiter (the awaiting coroutine's frame).
/// Every field belongs to the loop's thread.
struct process_job : suspension {
  enum class state : std::uint8_t { created, queued, running, done };
  enum class outcome : std::uint8_t { none, reply, broken };

  std::string frame;    // the request: length prefix, function id, arguments
  std::string reply;    // the reply frame's payload: kind byte, then result or error
  std::string failure;  // the broken_process_pool message
  task_base* task = nullptr;
  event_loop* loop = nullptr;
  process_job* prev = nullptr;  // the pool's queue
  process_job* next = nullptr;
  int worker = -1;  // the worker slot while running
  state st = state::created;
  outcome out = outcome::none;
  bool suspended = false;  // the task is suspended on this job (wake it when done)
  bool cancelled = false;
};

/// Throws the job's error (process_error, broken_process_pool) or returns a reader
/// positioned on the encoded result.
frame_reader process_result(const process_job& job);

/// The parent side of a process pool (src/executors/process_pool.cpp). Loop thread only.
class process_pool_core {
 public:
  explicit process_pool_core(std::size_t workers);
  process_pool_core(const process_pool_core&) = delete;
  process_pool_core& operator=(const process_pool_core&) = delete;
  ~process_pool_core();

  /// Queues the job and sends what it can. Throws std::runtime_error after shutdown,
  /// std::logic_error for a function registered after the pool was made,
  /// broken_process_pool if no worker can run it.
  void submit(process_job* job);
  /// The awaiting task was cancelled: drops a queued job, or kills (and replaces) the
  /// worker running it. The job is done afterwards; the caller wakes the task.
  void cancel(process_job* job) noexcept;
  /// The awaiting frame is being destroyed with the job pending: as cancel.
  void abandon(process_job* job) noexcept { cancel(job); }

  void shutdown(bool wait);
  /// Every process has been reaped.
  bool closed() const noexcept { return closed_; }
  /// shutdown_async's waiters: woken when the pool is closed.
  void add_close_waiter(sync_link* w) noexcept;
  void remove_close_waiter(sync_link* w) noexcept;

  /// Stops everything now: fails pending jobs with broken_process_pool, kills busy
  /// workers, reaps every process. (The destructor.)
  void terminate() noexcept;

  std::size_t max_workers() const noexcept { return slots_.size(); }
  std::size_t worker_count() const noexcept;
  std::vector<pid_t> worker_pids() const;

 private:
  struct slot {
    pid_t pid = -1;
    int fd = -1;
    process_job* job = nullptr;  // the job sent to this worker
    std::size_t sent = 0;        // bytes of job->frame written so far
    std::string in;              // bytes of the reply received so far
    event_loop* loop = nullptr;  // where the reader/writer are registered
    bool reading = false;
    bool writing = false;
  };
  void dispatch() noexcept;
  bool start(std::size_t i, process_job* job) noexcept;
  void on_writable(std::size_t i) noexcept;
  void on_readable(std::size_t i) noexcept;
  bool write_some(std::size_t i) noexcept;
  void watch(std::size_t i, bool want_write) noexcept;
  void unwatch(std::size_t i) noexcept;
  void worker_lost(std::size_t i, const char* when) noexcept;
  void finish(process_job* job) noexcept;
  void fail_queued(const std::string& why) noexcept;
  bool spawn(std::size_t i) noexcept;
  std::string reap(pid_t pid) noexcept;  // kill, wait, describe the status
  void enqueue_front(process_job* job) noexcept;
  void enqueue_back(process_job* job) noexcept;
  void unlink(process_job* job) noexcept;
  void pump() noexcept;
  void maybe_close() noexcept;
  void close_all() noexcept;
  bool busy() const noexcept;

  std::vector<slot> slots_;
  process_job* head_ = nullptr;
  process_job* tail_ = nullptr;
  sync_link* close_waiters_ = nullptr;
  std::size_t registry_size_ = 0;  // functions known to the workers
  pid_t server_pid_ = -1;          // the fork server
  int server_fd_ = -1;             // its control socket
  bool shutdown_ = false;          // no new jobs
  bool close_when_idle_ = false;   // shutdown(wait=false) with jobs pending
  bool closed_ = false;
  bool in_pump_ = false;
};

template <class R>
class process_job_awaiter : process_job {
 public:
  process_job_awaiter(std::shared_ptr<process_pool_core> core, std::string request) noexcept
      : core_(std::move(core)) {
    frame = std::move(request);
  }
  process_job_awaiter(const process_job_awaiter&) = delete;
  process_job_awaiter& operator=(const process_job_awaiter&) = delete;
  ~process_job_awaiter() {
    // The frame is destroyed with the job pending (its loop is closing): drop it, or
    // kill the worker running it.
    if (st == state::queued || st == state::running) core_->abandon(this);
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task = &require_task();
    loop = &get_running_loop();
    core_->submit(this);  // throws if the pool cannot take it
    ops = &ops_;
    suspended = true;
    task->suspend_on(h, this);
  }
  R await_resume() {
    if (cancelled) throw cancelled_error(task->cancel_message());
    task->throw_if_cancel_requested();
    frame_reader r = process_result(*this);
    if constexpr (!std::is_void_v<R>) {
      R v = r.get<R>();
      if (r.remaining() != 0) throw codec_error("process pool: trailing bytes in the result");
      return v;
    }
  }

 private:
  static bool on_cancel(suspension* s, task_base*) {
    auto* self = static_cast<process_job_awaiter*>(static_cast<process_job*>(s));
    self->cancelled = true;
    self->core_->cancel(self);  // drops the job or kills its worker; the job is done
    self->task->wake();
    return true;
  }
  static constexpr wait_ops ops_{nullptr, &on_cancel};
  std::shared_ptr<process_pool_core> core_;
};

template <class R>
class process_job_awaitable {
 public:
  using aio_awaitable = void;
  process_job_awaitable(std::shared_ptr<process_pool_core> core, std::string request) noexcept
      : core_(std::move(core)), request_(std::move(request)) {}
  process_job_awaiter<R> operator co_await() && noexcept {
    return process_job_awaiter<R>(std::move(core_), std::move(request_));
  }

 private:
  std::shared_ptr<process_pool_core> core_;
  std::string request_;
};

template <class R>
coro<R> run_process_job(std::shared_ptr<process_pool_core> core, std::string request) {
  co_return co_await process_job_awaitable<R>(std::move(core), std::move(request));
}

template <class P, class A>
void put_argument(frame_writer& w, A&& a) {
  using T = std::remove_cvref_t<P>;
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, T>)
    w.put<T>(a);
  else
    w.put<T>(T(std::forward<A>(a)));
}

}  // namespace detail

class process_pool_executor {
 public:
  /// Forks the fork server and `workers` worker processes (see "Fork safety").
  /// std::invalid_argument if `workers` is 0; std::system_error if fork fails.
  explicit process_pool_executor(std::size_t workers);
  process_pool_executor(const process_pool_executor&) = delete;
  process_pool_executor& operator=(const process_pool_executor&) = delete;
  /// Fails pending jobs, kills busy workers, reaps every process (never waits for a job).
  ~process_pool_executor();

  /// Registers `Fn` (a function pointer) under `name`, for every pool constructed
  /// afterwards; returns the typed handle to call it with. Call it during start-up —
  /// e.g. to initialise a namespace-scope constant. Registering the same function under
  /// the same name again returns the same handle; another function under a taken name
  /// throws std::invalid_argument.
  template <auto Fn>
  static auto register_function(std::string_view name) {
    using sig = typename detail::function_signature<decltype(Fn)>::type;
    return make_handle<Fn>(name, static_cast<sig*>(nullptr));
  }

  /// Stops accepting jobs (submitting then throws std::runtime_error). With `wait`,
  /// runs the jobs already submitted to completion (blocking this thread; their tasks
  /// get the results when the loop runs again), then closes the workers and reaps
  /// every process. Without, returns at once: the pending jobs go on through the loop,
  /// and the processes are reaped when the last one is done. Idempotent.
  void shutdown(bool wait = true);

  /// shutdown(wait=false), then waits without blocking the loop until every process
  /// has been reaped. Cancellation: the task stops waiting; the shutdown goes on.
  class shutdown_awaitable;
  [[nodiscard]] shutdown_awaitable shutdown_async();

  std::size_t max_workers() const noexcept { return core_->max_workers(); }
  /// Live worker processes (fewer than max_workers only if a replacement failed).
  std::size_t worker_count() const noexcept { return core_->worker_count(); }
  /// Their process ids (for monitoring; a pid changes when a worker is replaced).
  std::vector<pid_t> worker_pids() const { return core_->worker_pids(); }

  const std::shared_ptr<detail::process_pool_core>& core() const noexcept { return core_; }

 private:
  template <auto Fn, class R, class... Ps>
  static process_function<R(Ps...)> make_handle(std::string_view name, R (*)(Ps...)) {
    static_assert(detail::serialisable_v<std::remove_cvref_t<R>> && !std::is_reference_v<R>,
                  "the result type must be serialisable by value (trivially copyable, "
                  "std::string, std::vector of those) or void");
    static_assert((detail::process_param_ok_v<Ps> && ...),
                  "parameters must be serialisable (trivially copyable, std::string, "
                  "std::vector of those) and taken by value, const& or &&: an out-parameter "
                  "cannot cross a process boundary");
    return process_function<R(Ps...)>(
        detail::register_process_function(name, &detail::invoke_registered<Fn, R, Ps...>));
  }

  std::shared_ptr<detail::process_pool_core> core_;
};

class process_pool_executor::shutdown_awaitable {
 public:
  using aio_awaitable = void;
  explicit shutdown_awaitable(std::shared_ptr<detail::process_pool_core> core) noexcept
      : core_(std::move(core)) {}

  class awaiter : detail::sync_link {
   public:
    explicit awaiter(std::shared_ptr<detail::process_pool_core> core) noexcept
        : core_(std::move(core)) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      if (pprev) core_->remove_close_waiter(this);
    }
    bool await_ready() {
      core_->shutdown(false);
      return core_->closed();
    }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task();
      ops = &ops_;
      core_->add_close_waiter(this);
      task->suspend_on(h, this);
    }
    void await_resume() {
      if (cancelled_) throw cancelled_error(task->cancel_message());
      if (task) task->throw_if_cancel_requested();
    }

   private:
    static bool on_cancel(detail::suspension* s, detail::task_base*) {
      auto* self = static_cast<awaiter*>(static_cast<detail::sync_link*>(s));
      self->core_->remove_close_waiter(self);
      self->cancelled_ = true;
      self->task->wake();
      return true;
    }
    static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
    std::shared_ptr<detail::process_pool_core> core_;
    bool cancelled_ = false;
  };
  awaiter operator co_await() && noexcept { return awaiter(std::move(core_)); }

 private:
  std::shared_ptr<detail::process_pool_core> core_;
};

inline process_pool_executor::shutdown_awaitable process_pool_executor::shutdown_async() {
  return shutdown_awaitable(core_);
}

/// asyncio's loop.run_in_executor(process_pool, fn, *args): runs the registered
/// function `fn` in a worker process and returns its result. The arguments are
/// converted to the parameter types and encoded now; the job is sent when the returned
/// coro is awaited. See the file comment for errors and cancellation.
template <class R, class... Ps, class... Args>
[[nodiscard]] coro<std::remove_cvref_t<R>> run_in_executor(process_pool_executor& pool,
                                                           const process_function<R(Ps...)>& fn,
                                                           Args&&... args) {
  static_assert(sizeof...(Ps) == sizeof...(Args),
                "wrong number of arguments for this process function");
  if constexpr (sizeof...(Ps) == sizeof...(Args)) {
    static_assert((std::is_constructible_v<std::remove_cvref_t<Ps>, Args&&> && ...),
                  "an argument cannot be converted to the process function's parameter type");
    std::string request;
    detail::frame_writer w(request);
    w.put_size(0);  // the frame length, patched below
    w.put<std::uint32_t>(fn.id());
    (detail::put_argument<Ps>(w, std::forward<Args>(args)), ...);
    const std::uint64_t len = request.size() - sizeof(std::uint64_t);
    std::memcpy(request.data(), &len, sizeof len);
    return detail::run_process_job<std::remove_cvref_t<R>>(pool.core(), std::move(request));
  }
}

}  // namespace aio
