// SPDX-License-Identifier: MIT
#include "aio/sync/event.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::event>);
static_assert(!std::is_move_constructible_v<aio::event>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::event&>().wait())>);
static_assert(std::is_void_v<decltype(std::declval<aio::event::awaiter&>().await_resume())>);
// `co_await ev` (without wait()) does not compile, as asyncio's TypeError.
static_assert(!aio::detail::aio_awaitable<aio::event>);

namespace {

AIO_TEST_VIRTUAL_TIME(event, wait_on_a_set_event_does_not_suspend) {
  aio::event ev;
  ev.set();
  auto& loop = aio::get_running_loop();
  const auto it = loop.iteration();
  co_await ev.wait();
  co_await ev.wait();
  EXPECT_EQ(loop.iteration(), it);
  EXPECT_TRUE(ev.is_set());
}

AIO_TEST_VIRTUAL_TIME(event, set_wakes_every_waiter_in_fifo_order) {
  aio::event ev;
  std::vector<int> order;
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 5; ++i)
    ts.push_back(aio::create_task([&, i]() -> aio::coro<void> {
      co_await ev.wait();
      order.push_back(i);
    }));
  co_await aio::sleep(1s);
  EXPECT_TRUE(order.empty());
  ev.set();
  co_await aio::gather(std::move(ts));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

AIO_TEST_VIRTUAL_TIME(event, clear_blocks_later_waits_only) {
  aio::event ev;
  int woken = 0;
  auto early = aio::create_task([&]() -> aio::coro<void> {
    co_await ev.wait();
    ++woken;
  });
  co_await aio::sleep(0s);
  ev.set();
  ev.clear();  // `early` was woken by the set: it still returns
  EXPECT_FALSE(ev.is_set());
  auto late = aio::create_task([&]() -> aio::coro<void> {
    co_await ev.wait();
    ++woken;
  });
  co_await early;
  co_await aio::sleep(1s);
  EXPECT_EQ(woken, 1);
  EXPECT_FALSE(late.done());
  ev.set();
  co_await late;
  EXPECT_EQ(woken, 2);
}

AIO_TEST_VIRTUAL_TIME(event, set_twice_is_harmless) {
  aio::event ev;
  auto t = aio::create_task([&]() -> aio::coro<void> { co_await ev.wait(); });
  co_await aio::sleep(0s);
  ev.set();
  ev.set();
  co_await t;
  EXPECT_TRUE(ev.is_set());
}

// Case 1 of the protocol: cancelled while waiting — it leaves the waiters; a later set
// wakes only the others.
AIO_TEST_VIRTUAL_TIME(event, cancelled_waiter_leaves_the_queue) {
  aio::event ev;
  bool other_woke = false;
  auto cancelled = aio::create_task([&]() -> aio::coro<void> { co_await ev.wait(); });
  auto other = aio::create_task([&]() -> aio::coro<void> {
    co_await ev.wait();
    other_woke = true;
  });
  co_await aio::sleep(0s);
  cancelled.cancel("stop");
  try {
    co_await cancelled;
    ADD_FAILURE() << "not cancelled";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "stop");
  }
  ev.set();
  co_await aio::wait_for(other, 1h);  // lost: times out instead of hanging
  EXPECT_TRUE(other_woke);
}

// Case 2: woken by set() and cancelled before it runs: the cancellation wins (as in
// asyncio), and the other waiters are not affected.
AIO_TEST_VIRTUAL_TIME(event, waiter_cancelled_after_set_throws_and_others_still_wake) {
  aio::event ev;
  bool second_woke = false;
  auto first = aio::create_task([&]() -> aio::coro<void> { co_await ev.wait(); });
  auto second = aio::create_task([&]() -> aio::coro<void> {
    co_await ev.wait();
    second_woke = true;
  });
  co_await aio::sleep(0s);
  ev.set();        // wakes both
  first.cancel();  // ... and `first` is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await aio::wait_for(second, 1h);  // lost: times out instead of hanging
  EXPECT_TRUE(second_woke);
  EXPECT_TRUE(ev.is_set());
}

AIO_TEST_VIRTUAL_TIME(event, wait_under_a_timeout) {
  aio::event ev;
  EXPECT_THROW(co_await aio::wait_for(ev.wait(), 5s), aio::timeout_error);
  auto& loop = aio::get_running_loop();
  loop.call_later(3s, [&] { ev.set(); });
  const auto t0 = loop.time();
  co_await aio::wait_for(ev.wait(), 5s);
  EXPECT_EQ(loop.time() - t0, 3s);
}

// A waiter cancelled repeatedly keeps waiting when it swallows the cancellation.
AIO_TEST_VIRTUAL_TIME(event, a_waiter_can_wait_again_after_a_cancellation) {
  aio::event ev;
  int cancels = 0;
  auto t = aio::create_task([&]() -> aio::coro<int> {
    for (;;) {
      try {
        co_await ev.wait();
        co_return cancels;
      } catch (const aio::cancelled_error&) {
        ++cancels;
      }
    }
  });
  for (int i = 0; i < 3; ++i) {
    co_await aio::sleep(1s);
    t.cancel();
  }
  co_await aio::sleep(1s);
  ev.set();
  EXPECT_EQ(co_await t, 3);
}

TEST(event, brute_force_cancellation_of_a_start_signal) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::event go, done;
    int arrived = 0;
    std::vector<aio::coro<void>> workers;
    for (int i = 0; i < 3; ++i)
      workers.push_back([](aio::event& go, aio::event& done, int& arrived) -> aio::coro<void> {
        co_await go.wait();
        co_await aio::sleep(1ms);
        if (++arrived == 3) done.set();
        co_await done.wait();
      }(go, done, arrived));
    auto starter = [](aio::event& go) -> aio::coro<void> {
      co_await aio::sleep(5ms);
      go.set();
    }(go);
    workers.push_back(std::move(starter));
    co_await aio::gather(std::move(workers));
    EXPECT_EQ(arrived, 3);
    EXPECT_TRUE(done.is_set());
  });
  EXPECT_GT(stats.steps, 5u);
}

}  // namespace
