// SPDX-License-Identifier: MIT
// Port of CPython's Lib/test/test_asyncio/test_locks.py (see tests/conformance/README.md):
// Lock, Event, Condition, Semaphore, BoundedSemaphore and Barrier. The source is
// CPython's main branch (with the 3.13 Condition tests test_cancelled_error_wakeup,
// test_cancelled_error_re_aquire, test_cancelled_wakeup, test_cancelled_wakeup_relock and
// the 3.12 test_acquire_fifo_order_4).
//
// Each test keeps the name of the Python test it ports: TEST(<Python class>, <method>).
//
// The one design difference that shows here is aio's direct hand-over. asyncio wakes a
// waiter and lets it take the lock / permit / passage when it runs ("wake and
// re-check"); aio *grants* it at the moment of the release (waiter_queue.hpp). The same
// tasks get the same things in the same order, but:
//  - a lock or semaphore released to a waiter stays taken (locked() is true) until that
//    waiter runs, instead of looking free;
//  - a semaphore permit granted to a waiter is its own, so a newcomer that finds a free
//    permit takes it without waiting for the woken waiters to run first (asyncio's
//    FIFO rule "wait for others to start even if _value > 0" is there to stop a woken
//    waiter's permit from being stolen, which cannot happen here);
//  - a barrier lets its tasks through at the trip and admits blocked tasks to the next
//    round when the draining ends; a reset() or abort() afterwards does not undo that.
// The tests affected assert aio's behaviour and say so.
//
// Other mappings: `await prim` (a TypeError in Python) is a compile error here, checked
// with static_asserts; `async with prim` is aio::with(prim, body); Python's private
// `_waiters` lists are not visible, so the tests check the waiters' effects instead;
// Semaphore._value is semaphore::value(); the Barrier's repr states are
// barrier::state(). asyncio's reset() and abort() are coroutines, aio's plain functions.
// ValueError -> std::invalid_argument, RuntimeError -> std::runtime_error,
// BrokenBarrierError -> aio::broken_barrier_error.
#include "aio/sync.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/core/with.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

// `await lock`, `with await lock` and friends: TypeError in Python, no such operator here.
static_assert(!aio::detail::aio_awaitable<aio::lock>);
static_assert(!aio::detail::aio_awaitable<aio::event>);
static_assert(!aio::detail::aio_awaitable<aio::condition>);
static_assert(!aio::detail::aio_awaitable<aio::semaphore>);
static_assert(!aio::detail::aio_awaitable<aio::bounded_semaphore>);
static_assert(!aio::detail::aio_awaitable<aio::barrier>);

namespace {

/// asyncio's test_utils.run_briefly(): one loop iteration.
aio::coro<void> run_briefly() {
  co_await aio::sleep(0s);
}

/// `asyncio.create_task(lock.acquire())`: acquires and keeps it (returns True).
aio::coro<bool> acquire_and_keep(aio::lock& l) {
  auto g = co_await l.acquire();
  g.release();
  co_return true;
}
aio::coro<bool> acquire_and_keep(aio::semaphore& s) {
  auto g = co_await s.acquire();
  g.release();
  co_return true;
}

/// `asyncio.create_task(barrier.wait())`.
aio::coro<std::size_t> barrier_wait(aio::barrier& b) {
  co_return co_await b.wait();
}

/// Cancels `t` from a loop callback (`loop.call_soon(t.cancel)`).
template <class T>
void call_soon_cancel(aio::task<T> t) {
  aio::get_running_loop().call_soon([t]() mutable { t.cancel(); });
}

// =======================================================================================
// LockTests
// =======================================================================================

AIO_TEST(LockTests, test_lock) {
  aio::lock lock;
  // `await lock` is a TypeError in Python: here it does not compile (static_assert above).
  EXPECT_FALSE(lock.locked());
  co_return;
}

AIO_TEST_VIRTUAL_TIME(LockTests, test_lock_by_with_statement) {
  aio::lock lock;
  aio::condition cond;
  aio::semaphore sem;
  aio::bounded_semaphore bsem;
  // `with await lock:` is a TypeError in Python and does not compile here (static_asserts
  // above); what remains is that nothing got locked.
  co_await aio::sleep(10ms);
  EXPECT_FALSE(lock.locked());
  EXPECT_FALSE(cond.locked());
  EXPECT_FALSE(sem.locked());
  EXPECT_FALSE(bsem.locked());
}

AIO_TEST(LockTests, test_acquire) {
  aio::lock lock;
  std::vector<int> result;
  EXPECT_TRUE(co_await acquire_and_keep(lock));

  auto c = [&](int i) -> aio::coro<bool> {
    if (co_await acquire_and_keep(lock)) result.push_back(i);
    co_return true;
  };
  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  lock.release();
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});

  auto t3 = aio::create_task(c(3));

  lock.release();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{1, 2}));

  lock.release();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{1, 2, 3}));

  EXPECT_TRUE(t1.done());
  EXPECT_TRUE(t1.result());
  EXPECT_TRUE(t2.done());
  EXPECT_TRUE(t2.result());
  EXPECT_TRUE(t3.done());
  EXPECT_TRUE(t3.result());
}

AIO_TEST(LockTests, test_acquire_cancel) {
  aio::lock lock;
  EXPECT_TRUE(co_await acquire_and_keep(lock));

  auto task = aio::create_task(acquire_and_keep(lock));
  call_soon_cancel(task);
  EXPECT_THROW(co_await task, aio::cancelled_error);
  // assertFalse(lock._waiters): the cancelled waiter left the queue, so a release
  // unlocks instead of handing the lock to it.
  lock.release();
  EXPECT_FALSE(lock.locked());
}

AIO_TEST(LockTests, test_cancel_race) {
  // Several tasks:
  // - A acquires the lock
  // - B is blocked in acquire()
  // - C is blocked in acquire()
  //
  // Now, concurrently:
  // - B is cancelled
  // - A releases the lock
  //
  // If B's waiter is marked cancelled but not yet removed from _waiters, A's release()
  // call will crash when trying to set B's waiter; instead, it should move on to C's
  // waiter.
  aio::lock lock;
  auto lockit = [&](aio::future<void>* blocker) -> aio::coro<void> {
    auto held = co_await lock.acquire();
    if (blocker) co_await *blocker;
  };

  aio::future<void> fa;
  auto ta = aio::create_task(lockit(&fa));
  co_await run_briefly();
  EXPECT_TRUE(lock.locked());
  auto tb = aio::create_task(lockit(nullptr));
  co_await run_briefly();
  auto tc = aio::create_task(lockit(nullptr));
  co_await run_briefly();
  EXPECT_FALSE(tb.done());
  EXPECT_FALSE(tc.done());

  // Create the race and check.
  fa.set_result();
  tb.cancel();
  co_await run_briefly();
  // aio: A's release handed the lock straight to C (B had left the queue), so it is
  // locked, by C, until C runs; asyncio shows it unlocked with C's future set.
  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(ta.done());
  EXPECT_TRUE(tb.cancelled());
  co_await tc;
  EXPECT_FALSE(lock.locked());
}

