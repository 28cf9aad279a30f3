// SPDX-License-Identifier: MIT
// The task group follows asyncio's taskgroups.py (CPython main branch) step by step;
// the comments say which asyncio case each branch handles.
#include "aio/core/task_group.hpp"

#include <stdexcept>

namespace aio {

namespace {
bool is_base_error(const std::exception_ptr& e) {
  return exception_group::matches<keyboard_interrupt>(e);
}
}  // namespace

// A child's registration: notified when the child task completes.
struct task_group::child : detail::completion_node, detail::pooled {
  struct hook_t : link {
    child* self;
  } hook;  // in the group's list of children
  task_group* group;
  any_task task;
  static child* of(link* l) noexcept { return static_cast<hook_t*>(l)->self; }
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
    ops = &ops_;
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
  static constexpr detail::wait_ops ops_{nullptr, &on_cancel};
  task_group* g_;
  detail::task_base* task_ = nullptr;
  bool cancelled_ = false;
};

task_group::~task_group() {
  while (children_.next != &children_) {
    child* c = child::of(children_.next);
    c->hook.prev->next = c->hook.next;
    c->hook.next->prev = c->hook.prev;
    if (c->linked()) c->unlink();
    if (!c->task.done()) c->task.cancel();
    delete c;
  }
}

void task_group::enter() {
  if (entered_) throw std::runtime_error("the task group has already been entered");
  parent_ = &detail::require_task();
  entered_ = true;
  if (cancel_on_enter_) cancel();
}

const char* task_group::refusal() const noexcept {
  if (!entered_) return "the task group has not been entered";
  if (exiting_ && count_ == 0) return "the task group is finished";
  if (aborting_) return "the task group is shutting down";
  return nullptr;
}

void task_group::refuse(const char* why) {
  throw std::runtime_error(why);
}

void task_group::adopt(detail::task_base* t) {
  auto* c = new child;
  c->hook.self = c;
  c->group = this;
  c->task = any_task::from_state(t);
  static constexpr detail::wait_ops child_ops{[](detail::completion_node* n) noexcept {
                                                auto* ch = static_cast<child*>(n);
                                                ch->group->on_child_done(ch);
                                              },
                                              nullptr};
  c->ops = &child_ops;
  c->hook.prev = children_.prev;
  c->hook.next = &children_;
  children_.prev->next = &c->hook;
  children_.prev = &c->hook;
  ++count_;
  t->add_waiter(c);
}

void task_group::on_child_done(child* c) noexcept {
  c->hook.prev->next = c->hook.next;
  c->hook.next->prev = c->hook.prev;
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
  if (!base_error_ && is_base_error(e)) base_error_ = e;
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
  for (link* l = children_.next; l != &children_; l = l->next) {
    child* c = child::of(l);
    if (!c->task.done()) c->task.cancel();  // never completes a task synchronously
  }
}

void task_group::cancel() noexcept {
  if (!entered_) {
    cancel_on_enter_ = true;
    return;
  }
  if (exiting_ && count_ == 0) return;
  if (!aborting_) {
    abort();
    if (parent_ && !parent_cancel_requested_) {
      parent_cancel_requested_ = true;
      parent_->cancel();
    }
  }
}

coro<void> task_group::exit(std::exception_ptr et) {
  exiting_ = true;
  if (et && !base_error_ && is_base_error(et)) base_error_ = et;
  const bool et_is_cancel = et && exception_group::matches<cancelled_error>(et);
  std::exception_ptr propagate_cancel = et_is_cancel ? et : nullptr;
  // The body failed or the parent is being cancelled: stop the children.
  if (et && !aborting_) abort();

  // A loop: the wait can be cancelled again and again while children wind down.
  std::exception_ptr pending_cancel;
  while (count_ > 0) {
    bool cancelled = false;
    try {
      co_await all_done_awaiter(this);
    } catch (const cancelled_error&) {
      pending_cancel = std::current_exception();
      cancelled = true;
    }
    if (cancelled && !aborting_) {
      // The parent task is being cancelled from outside while children run.
      propagate_cancel = pending_cancel;
      abort();
    }
  }

  if (base_error_) {
    // A keyboard_interrupt propagates alone; report what it would hide.
    for (const auto& e : errors_)
      if (e != base_error_)
        parent_->loop()->report(
            "a task group's child failed while the group was closed by keyboard_interrupt", e,
            nullptr);
    std::rethrow_exception(base_error_);
  }

  if (parent_cancel_requested_) {
    // We cancelled the parent ourselves; we must take that back. If that was its only
    // pending cancellation, the cancelled_error is ours and must not escape; if
    // another one remains, it is not ours and must not be dropped.
    if (parent_->uncancel() == 0)
      propagate_cancel = nullptr;
    else if (!propagate_cancel)
      propagate_cancel = pending_cancel;
  }

  // Children's errors take precedence over a cancellation.
  if (propagate_cancel && errors_.empty()) std::rethrow_exception(propagate_cancel);
  if (et && !et_is_cancel) errors_.push_back(et);
  if (!errors_.empty()) {
    // A cancellation from outside is still pending on the parent: un-cancel and
    // cancel again, so that it is delivered at the next suspension point and the
    // count stays the same.
    if (parent_->cancelling() > 0) {
      parent_->uncancel();
      parent_->cancel();
    }
    std::vector<std::exception_ptr> errors = std::move(errors_);
    errors_.clear();
    throw exception_group("unhandled errors in a task group", std::move(errors));
  }
}

}  // namespace aio
