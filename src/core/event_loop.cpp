// SPDX-License-Identifier: MIT
// The event loop. Its iteration (run_once) follows the numbered stages of
// docs/design/event_loop.md; keep the two in step.
#include "aio/core/event_loop.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <typeinfo>

#include "aio/core/detail/backend.hpp"
#include "aio/core/detail/debug.hpp"
#include "aio/core/log.hpp"

namespace aio {
namespace detail {

// --- callback nodes ---------------------------------------------------------------

const item_ops callback_node::queued_ops{&callback_node::run_queued};

callback_node::callback_node(loop_base* loop) noexcept : loop_(loop) {
  ops = &queued_ops;
  if (loop) {
    counted_ = true;
    ++tls_live_callbacks;
  }
}

callback_node::~callback_node() {
  if (counted_) --tls_live_callbacks;
}

void callback_node::run_queued(loop_item* it, bool discard) {
  auto* n = static_cast<callback_node*>(it);
  struct guard {
    callback_node* n;
    ~guard() {
      n->running_ = false;
      n->drop_function();  // release captures now, even if a handle keeps the node
      n->release();        // the queue's reference
    }
  } g{n};
  if (discard || n->cancelled_) return;
  n->running_ = true;
  try {
    n->invoke();
  } catch (...) {
    n->loop_->report("Exception in " + n->describe(), std::current_exception(), nullptr);
  }
}

void callback_node::cancel() noexcept {
  if (cancelled_) return;
  cancelled_ = true;
  if (timer_ && timer_->armed()) {
    loop_->disarm_timer(timer_);
    release();  // the timer heap's reference; the caller's handle keeps us alive
  }
  if (!running_) drop_function();
}

std::string callback_node::describe() const {
  std::string name = demangle(typeid(*this).name());
  // "aio::detail::callback_impl<F>" -> "F"
  if (auto lt = name.find('<'); lt != std::string::npos && name.back() == '>')
    name = name.substr(lt + 1, name.size() - lt - 2);
  return "callback " + name;
}

// --- loops alive in the process (for reports after a loop is gone) ---------------

namespace {
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<loop_base*>& registry() {
  static std::vector<loop_base*> v;
  return v;
}
void register_loop(loop_base* l) {
  std::lock_guard lk(registry_mutex());
  registry().push_back(l);
}
void unregister_loop(loop_base* l) noexcept {
  std::lock_guard lk(registry_mutex());
  auto& v = registry();
  v.erase(std::remove(v.begin(), v.end(), l), v.end());
}
bool loop_alive(loop_base* l) noexcept {
  std::lock_guard lk(registry_mutex());
  auto& v = registry();
  return std::find(v.begin(), v.end(), l) != v.end();
}
}  // namespace

void report_unretrieved(loop_base* loop, std::string message, std::exception_ptr e) noexcept {
  if (loop && loop_alive(loop)) {
    loop->report(std::move(message), std::move(e), nullptr);
    return;
  }
  try {
    log(log_level::error, message + "\n  exception: " + describe(e));
  } catch (...) {
  }
}

void loop_base::report(std::string message, std::exception_ptr e, task_base* t) noexcept {
  try {
    exception_context ctx{std::move(message), std::move(e), std::nullopt};
    if (t) ctx.task = any_task::from_state(t);
    static_cast<event_loop*>(this)->call_exception_handler(ctx);
  } catch (...) {
  }
}

// --- signals ------------------------------------------------------------------------

namespace {
constexpr int max_signal = 64;  // pending signals are bits of a uint64
std::atomic<event_loop*> g_signal_owner[max_signal];

extern "C" void aio_on_signal(int sig) {
  const int saved = errno;
  if (sig > 0 && sig < max_signal)
    if (event_loop* l = g_signal_owner[sig].load(std::memory_order_acquire)) l->signal_arrived(sig);
  errno = saved;
}
}  // namespace

void run_until_done(event_loop& loop, future_base* st) {
  // Stop the loop once `st` completes. As in asyncio, where a done callback (run via
  // call_soon) stops the loop, the stop happens in the iteration after the one that
  // completed `st`: what that iteration scheduled still gets its step. The node lives
  // on this stack; the guard unlinks it (or takes it off the ready queue) on the way
  // out, so a later completion cannot stop a later run.
  struct stopper : completion_node, loop_item {
    event_loop* loop;
    bool queued = false;
  } s;
  s.loop = &loop;
  static constexpr item_ops stop_item{[](loop_item* it, bool) {
    auto* self = static_cast<stopper*>(it);
    self->queued = false;
    self->loop->stop();
  }};
  static constexpr wait_ops stop_wait{[](completion_node* n) noexcept {
                                        auto* self = static_cast<stopper*>(n);
                                        self->queued = true;
                                        self->loop->push_ready(self);
                                      },
                                      nullptr};
  s.completion_node::ops = &stop_wait;
  s.loop_item::ops = &stop_item;
  struct guard {
    stopper& s;
    ~guard() {
      if (s.linked()) s.unlink();
      if (s.queued) s.loop->ready().remove(&s);
    }
  } g{s};
  if (st->done()) {
    s.queued = true;
    loop.push_ready(&s);
  } else {
    st->add_waiter(&s);
  }
  loop.run_forever();
  if (!st->done()) throw std::runtime_error("event loop stopped before the future completed");
}

}  // namespace detail

// --- event_loop ---------------------------------------------------------------------

namespace {

// The backend for `kind`; see backend_kind. `debug` asks for a note when io_uring is
// refused and epoll used instead.
std::unique_ptr<detail::backend> make_backend(backend_kind kind, bool debug) {
  if (kind == backend_kind::automatic) {
    if (const char* env = std::getenv("AIO_BACKEND"); env && *env) {
      const std::string_view v = env;
      if (v == "epoll") return detail::make_epoll_backend();
      if (v == "io_uring") return detail::make_io_uring_backend();
      throw std::invalid_argument("AIO_BACKEND=" + std::string(v) + ": expected epoll or io_uring");
    }
  }
  if (kind == backend_kind::epoll) return detail::make_epoll_backend();
  if (kind == backend_kind::io_uring) return detail::make_io_uring_backend();
  try {
    return detail::make_io_uring_backend();
  } catch (const std::system_error& e) {
    if (debug)
      log(log_level::info,
          std::string("io_uring is not available (") + e.what() + "): the loop uses epoll");
    return detail::make_epoll_backend();
  }
}

}  // namespace

event_loop::event_loop(loop_options opts) {
  debug_ = opts.debug.value_or(detail::debug_from_environment());
  backend_ = make_backend(opts.backend, debug_);
  virtual_clock_ = opts.virtual_clock;
  deadlock_after_ = opts.deadlock_after;
  if (virtual_clock_) virtual_now_ = std::chrono::time_point_cast<duration>(clock::now());
  detail::register_loop(this);
}

event_loop::~event_loop() {
  if (running_) {
    log(log_level::error, "an event loop was destroyed while running");
    std::terminate();
  }
  close();
  detail::unregister_loop(this);
}

const char* event_loop::backend_name() const noexcept {
  return backend_ ? backend_->name() : "closed";
}

void event_loop::check_open() const {
  if (closed_) throw std::runtime_error("event loop is closed");
}

void event_loop::run_forever() {
  check_open();
  if (running_) throw std::runtime_error("this event loop is already running");
  if (detail::tls_context.loop)
    throw std::runtime_error("cannot run an event loop while another loop is running");
  running_ = true;
  detail::tls_context.loop = this;
  struct guard {
    event_loop* l;
    ~guard() {
      l->stopping_ = false;
      l->running_ = false;
      detail::tls_context.loop = nullptr;
    }
  } g{this};
  for (;;) {
    run_once();
    if (stopping_) break;
  }
}

// One iteration. Stage numbers as in docs/design/event_loop.md.
void event_loop::run_once() {
  ++iteration_;
  // 1. Poll timeout: zero when something is ready to run (or we are stopping, or
  //    another thread posted work); up to the next timer otherwise; no limit when
  //    there is no timer.
  std::optional<duration> timeout;
  if (!ready_.empty() || stopping_ || ts_pending_.load(std::memory_order_relaxed) ||
      pending_signals_.load(std::memory_order_relaxed)) {
    timeout = duration::zero();
  } else if (!timers_.empty()) {
    timeout = std::max(duration::zero(), timers_.top()->when - time());
  }

  // 2. Poll for I/O. With the virtual clock, idle time is skipped: check I/O without
  //    waiting, and if nothing came, jump to the next timer. While work is ready,
  //    the poll (a system call) is made only every busy_poll_interval iterations,
  //    and not at all when no fd is watched: posts from other threads and signals are
  //    seen through their atomic flags, not through the poller.
  detail::io_event events[256];
  std::size_t n = 0;
  if (timeout == duration::zero() && !ready_.empty() &&
      (watched_fds_ == 0 || ++busy_iterations_ < busy_poll_interval)) {
    // skip the poll
  } else if (!timeout && deadlock_after_ && watched_fds_ == 0 && signals_.empty()) {
    // Nothing can happen but a post from another thread: wait for one, a while.
    // A poll interrupted by a signal (EINTR) returns early with nothing: wait again for
    // the rest of the time before concluding.
    busy_iterations_ = 0;
    const auto deadline = std::chrono::steady_clock::now() + *deadlock_after_;
    for (;;) {
      const auto left = deadline - std::chrono::steady_clock::now();
      n = backend_->poll(std::max(duration::zero(), std::chrono::duration_cast<duration>(left)),
                         events, std::size(events));
      if (n != 0 || ts_pending_.load() || pending_signals_.load()) break;
      if (left <= duration::zero()) throw_deadlock();
    }
  } else if (virtual_clock_ && timeout != duration::zero()) {
    busy_iterations_ = 0;
    n = backend_->poll(duration::zero(), events, std::size(events));
    if (n == 0) {
      if (!timers_.empty())
        virtual_now_ = std::max(virtual_now_, timers_.top()->when);
      else
        n = backend_->poll(std::nullopt, events, std::size(events));
    }
  } else {
    busy_iterations_ = 0;
    n = backend_->poll(timeout, events, std::size(events));
  }

  // 3. Dispatch I/O readiness to reader/writer callbacks, then signals, then move
  //    callbacks posted by other threads to the ready queue.
  for (std::size_t i = 0; i < n; ++i)
    dispatch_io(static_cast<int>(events[i].data & 0xffffffffu),
                static_cast<std::uint32_t>(events[i].data >> 32), events[i].events);
  if (pending_signals_.load(std::memory_order_relaxed)) dispatch_signals();
  if (ts_pending_.load(std::memory_order_relaxed)) drain_threadsafe();

  // 4. Expire timers: each due timer fires (a call_later callback joins the ready
  //    queue; a sleeping task is woken).
  process_timers();

  // 5. Run what was ready at this point, in FIFO order; what these steps schedule
  //    runs in the next iteration.
  run_ready();
}

void event_loop::process_timers() {
  if (timers_.empty()) return;
  const time_point now = time();
  while (!timers_.empty() && timers_.top()->when <= now) {
    detail::timer_entry* t = timers_.pop();
    t->fire(t);
  }
  if (timers_.empty()) timers_.shrink();
}

void event_loop::run_ready() {
  detail::loop_item* it = ready_.take_all();
  if (debug_) {
    while (it) {
      detail::loop_item* next = it->next_ready;
      run_debug_item(it);
      it = next;
    }
    return;
  }
  while (it) {
    detail::loop_item* next = it->next_ready;
    try {
      it->ops->run(it, false);
    } catch (...) {
      report("Exception in callback", std::current_exception(), nullptr);
    }
    it = next;
  }
}

void event_loop::run_item(detail::loop_item* it) noexcept {
  try {
    it->ops->run(it, false);
  } catch (...) {
    report("Exception in callback", std::current_exception(), nullptr);
  }
}

void event_loop::run_debug_item(detail::loop_item* it) {
  // Gather what a report would need before running: the item may be freed by its run.
  detail::task_base* task =
      detail::task_base::is_task_item(it) ? static_cast<detail::task_base*>(it) : nullptr;
  std::optional<any_task> keep;
  const void* resumed_in = nullptr;
  std::string callback;
  if (task) {
    keep = any_task::from_state(task);
    if (auto h = task->resume_point()) resumed_in = *static_cast<void* const*>(h.address());
  } else if (it->ops == &detail::callback_node::queued_ops) {
    callback = static_cast<detail::callback_node*>(it)->describe();
  } else {
    callback = "callback";
  }
  const auto t0 = clock::now();
  const auto symbolizing0 = detail::tls_symbolize_time;
  run_item(it);
  const auto dt = (clock::now() - t0) - (detail::tls_symbolize_time - symbolizing0);
  if (dt >= slow_callback_duration) {
    std::string what;
    if (task) {
      what = "task '" + task->get_name() + "'";
      if (resumed_in) what += " resumed in " + detail::symbolize(resumed_in);
    } else {
      what = callback;
    }
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.3f", std::chrono::duration<double>(dt).count());
    log(log_level::warning, "Executing " + what + " took " + secs + " seconds");
  }
  if (task && step_observer) step_observer(*task);
}

void event_loop::discard_ready() noexcept {
  while (detail::loop_item* it = ready_.take_all()) {
    while (it) {
      detail::loop_item* next = it->next_ready;
      try {
        it->ops->run(it, true);
      } catch (...) {
      }
      it = next;
    }
  }
}

// --- other threads ------------------------------------------------------------------

void event_loop::post_threadsafe(detail::callback_node* n) {
  std::lock_guard lk(ts_mutex_);
  if (ts_closed_) {
    n->release();
    throw std::runtime_error("event loop is closed");
  }
  ts_queue_.push_back(n);
  // Wake the loop once per batch; the wake-up is made under the lock so that close()
  // cannot destroy the backend meanwhile.
  if (!ts_pending_.exchange(true)) backend_->wakeup();
}

void event_loop::drain_threadsafe() {
  // Clear the flag before taking the batch: a post that lands after the swap sees the
  // flag clear and wakes the loop again.
  ts_pending_.store(false);
  {
    std::lock_guard lk(ts_mutex_);
    ts_batch_.swap(ts_queue_);
  }
  for (detail::callback_node* n : ts_batch_) {
    n->loop_ = this;
    push_ready(n);
  }
  ts_batch_.clear();
}

// --- I/O readiness ------------------------------------------------------------------

void event_loop::set_fd_callback(int fd, bool writer, detail::callback_node* n) {
  if (closed_) {
    n->release();
    check_open();
  }
  if (fd < 0) {
    n->release();
    throw std::invalid_argument("invalid file descriptor " + std::to_string(fd));
  }
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  if (fds_[fd].watch) {
    n->release();
    throw std::logic_error("fd " + std::to_string(fd) +
                           " is watched by a socket or pipe of the loop; add_reader/add_writer "
                           "cannot watch it too");
  }
  detail::callback_node*& slot = writer ? fds_[fd].writer : fds_[fd].reader;
  detail::callback_node* old = std::exchange(slot, n);
  try {
    update_fd(fd);
  } catch (...) {
    slot = old;
    n->release();
    throw;
  }
  if (old) {
    old->cancelled_ = true;
    old->release();
  }
}

bool event_loop::remove_fd_callback(int fd, bool writer) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return false;
  detail::callback_node*& slot = writer ? fds_[fd].writer : fds_[fd].reader;
  if (!slot) return false;
  detail::callback_node* old = std::exchange(slot, nullptr);
  old->cancelled_ = true;
  update_fd(fd);
  old->release();
  return true;
}