AIO_TEST(LockTests, test_cancel_release_race) {
  // Issue 32734
  // Acquire 4 locks, cancel second, release first
  // and 2 locks are taken at once.
  auto& loop = aio::get_running_loop();
  aio::lock lock;
  int lock_count = 0;
  int call_count = 0;

  auto lockit = [&]() -> aio::coro<void> {
    ++call_count;
    co_await acquire_and_keep(lock);
    ++lock_count;
  };

  co_await acquire_and_keep(lock);

  auto t1 = aio::create_task(lockit());
  auto t2 = aio::create_task(lockit());
  auto t3 = aio::create_task(lockit());

  // Start scheduled tasks
  co_await run_briefly();

  loop.call_soon([&] {
    t1.cancel();
    lock.release();
  });
  // Wait for cancellation
  EXPECT_THROW(co_await t1, aio::cancelled_error);

  // Make sure only one lock was taken
  EXPECT_EQ(lock_count, 1);
  // While 3 calls were made to lockit()
  EXPECT_EQ(call_count, 3);
  EXPECT_TRUE(t1.cancelled() && t2.done());

  // Cleanup the task that is stuck on acquire.
  t3.cancel();
  co_await run_briefly();
  EXPECT_TRUE(t3.cancelled());
}

AIO_TEST(LockTests, test_finished_waiter_cancelled) {
  aio::lock lock;

  co_await acquire_and_keep(lock);
  EXPECT_TRUE(lock.locked());

  auto tb = aio::create_task(acquire_and_keep(lock));
  co_await run_briefly();
  EXPECT_FALSE(tb.done());  // len(lock._waiters) == 1

  // Create a second waiter, wake up the first, and cancel it.
  // Without the fix, the second was not woken up.
  auto tc = aio::create_task(acquire_and_keep(lock));
  tb.cancel();
  lock.release();
  co_await run_briefly();

  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(tb.cancelled());

  // Cleanup
  co_await tc;
}

AIO_TEST(LockTests, test_release_not_acquired) {
  aio::lock lock;
  EXPECT_THROW(lock.release(), std::runtime_error);
  co_return;
}

AIO_TEST(LockTests, test_release_no_waiters) {
  aio::lock lock;
  co_await acquire_and_keep(lock);
  EXPECT_TRUE(lock.locked());

  lock.release();
  EXPECT_FALSE(lock.locked());
}

AIO_TEST(LockTests, test_context_manager) {
  aio::lock lock;
  EXPECT_FALSE(lock.locked());

  co_await aio::with(lock, [&]() -> aio::coro<void> {
    EXPECT_TRUE(lock.locked());
    co_return;
  });

  EXPECT_FALSE(lock.locked());
}

// =======================================================================================
// EventTests
// =======================================================================================

AIO_TEST(EventTests, test_wait) {
  aio::event ev;
  EXPECT_FALSE(ev.is_set());

  std::vector<int> result;
  // Python's `if await ev.wait():` — aio's wait() returns nothing (it could only say
  // True): returning from it means the flag was set.
  auto c = [&](int i) -> aio::coro<void> {
    co_await ev.wait();
    result.push_back(i);
  };

  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  auto t3 = aio::create_task(c(3));

  ev.set();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{3, 1, 2}));

  EXPECT_TRUE(t1.done());
  EXPECT_NO_THROW(t1.result());
  EXPECT_TRUE(t2.done());
  EXPECT_NO_THROW(t2.result());
  EXPECT_TRUE(t3.done());
  EXPECT_NO_THROW(t3.result());
}

AIO_TEST(EventTests, test_wait_on_set) {
  aio::event ev;
  ev.set();

  // res = await ev.wait(); assertTrue(res): it returns (at once).
  auto& loop = aio::get_running_loop();
  const auto it = loop.iteration();
  co_await ev.wait();
  EXPECT_EQ(loop.iteration(), it);
}

AIO_TEST(EventTests, test_wait_cancel) {
  aio::event ev;

  auto wait = aio::create_task([&]() -> aio::coro<void> { co_await ev.wait(); });
  call_soon_cancel(wait);
  EXPECT_THROW(co_await wait, aio::cancelled_error);
  // assertFalse(ev._waiters): set() has nobody to wake (and does not touch the frame of
  // the finished task, which ASan would catch).
  ev.set();
  EXPECT_TRUE(ev.is_set());
}

AIO_TEST(EventTests, test_clear) {
  aio::event ev;
  EXPECT_FALSE(ev.is_set());

  ev.set();
  EXPECT_TRUE(ev.is_set());

  ev.clear();
  EXPECT_FALSE(ev.is_set());
  co_return;
}

AIO_TEST(EventTests, test_clear_with_waiters) {
  aio::event ev;
  std::vector<int> result;

  auto c1 = [&]() -> aio::coro<bool> {
    co_await ev.wait();
    result.push_back(1);
    co_return true;
  };

  auto t = aio::create_task(c1());
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  ev.set();
  ev.clear();
  EXPECT_FALSE(ev.is_set());

  ev.set();
  ev.set();
  // assertEqual(1, len(ev._waiters)): asyncio keeps the woken waiter listed until it
  // runs; here the first set() took it off the list. It was woken once and returns once.

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});

  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.result());
}

// =======================================================================================
// ConditionTests
// =======================================================================================

/// `await cond.acquire()` without a guard (the Python tests release by hand).
aio::coro<bool> acquire_and_keep(aio::condition& c) {
  auto g = co_await c.acquire();
  g.release();
  co_return true;
}

AIO_TEST(ConditionTests, test_wait) {
  aio::condition cond;
  std::vector<int> result;

  // `await cond.wait()` returns True in Python; returning is what it says here.
  auto c = [&](int i) -> aio::coro<bool> {
    co_await acquire_and_keep(cond);
    co_await cond.wait();
    result.push_back(i);
    co_return true;
  };

  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));
  auto t3 = aio::create_task(c(3));

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});
  EXPECT_FALSE(cond.locked());

  EXPECT_TRUE(co_await acquire_and_keep(cond));
  cond.notify();
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});
  EXPECT_TRUE(cond.locked());

  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});
  EXPECT_TRUE(cond.locked());

  cond.notify(2);
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});
  EXPECT_TRUE(cond.locked());

  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{1, 2}));
  EXPECT_TRUE(cond.locked());

  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(cond.locked());

  EXPECT_TRUE(t1.done());
  EXPECT_TRUE(t1.result());
  EXPECT_TRUE(t2.done());
  EXPECT_TRUE(t2.result());
  EXPECT_TRUE(t3.done());
  EXPECT_TRUE(t3.result());
}

AIO_TEST(ConditionTests, test_wait_cancel) {
  aio::condition cond;
  co_await acquire_and_keep(cond);

  auto wait = aio::create_task(cond.wait());
  call_soon_cancel(wait);
  EXPECT_THROW(co_await wait, aio::cancelled_error);
  // assertFalse(cond._waiters): a notify has nobody to wake.
  cond.notify_all();
  EXPECT_TRUE(cond.locked());
}

