// SPDX-License-Identifier: MIT
#include "aio/sync/condition.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/core/with.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::condition>);
static_assert(!std::is_move_constructible_v<aio::condition>);
static_assert(std::is_same_v<decltype(std::declval<aio::condition&>().wait()), aio::coro<void>>);
static_assert(std::is_same_v<decltype(std::declval<aio::condition&>().wait_for([] { return 1; })),
                             aio::coro<int>>);
static_assert(!aio::detail::aio_awaitable<aio::condition>);  // `co_await cond` is an error

namespace {

/// Decrements on scope exit (the counter of tasks inside a critical section).
struct leave {
  int& n;
  ~leave() { --n; }
};

AIO_TEST_VIRTUAL_TIME(condition, wait_releases_the_lock_and_takes_it_back) {
  aio::condition cond;
  bool waiting = false;
  auto waiter = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    waiting = true;
    co_await cond.wait();
    EXPECT_TRUE(cond.locked());
    EXPECT_TRUE(held.owns_lock());
  });
  co_await aio::sleep(0s);
  EXPECT_TRUE(waiting);
  EXPECT_FALSE(cond.locked());  // released by wait()
  {
    auto held = co_await cond.acquire();
    cond.notify();
    co_await aio::sleep(1s);
    EXPECT_FALSE(waiter.done());  // notified, but we hold the lock
  }
  co_await aio::wait_for(waiter, 1h);  // lost: times out instead of hanging
  EXPECT_FALSE(cond.locked());
}

AIO_TEST_VIRTUAL_TIME(condition, notify_wakes_waiters_in_fifo_order) {
  aio::condition cond;
  std::vector<int> order;
  std::vector<aio::task<void>> ts;
  for (int i = 0; i < 5; ++i)
    ts.push_back(aio::create_task([&, i]() -> aio::coro<void> {
      auto held = co_await cond.acquire();
      co_await cond.wait();
      order.push_back(i);
    }));
  co_await aio::sleep(0s);
  {
    auto held = co_await cond.acquire();
    cond.notify(2);
  }
  co_await aio::sleep(1s);
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  {
    auto held = co_await cond.acquire();
    cond.notify_all();
  }
  co_await aio::gather(std::move(ts));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

AIO_TEST(condition, lock_must_be_held) {
  aio::condition cond;
  EXPECT_THROW(cond.notify(), std::runtime_error);
  EXPECT_THROW(cond.notify_all(), std::runtime_error);
  EXPECT_THROW(co_await cond.wait(), std::runtime_error);
  EXPECT_THROW(co_await cond.wait_for([] { return false; }), std::runtime_error);
  EXPECT_THROW(cond.release(), std::runtime_error);
  // A true predicate needs no wait, hence no lock.
  EXPECT_EQ(co_await cond.wait_for([] { return 5; }), 5);
  EXPECT_FALSE(cond.locked());
}

AIO_TEST_VIRTUAL_TIME(condition, wait_for_rechecks_after_every_notification) {
  aio::condition cond;
  std::deque<int> items;
  int checks = 0;
  auto consumer = aio::create_task([&]() -> aio::coro<int> {
    auto held = co_await cond.acquire();
    const bool ok = co_await cond.wait_for([&] {
      ++checks;
      return items.size() >= 3;
    });
    EXPECT_TRUE(ok);
    int sum = 0;
    for (int v : items) sum += v;
    co_return sum;
  });
  for (int i = 1; i <= 3; ++i) {
    co_await aio::sleep(1s);
    auto held = co_await cond.acquire();
    items.push_back(i);
    cond.notify();
  }
  EXPECT_EQ(co_await consumer, 6);
  EXPECT_EQ(checks, 4);  // once before waiting, once per notification
}

AIO_TEST_VIRTUAL_TIME(condition, wait_for_returns_the_predicates_value) {
  aio::condition cond;
  std::optional<std::string> slot;
  auto consumer = aio::create_task([&]() -> aio::coro<std::string> {
    auto held = co_await cond.acquire();
    auto v = co_await cond.wait_for([&] { return slot; });
    co_return *v;
  });
  co_await aio::sleep(1s);
  co_await aio::with(cond, [&]() -> aio::coro<void> {
    slot = "hello";
    cond.notify();
    co_return;
  });
  EXPECT_EQ(co_await consumer, "hello");
}

AIO_TEST_VIRTUAL_TIME(condition, shares_a_lock_given_to_it) {
  aio::lock l;
  aio::condition a(l), b(l);
  {
    auto held = co_await l.acquire();
    EXPECT_TRUE(a.locked());
    EXPECT_TRUE(b.locked());
  }
  auto on_a = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await a.acquire();
    co_await a.wait();
  });
  auto on_b = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await b.acquire();
    co_await b.wait();
  });
  co_await aio::sleep(0s);
  EXPECT_FALSE(l.locked());
  {
    auto held = co_await l.acquire();
    b.notify_all();  // only the waiters of b
  }
  co_await on_b;
  co_await aio::sleep(1s);
  EXPECT_FALSE(on_a.done());
  {
    auto held = co_await a.acquire();
    a.notify();
  }
  co_await on_a;
  EXPECT_FALSE(l.locked());
}