bool event_loop::remove_reader(int fd) {
  return remove_fd_callback(fd, false);
}
bool event_loop::remove_writer(int fd) {
  return remove_fd_callback(fd, true);
}

void event_loop::update_fd(int fd) {
  fd_entry& e = fds_[fd];
  const std::uint32_t want =
      (e.reader ? detail::io_readable : 0u) | (e.writer ? detail::io_writable : 0u);
  if (want == e.registered) return;
  if (want == 0) {
    backend_->remove(fd);
    e.registered = 0;
    --watched_fds_;
    return;
  }
  if (e.registered == 0) {
    const std::uint32_t gen = ++fd_gen_;
    backend_->add(fd, want, (std::uint64_t{gen} << 32) | static_cast<std::uint32_t>(fd));
    e.gen = gen;
    ++watched_fds_;
  } else {
    backend_->modify(fd, want, (std::uint64_t{e.gen} << 32) | static_cast<std::uint32_t>(fd));
  }
  e.registered = want;
}

void event_loop::add_watch(int fd, detail::io_watch* w) {
  check_open();
  if (fd < 0) throw std::invalid_argument("invalid file descriptor " + std::to_string(fd));
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  fd_entry& e = fds_[fd];
  if (e.watch || e.reader || e.writer)
    throw std::logic_error("fd " + std::to_string(fd) + " is already watched by the loop");
  const std::uint32_t gen = ++fd_gen_;
  const std::uint32_t want = detail::io_readable | detail::io_writable | detail::io_edge;
  backend_->add(fd, want, (std::uint64_t{gen} << 32) | static_cast<std::uint32_t>(fd));
  e.gen = gen;
  e.registered = want;
  e.watch = w;
  ++watched_fds_;
}

