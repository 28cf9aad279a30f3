// SPDX-License-Identifier: MIT
#include "aio/time/timeout.hpp"

#include <stdexcept>

namespace aio {

timeout_scope::~timeout_scope() {
  leave();
}

void timeout_scope::leave() noexcept {
  if (armed()) task_->loop()->disarm_timer(this);
}

void timeout_scope::enter() {
  if (state_ != state::created) throw std::runtime_error("the timeout has already been entered");
  task_ = &detail::require_task();
  cancelling_ = task_->cancelling();
  state_ = state::entered;
  fire = &on_timeout;
  reschedule(when_);
}

void timeout_scope::reschedule(std::optional<time_point> when) {
  if (state_ != state::entered) {
    if (state_ == state::created) throw std::runtime_error("the timeout has not been entered");
    throw std::runtime_error(state_ == state::expiring  ? "cannot reschedule an expiring timeout"
                             : state_ == state::expired ? "cannot reschedule an expired timeout"
                                                        : "cannot reschedule a finished timeout");
  }
  when_ = when;
  leave();
  // A deadline already past is armed too: it fires on the next iteration (asyncio
  // uses call_soon then), so the body always gets to its first suspension point.
  if (when) task_->loop()->arm_timer(this, *when);
}

void timeout_scope::on_timeout(detail::timer_entry* t) noexcept {
  auto* self = static_cast<timeout_scope*>(t);
  self->state_ = state::expiring;
  try {
    self->task_->cancel();
  } catch (...) {
  }
}

void timeout_scope::exit() noexcept {
  leave();
  if (state_ == state::expiring) {
    state_ = state::expired;
    task_->uncancel();
  } else if (state_ == state::entered) {
    state_ = state::exited;
  }
}

bool timeout_scope::exit_cancelled() noexcept {
  leave();
  if (state_ == state::expiring) {
    state_ = state::expired;
    // Ours if no other cancellation was requested since we entered.
    return task_->uncancel() <= cancelling_;
  }
  if (state_ == state::entered) state_ = state::exited;
  return false;
}

}  // namespace aio
