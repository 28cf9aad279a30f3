// SPDX-License-Identifier: MIT
// aio-fetch's reporting: JSON lines as results complete, a progress bar on a terminal
// (plain periodic lines otherwise), and the summary at the end.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "fetch.hpp"

namespace aio_fetch {

class reporter {
 public:
  reporter(std::size_t total, bool json_lines, bool progress_tty, bool progress_lines);
  /// A result: its JSON line (stdout), the counters, and the progress display.
  void add(const result& r);
  /// The progress display's last word (clears the bar) and the summary (stderr).
  void finish(bool interrupted);
  std::size_t failed() const noexcept { return failed_; }
  std::size_t done() const noexcept { return done_; }

 private:
  void draw(bool force);
  double elapsed() const;

  std::size_t total_;
  bool json_lines_, tty_, lines_;
  std::size_t done_ = 0, failed_ = 0;
  std::uint64_t bytes_ = 0;
  std::map<std::string, std::size_t> by_status_;
  std::vector<double> latencies_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace aio_fetch
