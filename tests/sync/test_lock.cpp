// SPDX-License-Identifier: MIT
#include "aio/sync/lock.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/core/with.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::lock>);
static_assert(!std::is_copy_constructible_v<aio::lock::guard>);
static_assert(std::is_nothrow_move_constructible_v<aio::lock::guard>);

namespace {

AIO_TEST_VIRTUAL_TIME(lock, uncontended_acquire_does_not_suspend) {
  aio::lock l;
  auto& loop = aio::get_running_loop();
  const auto it = loop.iteration();
  {
    auto g = co_await l.acquire();
    EXPECT_TRUE(l.locked());
    EXPECT_TRUE(g.owns_lock());
  }
  EXPECT_FALSE(l.locked());
  EXPECT_EQ(loop.iteration(), it);  // no trip through the loop
}

AIO_TEST_VIRTUAL_TIME(lock, waiters_get_the_lock_in_fifo_order) {
  aio::lock l;
  std::vector<int> order;
  auto g = co_await l.acquire();
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 4; ++i)
    ts.push_back(aio::create_task([&, i]() -> aio::coro<void> {
      auto held = co_await l.acquire();
      order.push_back(i);
      co_await aio::sleep(1ms);
    }));
  co_await aio::sleep(0s);  // all four queue up
  g.unlock();
  co_await aio::gather(std::move(ts));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_FALSE(l.locked());
}

AIO_TEST_VIRTUAL_TIME(lock, a_newcomer_does_not_overtake_a_woken_waiter) {
  aio::lock l;
  std::vector<std::string> order;
  auto g = co_await l.acquire();
  auto waiter = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await l.acquire();
    order.push_back("waiter");
  });
  co_await aio::sleep(0s);
  g.unlock();  // handed to `waiter` at once; it has not run yet
  EXPECT_TRUE(l.locked());
  {
    auto mine = co_await l.acquire();  // queues behind
    order.push_back("newcomer");
  }
  co_await waiter;
  EXPECT_EQ(order, (std::vector<std::string>{"waiter", "newcomer"}));
}

AIO_TEST_VIRTUAL_TIME(lock, cancelled_waiter_loses_its_place) {
  aio::lock l;
  auto g = co_await l.acquire();
  auto waiter = aio::create_task([&]() -> aio::coro<void> { auto held = co_await l.acquire(); });
  co_await aio::sleep(0s);
  waiter.cancel();
  EXPECT_THROW(co_await waiter, aio::cancelled_error);
  g.unlock();
  EXPECT_FALSE(l.locked());
}

// The lock is handed to the waiter, and the waiter is cancelled before it runs: it must
// pass the lock on, not keep it (asyncio had this bug).
AIO_TEST_VIRTUAL_TIME(lock, waiter_cancelled_while_being_granted_passes_it_on) {
  aio::lock l;
  auto g = co_await l.acquire();
  bool second_got_it = false;
  auto first = aio::create_task([&]() -> aio::coro<void> { auto held = co_await l.acquire(); });
  auto second = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await l.acquire();
    second_got_it = true;
  });
  co_await aio::sleep(0s);
  g.unlock();      // granted to `first`
  first.cancel();  // ... which is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await second;
  EXPECT_TRUE(second_got_it);
  EXPECT_FALSE(l.locked());
}

AIO_TEST(lock, release_of_an_unlocked_lock_is_an_error) {
  aio::lock l;
  EXPECT_THROW(l.release(), std::runtime_error);
  auto g = co_await l.acquire();
  g.release();  // keep it locked, release by hand
  EXPECT_TRUE(l.locked());
  l.release();
  EXPECT_FALSE(l.locked());
}

AIO_TEST_VIRTUAL_TIME(lock, with_releases_on_success_exception_and_cancellation) {
  aio::lock l;
  int n = co_await aio::with(l, [&]() -> aio::coro<int> {
    EXPECT_TRUE(l.locked());
    co_return 7;
  });
  EXPECT_EQ(n, 7);
  EXPECT_FALSE(l.locked());

  EXPECT_THROW(co_await aio::with(l, [&]() -> aio::coro<void> { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_FALSE(l.locked());

  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::with(l, [&]() -> aio::coro<void> { co_await aio::sleep(1h); });
  });
  co_await aio::sleep(1ms);
  EXPECT_TRUE(l.locked());
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_FALSE(l.locked());
}

// A user-written async context manager with asynchronous clean-up.
struct connection_cm {
  std::vector<std::string>& log;
  aio::coro<int> aenter() {
    co_await aio::sleep(1ms);
    log.push_back("open");
    co_return 42;
  }
  aio::coro<void> aexit(std::exception_ptr e) {
    co_await aio::sleep(1ms);  // clean-up may await
    log.push_back(e ? "close after error" : "close");
  }
};

AIO_TEST_VIRTUAL_TIME(with, user_context_manager_with_async_exit) {
  std::vector<std::string> log;
  connection_cm cm{log};
  int got = co_await aio::with(cm, [&](int& conn) -> aio::coro<int> { co_return conn + 1; });
  EXPECT_EQ(got, 43);
  EXPECT_THROW(
      co_await aio::with(cm, [&](int&) -> aio::coro<void> { throw std::runtime_error("boom"); }),
      std::runtime_error);
  EXPECT_EQ(log, (std::vector<std::string>{"open", "close", "open", "close after error"}));
}

TEST(lock, brute_force_cancellation_of_contended_acquires) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::lock l;
    int inside = 0;
    std::vector<aio::coro<void>> workers;
    for (int i = 0; i < 3; ++i)
      workers.push_back([](aio::lock& l, int& inside) -> aio::coro<void> {
        for (int k = 0; k < 2; ++k) {
          auto g = co_await l.acquire();
          EXPECT_EQ(++inside, 1);
          co_await aio::sleep(1ms);
          --inside;
        }
      }(l, inside));
    co_await aio::gather(std::move(workers));
    EXPECT_FALSE(l.locked());
  });
  EXPECT_GT(stats.steps, 5u);
}

}  // namespace

namespace {
// The loop closes while a task to which the lock was just handed has not run yet: its
// frame is destroyed, and the lock must go on to the next waiter (not stay held).
TEST(lock, frame_destroyed_after_the_grant_passes_the_lock_on) {
  aio::lock l;
  {
    aio::event_loop loop;
    loop.set_exception_handler([](aio::event_loop&, const aio::exception_context&) {});
    loop.run_until_complete([&]() -> aio::coro<void> {
      auto g = co_await l.acquire();
      aio::create_task([&]() -> aio::coro<void> { auto held = co_await l.acquire(); });
      co_await aio::sleep(0s);  // the task queues
      g.unlock();               // handed over; the task has not run yet
    });
  }  // the loop closes: the pending task's frame is destroyed
  EXPECT_FALSE(l.locked());
}
}  // namespace
