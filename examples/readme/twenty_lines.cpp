// SPDX-License-Identifier: MIT
// The example of README.md (tests/docs/check_snippets.py keeps the two equal).
// snippet-begin: example.readme_twenty_lines
#include <aio/aio.hpp>
#include <cstdio>
using namespace std::chrono_literals;

aio::coro<std::string> fetch(std::string url) {
  co_await aio::sleep(1s);  // stands in for a network call
  co_return url + ": 200 OK";
}

aio::coro<int> main_async() {
  auto [a, b] = co_await aio::gather(fetch("/users"), fetch("/orders"));  // 1 s, not 2
  std::printf("%s\n%s\n", a.c_str(), b.c_str());
  try {
    co_await aio::timeout(500ms, fetch("/slow"));
  } catch (const aio::timeout_error&) {
    std::puts("/slow: timed out, and its work was cancelled");
  }
  co_return 0;
}

int main() {
  return aio::run(main_async());
}
// snippet-end