AIO_TEST(ConditionTests, test_wait_cancel_contested) {
  aio::condition cond;

  co_await acquire_and_keep(cond);
  EXPECT_TRUE(cond.locked());

  auto wait_task = aio::create_task(cond.wait());
  co_await run_briefly();
  EXPECT_FALSE(cond.locked());

  // Notify, but contest the lock before cancelling
  co_await acquire_and_keep(cond);
  EXPECT_TRUE(cond.locked());
  cond.notify();
  call_soon_cancel(wait_task);
  aio::get_running_loop().call_soon([&] { cond.release(); });

  try {
    co_await wait_task;
  } catch (const aio::cancelled_error&) {
    // Should not happen, since no cancellation points (in asyncio; in aio the cancel
    // reaches the task while it waits for the lock, and wait() re-takes it anyway).
  }

  EXPECT_TRUE(cond.locked());
}

AIO_TEST(ConditionTests, test_wait_cancel_after_notify) {
  // See bpo-32841
  bool waited = false;

  aio::condition cond;

  auto wait_on_cond = [&]() -> aio::coro<void> {
    co_await aio::with(cond, [&]() -> aio::coro<void> {
      waited = true;  // Make sure this area was reached
      co_await cond.wait();
    });
  };

  auto waiter = aio::create_task(wait_on_cond());
  co_await run_briefly();  // Start waiting

  co_await acquire_and_keep(cond);
  cond.notify();
  co_await run_briefly();  // Get to acquire()
  waiter.cancel();
  co_await run_briefly();  // Activate cancellation
  cond.release();
  co_await run_briefly();  // Cancellation should occur

  EXPECT_TRUE(waiter.cancelled());
  EXPECT_TRUE(waited);
}

AIO_TEST(ConditionTests, test_wait_unacquired) {
  aio::condition cond;
  EXPECT_THROW(co_await cond.wait(), std::runtime_error);
}

AIO_TEST(ConditionTests, test_wait_for) {
  aio::condition cond;
  bool presult = false;

  auto predicate = [&] { return presult; };

  std::vector<int> result;

  auto c1 = [&]() -> aio::coro<bool> {
    co_await acquire_and_keep(cond);
    if (co_await cond.wait_for(predicate)) {
      result.push_back(1);
      cond.release();
    }
    co_return true;
  };

  auto t = aio::create_task(c1());

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  co_await acquire_and_keep(cond);
  cond.notify();
  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  presult = true;
  co_await acquire_and_keep(cond);
  cond.notify();
  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});

  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.result());
}

AIO_TEST(ConditionTests, test_wait_for_unacquired) {
  aio::condition cond;

  // predicate can return true immediately. (A list is "true" when non-empty in Python;
  // in C++ the predicate's value must test as a bool: an optional list.)
  auto res = co_await cond.wait_for([] { return std::optional(std::vector<int>{1, 2, 3}); });
  CO_ASSERT_TRUE(res.has_value());
  EXPECT_EQ(*res, (std::vector<int>{1, 2, 3}));

  EXPECT_THROW(co_await cond.wait_for([] { return false; }), std::runtime_error);
}

AIO_TEST(ConditionTests, test_notify) {
  aio::condition cond;
  std::vector<int> result;

  auto c = [&](int i) -> aio::coro<bool> {
    co_await acquire_and_keep(cond);
    co_await cond.wait();
    result.push_back(i);
    cond.release();
    co_return true;
  };

  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));
  auto t3 = aio::create_task(c(3));

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  co_await acquire_and_keep(cond);
  cond.notify(1);
  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});

  co_await acquire_and_keep(cond);
  cond.notify(1);
  cond.notify(2048);
  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{1, 2, 3}));

  EXPECT_TRUE(t1.done());
  EXPECT_TRUE(t1.result());
  EXPECT_TRUE(t2.done());
  EXPECT_TRUE(t2.result());
  EXPECT_TRUE(t3.done());
  EXPECT_TRUE(t3.result());
}

AIO_TEST(ConditionTests, test_notify_all) {
  aio::condition cond;

  std::vector<int> result;

  auto c = [&](int i) -> aio::coro<bool> {
    co_await acquire_and_keep(cond);
    co_await cond.wait();
    result.push_back(i);
    cond.release();
    co_return true;
  };

  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{});

  co_await acquire_and_keep(cond);
  cond.notify_all();
  cond.release();
  co_await run_briefly();
  EXPECT_EQ(result, (std::vector<int>{1, 2}));

  EXPECT_TRUE(t1.done());
  EXPECT_TRUE(t1.result());
  EXPECT_TRUE(t2.done());
  EXPECT_TRUE(t2.result());
}

TEST(ConditionTests, test_notify_unacquired) {
  aio::condition cond;
  EXPECT_THROW(cond.notify(), std::runtime_error);
}

TEST(ConditionTests, test_notify_all_unacquired) {
  aio::condition cond;
  EXPECT_THROW(cond.notify_all(), std::runtime_error);
}

AIO_TEST(ConditionTests, test_context_manager) {
  aio::condition cond;
  EXPECT_FALSE(cond.locked());
  co_await aio::with(cond, [&]() -> aio::coro<void> {
    EXPECT_TRUE(cond.locked());
    co_return;
  });
  EXPECT_FALSE(cond.locked());
}

AIO_TEST(ConditionTests, test_explicit_lock) {
  // assertIs(cond._lock, lock) is checked by behaviour: the lock and the condition are
  // locked and unlocked together.
  auto f = [](aio::lock& lock, aio::condition& cond) -> aio::coro<void> {
    EXPECT_FALSE(lock.locked());
    EXPECT_FALSE(cond.locked());
    co_await aio::with(cond, [&]() -> aio::coro<void> {
      EXPECT_TRUE(lock.locked());
      EXPECT_TRUE(cond.locked());
      co_return;
    });
    EXPECT_FALSE(lock.locked());
    EXPECT_FALSE(cond.locked());
    co_await aio::with(lock, [&]() -> aio::coro<void> {
      EXPECT_TRUE(lock.locked());
      EXPECT_TRUE(cond.locked());
      co_return;
    });
    EXPECT_FALSE(lock.locked());
    EXPECT_FALSE(cond.locked());
  };

  // All should work in the same way (f(), f(Lock()), f(lock, Condition(lock)): in C++
  // each is a condition made over a given lock).
  for (int i = 0; i < 3; ++i) {
    aio::lock lock;
    aio::condition cond(lock);
    co_await f(lock, cond);
  }
}

AIO_TEST_VIRTUAL_TIME(ConditionTests, test_timeout_in_block) {
  aio::condition condition;
  co_await aio::with(condition, [&]() -> aio::coro<void> {
    EXPECT_THROW(co_await aio::wait_for(condition.wait(), 500ms), aio::timeout_error);
  });
}

