// SPDX-License-Identifier: MIT
#include "aio/executors/thread_pool.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace aio {
namespace detail {

// --- loop_wakeup ----------------------------------------------------------------------

// The callback posted to the loop: holds a reference until it runs or is dropped.
struct loop_wakeup::callback {
  ref_ptr<loop_wakeup> w;
  void operator()() {
    w->fired_ = true;
    if (task_base* t = std::exchange(w->task_, nullptr)) t->wake();
  }
};

void loop_wakeup::notify() noexcept {
  std::lock_guard lk(m_);
  if (abandoned_ || !loop_) return;
  add_ref();
  try {
    loop_->call_soon_threadsafe(callback{ref_ptr<loop_wakeup>(this)});
  } catch (...) {
    // The loop is closed (or memory ran out): the task's frame is being destroyed by
    // the loop's close, and its awaiter abandons this wakeup. The callback object that
    // held our reference was destroyed by the throw.
  }
}

// --- thread_pool_core ------------------------------------------------------------------

thread_pool_core::~thread_pool_core() {
  // Only reached when no worker holds the state any more: every thread has returned
  // from worker_main (joined or detached) and the queue is empty.
  for (std::thread& t : threads_)
    if (t.joinable()) t.detach();
  for (loop_wakeup* w : exit_waiters_) w->release();
}

void thread_pool_core::submit(pool_job* job) {
  std::lock_guard lk(m_);
  if (shutdown_) throw std::runtime_error("cannot schedule new jobs after shutdown");
  if (idle_ <= queued_ && threads_.size() < max_workers_) {
    try {
      start_worker();
    } catch (...) {
      if (threads_.empty()) throw;  // nobody could run it
      // The workers that exist will run it.
    }
  }
  job->prev_ = tail_;
  job->next_ = nullptr;
  (tail_ ? tail_->next_ : head_) = job;
  tail_ = job;
  job->queued_ = true;
  ++queued_;
  if (idle_ > 0) cv_.notify_one();
}

bool thread_pool_core::try_remove(pool_job* job) noexcept {
  std::lock_guard lk(m_);
  if (!job->queued_) return false;
  (job->prev_ ? job->prev_->next_ : head_) = job->next_;
  (job->next_ ? job->next_->prev_ : tail_) = job->prev_;
  job->prev_ = job->next_ = nullptr;
  job->queued_ = false;
  --queued_;
  return true;
}

void thread_pool_core::start_worker() {
  const std::size_t index = busy_.size();
  threads_.reserve(threads_.size() + 1);
  busy_.push_back(0);
  try {
    // The worker keeps the state alive: it may outlive the executor object.
    threads_.emplace_back([self = shared_from_this(), index] { self->worker_main(index); });
  } catch (...) {
    busy_.pop_back();
    throw;
  }
  ++live_;
  ++idle_;  // free until it takes a job
}

void thread_pool_core::worker_main(std::size_t index) noexcept {
  // idle_ counts the workers that are not running a job: waiting for one, or about to
  // look at the queue again. submit() starts a new worker only when there are fewer of
  // them than queued jobs.
  std::unique_lock lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return head_ || shutdown_; });
    pool_job* job = head_;
    if (!job) break;  // shut down and drained
    head_ = job->next_;
    (head_ ? head_->prev_ : tail_) = nullptr;
    job->next_ = nullptr;
    job->queued_ = false;
    --queued_;
    --idle_;
    busy_[index] = 1;
    lk.unlock();
    job->run();  // never throws
    lk.lock();
    // Free again before the awaiting task can resume: a job submitted from there finds
    // this worker counted as idle (no extra thread), and a pool destroyed right after
    // its last await joins this worker rather than detaching it.
    busy_[index] = 0;
    ++idle_;
    lk.unlock();
    job->notify();
    job->release();  // the queue's reference
    lk.lock();
  }
  --idle_;
  // The last worker out tells the tasks waiting in shutdown_async.
  if (--live_ == 0) {
    for (loop_wakeup* w : exit_waiters_) {
      w->notify();
      w->release();
    }
    exit_waiters_.clear();
  }
}

void thread_pool_core::request_shutdown() noexcept {
  std::lock_guard lk(m_);
  shutdown_ = true;
  cv_.notify_all();
}

void thread_pool_core::join_all() {
  std::vector<std::thread> ts;
  {
    std::lock_guard lk(m_);
    ts.swap(threads_);
  }
  const auto self = std::this_thread::get_id();
  for (std::thread& t : ts) {
    if (!t.joinable()) continue;
    if (t.get_id() == self)
      t.detach();  // shutdown(wait) from a job: do not wait for ourselves
    else
      t.join();
  }
}

bool thread_pool_core::add_exit_waiter(loop_wakeup* w) {
  std::lock_guard lk(m_);
  if (live_ == 0) return true;
  exit_waiters_.reserve(exit_waiters_.size() + 1);  // may throw before we take the ref
  w->add_ref();
  exit_waiters_.push_back(w);
  return false;
}

