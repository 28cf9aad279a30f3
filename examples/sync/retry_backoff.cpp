// SPDX-License-Identifier: MIT
// The guides' with_retry: exponential backoff with jitter around a flaky call.
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "aio/aio.hpp"

using namespace std::chrono_literals;

namespace {

int calls = 0;

aio::coro<std::string> flaky_api_call() {
  co_await aio::sleep(1ms);
  if (++calls < 4) throw std::runtime_error("503 Service Unavailable");
  co_return "200 OK";
}

aio::coro<void> main_async() {
  auto log_retry = [](int attempt, const std::exception_ptr& e, aio::duration delay) {
    std::printf("attempt %d failed (%s), retrying in %lld ms\n", attempt, aio::describe(e).c_str(),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()));
  };
  std::string r = co_await aio::retry(
      flaky_api_call, {.max_retries = 5, .base_delay = 10ms, .jitter = 0.5, .on_retry = log_retry});
  std::printf("result: %s after %d calls\n", r.c_str(), calls);
}

}  // namespace

int main() {
  aio::run(main_async());
}
