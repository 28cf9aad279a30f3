// SPDX-License-Identifier: MIT
#include "aio/sync/semaphore.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/core/with.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::semaphore>);
static_assert(!std::is_copy_constructible_v<aio::semaphore::guard>);
static_assert(std::is_nothrow_move_constructible_v<aio::semaphore::guard>);
static_assert(std::is_base_of_v<aio::semaphore, aio::bounded_semaphore>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::semaphore&>().acquire())>);
static_assert(!aio::detail::aio_awaitable<aio::semaphore>);  // `co_await sem` is an error

namespace {

AIO_TEST_VIRTUAL_TIME(semaphore, uncontended_acquires_do_not_suspend) {
  aio::semaphore sem(3);
  auto& loop = aio::get_running_loop();
  const auto it = loop.iteration();
  {
    auto a = co_await sem.acquire();
    auto b = co_await sem.acquire();
    auto c = co_await sem.acquire();
    EXPECT_TRUE(sem.locked());
    EXPECT_EQ(sem.value(), 0u);
    EXPECT_TRUE(a && b && c);
  }
  EXPECT_EQ(sem.value(), 3u);
  EXPECT_FALSE(sem.locked());
  EXPECT_EQ(loop.iteration(), it);
}

AIO_TEST(semaphore, negative_initial_value_is_an_error) {
  EXPECT_THROW(aio::semaphore(-1), std::invalid_argument);
  EXPECT_THROW(aio::bounded_semaphore(-1), std::invalid_argument);
  aio::semaphore zero(0);
  EXPECT_TRUE(zero.locked());
  co_return;
}

AIO_TEST_VIRTUAL_TIME(semaphore, at_most_value_tasks_hold_a_permit) {
  aio::semaphore sem(3);
  int inside = 0, peak = 0;
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 10; ++i)
    ts.push_back(aio::create_task([&]() -> aio::coro<void> {
      auto permit = co_await sem.acquire();
      peak = std::max(peak, ++inside);
      co_await aio::sleep(10ms);
      --inside;
    }));
  auto& loop = aio::get_running_loop();
  const auto t0 = loop.time();
  co_await aio::gather(std::move(ts));
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(loop.time() - t0, 40ms);  // ceil(10 / 3) rounds of 10 ms
  EXPECT_EQ(sem.value(), 3u);
}

AIO_TEST_VIRTUAL_TIME(semaphore, waiters_get_permits_in_fifo_order) {
  aio::semaphore sem(0);
  std::vector<int> order;
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 5; ++i)
    ts.push_back(aio::create_task([&, i]() -> aio::coro<void> {
      auto permit = co_await sem.acquire();
      order.push_back(i);
      permit.release();  // keep it: one release() per waiter below
    }));
  co_await aio::sleep(0s);
  for (int i = 0; i < 5; ++i) {
    sem.release();
    co_await aio::sleep(1ms);
  }
  co_await aio::gather(std::move(ts));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(sem.value(), 0u);
}

AIO_TEST_VIRTUAL_TIME(semaphore, a_newcomer_does_not_overtake_a_woken_waiter) {
  aio::semaphore sem(1);
  std::vector<std::string> order;
  auto held = co_await sem.acquire();
  auto waiter = aio::create_task([&]() -> aio::coro<void> {
    auto p = co_await sem.acquire();
    order.push_back("waiter");
  });
  co_await aio::sleep(0s);
  held.unlock();  // handed to `waiter` at once; it has not run yet
  EXPECT_TRUE(sem.locked());
  EXPECT_EQ(sem.value(), 0u);
  {
    auto mine = co_await sem.acquire();  // queues behind
    order.push_back("newcomer");
  }
  co_await aio::wait_for(waiter, 1h);  // lost: times out instead of hanging
  EXPECT_EQ(order, (std::vector<std::string>{"waiter", "newcomer"}));
  EXPECT_EQ(sem.value(), 1u);
}

