// SPDX-License-Identifier: MIT
#include "aio/sync/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "aio/aio.hpp"
#include "aio/core/with.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

AIO_TEST_VIRTUAL_TIME(rate_limiter, burst_then_steady_rate) {
  auto& loop = aio::get_running_loop();
  aio::rate_limiter limiter({.rate = 10, .burst = 3});
  const auto t0 = loop.time();
  std::vector<aio::duration> at;
  for (int i = 0; i < 6; ++i) {
    co_await limiter.acquire();
    at.push_back(loop.time() - t0);
  }
  // Three at once (the full bucket), then one every 100 ms.
  EXPECT_EQ(at[0], 0ms);
  EXPECT_EQ(at[2], 0ms);
  EXPECT_NEAR(std::chrono::duration<double>(at[3]).count(), 0.1, 1e-6);
  EXPECT_NEAR(std::chrono::duration<double>(at[5]).count(), 0.3, 1e-6);
}

AIO_TEST_VIRTUAL_TIME(rate_limiter, waiters_are_served_in_fifo_order) {
  aio::rate_limiter limiter({.rate = 100, .burst = 1});
  co_await limiter.acquire();  // empty the bucket
  std::vector<int> order;
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 5; ++i)
    ts.push_back(aio::create_task([&, i]() -> aio::coro<void> {
      co_await limiter.acquire();
      order.push_back(i);
    }));
  co_await aio::gather(std::move(ts));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(limiter.waiting(), 0u);
}

AIO_TEST_VIRTUAL_TIME(rate_limiter, a_newcomer_does_not_overtake_waiters) {
  aio::rate_limiter limiter({.rate = 1, .burst = 1});
  co_await limiter.acquire();
  bool served = false;
  auto waiter = aio::create_task([&]() -> aio::coro<void> {
    co_await limiter.acquire();
    served = true;
  });
  // This sleep is armed before the waiter queues, so it ends first at t = 1 s, just as
  // the bucket holds a token again: the token is the waiter's, not ours.
  co_await aio::sleep(1s);
  EXPECT_FALSE(limiter.try_acquire());
  co_await waiter;
  EXPECT_TRUE(served);
}

AIO_TEST_VIRTUAL_TIME(rate_limiter, cancelled_waiter_frees_its_place) {
  auto& loop = aio::get_running_loop();
  aio::rate_limiter limiter({.rate = 1, .burst = 1});
  co_await limiter.acquire();
  const auto t0 = loop.time();
  auto first = aio::create_task([&]() -> aio::coro<void> { co_await limiter.acquire(); });
  auto second = aio::create_task([&]() -> aio::coro<void> { co_await limiter.acquire(); });
  co_await aio::sleep(100ms);
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await second;
  EXPECT_EQ(loop.time() - t0, 1s);  // second got the first token after the cancel
}

AIO_TEST_VIRTUAL_TIME(rate_limiter, token_granted_to_a_cancelled_waiter_goes_back) {
  aio::rate_limiter limiter({.rate = 1, .burst = 1});
  co_await limiter.acquire();
  auto first = aio::create_task([&]() -> aio::coro<void> { co_await limiter.acquire(); });
  // Armed before `first` queues: at t = 1 s this task runs before `first`, which the
  // limiter's timer has just granted the token to ...
  co_await aio::sleep(1s);
  first.cancel();  // ... and `first` is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  EXPECT_TRUE(limiter.try_acquire());  // the token came back
}

AIO_TEST_VIRTUAL_TIME(rate_limiter, with_acquires) {
  aio::rate_limiter limiter({.rate = 5, .burst = 1});
  int n = 0;
  for (int i = 0; i < 3; ++i)
    co_await aio::with(limiter, [&]() -> aio::coro<void> {
      ++n;
      co_return;
    });
  EXPECT_EQ(n, 3);
}

TEST(rate_limiter, rejects_bad_options) {
  EXPECT_THROW(aio::rate_limiter({.rate = 0, .burst = 1}), std::invalid_argument);
  EXPECT_THROW(aio::rate_limiter({.rate = 1, .burst = 0.5}), std::invalid_argument);
}

TEST(rate_limiter, brute_force_cancellation) {
  aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::rate_limiter limiter({.rate = 100, .burst = 2});
    std::vector<aio::coro<void>> cs;
    for (int i = 0; i < 4; ++i)
      cs.push_back([](aio::rate_limiter& l) -> aio::coro<void> {
        for (int k = 0; k < 2; ++k) co_await l.acquire();
      }(limiter));
    co_await aio::gather(std::move(cs));
    EXPECT_EQ(limiter.waiting(), 0u);
  });
}

}  // namespace
