// SPDX-License-Identifier: MIT
// aio/core/log.hpp — where the runtime's own diagnostics go (asyncio's "asyncio" logger).
//
// The loop reports through here: the default exception handler, debug-mode warnings
// (slow steps, never-awaited coroutines, pending tasks at close). By default a line goes
// to stderr as "aio: warning: ...". A program (or a test) can route them elsewhere:
//
//   aio::set_log_handler([](aio::log_level lvl, std::string_view msg) { my_log(lvl, msg); });
//
// Thread safety: set_log_handler is process-wide; set it before starting loops. The
// handler itself may be called from any thread that runs a loop.
#pragma once

#include <functional>
#include <string_view>

namespace aio {

enum class log_level { debug, info, warning, error };

using log_handler = std::function<void(log_level, std::string_view)>;

/// Replaces the process-wide handler; an empty function restores the stderr default.
/// Returns the previous handler.
log_handler set_log_handler(log_handler handler);

/// Emits one message through the current handler.
void log(log_level level, std::string_view message);

const char* to_string(log_level level) noexcept;

}  // namespace aio
