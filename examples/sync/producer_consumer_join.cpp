// SPDX-License-Identifier: MIT
// The guides' producer/consumer with task_done()/join(): consumers loop forever; main
// waits until every item was processed, then cancels them.
#include <cstdio>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/sync.hpp"

using namespace std::chrono_literals;

namespace {

int processed = 0;

aio::coro<void> producer(aio::queue<std::string>& q, std::string name) {
  for (int i = 0; i < 5; ++i) {
    co_await aio::sleep(3ms);
    co_await q.put(name + "-item-" + std::to_string(i));
  }
}

aio::coro<void> consumer(aio::queue<std::string>& q) {
  for (;;) {
    std::string it = co_await q.get();
    co_await aio::sleep(10ms);  // "process" it
    ++processed;
    q.task_done();
  }
}

aio::coro<void> main_async() {
  aio::queue<std::string> q(5);
  std::vector<aio::task<void>> consumers;
  for (int c = 0; c < 3; ++c) consumers.push_back(aio::create_task(consumer(q)));
  co_await aio::gather(producer(q, "Producer0"), producer(q, "Producer1"));
  co_await q.join();  // every item put has been marked done
  for (auto& c : consumers) c.cancel();
  co_await aio::gather(aio::return_exceptions, std::move(consumers));  // wait for them to stop
  std::printf("processed %d items; consumers cancelled after join()\n", processed);
}

}  // namespace

int main() {
  aio::run(main_async());
}