// Case 1 of the protocol: cancelled while queued, it loses its place; nothing is lost.
AIO_TEST_VIRTUAL_TIME(semaphore, cancelled_waiter_loses_its_place) {
  aio::semaphore sem(1);
  auto held = co_await sem.acquire();
  bool second_got_it = false;
  auto first = aio::create_task([&]() -> aio::coro<void> { auto p = co_await sem.acquire(); });
  auto second = aio::create_task([&]() -> aio::coro<void> {
    auto p = co_await sem.acquire();
    second_got_it = true;
  });
  co_await aio::sleep(0s);
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  held.unlock();                       // goes to `second`, the only one left
  co_await aio::wait_for(second, 1h);  // lost: times out instead of hanging
  EXPECT_TRUE(second_got_it);
  EXPECT_EQ(sem.value(), 1u);
}

// Case 2: the permit is handed over and the waiter is cancelled before it runs: it
// passes the permit on (asyncio's bpo-45997 / gh-90155 class of bug).
AIO_TEST_VIRTUAL_TIME(semaphore, waiter_cancelled_while_being_granted_passes_it_on) {
  aio::semaphore sem(0);
  bool second_got_it = false;
  auto first = aio::create_task([&]() -> aio::coro<void> { auto p = co_await sem.acquire(); });
  auto second = aio::create_task([&]() -> aio::coro<void> {
    auto p = co_await sem.acquire();
    second_got_it = true;
    p.release();  // keep the permit
  });
  co_await aio::sleep(0s);
  sem.release();   // granted to `first`
  first.cancel();  // ... which is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await aio::wait_for(second, 1h);  // lost: times out instead of hanging
  EXPECT_TRUE(second_got_it);
  EXPECT_EQ(sem.value(), 0u);  // exactly one permit, and `second` kept it
}

// The same with nobody to pass it to: the permit goes back to the semaphore.
AIO_TEST_VIRTUAL_TIME(semaphore, permit_of_a_cancelled_grantee_returns_when_nobody_waits) {
  aio::semaphore sem(0);
  auto only = aio::create_task([&]() -> aio::coro<void> { auto p = co_await sem.acquire(); });
  co_await aio::sleep(0s);
  sem.release();
  only.cancel();
  EXPECT_THROW(co_await only, aio::cancelled_error);
  EXPECT_EQ(sem.value(), 1u);
  EXPECT_FALSE(sem.locked());
}

AIO_TEST_VIRTUAL_TIME(semaphore, bounded_semaphore_refuses_to_go_above_its_value) {
  aio::bounded_semaphore sem(2);
  EXPECT_THROW(sem.release(), std::invalid_argument);
  auto a = co_await sem.acquire();
  a.release();  // give it back by hand below
  sem.release();
  EXPECT_EQ(sem.value(), 2u);
  try {
    sem.release();
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "bounded_semaphore released too many times");
  }
  // Through a reference to the base class, too.
  aio::semaphore& base = sem;
  EXPECT_THROW(base.release(), std::invalid_argument);
  EXPECT_EQ(sem.value(), 2u);
}

// While tasks wait, every permit is out: release() hands it over, within the bound.
AIO_TEST_VIRTUAL_TIME(semaphore, bounded_semaphore_release_to_a_waiter) {
  aio::bounded_semaphore sem(1);
  auto held = co_await sem.acquire();
  held.release();
  auto waiter = aio::create_task([&]() -> aio::coro<void> { auto p = co_await sem.acquire(); });
  co_await aio::sleep(0s);
  sem.release();                       // to `waiter`
  co_await aio::wait_for(waiter, 1h);  // lost: times out instead of hanging
  EXPECT_EQ(sem.value(), 1u);
  EXPECT_THROW(sem.release(), std::invalid_argument);
}

// A guard cannot throw from its destructor: the extra permit is dropped and reported.
AIO_TEST(semaphore, guard_that_would_over_release_a_bounded_semaphore_reports_it) {
  aio::bounded_semaphore sem(1);
  {
    auto g = co_await sem.acquire();
    sem.release();  // by hand, while the guard still owns the permit
  }
  EXPECT_EQ(sem.value(), 1u);
  auto reports = aio::testing::take_reports();
  CO_ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].message.find("released too many times"), std::string::npos);
}