void event_loop::remove_watch(int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size() || !fds_[fd].watch) return;
  fd_entry& e = fds_[fd];
  backend_->remove(fd);
  e.watch = nullptr;
  e.registered = 0;
  e.gen = 0;  // events of this batch still to be dispatched are stale now
  --watched_fds_;
}

void event_loop::invoke_persistent(detail::callback_node* n, const char* what) {
  n->add_ref();
  n->running_ = true;
  try {
    n->invoke();
  } catch (...) {
    report(std::string("Exception in ") + what + " " + n->describe(), std::current_exception(),
           nullptr);
  }
  n->running_ = false;
  n->release();
}

void event_loop::dispatch_io(int fd, std::uint32_t gen, std::uint32_t events) {
  // An event may be stale: an earlier callback of this batch removed the fd (or
  // closed it and registered the number again, which changed its generation).
  const auto idx = static_cast<std::size_t>(fd);
  if (idx >= fds_.size() || fds_[idx].gen != gen) return;
  if (detail::io_watch* w = fds_[idx].watch) return w->on_event(w, events);
  if ((events & (detail::io_readable | detail::io_error)) && fds_[idx].reader)
    invoke_persistent(fds_[idx].reader, "reader");
  if (idx >= fds_.size() || fds_[idx].gen != gen) return;
  if ((events & (detail::io_writable | detail::io_error)) && fds_[idx].writer)
    invoke_persistent(fds_[idx].writer, "writer");
}