// Case 1 of the protocol: cancelled while waiting for a notification. It leaves the
// queue, takes the lock back, and throws; nothing is passed on (it was not notified).
AIO_TEST_VIRTUAL_TIME(condition, cancelled_waiter_takes_the_lock_back_and_passes_nothing_on) {
  aio::condition cond;
  bool lock_held_in_handler = false;
  auto first = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    try {
      co_await cond.wait();
    } catch (const aio::cancelled_error&) {
      lock_held_in_handler = cond.locked() && held.owns_lock();
      throw;
    }
  });
  int second_woken = 0;
  auto second = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    co_await cond.wait();
    ++second_woken;
  });
  co_await aio::sleep(0s);
  first.cancel("stop");
  try {
    co_await first;
    ADD_FAILURE() << "not cancelled";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "stop");
  }
  EXPECT_TRUE(lock_held_in_handler);
  EXPECT_FALSE(cond.locked());  // `first`'s guard released it
  co_await aio::sleep(1s);
  EXPECT_EQ(second_woken, 0);  // no spurious wake-up
  {
    auto held = co_await cond.acquire();
    cond.notify();
  }
  co_await aio::wait_for(second, 1h);  // lost: times out instead of hanging
  EXPECT_EQ(second_woken, 1);
}

// Case 2: notified, and cancelled before it runs: the notification goes to the next
// waiter (asyncio's lost wake-up, gh-112202).
AIO_TEST_VIRTUAL_TIME(condition, waiter_cancelled_after_notify_passes_the_notification_on) {
  aio::condition cond;
  bool second_woken = false;
  auto first = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    co_await cond.wait();
  });
  auto second = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    co_await cond.wait();
    second_woken = true;
  });
  co_await aio::sleep(0s);
  {
    auto held = co_await cond.acquire();
    cond.notify(1);  // to `first`
    first.cancel();  // ... cancelled before it runs
  }
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await aio::wait_for(second, 1h);  // lost: times out instead of hanging
  EXPECT_TRUE(second_woken);
  EXPECT_FALSE(cond.locked());
}

// Notified, then cancelled while waiting for the lock back: passed on as well.
AIO_TEST_VIRTUAL_TIME(condition, waiter_cancelled_while_retaking_the_lock_passes_it_on) {
  aio::condition cond;
  bool second_woken = false;
  auto first = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    co_await cond.wait();
  });
  auto second = aio::create_task([&]() -> aio::coro<void> {
    auto held = co_await cond.acquire();
    co_await cond.wait();
    second_woken = true;
  });
  co_await aio::sleep(0s);
  {
    auto held = co_await cond.acquire();
    cond.notify(1);
    co_await aio::sleep(0s);  // `first` runs and queues for the lock
    first.cancel();
  }
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await aio::wait_for(second, 1h);  // lost: times out instead of hanging
  EXPECT_TRUE(second_woken);
}

// However often it is cancelled while taking the lock back, wait() ends with the lock
// held, and throws the last cancellation.
AIO_TEST_VIRTUAL_TIME(condition, repeated_cancellation_does_not_lose_the_reacquire) {
  aio::condition cond;
  auto held = co_await cond.acquire();
  bool locked_at_end = false;
  auto waiter = aio::create_task([&]() -> aio::coro<void> {
    auto mine = co_await cond.acquire();
    try {
      co_await cond.wait();
    } catch (const aio::cancelled_error&) {
      locked_at_end = cond.locked() && mine.owns_lock();
      throw;
    }
  });
  co_await aio::sleep(0s);
  held.unlock();
  co_await aio::sleep(0s);  // `waiter` has the lock and waits (releasing it)
  held = co_await cond.acquire();
  for (int i = 1; i <= 5; ++i) {
    waiter.cancel("cancel #" + std::to_string(i));
    co_await aio::sleep(1ms);  // it is queued for the lock we hold
    EXPECT_FALSE(waiter.done());
  }
  held.unlock();
  try {
    co_await aio::wait_for(waiter, 1h);  // lost: times out instead of hanging
    ADD_FAILURE() << "not cancelled";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "cancel #5");
  }
  EXPECT_TRUE(locked_at_end);
  EXPECT_FALSE(cond.locked());
}

