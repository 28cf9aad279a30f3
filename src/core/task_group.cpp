// SPDX-License-Identifier: MIT
#include "aio/core/task_group.hpp"

#include <stdexcept>

namespace aio {

// A child's registration: notified when the child task completes.
struct task_group::child : detail::completion_node, detail::pooled {
  struct link_t : detail::list_hook {
    child* self;
  } link;
  task_group* group;
  any_task task;
};

// Waits until the group has no children (asyncio's _on_completed_fut).
class task_group::all_done_awaiter : detail::suspension {
 public:
  using aio_awaitable = void;
  explicit all_done_awaiter(task_group* g) noexcept : g_(g) {}
  all_done_awaiter(all_done_awaiter&& o) noexcept : suspension(), g_(o.g_) {}
  ~all_done_awaiter() {
    if (task_ && g_->waiter_ == task_) g_->waiter_ = nullptr;
  }
  bool await_ready() const noexcept { return g_->count_ == 0; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &detail::require_task();
    g_->waiter_ = task_;
    cancel = &on_cancel;
    task_->suspend_on(h, this);
  }
  void await_resume() {
    if (!task_) return;
    task_->throw_if_cancel_requested();
    if (cancelled_) throw cancelled_error(task_->cancel_message());
  }

 private:
  static bool on_cancel(suspension* s, detail::task_base*) {
    auto* self = static_cast<all_done_awaiter*>(s);
    self->g_->waiter_ = nullptr;
    self->cancelled_ = true;
    self->task_->wake();
    return true;
  }
  task_group* g_;
  detail::task_base* task_ = nullptr;
  bool cancelled_ = false;
};

task_group::~task_group() {
  while (children_.next != &children_) {
    child* c = static_cast<child::link_t*>(children_.next)->self;
    c->link.unlink();
    if (c->linked()) c->unlink();
    if (!c->task.done()) c->task.cancel();
    delete c;
  }
}

void task_group::enter() {
  parent_ = &detail::require_task();
  entered_ = true;
}

void task_group::check_can_create() const {
  if (!entered_) throw std::runtime_error("the task group has not been entered");
  if (exiting_ && count_ == 0) throw std::runtime_error("the task group is finished");
  if (aborting_) throw std::runtime_error("the task group is shutting down");
}

void task_group::adopt(detail::task_base* t) {
  auto* c = new child;
  c->group = this;
  c->task = any_task::from_state(t);
  c->link.self = c;
  c->on_done = [](detail::completion_node* n) noexcept {
    auto* ch = static_cast<child*>(n);
    ch->group->on_child_done(ch);
  };
  c->link.prev = children_.prev;
  c->link.next = &children_;
  children_.prev->next = &c->link;
  children_.prev = &c->link;
  ++count_;
  t->add_waiter(c);
}

void task_group::on_child_done(child* c) noexcept {
  c->link.unlink();
  --count_;
  any_task t = std::move(c->task);
  delete c;
  if (count_ == 0 && waiter_) std::exchange(waiter_, nullptr)->wake();
  if (t.cancelled()) return;
  std::exception_ptr e = t.state()->exception_for_result();
  if (!e) return;
  try {
    errors_.push_back(e);
  } catch (...) {
  }
  if (parent_->done()) {
    parent_->loop()->report("a task group's child failed after its parent task had finished", e,
                            t.state());
    return;
  }
  if (!aborting_ && !parent_cancel_requested_) {
    // Stop the body too: cancel the parent task, and take that cancellation back in
    // exit() with uncancel(), so the parent is not left marked as cancelled.
    abort();
    parent_cancel_requested_ = true;
    parent_->cancel();
  }
}

void task_group::abort() noexcept {
  aborting_ = true;
  for (detail::list_hook* h = children_.next; h != &children_; h = h->next) {
    child* c = static_cast<child::link_t*>(h)->self;
    if (!c->task.done()) c->task.cancel();  // never completes a task synchronously
  }
}

coro<void> task_group::exit(std::exception_ptr et) {
  exiting_ = true;
  const bool et_is_cancel = et && exception_group::matches<cancelled_error>(et);
  std::exception_ptr propagate_cancel = et_is_cancel ? et : nullptr;
  if (parent_cancel_requested_) {
    // We cancelled the parent ourselves; if that was its only pending cancellation,
    // the cancelled_error is ours and must not escape.
    if (parent_->uncancel() == 0) propagate_cancel = nullptr;
  }
  if (et && !aborting_) abort();
  // A loop: the wait can be cancelled again and again while children wind down.
  while (count_ > 0) {
    try {
      co_await all_done_awaiter(this);
    } catch (const cancelled_error&) {
      if (!aborting_) {
        // The parent task is being cancelled from outside while children run.
        propagate_cancel = std::current_exception();
        abort();
      }
    }
  }
  // Children's errors take precedence over a cancellation.
  if (propagate_cancel && errors_.empty()) std::rethrow_exception(propagate_cancel);
  if (et && !et_is_cancel) errors_.push_back(et);
  if (!errors_.empty()) {
    std::vector<std::exception_ptr> errors = std::move(errors_);
    errors_.clear();
    throw exception_group("unhandled errors in a task group", std::move(errors));
  }
}

}  // namespace aio