// --- signals ------------------------------------------------------------------------

void event_loop::signal_arrived(int sig) noexcept {
  pending_signals_.fetch_or(std::uint64_t{1} << sig, std::memory_order_release);
  backend_->wakeup();
}

void event_loop::set_signal_callback(int sig, detail::callback_node* n) {
  if (sig <= 0 || sig >= detail::max_signal || sig == SIGKILL || sig == SIGSTOP) {
    n->release();
    throw std::invalid_argument("invalid signal number " + std::to_string(sig));
  }
  for (signal_slot& s : signals_) {
    if (s.sig == sig) {
      s.cb->cancelled_ = true;
      s.cb->release();
      s.cb = n;
      return;
    }
  }
  event_loop* expected = nullptr;
  if (!detail::g_signal_owner[sig].compare_exchange_strong(expected, this)) {
    n->release();
    throw std::runtime_error("signal " + std::to_string(sig) +
                             " is already handled by another event loop");
  }
  struct sigaction sa {};
  sa.sa_handler = &detail::aio_on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  auto* previous = new struct sigaction;
  if (::sigaction(sig, &sa, previous) < 0) {
    const int e = errno;
    delete previous;
    detail::g_signal_owner[sig].store(nullptr);
    n->release();
    throw std::system_error(e, std::generic_category(), "sigaction(" + std::to_string(sig) + ")");
  }
  signals_.push_back(signal_slot{sig, n, previous});
}

