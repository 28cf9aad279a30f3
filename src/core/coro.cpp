// SPDX-License-Identifier: MIT
#include "aio/core/coro.hpp"

#include "aio/core/detail/debug.hpp"
#include "aio/core/log.hpp"

namespace aio::detail {

bool drive_inline(std::coroutine_handle<> child, std::coroutine_handle<> parent) noexcept {
  // A coroutine resumed outside of any task step awaits a coro. Become the driver
  // for the child's chain here; stop when control would return to `parent` (the
  // child finished synchronously: the parent continues without suspending) or when
  // nothing is left to run (the child suspended: the parent stays suspended and the
  // child's final awaiter resumes it later).
  thread_context& ctx = tls_context;
  ctx.driving = true;
  ctx.next = child;
  bool finished = false;
  while (std::coroutine_handle<> h = ctx.next) {
    if (h == parent) {
      finished = true;
      break;
    }
    ctx.next = {};
    h.resume();
  }
  ctx.next = {};
  ctx.driving = false;
  return !finished;
}

void discard_unstarted(std::coroutine_handle<> h) noexcept {
  if (debug_active()) {
    try {
      log(log_level::warning, "coroutine " + coroutine_name(h) + " was never awaited");
    } catch (...) {
    }
  }
  h.destroy();
}

}  // namespace aio::detail
