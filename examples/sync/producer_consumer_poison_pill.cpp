// SPDX-License-Identifier: MIT
// The guides' producer/consumer with a poison pill: 2 producers, 3 consumers, a bounded
// queue (backpressure); an empty optional tells a consumer to stop.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;
using item = std::optional<std::string>;  // nullopt: the poison pill

namespace {

aio::coro<void> producer(aio::queue<item>& q, std::string name) {
  for (int i = 0; i < 5; ++i) {
    co_await q.put(name + "-item-" + std::to_string(i));  // waits while the queue is full
    co_await aio::sleep(5ms);
  }
}

aio::coro<int> consumer(aio::queue<item>& q) {
  int consumed = 0;
  while (item it = co_await q.get()) {
    co_await aio::sleep(10ms);  // "process" it
    ++consumed;
  }
  co_return consumed;
}

aio::coro<void> main_async() {
  aio::queue<item> q(10);
  std::vector<aio::task<int>> consumers;
  for (int c = 0; c < 3; ++c) consumers.push_back(aio::create_task(consumer(q)));
  co_await aio::gather(producer(q, "P0"), producer(q, "P1"));
  for (std::size_t c = 0; c < consumers.size(); ++c) co_await q.put(std::nullopt);
  int total = 0;
  for (int n : co_await aio::gather(std::move(consumers))) total += n;
  std::printf("consumed %d items in all; queue empty: %s\n", total, q.empty() ? "yes" : "no");
}

}  // namespace

int main() {
  aio::run(main_async());
}