AIO_TEST(ConditionTests, test_cancelled_error_wakeup) {
  // Test that a cancelled error, received when awaiting wakeup,
  // will be re-raised un-modified.
  bool wake = false;
  std::exception_ptr raised;
  aio::condition cond;

  auto func = [&]() -> aio::coro<void> {
    co_await aio::with(cond, [&]() -> aio::coro<void> {
      try {
        co_await cond.wait_for([&] { return wake; });
        ADD_FAILURE() << "no cancelled_error";
      } catch (const aio::cancelled_error&) {
        raised = std::current_exception();
      }
      std::rethrow_exception(raised);
    });
  };

  auto task = aio::create_task(func());
  co_await run_briefly();
  // Task is waiting on the condition, cancel it there.
  task.cancel("foo");
  try {
    co_await task;
    ADD_FAILURE() << "no cancelled_error";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "foo");
    // We should have got the _same_ exception instance as the one originally raised.
    EXPECT_TRUE(std::current_exception() == raised);
  }
}

AIO_TEST(ConditionTests, test_cancelled_error_re_aquire) {
  // Test that a cancelled error, received when re-aquiring lock,
  // will be re-raised un-modified.
  bool wake = false;
  std::exception_ptr raised;
  aio::condition cond;

  auto func = [&]() -> aio::coro<void> {
    co_await aio::with(cond, [&]() -> aio::coro<void> {
      try {
        co_await cond.wait_for([&] { return wake; });
        ADD_FAILURE() << "no cancelled_error";
      } catch (const aio::cancelled_error&) {
        raised = std::current_exception();
      }
      std::rethrow_exception(raised);
    });
  };

  auto task = aio::create_task(func());
  co_await run_briefly();
  // Task is waiting on the condition
  co_await acquire_and_keep(cond);
  wake = true;
  cond.notify();
  co_await run_briefly();
  // Task is now trying to re-acquire the lock, cancel it there.
  task.cancel("foo");
  cond.release();
  try {
    co_await task;
    ADD_FAILURE() << "no cancelled_error";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "foo");
    // We should have got the _same_ exception instance as the one originally raised.
    EXPECT_TRUE(std::current_exception() == raised);
  }
}

/// The consumer of test_cancelled_wakeup and test_cancelled_wakeup_relock.
aio::coro<void> wakeup_consumer(aio::condition& condition, int& state) {
  co_await aio::with(condition, [&]() -> aio::coro<void> {
    for (;;) {
      co_await condition.wait_for([&] { return state != 0; });
      if (state < 0) co_return;
      state -= 1;
    }
  });
}

AIO_TEST_VIRTUAL_TIME(ConditionTests, test_cancelled_wakeup) {
  // Test that a task cancelled at the "same" time as it is woken up as part of a
  // Condition.notify() does not result in a lost wakeup. This test simulates a cancel
  // while the target task is awaiting initial wakeup on the wakeup queue.
  aio::condition condition;
  int state = 0;

  // create two consumers
  std::vector<aio::task<void>> c;
  for (int i = 0; i < 2; ++i) c.push_back(aio::create_task(wakeup_consumer(condition, state)));
  // wait for them to settle
  co_await run_briefly();
  co_await aio::with(condition, [&]() -> aio::coro<void> {
    // produce one item and wake up one
    state += 1;
    condition.notify(1);

    // Cancel it while it is awaiting to be run.
    // This cancellation could come from the outside
    c[0].cancel();

    // now wait for the item to be consumed
    // if it doesn't means that our "notify" didn"t take hold.
    // because it raced with a cancel()
    try {
      co_await aio::timeout(10ms, [&]() -> aio::coro<void> {
        co_await condition.wait_for([&] { return state == 0; });
      });
    } catch (const aio::timeout_error&) {
    }
    EXPECT_EQ(state, 0);

    // clean up
    state = -1;
    condition.notify_all();
  });
  co_await c[1];
}

AIO_TEST_VIRTUAL_TIME(ConditionTests, test_cancelled_wakeup_relock) {
  // Test that a task cancelled at the "same" time as it is woken up as part of a
  // Condition.notify() does not result in a lost wakeup. This test simulates a cancel
  // while the target task is acquiring the lock again.
  aio::condition condition;
  int state = 0;

  // create two consumers
  std::vector<aio::task<void>> c;
  for (int i = 0; i < 2; ++i) c.push_back(aio::create_task(wakeup_consumer(condition, state)));
  // wait for them to settle
  co_await run_briefly();
  co_await aio::with(condition, [&]() -> aio::coro<void> {
    // produce one item and wake up one
    state += 1;
    condition.notify(1);

    // now we sleep for a bit.  This allows the target task to wake up and
    // settle on re-aquiring the lock
    co_await aio::sleep(0s);

    // Cancel it while awaiting the lock
    // This cancel could come the outside.
    c[0].cancel();

    // now wait for the item to be consumed
    // if it doesn't means that our "notify" didn"t take hold.
    // because it raced with a cancel()
    try {
      co_await aio::timeout(10ms, [&]() -> aio::coro<void> {
        co_await condition.wait_for([&] { return state == 0; });
      });
    } catch (const aio::timeout_error&) {
    }
    EXPECT_EQ(state, 0);

    // clean up
    state = -1;
    condition.notify_all();
  });
  co_await c[1];
}

// =======================================================================================
// SemaphoreTests
// =======================================================================================

TEST(SemaphoreTests, test_initial_value_zero) {
  aio::semaphore sem(0);
  EXPECT_TRUE(sem.locked());
}

AIO_TEST(SemaphoreTests, test_semaphore) {
  aio::semaphore sem;
  EXPECT_EQ(sem.value(), 1u);
  // `await sem` is a TypeError in Python: a compile error here (static_assert above).
  EXPECT_FALSE(sem.locked());
  EXPECT_EQ(sem.value(), 1u);
  co_return;
}

TEST(SemaphoreTests, test_semaphore_value) {
  EXPECT_THROW(aio::semaphore(-1), std::invalid_argument);
}

AIO_TEST(SemaphoreTests, test_acquire) {
  aio::semaphore sem(3);
  std::vector<int> result;

  EXPECT_TRUE(co_await acquire_and_keep(sem));
  EXPECT_TRUE(co_await acquire_and_keep(sem));
  EXPECT_FALSE(sem.locked());

  auto c = [&](int i) -> aio::coro<bool> {
    co_await acquire_and_keep(sem);
    result.push_back(i);
    co_return true;
  };

  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));
  auto t3 = aio::create_task(c(3));

  co_await run_briefly();
  EXPECT_EQ(result, std::vector<int>{1});
  EXPECT_TRUE(sem.locked());
  EXPECT_FALSE(t2.done());  // assertEqual(2, len(sem._waiters))
  EXPECT_FALSE(t3.done());
  EXPECT_EQ(sem.value(), 0u);

  auto t4 = aio::create_task(c(4));

  sem.release();
  sem.release();
  EXPECT_EQ(sem.value(), 0u);

  co_await run_briefly();
  EXPECT_EQ(sem.value(), 0u);
  EXPECT_EQ(result.size(), 3u);
  EXPECT_TRUE(sem.locked());
  EXPECT_EQ(sem.value(), 0u);

  EXPECT_TRUE(t1.done());
  EXPECT_TRUE(t1.result());
  std::vector<aio::task<bool>> race_tasks{t2, t3, t4};
  int done_tasks = 0;
  for (auto& t : race_tasks)
    if (t.done() && t.result()) ++done_tasks;
  EXPECT_EQ(done_tasks, 2);  // and the third one waits: len(sem._waiters) == 1

  // cleanup locked semaphore
  sem.release();
  co_await aio::gather(std::move(race_tasks));
}