bool event_loop::remove_signal_handler(int sig) {
  auto it = std::find_if(signals_.begin(), signals_.end(),
                         [sig](const signal_slot& s) { return s.sig == sig; });
  if (it == signals_.end()) return false;
  auto* previous = static_cast<struct sigaction*>(it->previous);
  ::sigaction(sig, previous, nullptr);
  delete previous;
  detail::g_signal_owner[sig].store(nullptr);
  pending_signals_.fetch_and(~(std::uint64_t{1} << sig));
  detail::callback_node* cb = it->cb;
  signals_.erase(it);
  cb->cancelled_ = true;
  cb->release();
  return true;
}

void event_loop::dispatch_signals() {
  std::uint64_t bits = pending_signals_.exchange(0, std::memory_order_acquire);
  for (int sig = 1; bits && sig < detail::max_signal; ++sig) {
    if (!(bits & (std::uint64_t{1} << sig))) continue;
    bits &= ~(std::uint64_t{1} << sig);
    for (signal_slot& s : signals_) {
      if (s.sig == sig) {
        invoke_persistent(s.cb, "signal handler");
        break;
      }
    }
  }
}

// --- errors -------------------------------------------------------------------------

void event_loop::default_exception_handler(const exception_context& ctx) {
  std::string msg = ctx.message.empty() ? "Unhandled exception in event loop" : ctx.message;
  if (ctx.task) msg += "\n  task: '" + ctx.task->get_name() + "'";
  if (ctx.exception) msg += "\n  exception: " + describe(ctx.exception);
  log(log_level::error, msg);
}

