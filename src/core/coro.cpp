// SPDX-License-Identifier: MIT
#include "aio/core/coro.hpp"

#include "aio/core/detail/debug.hpp"
#include "aio/core/errors.hpp"
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

void throw_empty_coro() {
  throw invalid_state_error("awaiting an empty coro (moved from, or awaited already)");
}

void park_coro_exception() noexcept {
  std::exception_ptr e = std::current_exception();
  if (std::exception_ptr* slot = tls_coro_exception) {
    *slot = std::move(e);  // cannot happen: the previous one was taken at once
    return;
  }
  try {
    tls_coro_exception = new std::exception_ptr(std::move(e));
  } catch (...) {
    std::terminate();  // out of memory while an exception propagates
  }
}

std::exception_ptr take_parked_exception() noexcept {
  std::exception_ptr* slot = std::exchange(tls_coro_exception, nullptr);
  if (!slot) return nullptr;
  std::exception_ptr e = std::move(*slot);
  delete slot;
  return e;
}

void rethrow_coro_exception() {
  std::rethrow_exception(take_parked_exception());
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