AIO_TEST(SemaphoreTests, test_acquire_cancel) {
  aio::semaphore sem;
  co_await acquire_and_keep(sem);

  auto acquire = aio::create_task(acquire_and_keep(sem));
  call_soon_cancel(acquire);
  EXPECT_THROW(co_await acquire, aio::cancelled_error);
  // (not sem._waiters) or all(waiter.done() ...): a release finds nobody to hand to.
  sem.release();
  EXPECT_EQ(sem.value(), 1u);
}

AIO_TEST(SemaphoreTests, test_acquire_cancel_before_awoken) {
  aio::semaphore sem(0);

  auto t1 = aio::create_task(acquire_and_keep(sem));
  auto t2 = aio::create_task(acquire_and_keep(sem));
  auto t3 = aio::create_task(acquire_and_keep(sem));
  auto t4 = aio::create_task(acquire_and_keep(sem));

  co_await run_briefly();

  t1.cancel();
  t2.cancel();
  sem.release();

  co_await run_briefly();
  co_await run_briefly();
  const int num_done = int(t3.done()) + int(t4.done());
  EXPECT_EQ(num_done, 1);
  EXPECT_TRUE(t3.done());
  EXPECT_FALSE(t4.done());

  t3.cancel();
  t4.cancel();
  co_await run_briefly();
}

AIO_TEST(SemaphoreTests, test_acquire_hang) {
  aio::semaphore sem(0);

  auto t1 = aio::create_task(acquire_and_keep(sem));
  auto t2 = aio::create_task(acquire_and_keep(sem));
  co_await run_briefly();

  t1.cancel();
  sem.release();
  co_await run_briefly();
  co_await run_briefly();
  EXPECT_TRUE(sem.locked());
  EXPECT_TRUE(t2.done());
}

AIO_TEST_VIRTUAL_TIME(SemaphoreTests, test_acquire_no_hang) {
  aio::semaphore sem(1);
  aio::task<void> t2;

  auto c1 = [&]() -> aio::coro<void> {
    co_await aio::with(sem, [&]() -> aio::coro<void> { co_await aio::sleep(0s); });
    t2.cancel();
  };

  auto c2 = [&]() -> aio::coro<void> {
    co_await aio::with(sem, [&]() -> aio::coro<void> {
      ADD_FAILURE() << "c2 must not get the permit";
      co_return;
    });
  };

  auto t1 = aio::create_task(c1());
  t2 = aio::create_task(c2());

  auto [r1, r2] = co_await aio::gather(aio::return_exceptions, t1, t2);
  EXPECT_TRUE(r1.has_value());
  EXPECT_TRUE(r2.holds<aio::cancelled_error>());

  auto g = co_await aio::wait_for(sem.acquire(), 1s);
  EXPECT_TRUE(g.owns_permit());
}

TEST(SemaphoreTests, test_release_not_acquired) {
  aio::bounded_semaphore sem;
  EXPECT_THROW(sem.release(), std::invalid_argument);
}

AIO_TEST(SemaphoreTests, test_release_no_waiters) {
  aio::semaphore sem;
  co_await acquire_and_keep(sem);
  EXPECT_TRUE(sem.locked());

  sem.release();
  EXPECT_FALSE(sem.locked());
}

AIO_TEST_VIRTUAL_TIME(SemaphoreTests, test_acquire_fifo_order) {
  aio::semaphore sem(1);
  std::vector<std::string> result;

  auto coro = [&](std::string tag) -> aio::coro<void> {
    co_await acquire_and_keep(sem);
    result.push_back(tag + "_1");
    co_await aio::sleep(10ms);
    sem.release();

    co_await acquire_and_keep(sem);
    result.push_back(tag + "_2");
    co_await aio::sleep(10ms);
    sem.release();
  };

  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    tg.create_task(coro("c1"));
    tg.create_task(coro("c2"));
    tg.create_task(coro("c3"));
    co_return;
  });

  EXPECT_EQ(result, (std::vector<std::string>{"c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"}));
}

AIO_TEST(SemaphoreTests, test_acquire_fifo_order_2) {
  aio::semaphore sem(1);
  std::vector<int> result;

  auto c1 = [&]() -> aio::coro<bool> {
    co_await acquire_and_keep(sem);
    result.push_back(1);
    co_return true;
  };

  auto c2 = [&]() -> aio::coro<bool> {
    co_await acquire_and_keep(sem);
    result.push_back(2);
    sem.release();
    co_await acquire_and_keep(sem);
    result.push_back(4);
    co_return true;
  };

  auto c3 = [&]() -> aio::coro<bool> {
    co_await acquire_and_keep(sem);
    result.push_back(3);
    co_return true;
  };

  auto t1 = aio::create_task(c1());
  auto t2 = aio::create_task(c2());
  auto t3 = aio::create_task(c3());

  co_await run_briefly();

  sem.release();  // granted to c2
  sem.release();  // granted to c3

  co_await aio::gather(t1, t2, t3);
  // asyncio: [1, 2, 3, 4] — c2's second acquire waits for the woken c3 to run first.
  // aio: c3's permit was handed to it at the second release, so the permit c2 gives
  // back is free and c2 takes it again at once, before c3 has run. Each acquire got its
  // permit in FIFO order; c3 simply runs later.
  EXPECT_EQ(result, (std::vector<int>{1, 2, 4, 3}));
}

AIO_TEST(SemaphoreTests, test_acquire_fifo_order_3) {
  aio::semaphore sem(0);
  std::vector<int> result;

  auto c = [&](int i) -> aio::coro<bool> {
    co_await acquire_and_keep(sem);
    result.push_back(i);
    co_return true;
  };

  auto t1 = aio::create_task(c(1));
  auto t2 = aio::create_task(c(2));
  auto t3 = aio::create_task(c(3));

  co_await run_briefly();

  t1.cancel();

  co_await run_briefly();

  sem.release();
  sem.release();

  co_await aio::gather(aio::return_exceptions, t1, t2, t3);
  EXPECT_EQ(result, (std::vector<int>{2, 3}));
}