void event_loop::call_exception_handler(const exception_context& ctx) noexcept {
  try {
    if (!handler_) {
      default_exception_handler(ctx);
      return;
    }
    try {
      handler_(*this, ctx);
    } catch (...) {
      default_exception_handler(exception_context{"Unhandled error in exception handler",
                                                  std::current_exception(), ctx.task});
      default_exception_handler(ctx);
    }
  } catch (...) {
  }
}

// --- closing ------------------------------------------------------------------------

void event_loop::close() {
  if (running_) throw std::runtime_error("cannot close a running event loop");
  if (closed_) return;
  {
    std::lock_guard lk(ts_mutex_);
    ts_closed_ = true;
    ts_batch_.swap(ts_queue_);
  }
  for (detail::callback_node* n : ts_batch_) n->release();
  ts_batch_.clear();
  while (!signals_.empty()) remove_signal_handler(signals_.back().sig);

  // Destroy the coroutines of tasks that never finished. Destroying one frame can
  // cancel or wake other tasks (awaiters unlink, task groups cancel children), so the
  // ready queue is emptied before each task is destroyed.
  for (;;) {
    discard_ready();
    detail::task_base* t = all_tasks_;
    if (!t) break;
    t->destroy_pending();
  }
  discard_ready();

  while (!timers_.empty()) {
    detail::timer_entry* t = timers_.pop();
    if (t->discard) t->discard(t);
  }
  for (std::size_t fd = 0; fd < fds_.size(); ++fd) {
    fd_entry& e = fds_[fd];
    if (e.registered) backend_->remove(static_cast<int>(fd));
    e.registered = 0;
    if (detail::io_watch* w = std::exchange(e.watch, nullptr)) {
      e.gen = 0;
      w->on_event(w, detail::io_loop_closed);  // may close fds: entries stay in place
      continue;
    }
    if (e.reader) std::exchange(e.reader, nullptr)->release();
    if (e.writer) std::exchange(e.writer, nullptr)->release();
  }
  fds_.clear();
  watched_fds_ = 0;
  {
    std::lock_guard lk(ts_mutex_);
    backend_.reset();
  }
  closed_ = true;
}

void event_loop::throw_deadlock() {
  std::string names;
  std::size_t n = 0;
  for (detail::task_base* t = all_tasks_; t; t = t->all_next_, ++n)
    if (n < 10) names += (names.empty() ? "'" : ", '") + t->get_name() + "'";
  if (n > 10) names += ", ...";
  throw std::runtime_error("deadlock: " + std::to_string(n) +
                           " task(s) pending and nothing that could wake them (no timer, no "
                           "watched fd, no post from another thread): " +
                           names);
}

coro<void> event_loop::run_shutdown_hooks() {
  std::vector<std::function<coro<void>()>> hooks = std::move(shutdown_hooks_);
  shutdown_hooks_.clear();
  for (auto& hook : hooks) {
    std::exception_ptr e;
    try {
      co_await hook();
    } catch (...) {
      e = std::current_exception();
    }
    if (e) call_exception_handler(exception_context{"error in a loop shutdown hook", e, {}});
  }
}

void event_loop::advance_time(duration d) {
  if (!virtual_clock_) throw std::logic_error("advance_time needs the virtual clock");
  if (d > duration::zero()) virtual_now_ += d;
}

event_loop& get_running_loop() {
  if (detail::loop_base* l = detail::tls_context.loop) return static_cast<event_loop&>(*l);
  throw std::runtime_error("no running event loop");
}

}  // namespace aio