AIO_TEST_VIRTUAL_TIME(semaphore, with_releases_on_success_exception_and_cancellation) {
  aio::semaphore sem(1);
  int n = co_await aio::with(sem, [&]() -> aio::coro<int> {
    EXPECT_TRUE(sem.locked());
    co_return 7;
  });
  EXPECT_EQ(n, 7);
  EXPECT_FALSE(sem.locked());

  EXPECT_THROW(co_await aio::with(sem, [&]() -> aio::coro<void> { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_EQ(sem.value(), 1u);

  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::with(sem, [&]() -> aio::coro<void> { co_await aio::sleep(1h); });
  });
  co_await aio::sleep(1ms);
  EXPECT_TRUE(sem.locked());
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_EQ(sem.value(), 1u);

  // The body gets the guard (semaphore::guard&) if it asks for it.
  co_await aio::with(sem, [&](aio::semaphore::guard& g) -> aio::coro<void> {
    EXPECT_TRUE(g.owns_permit());
    co_return;
  });
  EXPECT_EQ(sem.value(), 1u);
}

// with() on a bounded semaphore, cancelled while waiting for the permit.
AIO_TEST_VIRTUAL_TIME(semaphore, with_cancelled_while_waiting_for_a_permit) {
  aio::bounded_semaphore sem(1);
  auto held = co_await sem.acquire();
  bool body_ran = false;
  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::with(sem, [&]() -> aio::coro<void> {
      body_ran = true;
      co_return;
    });
  });
  co_await aio::sleep(1ms);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_FALSE(body_ran);
  held.unlock();
  EXPECT_EQ(sem.value(), 1u);
}

TEST(semaphore, brute_force_cancellation_of_contended_acquires) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::bounded_semaphore sem(2);
    int inside = 0;
    std::vector<aio::coro<void>> workers;
    for (int i = 0; i < 5; ++i)
      workers.push_back([](aio::bounded_semaphore& sem, int& inside) -> aio::coro<void> {
        for (int k = 0; k < 2; ++k) {
          auto g = co_await sem.acquire();
          EXPECT_LE(++inside, 2);
          struct leave {
            int& n;
            ~leave() { --n; }
          } l{inside};
          co_await aio::sleep(1ms);
        }
      }(sem, inside));
    std::exception_ptr e;
    try {
      co_await aio::gather(std::move(workers));
    } catch (...) {
      e = std::current_exception();
    }
    // However the run ended, every permit is back (a lost permit shows here).
    EXPECT_EQ(sem.value(), 2u);
    EXPECT_EQ(inside, 0);
    if (e) std::rethrow_exception(e);
  });
  EXPECT_GT(stats.steps, 5u);
}

// Brute force on the hand-over itself: waiters cancelled from outside at every step
// while permits move between them. No permit may be lost or duplicated.
TEST(semaphore, brute_force_cancellation_of_waiters_during_hand_over) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::semaphore sem(1);
    std::vector<aio::task<void>> ts;
    for (int i = 0; i < 4; ++i)
      ts.push_back(aio::create_task([&sem]() -> aio::coro<void> {
        auto g = co_await sem.acquire();
        co_await aio::sleep(1ms);
      }));
    std::exception_ptr e;
    try {
      co_await aio::sleep(0s);
      ts[1].cancel();  // queued
      co_await aio::sleep(1ms);
      ts[2].cancel();  // granted by now, or about to be
      co_await aio::wait(ts);
    } catch (...) {
      e = std::current_exception();
    }
    for (auto& t : ts) t.cancel();
    co_await aio::wait(ts);
    EXPECT_EQ(sem.value(), 1u);
    if (e) std::rethrow_exception(e);
  });
  EXPECT_GT(stats.steps, 3u);
}

}  // namespace
