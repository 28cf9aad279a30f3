// SPDX-License-Identifier: MIT
// tests/docs: collects what the runtime logs (debug-mode warnings) during a test.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aio/core/log.hpp"

namespace aio_docs {

struct log_capture {
  std::vector<std::string> lines;
  aio::log_handler previous;
  log_capture() {
    previous =
        aio::set_log_handler([this](aio::log_level, std::string_view m) { lines.emplace_back(m); });
  }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  ~log_capture() { aio::set_log_handler(std::move(previous)); }
  bool contains(std::string_view s) const {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(s) != std::string::npos; });
  }
};

}  // namespace aio_docs
