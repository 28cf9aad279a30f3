// SPDX-License-Identifier: MIT
#include "aio/executors/threadsafe.hpp"

namespace aio::detail {

void check_not_on_loop_thread(const event_loop* loop) {
  if (loop && tls_context.loop == static_cast<const loop_base*>(loop) && loop->is_running())
    throw std::logic_error(
        "concurrent_future: waiting on the thread of the loop that must complete the future "
        "would deadlock (co_await the coroutine there instead)");
}

}  // namespace aio::detail
