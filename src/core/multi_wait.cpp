// SPDX-License-Identifier: MIT
#include "aio/core/detail/multi_wait.hpp"

namespace aio::detail {

bool multi_wait::await_ready() noexcept {
  pending_ = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    future_base* c = slots_[i].child;
    if (!c->done()) {
      ++pending_;
      continue;
    }
    any_done_ = true;
    if (first_failure_ == npos && c->failed()) first_failure_ = i;
  }
  if (satisfied()) return true;
  if (opts_.deadline) {
    if (loop_base* l = tls_context.loop; l && *opts_.deadline <= l->time()) return true;
  }
  return false;
}

void multi_wait::await_suspend(std::coroutine_handle<> h) {
  task_ = &require_task();
  registered_ = true;
  for (wait_slot& s : slots_) {
    if (s.child->done()) continue;
    s.owner = this;
    s.ops = &node_ops_;
    s.child->add_waiter(&s);
  }
  if (opts_.deadline) {
    fire = &on_deadline;
    task_->loop()->arm_timer(this, *opts_.deadline);
  }
  suspension::ops = &self_ops_;
  // Suspend first: what follows may already wake the task, and a wake must come after
  // the task knows what it waits on.
  task_->suspend_on(h, this);
  if (!woken_ && opts_.cancel_others_on_failure && first_failure_ != npos)
    cancel_children(first_failure_);
}

std::size_t multi_wait::await_resume() {
  if (task_) {
    task_->throw_if_cancel_requested();
    if (outer_cancelled_) throw cancelled_error(task_->cancel_message());
  }
  return first_failure_;
}

bool multi_wait::satisfied() const noexcept {
  if (pending_ == 0) return true;
  switch (opts_.until) {
    case wait_until::all_done:
      return false;
    case wait_until::first_done:
      return any_done_;
    case wait_until::first_failure:
      return first_failure_ != npos;
  }
  return false;
}

void multi_wait::node_done(completion_node* n) noexcept {
  auto* s = static_cast<wait_slot*>(n);
  multi_wait* self = s->owner;
  self->on_child_done(static_cast<std::size_t>(s - self->slots_.data()));
}

void multi_wait::on_child_done(std::size_t i) noexcept {
  --pending_;
  any_done_ = true;
  if (first_failure_ == npos && slots_[i].child->failed()) {
    first_failure_ = i;
    // Cancelling may complete other children at once and re-enter here.
    if (opts_.cancel_others_on_failure) cancel_children(i);
  }
  if (!woken_ && satisfied()) finish();
}

void multi_wait::cancel_children(std::size_t except) noexcept {
  for (std::size_t j = 0; j < slots_.size(); ++j) {
    if (j == except || slots_[j].child->done()) continue;
    try {
      cancel_child(slots_[j].child, {});
    } catch (...) {  // only bad_alloc for the message could get here
    }
  }
}

void multi_wait::finish() noexcept {
  woken_ = true;
  detach();
  task_->wake();
}

void multi_wait::detach() noexcept {
  if (registered_) {
    for (wait_slot& s : slots_)
      if (s.linked()) s.unlink();
  }
  if (armed() && task_) task_->loop()->disarm_timer(this);
}

void multi_wait::on_deadline(timer_entry* t) noexcept {
  auto* self = static_cast<multi_wait*>(t);
  if (!self->woken_) self->finish();
}

bool multi_wait::on_cancel(suspension* s, task_base*) {
  auto* self = static_cast<multi_wait*>(s);
  self->outer_cancelled_ = true;
  if (self->opts_.cancel_children_on_cancel) {
    self->cancel_children(npos);
    if (!self->woken_ && self->pending_ == 0) self->finish();
  } else if (!self->woken_) {
    self->finish();
  }
  return true;
}

}  // namespace aio::detail
