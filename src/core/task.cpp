// SPDX-License-Identifier: MIT
#include "aio/core/task.hpp"

#include "aio/core/detail/debug.hpp"
#include "aio/core/event_loop.hpp"

namespace aio {
namespace detail {

namespace {
bool is_cancelled_error(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const cancelled_error&) {
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace

task_base::task_base(loop_base* loop) noexcept : future_base(loop), id_(loop->next_task_id()) {
  is_task_ = true;
  run = &run_step;
}

task_base::~task_base() {
  if (top_) top_.destroy();
  if (status_ == status::finished && exc_ && !retrieved_)
    report_unretrieved(loop_, "Task exception was never retrieved (task '" + get_name() + "')",
                       exc_);
}

void task_base::start(std::coroutine_handle<> top, std::string name) {
  top_ = top;
  resume_ = top;
  if (!name.empty()) name_ = std::make_unique<std::string>(std::move(name));
  loop_->task_started(this);
  schedule();
}

bool task_base::cancel(std::string_view msg) {
  if (done()) return false;
  ++num_cancels_requested_;
  if (msg.empty())
    cancel_msg_.reset();
  else
    cancel_msg_ = std::make_unique<std::string>(msg);
  if (waiting_on_ && waiting_on_->cancel(waiting_on_, this)) return true;
  must_cancel_ = true;
  return true;
}

std::uint32_t task_base::uncancel() noexcept {
  if (num_cancels_requested_ > 0) {
    --num_cancels_requested_;
    if (num_cancels_requested_ == 0) must_cancel_ = false;
  }
  return num_cancels_requested_;
}

std::string task_base::get_name() const {
  return name_ ? *name_ : "Task-" + std::to_string(id_);
}

void task_base::set_name(std::string name) {
  name_ = std::make_unique<std::string>(std::move(name));
}

void task_base::deliver_cancel() {
  must_cancel_ = false;
  throw cancelled_error(cancel_message());
}

void task_base::run_step(loop_item* self, bool discard) {
  auto* t = static_cast<task_base*>(self);
  if (discard) {
    t->scheduled_ = false;  // the loop is closing; destroy_pending follows
    return;
  }
  t->step();
}

bool task_base::is_task_item(const loop_item* it) noexcept {
  return it->run == &run_step;
}

void task_base::step() noexcept {
  scheduled_ = false;
  if (!started_) {
    started_ = true;
    if (must_cancel_) {
      // Cancelled before its first step: the body never runs (asyncio throws
      // CancelledError into the coroutine before its first line).
      must_cancel_ = false;
      top_.destroy();
      top_ = {};
      std::exception_ptr e;
      try {
        e = std::make_exception_ptr(cancelled_error(cancel_message()));
      } catch (...) {
        e = std::current_exception();
      }
      complete(status::cancelled, std::move(e));
      loop_->task_finished(this);  // may delete this
      return;
    }
  }
  thread_context& ctx = tls_context;
  task_base* const prev_task = ctx.task;
  const bool prev_driving = ctx.driving;
  const std::coroutine_handle<> prev_next = ctx.next;
  ctx.task = this;
  ctx.driving = true;
  ctx.next = std::exchange(resume_, {});
  // The driver: every coroutine of this task's chain is resumed from here (coro.hpp).
  while (std::coroutine_handle<> h = ctx.next) {
    ctx.next = {};
    h.resume();
  }
  ctx.task = prev_task;
  ctx.driving = prev_driving;
  ctx.next = prev_next;
  if (top_.done()) finish();
}

void task_base::finish() noexcept {
  std::exception_ptr e = take_result();
  top_.destroy();
  top_ = {};
  waiting_on_ = nullptr;
  if (e) {
    const status s = is_cancelled_error(e) ? status::cancelled : status::finished;
    complete(s, std::move(e));
  } else if (must_cancel_) {
    // cancel() came while the coroutine was running its last step; asyncio ends such
    // a task cancelled even though its coroutine returned.
    must_cancel_ = false;
    try {
      e = std::make_exception_ptr(cancelled_error(cancel_message()));
    } catch (...) {
      e = std::current_exception();
    }
    complete(status::cancelled, std::move(e));
  } else {
    complete(status::finished, nullptr);
  }
  loop_->task_finished(this);  // releases the loop's reference: may delete this
}

void task_base::destroy_pending() noexcept {
  add_ref();
  loop_->report("Task was destroyed but it is pending!", nullptr, this);
  waiting_on_ = nullptr;
  if (top_) {
    top_.destroy();
    top_ = {};
  }
  std::exception_ptr e;
  try {
    e = std::make_exception_ptr(cancelled_error("the event loop was closed"));
  } catch (...) {
    e = std::current_exception();
  }
  complete(status::cancelled, std::move(e));
  if (scheduled_) {  // woken while its frame was being destroyed
    scheduled_ = false;
    loop_->ready().remove(this);
  }
  loop_->task_finished(this);
  release();
}

task_base& require_task() {
  if (task_base* t = tls_context.task) return *t;
  throw std::logic_error("aio: this awaitable can only be awaited inside a task");
}

}  // namespace detail

std::optional<any_task> current_task() {
  if (detail::task_base* t = detail::tls_context.task) return any_task::from_state(t);
  return std::nullopt;
}

std::vector<any_task> all_tasks(event_loop& loop) {
  std::vector<any_task> out;
  for (detail::task_base* t = loop.first_pending_task(); t; t = t->all_next_)
    out.push_back(any_task::from_state(t));
  return out;
}

std::vector<any_task> all_tasks() {
  return all_tasks(get_running_loop());
}

}  // namespace aio