AIO_TEST(SemaphoreTests, test_acquire_fifo_order_4) {
  // Test that a successful `acquire()` will wake up multiple Tasks
  // that were waiting in the Semaphore queue due to FIFO rules.
  aio::semaphore sem(0);
  std::vector<int> result;
  std::optional<aio::task<bool>> t4;

  auto c4 = [&]() -> aio::coro<bool> {
    result.push_back(4);
    co_return true;
  };

  auto c1 = [&]() -> aio::coro<bool> {
    // First task immediately waits for semaphore.  It will be awoken by c2.
    EXPECT_EQ(sem.value(), 0u);
    co_await acquire_and_keep(sem);
    // We should have woken up all waiting tasks now.
    EXPECT_EQ(sem.value(), 0u);
    // Create a fourth task.  It should run after c3, not c2.
    t4 = aio::create_task(c4());
    result.push_back(1);
    co_return true;
  };

  auto c2 = [&]() -> aio::coro<bool> {
    // The second task begins by releasing semaphore three times,
    // for c1, c2, and c3.
    sem.release();
    sem.release();
    sem.release();
    EXPECT_EQ(sem.value(), 2u);
    // asyncio: locked, because c1 hasn't woken up yet. aio: c1 holds the permit it was
    // handed; the other two are free, so the semaphore is not locked...
    EXPECT_FALSE(sem.locked());
    // ... and c2 takes one at once.
    co_await acquire_and_keep(sem);
    result.push_back(2);
    co_return true;
  };

  auto c3 = [&]() -> aio::coro<bool> {
    co_await acquire_and_keep(sem);
    EXPECT_TRUE(sem.locked());
    result.push_back(3);
    co_return true;
  };

  auto t1 = aio::create_task(c1());
  auto t2 = aio::create_task(c2());
  auto t3 = aio::create_task(c3());

  co_await run_briefly();
  // asyncio: three tasks are in the queue, the first hasn't woken up yet (_value 2,
  // three waiters). aio: c1 was handed its permit; c2 and c3 took the other two.
  EXPECT_EQ(sem.value(), 0u);
  EXPECT_TRUE(t2.done());
  EXPECT_TRUE(t3.done());
  co_await run_briefly();

  CO_ASSERT_TRUE(t4.has_value());
  co_await aio::gather(t1, t2, t3, *t4);
  // asyncio: [1, 2, 3, 4]. aio: every task got its permit in FIFO order (c1 first), and
  // they ran in the order they were scheduled: c2 and c3 were ready before c1 was woken.
  EXPECT_EQ(result, (std::vector<int>{2, 3, 1, 4}));
}

// =======================================================================================
// BarrierTests
// =======================================================================================

constexpr int N = 5;  // BarrierTests.asyncSetUp: self.N = 5

/// BarrierTests.make_tasks(n, coro).
template <class F>
auto make_tasks(int n, F& coro) {
  std::vector<decltype(aio::create_task(coro()))> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(aio::create_task(coro()));
  return tasks;
}

/// BarrierTests.gather_tasks(n, coro): the results (the tasks are not needed here).
template <class F>
auto gather_tasks(int n, F& coro) {
  return aio::gather(make_tasks(n, coro));
}

AIO_TEST(BarrierTests, test_barrier) {
  aio::barrier barrier(N);
  EXPECT_EQ(barrier.state(), aio::barrier_state::filling);
  // `await barrier` is a TypeError in Python: a compile error here (static_assert above).
  EXPECT_EQ(barrier.state(), aio::barrier_state::filling);
  co_return;
}

// Python's repr shows the state and "waiters:n/parties"; aio has state(), n_waiting()
// and parties().
AIO_TEST(BarrierTests, test_repr) {
  aio::barrier barrier(N);

  EXPECT_EQ(barrier.state(), aio::barrier_state::filling);

  std::vector<aio::task<void>> waiters;
  auto wait = [&]() -> aio::coro<void> { co_await barrier.wait(); };

  const int incr = 2;
  for (int i = 0; i < incr; ++i) waiters.push_back(aio::create_task(wait()));
  co_await run_briefly();

  EXPECT_EQ(barrier.n_waiting(), std::size_t(incr));
  EXPECT_EQ(barrier.parties(), std::size_t(N));
  EXPECT_EQ(barrier.state(), aio::barrier_state::filling);

  // create missing waiters
  for (std::size_t i = 0; i < barrier.parties() - barrier.n_waiting(); ++i)
    waiters.push_back(aio::create_task(wait()));
  co_await run_briefly();

  EXPECT_EQ(barrier.state(), aio::barrier_state::draining);

  // add a part of waiters
  for (int i = 0; i < incr; ++i) waiters.push_back(aio::create_task(wait()));
  co_await run_briefly();
  // and reset
  barrier.reset();

  EXPECT_EQ(barrier.state(), aio::barrier_state::resetting);

  // add a part of waiters again
  for (int i = 0; i < incr; ++i) waiters.push_back(aio::create_task(wait()));
  co_await run_briefly();
  // and abort
  barrier.abort();

  EXPECT_EQ(barrier.state(), aio::barrier_state::broken);
  EXPECT_TRUE(barrier.broken());

  // suppress unhandled exceptions
  co_await aio::gather(aio::return_exceptions, std::move(waiters));
}

TEST(BarrierTests, test_barrier_parties) {
  EXPECT_THROW(aio::barrier(0), std::invalid_argument);
  EXPECT_THROW(aio::barrier(-4), std::invalid_argument);

  aio::barrier b(N);
  EXPECT_EQ(b.parties(), std::size_t(N));
}

