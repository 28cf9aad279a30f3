// SPDX-License-Identifier: MIT
// The guides' "Semaphores: don't melt your dependencies": fan out 20 requests, at most
// 5 in flight at any moment (asyncio.Semaphore(5) + gather).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;

namespace {

int in_flight = 0, peak = 0;

aio::coro<std::string> fetch(int id) {
  ++in_flight;
  peak = std::max(peak, in_flight);
  co_await aio::sleep(20ms);  // stands in for a network call
  --in_flight;
  co_return "page " + std::to_string(id);
}

aio::coro<std::string> fetch_bounded(aio::semaphore& sem, int id) {
  auto permit = co_await sem.acquire();  // released when `permit` goes out of scope
  co_return co_await fetch(id);
}

aio::coro<void> main_async() {
  aio::semaphore sem(5);
  std::vector<aio::coro<std::string>> requests;
  for (int id = 0; id < 20; ++id) requests.push_back(fetch_bounded(sem, id));
  std::vector<std::string> pages = co_await aio::gather(std::move(requests));
  std::printf("fetched %zu pages, first \"%s\", last \"%s\"\n", pages.size(), pages.front().c_str(),
              pages.back().c_str());
  std::printf("at most %d requests were in flight at once\n", peak);
}

}  // namespace

int main() {
  aio::run(main_async());
}
