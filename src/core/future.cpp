// SPDX-License-Identifier: MIT
#include "aio/core/future.hpp"

#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/event_loop.hpp"

namespace aio::detail {

namespace {
// Notifies every node of `list`, oldest first, popping one at a time: a notification
// may unlink other nodes of the list.
void notify_all(completion_node*& head) noexcept {
  if (head && !head->next) {  // the common case: one waiter
    completion_node* n = head;
    n->unlink();
    n->ops->on_done(n);
    return;
  }
  // The list is newest-first (link_front); reverse it into a local list.
  completion_node* local = nullptr;
  while (completion_node* n = head) {
    n->unlink();
    n->link_front(local);
  }
  while (completion_node* n = local) {
    n->unlink();
    n->ops->on_done(n);
  }
}
}  // namespace

future_base::~future_base() {
  // Nodes still registered can only be done callbacks of a future that is destroyed
  // unfinished; their on_done sees !done() and frees them.
  notify_all(waiters_);
}

plain_future_base::~plain_future_base() {
  if (status_ == status::finished && exc_ && !retrieved_)
    report_unretrieved(loop_, "Future exception was never retrieved", exc_);
}

std::exception_ptr future_base::stored_exception() const noexcept {
  if (is_task_) {
    const auto* x = static_cast<const task_base*>(this)->more_if_any();
    return x ? x->exc : nullptr;
  }
  return static_cast<const plain_future_base*>(this)->exc_;
}

void future_base::store_exception(std::exception_ptr e) noexcept {
  if (!e) return;
  has_exception_ = true;
  if (is_task_) {
    try {
      static_cast<task_base*>(this)->more().exc = std::move(e);
    } catch (...) {
      std::terminate();  // out of memory while recording a failure
    }
    return;
  }
  static_cast<plain_future_base*>(this)->exc_ = std::move(e);
}

void future_base::complete(status s, std::exception_ptr e) noexcept {
  status_ = s;
  store_exception(std::move(e));
  add_ref();  // stay alive while the waiters are notified
  notify_all(waiters_);
  release();
}

bool future_base::cancel_future(std::string_view msg) noexcept {
  if (done()) return false;
  std::exception_ptr e;
  try {
    e = std::make_exception_ptr(cancelled_error(std::string(msg)));
  } catch (...) {
    e = std::current_exception();
  }
  complete(status::cancelled, std::move(e));
  return true;
}

std::exception_ptr future_base::exception() {
  if (status_ == status::pending) throw invalid_state_error("exception is not set: still pending");
  retrieved_ = true;
  if (status_ == status::cancelled) std::rethrow_exception(stored_exception());
  return stored_exception();
}

void future_base::check_result_slow() {
  if (status_ == status::pending) throw invalid_state_error("result is not set: still pending");
  retrieved_ = true;
  if (has_exception_) std::rethrow_exception(stored_exception());
}

}  // namespace aio::detail