AIO_TEST(BarrierTests, test_context_manager) {
  const int n = 3;
  aio::barrier barrier(n);
  std::vector<std::size_t> results;

  auto coro = [&]() -> aio::coro<void> {
    co_await aio::with(barrier, [&](std::size_t& i) -> aio::coro<void> {
      results.push_back(i);
      co_return;
    });
  };

  co_await gather_tasks(n, coro);

  std::sort(results.begin(), results.end());
  EXPECT_EQ(results, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_filling_one_task) {
  aio::barrier barrier(1);

  auto f = [&]() -> aio::coro<bool> {
    co_return co_await aio::with(barrier, [&](std::size_t&) -> aio::coro<bool> { co_return true; });
  };

  const bool ret = co_await f();

  EXPECT_TRUE(ret);
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_filling_one_task_twice) {
  aio::barrier barrier(1);

  auto t1 = aio::create_task(barrier_wait(barrier));
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 0u);

  auto t2 = aio::create_task(barrier_wait(barrier));
  co_await run_briefly();

  EXPECT_EQ(t1.result(), t2.result());
  EXPECT_EQ(t1.done(), t2.done());

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_filling_task_by_task) {
  const int n = 3;
  aio::barrier barrier(n);

  auto t1 = aio::create_task(barrier_wait(barrier));
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 1u);
  EXPECT_EQ(barrier.state(), aio::barrier_state::filling);

  auto t2 = aio::create_task(barrier_wait(barrier));
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 2u);
  EXPECT_EQ(barrier.state(), aio::barrier_state::filling);

  auto t3 = aio::create_task(barrier_wait(barrier));
  co_await run_briefly();

  std::vector<aio::task<std::size_t>> all{t1, t2, t3};
  co_await aio::wait(std::move(all));

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_filling_tasks_wait_twice) {
  aio::barrier barrier(N);
  std::vector<bool> results;

  auto coro = [&]() -> aio::coro<void> {
    co_await aio::with(barrier, [&]() -> aio::coro<void> {
      results.push_back(true);

      co_await aio::with(barrier, [&]() -> aio::coro<void> {
        results.push_back(false);
        co_return;
      });
    });
  };

  co_await gather_tasks(N, coro);

  EXPECT_EQ(results.size(), std::size_t(N * 2));
  EXPECT_EQ(std::count(results.begin(), results.end(), true), N);
  EXPECT_EQ(std::count(results.begin(), results.end(), false), N);

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_filling_tasks_check_return_value) {
  aio::barrier barrier(N);
  std::vector<bool> results1;
  std::vector<bool> results2;

  auto coro = [&]() -> aio::coro<std::size_t> {
    co_return co_await aio::with(barrier, [&]() -> aio::coro<std::size_t> {
      results1.push_back(true);

      co_return co_await aio::with(barrier, [&](std::size_t& i) -> aio::coro<std::size_t> {
        results2.push_back(true);
        co_return i;
      });
    });
  };

  auto res = co_await gather_tasks(N, coro);

  EXPECT_EQ(results1.size(), std::size_t(N));
  EXPECT_EQ(results2.size(), std::size_t(N));
  std::sort(res.begin(), res.end());
  EXPECT_EQ(res, (std::vector<std::size_t>{0, 1, 2, 3, 4}));

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_draining_state) {
  aio::barrier barrier(N);
  std::vector<bool> results;

  auto coro = [&]() -> aio::coro<void> {
    co_await aio::with(barrier, [&]() -> aio::coro<void> {
      // barrier state change to filling for the last task release
      results.push_back(barrier.state() == aio::barrier_state::draining);
      co_return;
    });
  };

  co_await gather_tasks(N, coro);

  CO_ASSERT_EQ(results.size(), std::size_t(N));
  EXPECT_EQ(results.back(), false);
  EXPECT_TRUE(std::all_of(results.begin(), results.end() - 1, [](bool b) { return b; }));

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_blocking_tasks_while_draining) {
  const int rewait = 2;
  aio::barrier barrier(N);
  aio::barrier barrier_nowaiting(N - rewait);
  int rewait_n = rewait;

  auto coro = [&]() -> aio::coro<void> {
    // first time waiting
    co_await barrier.wait();

    // after waiting once for all tasks
    if (rewait_n > 0) {
      rewait_n -= 1;
      // wait again only for rewait tasks
      co_await barrier.wait();
    } else {
      // wait for end of draining state
      co_await barrier_nowaiting.wait();
      // wait for other waiting tasks
      co_await barrier.wait();
    }
  };

  // a success means that barrier_nowaiting
  // was waited for exactly N-rewait=3 times
  co_await gather_tasks(N, coro);
}

AIO_TEST(BarrierTests, test_filling_tasks_cancel_one) {
  const int n = 3;
  aio::barrier barrier(n);
  std::vector<bool> results;

  auto coro = [&]() -> aio::coro<void> {
    co_await barrier.wait();
    results.push_back(true);
  };

  auto t1 = aio::create_task(coro());
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 1u);

  auto t2 = aio::create_task(coro());
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 2u);

  t1.cancel();
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 1u);
  EXPECT_THROW(co_await t1, aio::cancelled_error);
  EXPECT_TRUE(t1.cancelled());

  auto t3 = aio::create_task(coro());
  co_await run_briefly();
  EXPECT_EQ(barrier.n_waiting(), 2u);

  auto t4 = aio::create_task(coro());
  co_await aio::gather(t2, t3, t4);

  EXPECT_EQ(results.size(), std::size_t(n));

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_reset_barrier) {
  aio::barrier barrier(1);

  auto t = aio::create_task([&]() -> aio::coro<void> {
    barrier.reset();
    co_return;
  });
  co_await run_briefly();

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
  co_await t;
}

AIO_TEST(BarrierTests, test_reset_barrier_while_tasks_waiting) {
  aio::barrier barrier(N);
  std::vector<bool> results;

  auto coro = [&]() -> aio::coro<void> {
    try {
      co_await barrier.wait();
    } catch (const aio::broken_barrier_error&) {
      results.push_back(true);
    }
  };

  auto coro_reset = [&]() -> aio::coro<void> {
    barrier.reset();
    co_return;
  };

  // N-1 tasks waiting on barrier with N parties
  auto tasks = make_tasks(N - 1, coro);
  co_await run_briefly();

  // reset the barrier
  auto reset = aio::create_task(coro_reset());
  co_await aio::gather(std::move(tasks));

  EXPECT_EQ(results.size(), std::size_t(N - 1));
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_NE(barrier.state(), aio::barrier_state::resetting);
  EXPECT_FALSE(barrier.broken());
  co_await reset;
}

AIO_TEST(BarrierTests, test_reset_barrier_when_tasks_half_draining) {
  aio::barrier barrier(N);
  std::vector<bool> results1;
  const int rest_of_tasks = N / 2;
  // Python reads barrier._count: the tasks that have not left the barrier yet. The
  // port counts the tasks that have left.
  int left = 0;

  auto coro = [&]() -> aio::coro<void> {
    bool broken = false;
    try {
      co_await barrier.wait();
    } catch (const aio::broken_barrier_error&) {
      // catch here waiting tasks
      results1.push_back(true);
      broken = true;
    }
    if (!broken) {
      // here drained task outside the barrier
      if (rest_of_tasks == N - ++left) {
        // tasks outside the barrier
        barrier.reset();
      }
    }
  };

  co_await gather_tasks(N, coro);

  // asyncio: [True] * rest_of_tasks — the two tasks let through by the trip that had
  // not run when the third reset the barrier raise BrokenBarrierError. aio: the trip
  // let them through, and a later reset() does not take that back.
  EXPECT_EQ(results1, std::vector<bool>{});
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_NE(barrier.state(), aio::barrier_state::resetting);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_reset_barrier_when_tasks_half_draining_half_blocking) {
  aio::barrier barrier(N);
  std::vector<bool> results1;
  std::vector<bool> results2;
  const int blocking_tasks = N / 2;
  int count = 0;

  auto coro = [&]() -> aio::coro<void> {
    bool broken = false;
    try {
      co_await barrier.wait();
    } catch (const aio::broken_barrier_error&) {
      // here catch still waiting tasks
      results1.push_back(true);
      broken = true;
    }
    if (broken) {
      // so now waiting again to reach nb_parties
      co_await barrier.wait();
    } else {
      count += 1;
      if (count > blocking_tasks) {
        // reset now: raise asyncio.BrokenBarrierError for waiting tasks
        barrier.reset();

        // so now waiting again to reach nb_parties
        co_await barrier.wait();
      } else {
        try {
          co_await barrier.wait();
        } catch (const aio::broken_barrier_error&) {
          // here no catch - blocked tasks go to wait
          results2.push_back(true);
        }
      }
    }
  };

  co_await gather_tasks(N, coro);

  // asyncio: [True] * blocking_tasks — the tasks let through by the trip that had not
  // run yet when a third one reset the barrier raise BrokenBarrierError (and wait
  // again). aio: the trip let them through, and a later reset() does not take that back.
  EXPECT_EQ(results1, std::vector<bool>{});
  EXPECT_EQ(results2, std::vector<bool>{});
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_NE(barrier.state(), aio::barrier_state::resetting);
  EXPECT_FALSE(barrier.broken());
}

