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

task_base::~task_base() {
  if (top_) top_.destroy();
  if (status_ == status::finished && extras_ && extras_->exc && !retrieved_)
    report_unretrieved(loop_, "Task exception was never retrieved (task '" + get_name() + "')",
                       extras_->exc);
}

task_base::extras& task_base::more() {
  if (!extras_) extras_ = std::make_unique<extras>();
  return *extras_;
}

bool task_base::cancel(std::string_view msg) {
  retrieved_ = true;  // asyncio: a cancelled (or cancel-attempted) task is not reported
  if (done()) return false;
  if (num_cancels_requested_ < UINT16_MAX) ++num_cancels_requested_;
  if (!msg.empty())
    more().cancel_msg = msg;
  else if (extras_)
    extras_->cancel_msg.clear();
  if (waiting_on_ && waiting_on_->ops->cancel(waiting_on_, this)) return true;
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
  if (extras_ && !extras_->name.empty()) return extras_->name;
  return "Task-" + std::to_string(id_);
}

void task_base::set_name(std::string name) {
  more().name = std::move(name);
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
  return it->ops->run == &run_step;
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
  // Steps never nest (the loop runs them one at a time), so the context is set and
  // cleared rather than saved and restored.
  thread_context& ctx = tls_context;
  ctx.task = this;
  ctx.driving = true;
  std::coroutine_handle<> h = std::exchange(resume_, {});
  // The driver: every coroutine of this task's chain is resumed from here (coro.hpp).
  do {
    ctx.next = {};
    h.resume();
  } while ((h = ctx.next));
  ctx.task = nullptr;
  ctx.driving = false;
  if (top_.done()) finish();
}

void task_base::finish() noexcept {
  std::exception_ptr e = static_cast<const task_ops*>(ops)->take_result(this);
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

void throw_await_self() {
  throw std::runtime_error("a task cannot await itself");
}

void throw_other_loop() {
  throw std::runtime_error("the awaited task or future belongs to a different event loop");
}

void throw_no_task() {
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