bool thread_pool_core::remove_exit_waiter(loop_wakeup* w) noexcept {
  std::lock_guard lk(m_);
  auto it = std::find(exit_waiters_.begin(), exit_waiters_.end(), w);
  if (it == exit_waiters_.end()) return false;
  exit_waiters_.erase(it);
  w->release();
  return true;
}

void thread_pool_core::release_workers() noexcept {
  std::vector<std::thread> to_join;
  {
    std::lock_guard lk(m_);
    shutdown_ = true;
    cv_.notify_all();
    // A worker that is idle while the queue is empty exits as soon as it wakes up:
    // joining it is immediate. The others may run for a long time: detached, they
    // finish the queue and exit by themselves (they hold this state).
    // (threads_[i] is worker i until join_all takes them all.)
    const bool drained = head_ == nullptr;
    for (std::size_t i = 0; i < threads_.size(); ++i) {
      std::thread& t = threads_[i];
      if (!t.joinable()) continue;
      if (drained && !busy_[i])
        to_join.push_back(std::move(t));
      else
        t.detach();
    }
    threads_.clear();
  }
  const auto self = std::this_thread::get_id();
  for (std::thread& t : to_join) {
    if (t.get_id() == self)
      t.detach();
    else
      t.join();
  }
}

std::size_t thread_pool_core::worker_count() const {
  std::lock_guard lk(m_);
  return threads_.size();
}

bool thread_pool_core::is_shutdown() const {
  std::lock_guard lk(m_);
  return shutdown_;
}

// --- the default executor ---------------------------------------------------------------

namespace {

// The loop's shutdown hook: shuts down the executor in the slot at that time (it may
// have been replaced by set_default_executor); the copy keeps it alive meanwhile.
coro<void> shutdown_default(event_loop* loop) {
  if (std::shared_ptr<void> p = loop->default_executor)
    co_await static_cast<thread_pool_executor*>(p.get())->shutdown_async();
}

void install_default(event_loop& loop, std::shared_ptr<thread_pool_executor> ex) {
  // One hook per loop, added with the first default executor. (The hook belongs to the
  // loop, so it may hold the loop's address.)
  if (!loop.default_executor) loop.add_shutdown_hook([l = &loop] { return shutdown_default(l); });
  loop.default_executor = std::move(ex);
}

}  // namespace

std::shared_ptr<thread_pool_core> default_executor_core(event_loop& loop) {
  return aio::default_executor(loop).core();
}

}  // namespace detail

// --- thread_pool_executor ---------------------------------------------------------------

thread_pool_executor::thread_pool_executor(std::size_t max_workers) {
  if (max_workers == 0)
    throw std::invalid_argument("thread_pool_executor: max_workers must be > 0");
  core_ = std::make_shared<detail::thread_pool_core>(max_workers);
}

thread_pool_executor::~thread_pool_executor() {
  core_->release_workers();
}

void thread_pool_executor::shutdown(bool wait) {
  core_->request_shutdown();
  if (wait) core_->join_all();
}

thread_pool_executor::shutdown_awaitable::awaiter::~awaiter() {
  if (!wakeup_ || wakeup_->fired() || cancelled_) return;
  core_->remove_exit_waiter(wakeup_.get());
  wakeup_->abandon();
}

bool thread_pool_executor::shutdown_awaitable::awaiter::await_suspend(std::coroutine_handle<> h) {
  task_ = &detail::require_task();
  core_->request_shutdown();
  wakeup_ = detail::ref_ptr<detail::loop_wakeup>(new detail::plain_wakeup);
  wakeup_->arm(get_running_loop(), task_);
  if (core_->add_exit_waiter(wakeup_.get())) {
    wakeup_ = {};  // every worker has exited already: do not suspend
    return false;
  }
  ops = &ops_;
  task_->suspend_on(h, this);
  return true;
}

void thread_pool_executor::shutdown_awaitable::awaiter::await_resume() {
  if (cancelled_) throw cancelled_error(task_->cancel_message());
  // Every worker has returned from its thread function: joining them is immediate.
  core_->join_all();
  task_->throw_if_cancel_requested();
}

bool thread_pool_executor::shutdown_awaitable::awaiter::on_cancel(detail::suspension* s,
                                                                  detail::task_base*) {
  auto* self = static_cast<awaiter*>(s);
  self->core_->remove_exit_waiter(self->wakeup_.get());
  self->wakeup_->abandon();  // a notification under way will not wake the task twice
  self->cancelled_ = true;
  self->task_->wake();
  return true;
}

thread_pool_executor& default_executor(event_loop& loop) {
  if (!loop.default_executor) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    detail::install_default(
        loop, std::make_shared<thread_pool_executor>(std::min<std::size_t>(32, cores + 4)));
  }
  return *static_cast<thread_pool_executor*>(loop.default_executor.get());
}

void set_default_executor(event_loop& loop, std::shared_ptr<thread_pool_executor> executor) {
  if (!executor) throw std::invalid_argument("set_default_executor: no executor");
  detail::install_default(loop, std::move(executor));
}

}  // namespace aio
