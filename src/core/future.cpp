// SPDX-License-Identifier: MIT
#include "aio/core/future.hpp"

#include "aio/core/detail/loop_base.hpp"
#include "aio/core/event_loop.hpp"

namespace aio::detail {

future_base::~future_base() {
  // Nodes still registered can only be done callbacks of a future that is destroyed
  // unfinished; their on_done sees !done() and frees them.
  while (waiters_.next != &waiters_) {
    auto* n = static_cast<completion_node*>(waiters_.next);
    n->unlink();
    n->on_done(n);
  }
  if (!is_task_ && status_ == status::finished && exc_ && !retrieved_)
    report_unretrieved(loop_, "Future exception was never retrieved", exc_);
}

void future_base::complete(status s, std::exception_ptr e) noexcept {
  status_ = s;
  exc_ = std::move(e);
  add_ref();  // stay alive while the waiters are notified
  // Pop one node at a time: a notification may unlink other nodes of this list.
  while (waiters_.next != &waiters_) {
    auto* n = static_cast<completion_node*>(waiters_.next);
    n->unlink();
    n->on_done(n);
  }
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
  if (status_ == status::cancelled) std::rethrow_exception(exc_);
  return exc_;
}

void future_base::check_result() {
  if (status_ == status::pending) throw invalid_state_error("result is not set: still pending");
  retrieved_ = true;
  if (exc_) std::rethrow_exception(exc_);
}

}  // namespace aio::detail
