// SPDX-License-Identifier: MIT
#include "aio/core/log.hpp"

#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

namespace aio {
namespace {

std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}
log_handler& current_handler() {
  static log_handler h;
  return h;
}

void write_stderr(log_level level, std::string_view msg) {
  std::string line = "aio: ";
  line += to_string(level);
  line += ": ";
  line += msg;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

const char* to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
  }
  return "?";
}

log_handler set_log_handler(log_handler handler) {
  std::lock_guard lk(handler_mutex());
  return std::exchange(current_handler(), std::move(handler));
}

void log(log_level level, std::string_view message) {
  log_handler h;
  {
    std::lock_guard lk(handler_mutex());
    h = current_handler();
  }
  if (h)
    h(level, message);
  else
    write_stderr(level, message);
}

}  // namespace aio
