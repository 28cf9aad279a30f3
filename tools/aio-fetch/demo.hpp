// SPDX-License-Identifier: MIT
// aio-fetch --demo: a local HTTP server with latency and failures, fetched three ways
// (sequentially, by 20 threads doing blocking requests, and with aio), then a run with
// injected failures that shows retries and backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace aio_fetch {

struct demo_options {
  unsigned urls = 200;                    // URLs per mode
  std::chrono::milliseconds latency{25};  // the server's delay per request
  std::uint16_t port = 0;                 // the server (for demo_run)
};

/// The whole demo; `self` is argv[0] (each mode runs in a child process of it, so that
/// its peak memory is its own). Returns the exit status.
int demo(const char* self, demo_options o);
/// One mode ("sequential", "threads", "aio") against the server on o.port; prints one
/// line "wall=S ok=N rss_kib=K".
int demo_run(const std::string& mode, demo_options o);

}  // namespace aio_fetch
