// SPDX-License-Identifier: MIT
#include "report.hpp"

#include <algorithm>
#include <cmath>

namespace aio_fetch {

reporter::reporter(std::size_t total, bool json_lines, bool progress_tty, bool progress_lines)
    : total_(total), json_lines_(json_lines), tty_(progress_tty), lines_(progress_lines) {}

double reporter::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void reporter::add(const result& r) {
  ++done_;
  bytes_ += r.bytes;
  if (!r.ok()) ++failed_;
  by_status_[r.status != 0 ? std::to_string(r.status) : std::string("error")]++;
  if (r.status != 0) latencies_.push_back(r.elapsed);
  if (json_lines_) {
    if (tty_) std::fputs("\r\x1b[K", stderr);  // the bar is redrawn below the line
    std::string line = to_json_line(r);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  draw(done_ == total_);
}

void reporter::draw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000);
  if (!force && now - last_draw_ < every) return;
  last_draw_ = now;
  const double t = elapsed();
  const double rate = t > 0 ? static_cast<double>(done_) / t : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0;
  if (tty_) {
    const int width = 30;
    const int filled =
        total_ ? static_cast<int>(width * static_cast<double>(done_) / static_cast<double>(total_))
               : width;
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
    std::fprintf(stderr, "\r\x1b[K[%s] %zu/%zu  %.1f/s  errors %zu  ETA %02d:%02d", bar.c_str(),
                 done_, total_, rate, failed_, static_cast<int>(eta) / 60,
                 static_cast<int>(eta) % 60);
    std::fflush(stderr);
  } else if (lines_) {
    std::fprintf(stderr, "progress: %zu/%zu done, %zu failed, %.1f/s, %.1f s\n", done_, total_,
                 failed_, rate, t);
  }
}

namespace {

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  k = std::min(k, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

void reporter::finish(bool interrupted) {
  if (tty_) {
    draw(true);
    std::fputc('\n', stderr);
  }
  const double t = elapsed();
  std::fprintf(stderr, "%s%zu of %zu URLs in %.2f s (%.1f/s, %.1f MiB)\n",
               interrupted ? "interrupted: " : "", done_, total_, t,
               t > 0 ? static_cast<double>(done_) / t : 0.0,
               static_cast<double>(bytes_) / (1024.0 * 1024.0));
  std::string counts;
  for (const auto& [status, n] : by_status_) {
    if (!counts.empty()) counts += ", ";
    counts += status + ": " + std::to_string(n);
  }
  if (!counts.empty()) std::fprintf(stderr, "status: %s\n", counts.c_str());
  if (!latencies_.empty()) {
    std::fprintf(stderr, "latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
                 percentile(latencies_, 0.50) * 1e3, percentile(latencies_, 0.90) * 1e3,
                 percentile(latencies_, 0.99) * 1e3);
  }
  if (failed_ > 0) std::fprintf(stderr, "failed: %zu\n", failed_);
}

}  // namespace aio_fetch
