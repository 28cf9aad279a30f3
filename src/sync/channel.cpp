// SPDX-License-Identifier: MIT
#include "aio/sync/channel.hpp"

#include <stdexcept>
#include <string>

#include "aio/core/event_loop.hpp"

namespace aio::detail {

void wake_channel_waiter(channel_waiter* w) noexcept {
  if (w->thread) {
    w->thread->release();
    return;
  }
  if (w->loop == running_loop_base()) {  // the waiter's own loop thread
    w->task->wake();
    return;
  }
  task_base* t = w->task;
  try {
    static_cast<event_loop*>(w->loop)->call_soon_threadsafe([t] { t->wake(); });
  } catch (const std::runtime_error&) {
    // The loop is closed: it destroys the waiting task's frame, whose awaiter then
    // gives back what it was granted (it waits for the channel's mutex, which the
    // caller holds). Nothing is lost. An allocation failure is not caught: noexcept
    // turns it into std::terminate rather than a task that never wakes.
  }
}

void check_may_block(const char* what) {
  if (running_loop_base())
    throw std::logic_error(std::string(what) +
                           " would block the event loop running on this thread; use the "
                           "co_await form");
}

}  // namespace aio::detail