AIO_TEST(BarrierTests, test_reset_barrier_while_tasks_waiting_and_waiting_again) {
  aio::barrier barrier(N);
  std::vector<bool> results1;
  std::vector<bool> results2;

  auto coro1 = [&]() -> aio::coro<void> {
    try {
      co_await barrier.wait();
    } catch (const aio::broken_barrier_error&) {
      results1.push_back(true);
    }
    // finally:
    co_await barrier.wait();
    results2.push_back(true);
  };

  auto coro2 = [&]() -> aio::coro<void> {
    co_await aio::with(barrier, [&]() -> aio::coro<void> {
      results2.push_back(true);
      co_return;
    });
  };

  auto tasks = make_tasks(N - 1, coro1);

  // reset barrier, N-1 waiting tasks raise an BrokenBarrierError
  auto reset = aio::create_task([&]() -> aio::coro<void> {
    barrier.reset();
    co_return;
  });
  co_await run_briefly();

  // complete waiting tasks in the `finally`
  auto t2 = aio::create_task(coro2());

  co_await aio::gather(std::move(tasks));

  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(results1.size(), std::size_t(N - 1));
  EXPECT_EQ(results2.size(), std::size_t(N));

  EXPECT_EQ(barrier.n_waiting(), 0u);
  co_await reset;
  co_await t2;
}

AIO_TEST(BarrierTests, test_reset_barrier_while_tasks_draining) {
  aio::barrier barrier(N);
  std::vector<bool> results1;
  std::vector<bool> results2;
  std::vector<bool> results3;
  int count = 0;

  auto coro = [&]() -> aio::coro<void> {
    co_await barrier.wait();
    count += 1;
    if (count == N) {
      // last task exited from barrier
      barrier.reset();

      // wait here to reach the `parties`
      co_await barrier.wait();
    } else {
      try {
        // second waiting
        co_await barrier.wait();

        // N-1 tasks here
        results1.push_back(true);
      } catch (const std::exception&) {
        // never goes here
        results2.push_back(true);
      }
    }

    // Now, pass the barrier again
    // last wait, must be completed
    co_await barrier.wait();
    results3.push_back(true);
  };

  co_await gather_tasks(N, coro);

  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(results1.size(), std::size_t(N - 1));
  EXPECT_EQ(results2.size(), 0u);
  EXPECT_EQ(results3.size(), std::size_t(N));

  EXPECT_EQ(barrier.n_waiting(), 0u);
}

AIO_TEST(BarrierTests, test_abort_barrier) {
  aio::barrier barrier(1);

  auto t = aio::create_task([&]() -> aio::coro<void> {
    barrier.abort();
    co_return;
  });
  co_await run_briefly();

  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_TRUE(barrier.broken());
  co_await t;
}

AIO_TEST(BarrierTests, test_abort_barrier_when_tasks_half_draining_half_blocking) {
  aio::barrier barrier(N);
  std::vector<bool> results1;
  std::vector<bool> results2;
  const int blocking_tasks = N / 2;
  int count = 0;

  auto coro = [&]() -> aio::coro<void> {
    bool broken = false;
    try {
      co_await barrier.wait();
    } catch (const aio::broken_barrier_error&) {
      // here catch tasks waiting to drain
      results1.push_back(true);
      broken = true;
    }
    if (!broken) {
      count += 1;
      if (count > blocking_tasks) {
        // abort now: raise asyncio.BrokenBarrierError for all tasks
        barrier.abort();
      } else {
        try {
          co_await barrier.wait();
        } catch (const aio::broken_barrier_error&) {
          // here catch blocked tasks (already drained)
          results2.push_back(true);
        }
      }
    }
  };

  co_await gather_tasks(N, coro);

  EXPECT_TRUE(barrier.broken());
  // asyncio: [True] * blocking_tasks — the tasks let through by the trip that had not
  // run yet when the barrier was aborted raise BrokenBarrierError. aio: the trip let
  // them through; abort() breaks only the tasks still waiting (results2).
  EXPECT_EQ(results1, std::vector<bool>{});
  EXPECT_EQ(results2, std::vector<bool>(N - blocking_tasks - 1, true));
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_NE(barrier.state(), aio::barrier_state::resetting);
}

AIO_TEST(BarrierTests, test_abort_barrier_when_exception) {
  // test from threading.Barrier: see `lock_tests.test_reset`
  aio::barrier barrier(N);
  std::vector<bool> results1;
  std::vector<bool> results2;

  auto coro = [&]() -> aio::coro<void> {
    bool runtime_error = false;
    try {
      co_await aio::with(barrier, [&](std::size_t& i) -> aio::coro<void> {
        if (i == N / 2) throw std::runtime_error("boom");
        co_return;
      });
      co_await aio::with(barrier, [&]() -> aio::coro<void> {
        results1.push_back(true);
        co_return;
      });
    } catch (const aio::broken_barrier_error&) {
      results2.push_back(true);
    } catch (const std::runtime_error&) {
      runtime_error = true;
    }
    if (runtime_error) barrier.abort();
  };

  co_await gather_tasks(N, coro);

  EXPECT_TRUE(barrier.broken());
  EXPECT_EQ(results1.size(), 0u);
  EXPECT_EQ(results2.size(), std::size_t(N - 1));
  EXPECT_EQ(barrier.n_waiting(), 0u);
}

AIO_TEST(BarrierTests, test_abort_barrier_when_exception_then_resetting) {
  // test from threading.Barrier: see `lock_tests.test_abort_and_reset`
  aio::barrier barrier1(N);
  aio::barrier barrier2(N);
  std::vector<bool> results1;
  std::vector<bool> results2;
  std::vector<bool> results3;

  auto coro = [&]() -> aio::coro<void> {
    bool runtime_error = false;
    try {
      auto i = co_await barrier1.wait();
      if (i == N / 2) throw std::runtime_error("boom");
      co_await barrier1.wait();
      results1.push_back(true);
    } catch (const aio::broken_barrier_error&) {
      results2.push_back(true);
    } catch (const std::runtime_error&) {
      runtime_error = true;
    }
    if (runtime_error) barrier1.abort();

    // Synchronize and reset the barrier.  Must synchronize first so
    // that everyone has left it when we reset, and after so that no
    // one enters it before the reset.
    auto i = co_await barrier2.wait();
    if (i == N / 2) barrier1.reset();
    co_await barrier2.wait();
    co_await barrier1.wait();
    results3.push_back(true);
  };

  co_await gather_tasks(N, coro);

  EXPECT_FALSE(barrier1.broken());
  EXPECT_EQ(results1.size(), 0u);
  EXPECT_EQ(results2.size(), std::size_t(N - 1));
  EXPECT_EQ(results3.size(), std::size_t(N));

  EXPECT_EQ(barrier1.n_waiting(), 0u);
}

}  // namespace