AIO_TEST_VIRTUAL_TIME(condition, wait_under_a_timeout_keeps_the_lock) {
  aio::condition cond;
  auto held = co_await cond.acquire();
  auto& loop = aio::get_running_loop();
  const auto t0 = loop.time();
  EXPECT_THROW(co_await aio::wait_for(cond.wait(), 2s), aio::timeout_error);
  EXPECT_EQ(loop.time() - t0, 2s);
  EXPECT_TRUE(cond.locked());
  EXPECT_TRUE(held.owns_lock());
}

AIO_TEST_VIRTUAL_TIME(condition, with_holds_the_lock_on_success_exception_and_cancellation) {
  aio::condition cond;
  int n = co_await aio::with(cond, [&]() -> aio::coro<int> {
    EXPECT_TRUE(cond.locked());
    co_return 7;
  });
  EXPECT_EQ(n, 7);
  EXPECT_FALSE(cond.locked());

  EXPECT_THROW(
      co_await aio::with(cond, [&]() -> aio::coro<void> { throw std::runtime_error("x"); }),
      std::runtime_error);
  EXPECT_FALSE(cond.locked());

  // Cancelled inside wait() within the body: the lock is re-taken, then released.
  auto t = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::with(cond, [&]() -> aio::coro<void> { co_await cond.wait(); });
  });
  co_await aio::sleep(1ms);
  EXPECT_FALSE(cond.locked());
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_FALSE(cond.locked());
}

// A producer/consumer pair under brute-force cancellation: however the run is cut,
// the lock ends released and the state consistent.
TEST(condition, brute_force_cancellation_of_producers_and_consumers) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::condition cond;
    std::deque<int> items;
    int inside = 0;
    std::vector<aio::coro<void>> tasks;
    for (int c = 0; c < 2; ++c)
      tasks.push_back(
          [](aio::condition& cond, std::deque<int>& items, int& inside) -> aio::coro<void> {
            for (int k = 0; k < 3; ++k) {
              auto held = co_await cond.acquire();
              co_await cond.wait_for([&] { return !items.empty(); });
              EXPECT_TRUE(cond.locked());
              EXPECT_EQ(++inside, 1);  // nobody else holds the lock
              leave l{inside};
              items.pop_front();
              co_await aio::sleep(1ms);  // hold it a while: the others queue up
            }
          }(cond, items, inside));
    tasks.push_back(
        [](aio::condition& cond, std::deque<int>& items, int& inside) -> aio::coro<void> {
          for (int k = 0; k < 6; ++k) {
            co_await aio::sleep(1ms);
            auto held = co_await cond.acquire();
            EXPECT_EQ(++inside, 1);
            leave l{inside};
            items.push_back(k);
            cond.notify();
          }
        }(cond, items, inside));
    std::exception_ptr e;
    try {
      co_await aio::gather(std::move(tasks));
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_FALSE(cond.locked());
    EXPECT_EQ(inside, 0);
    if (e) std::rethrow_exception(e);
    EXPECT_TRUE(items.empty());
  });
  EXPECT_GT(stats.steps, 10u);
}

// Waiters cancelled from outside at every step while notifications and the lock move
// between them: each wait() must end with the lock held, and no notification may be
// lost (the last waiter is always woken).
TEST(condition, brute_force_cancellation_of_waiters_during_notify) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::condition cond;
    int tokens = 0, produced = 0, consumed = 0;
    std::vector<aio::task<void>> ts;
    for (int i = 0; i < 3; ++i)
      ts.push_back(aio::create_task([&]() -> aio::coro<void> {
        auto held = co_await cond.acquire();
        try {
          co_await cond.wait_for([&] { return tokens > 0; });
        } catch (const aio::cancelled_error&) {
          EXPECT_TRUE(cond.locked());
          throw;
        }
        --tokens;
        ++consumed;
      }));
    std::exception_ptr e;
    try {
      co_await aio::sleep(0s);
      {
        auto held = co_await cond.acquire();
        tokens = produced = 1;
        cond.notify();   // to ts[0] ...
        ts[0].cancel();  // ... which passes it on
      }
      co_await aio::sleep(0s);
      ts[1].cancel();
      co_await aio::wait(ts, {.timeout = 1s});
    } catch (...) {
      e = std::current_exception();
    }
    for (auto& t : ts) t.cancel();
    co_await aio::wait(ts);
    EXPECT_FALSE(cond.locked());
    EXPECT_EQ(tokens + consumed, produced);  // consumed once, or still there
    if (e) std::rethrow_exception(e);
    EXPECT_EQ(consumed, 1);  // not lost: ts[2] got the twice passed-on notification
  });
  EXPECT_GT(stats.steps, 3u);
}

}  // namespace
