// SPDX-License-Identifier: MIT
#include "aio/sync/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace aio {

rate_limiter::rate_limiter(rate_limiter_options opts) : opts_(opts), tokens_(opts.burst) {
  if (!(opts.rate > 0) || !std::isfinite(opts.rate))
    throw std::invalid_argument("rate_limiter: rate must be positive and finite");
  if (!(opts.burst >= 1) || !std::isfinite(opts.burst))
    throw std::invalid_argument("rate_limiter: burst must be at least 1 and finite");
  fire = &on_timer;
}

rate_limiter::~rate_limiter() {
  if (armed()) loop_->disarm_timer(this);
}

void rate_limiter::refill() noexcept {
  detail::loop_base* loop = detail::running_loop_base();
  if (!loop) return;
  if (!loop_) {
    loop_ = loop;
    last_ = loop->time();
    return;
  }
  const time_point now = loop_->time();
  const double seconds = std::chrono::duration<double>(now - last_).count();
  if (seconds > 0) tokens_ = std::min(opts_.burst, tokens_ + seconds * opts_.rate);
  last_ = now;
}

double rate_limiter::tokens() noexcept {
  refill();
  return tokens_;
}

bool rate_limiter::try_take() noexcept {
  refill();
  if (!waiters_.empty() || tokens_ < 1.0) return false;  // FIFO: waiters first
  tokens_ -= 1.0;
  return true;
}

void rate_limiter::enqueue(awaiter* w) {
  waiters_.push_back(w);
  if (waiters_.size() == 1) dispatch();
}

void rate_limiter::leave(awaiter* w) noexcept {
  const bool was_first = waiters_.front() == w;
  waiters_.remove(w);
  if (was_first && loop_) {
    if (armed()) loop_->disarm_timer(this);
    dispatch();
  }
}

void rate_limiter::give_back() noexcept {
  tokens_ = std::min(opts_.burst, tokens_ + 1.0);
  dispatch();
}

void rate_limiter::dispatch() noexcept {
  refill();
  while (!waiters_.empty() && tokens_ >= 1.0) {
    tokens_ -= 1.0;
    waiters_.grant_first();
  }
  if (waiters_.empty() || !loop_) {
    if (armed() && loop_) loop_->disarm_timer(this);
    return;
  }
  // The next token comes when the bucket reaches 1 again.
  const double wait = (1.0 - tokens_) / opts_.rate;
  // Rounded up: waking a hair too early would find the bucket just short of a token.
  const auto when = last_ + std::chrono::ceil<duration>(std::chrono::duration<double>(wait));
  if (armed()) loop_->disarm_timer(this);
  loop_->arm_timer(this, when);
}

void rate_limiter::on_timer(timer_entry* t) noexcept {
  static_cast<rate_limiter*>(t)->dispatch();
}

}  // namespace aio
