// SPDX-License-Identifier: MIT
// aio-fetch's engine: fetch many URLs concurrently with one shared client session, a
// concurrency cap, per-host limits, a rate limit, timeouts and retries with backoff and
// jitter (honouring Retry-After), reporting each result as it completes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"

namespace aio_fetch {

struct options {
  std::vector<std::string> urls;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> body;
  unsigned concurrency = 20;
  unsigned limit_per_host = 0;             // 0: no per-host limit
  double rate = 0;                         // requests per second; 0: no limit
  int retries = 3;                         // attempts after the first
  std::chrono::milliseconds backoff{200};  // first retry delay (doubles, with jitter)
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::milliseconds timeout{30000};  // whole attempt
  std::optional<std::chrono::milliseconds> connect_timeout;
  std::optional<std::chrono::milliseconds> read_timeout;
  std::string out_dir;  // "" : bodies are read and counted, not kept
  bool insecure = false;
  std::string cafile;
};

struct result {
  std::size_t index = 0;
  std::string url;
  int status = 0;  // 0: no response (see error)
  std::uint64_t bytes = 0;
  double elapsed = 0;  // seconds, all attempts and waits included
  int attempts = 0;
  std::string error;  // "" when a response came (whatever its status)
  std::string file;   // with out_dir
  bool ok() const { return error.empty() && status > 0 && status < 400; }
};

/// One JSON line for a result: {"url", "status", "bytes", "elapsed", "attempts", "error"}.
std::string to_json_line(const result& r);

/// Fetches every URL of `opts`; calls `done` on the loop thread as each one completes.
/// Cancellation (Ctrl-C): requests in flight are cancelled, partial files removed, and
/// the cancellation propagates once every worker has ended.
aio::coro<void> fetch_all(const options& opts, std::function<void(const result&)> done);

/// Parses "10", "2.5s", "500ms", "1m" into milliseconds; std::invalid_argument otherwise.
std::chrono::milliseconds parse_duration(const std::string& text);

}  // namespace aio_fetch
