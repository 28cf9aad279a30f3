// SPDX-License-Identifier: MIT
#include "aio/aio.hpp"
#include "aio/testing.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace {

aio::coro<int> add(int a, int b) {
  co_await aio::sleep(1ms);
  co_return a + b;
}

TEST(basics, run_returns_value) {
  EXPECT_EQ(aio::run(add(1, 2)), 3);
}

AIO_TEST_VIRTUAL_TIME(basics, gather_tuple) {
  auto [a, b] = co_await aio::gather(add(1, 2), add(3, 4));
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, 7);
}

AIO_TEST_VIRTUAL_TIME(basics, timeout_fires) {
  auto& loop = aio::get_running_loop();
  auto t0 = loop.time();
  EXPECT_THROW(co_await aio::timeout(10ms, aio::sleep(1s)), aio::timeout_error);
  EXPECT_EQ(loop.time() - t0, 10ms);
}

AIO_TEST_VIRTUAL_TIME(basics, task_group_waits) {
  int n = 0;
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    for (int i = 0; i < 3; ++i)
      tg.create_task([&n, i]() -> aio::coro<void> {
        co_await aio::sleep(std::chrono::milliseconds(i));
        ++n;
      });
    co_return;
  });
  EXPECT_EQ(n, 3);
}

AIO_TEST_VIRTUAL_TIME(basics, wait_first_completed) {
  std::vector<aio::task<int>> ts;
  ts.push_back(aio::create_task(add(1, 1)));
  ts.push_back(aio::create_task([]() -> aio::coro<int> {
    co_await aio::sleep(1s);
    co_return 0;
  }));
  auto [done, pending] = co_await aio::wait(ts, {.return_when = aio::first_completed});
  EXPECT_EQ(done.size(), 1u);
  EXPECT_EQ(pending.size(), 1u);
  pending[0].cancel();
  EXPECT_THROW(co_await pending[0], aio::cancelled_error);
}

AIO_TEST_VIRTUAL_TIME(basics, as_completed_order) {
  std::vector<aio::coro<int>> cs;
  for (int i : {30, 10, 20})
    cs.push_back([](int d) -> aio::coro<int> {
      co_await aio::sleep(std::chrono::milliseconds(d));
      co_return d;
    }(i));
  std::vector<int> got;
  for (auto next : aio::as_completed(std::move(cs))) got.push_back(co_await next);
  EXPECT_EQ(got, (std::vector<int>{10, 20, 30}));
}

AIO_TEST_VIRTUAL_TIME(basics, shield_survives) {
  bool finished = false;
  auto inner = aio::create_task([&]() -> aio::coro<int> {
    co_await aio::sleep(50ms);
    finished = true;
    co_return 5;
  });
  EXPECT_THROW(co_await aio::timeout(10ms, aio::shield(inner)), aio::timeout_error);
  EXPECT_FALSE(finished);
  EXPECT_EQ(co_await inner, 5);
  EXPECT_TRUE(finished);
}

// Options structs are trivially destructible (docs/hazards.md: g++ 12 destroys
// aggregate temporaries with non-trivial members twice inside co_await expressions).
AIO_TEST(basics, named_task_created_inside_a_co_await_expression) {
  auto name = co_await aio::create_task(
      []() -> aio::coro<std::string> { co_return aio::current_task()->get_name(); },
      {.name = "a task name longer than the small string buffer"});
  EXPECT_EQ(name, "a task name longer than the small string buffer");
}

}  // namespace
