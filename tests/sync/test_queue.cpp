// SPDX-License-Identifier: MIT
#include "aio/sync/channel.hpp"
#include "aio/sync/queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::queue<int>>);
static_assert(!std::is_copy_constructible_v<aio::priority_queue<int>>);
static_assert(!std::is_copy_constructible_v<aio::lifo_queue<int>>);
static_assert(std::is_base_of_v<std::runtime_error, aio::queue_empty>);
static_assert(std::is_base_of_v<std::runtime_error, aio::queue_full>);
static_assert(std::is_base_of_v<std::runtime_error, aio::queue_shutdown>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::queue<int>&>().get())>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::queue<int>&>().put(1))>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::queue<int>&>().join())>);
static_assert(std::is_same_v<aio::queue<std::unique_ptr<int>>::value_type, std::unique_ptr<int>>);
// Not constructible from a bare integer by accident (`aio::queue<int> q = 5;`).
static_assert(!std::is_convertible_v<int, aio::queue<int>>);

namespace {

// Yields to the loop `n` times (asyncio.sleep(0) n times).
aio::coro<void> yield(int n = 1) {
  for (int i = 0; i < n; ++i) co_await aio::sleep(0s);
}

template <class Q>
std::vector<typename Q::value_type> drain(Q& q) {
  std::vector<typename Q::value_type> out;
  while (!q.empty()) out.push_back(q.get_nowait());
  return out;
}

// --- construction, order -----------------------------------------------------------

TEST(queue, default_is_unbounded_and_zero_maxsize_is_rejected) {
  aio::queue<int> q;
  EXPECT_EQ(q.maxsize(), std::nullopt);
  for (int i = 0; i < 10000; ++i) q.put_nowait(i);
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 10000u);
  EXPECT_THROW(aio::queue<int>(0), std::invalid_argument);
  EXPECT_THROW(aio::lifo_queue<int>(0), std::invalid_argument);
  EXPECT_THROW(aio::priority_queue<int>(0), std::invalid_argument);
  aio::queue<int> b(3);
  EXPECT_EQ(b.maxsize(), std::optional<std::size_t>(3));
  // A negative size is an error, not SIZE_MAX through std::optional<std::size_t>.
  EXPECT_THROW(aio::queue<int>(-1), std::invalid_argument);
  EXPECT_THROW(aio::lifo_queue<int>(-1), std::invalid_argument);
  EXPECT_THROW(aio::priority_queue<int>(-1), std::invalid_argument);
  EXPECT_THROW(aio::channel<int>(-1), std::invalid_argument);
  aio::priority_queue<int> c(5L);
  EXPECT_EQ(c.maxsize(), std::optional<std::size_t>(5));
}

TEST(queue, fifo_lifo_and_priority_order) {
  aio::queue<int> f;
  aio::lifo_queue<int> l;
  aio::priority_queue<int> p;
  for (int i : {5, 1, 4, 2, 3}) {
    f.put_nowait(i);
    l.put_nowait(i);
    p.put_nowait(i);
  }
  EXPECT_EQ(drain(f), (std::vector<int>{5, 1, 4, 2, 3}));
  EXPECT_EQ(drain(l), (std::vector<int>{3, 2, 4, 1, 5}));
  EXPECT_EQ(drain(p), (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(queue, priority_queue_takes_a_comparator) {
  aio::priority_queue<int, std::greater<int>> largest_first;
  for (int i : {5, 1, 4, 2, 3}) largest_first.put_nowait(i);
  EXPECT_EQ(drain(largest_first), (std::vector<int>{5, 4, 3, 2, 1}));

  // (priority, payload) pairs, as the asyncio docs use tuples.
  aio::priority_queue<std::pair<int, std::string>> jobs;
  jobs.put_nowait({2, "write"});
  jobs.put_nowait({0, "urgent"});
  jobs.put_nowait({1, "read"});
  EXPECT_EQ(jobs.get_nowait().second, "urgent");
  EXPECT_EQ(jobs.get_nowait().second, "read");
  EXPECT_EQ(jobs.get_nowait().second, "write");

  // A stateful comparator is kept.
  auto by_distance = [](int centre) {
    return [centre](int a, int b) { return std::abs(a - centre) < std::abs(b - centre); };
  };
  aio::priority_queue<int, std::function<bool(int, int)>> near(std::nullopt, by_distance(10));
  for (int i : {0, 9, 30, 12}) near.put_nowait(i);
  EXPECT_EQ(drain(near), (std::vector<int>{9, 12, 0, 30}));
}

TEST(queue, nowait_errors) {
  aio::queue<std::string> q(1);
  EXPECT_THROW(q.get_nowait(), aio::queue_empty);
  q.put_nowait("a");
  EXPECT_TRUE(q.full());
  std::string b = "b";
  EXPECT_THROW(q.put_nowait(std::move(b)), aio::queue_full);
  EXPECT_EQ(b, "b");  // not moved from: it was not put
  const std::string c = "c";
  EXPECT_THROW(q.put_nowait(c), aio::queue_full);
  EXPECT_EQ(q.get_nowait(), "a");
  q.put_nowait(c);  // lvalue: copied
  EXPECT_EQ(c, "c");
  EXPECT_EQ(q.get_nowait(), "c");
}

// --- move-only items -----------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(queue, move_only_items_pass_through_every_path) {
  aio::queue<std::unique_ptr<int>> q(1);
  co_await q.put(std::make_unique<int>(1));  // stored
  auto one = co_await q.get();               // taken at once
  EXPECT_EQ(*one, 1);

  auto getter = aio::create_task([&]() -> aio::coro<int> {
    auto p = co_await q.get();  // waits, then is handed the item
    co_return *p;
  });
  co_await yield();
  co_await q.put(std::make_unique<int>(2));
  EXPECT_EQ(co_await getter, 2);

  q.put_nowait(std::make_unique<int>(3));
  auto putter = aio::create_task([&]() -> aio::coro<void> {
    co_await q.put(std::make_unique<int>(4));  // waits for a slot
  });
  co_await yield();
  EXPECT_EQ(*q.get_nowait(), 3);
  co_await putter;
  EXPECT_EQ(*q.get_nowait(), 4);

  auto by_value = [](const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) {
    return *a < *b;
  };
  aio::priority_queue<std::unique_ptr<int>, decltype(by_value)> pq(std::nullopt, by_value);
  for (int i : {3, 1, 2}) co_await pq.put(std::make_unique<int>(i));
  EXPECT_EQ(*co_await pq.get(), 1);
  EXPECT_EQ(*co_await pq.get(), 2);
  EXPECT_EQ(*co_await pq.get(), 3);

  aio::lifo_queue<std::unique_ptr<int>> lq;
  for (int i : {1, 2}) lq.put_nowait(std::make_unique<int>(i));
  EXPECT_EQ(*co_await lq.get(), 2);
  EXPECT_EQ(*lq.get_nowait(), 1);
}

// --- backpressure and fairness -------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(queue, put_waits_while_full) {
  aio::queue<int> q(2);
  std::vector<int> have_been_put;
  auto producer = aio::create_task([&]() -> aio::coro<void> {
    for (int i = 0; i < 5; ++i) {
      co_await q.put(i);
      have_been_put.push_back(i);
    }
  });
  co_await yield(3);
  EXPECT_EQ(have_been_put, (std::vector<int>{0, 1}));  // blocked on the third
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.get_nowait(), 0);
  EXPECT_TRUE(q.full());  // the freed slot is promised to the waiting producer
  EXPECT_THROW(q.put_nowait(99), aio::queue_full);  // so a newcomer cannot take it
  co_await yield();
  EXPECT_EQ(have_been_put, (std::vector<int>{0, 1, 2}));
  std::vector<int> got;
  while (got.size() < 4) got.push_back(co_await q.get());
  co_await producer;
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4}));
}

AIO_TEST_VIRTUAL_TIME(queue, getters_are_served_in_fifo_order) {
  aio::queue<int> q;
  std::vector<std::pair<int, int>> order;  // (getter, item)
  std::vector<aio::task<void>> getters;
  for (int g = 0; g < 3; ++g)
    getters.push_back(
        aio::create_task([&, g]() -> aio::coro<void> { order.emplace_back(g, co_await q.get()); }));
  co_await yield();
  for (int i = 10; i < 13; ++i) q.put_nowait(i);
  EXPECT_TRUE(q.empty());  // each item went straight to a getter
  co_await aio::gather(std::move(getters));
  EXPECT_EQ(order, (std::vector<std::pair<int, int>>{{0, 10}, {1, 11}, {2, 12}}));
}

AIO_TEST_VIRTUAL_TIME(queue, a_newcomer_does_not_overtake_a_woken_getter) {
  aio::queue<int> q;
  auto waiter = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed to `waiter`, which has not run yet
  EXPECT_THROW(q.get_nowait(), aio::queue_empty);
  q.put_nowait(2);
  EXPECT_EQ(co_await q.get(), 2);
  EXPECT_EQ(co_await waiter, 1);
}

AIO_TEST_VIRTUAL_TIME(queue, handed_items_count_toward_maxsize) {
  aio::queue<int> q(1);
  auto waiter = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed over: qsize() is 0, but the slot is in use until it runs
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(2), aio::queue_full);
  EXPECT_EQ(co_await waiter, 1);
  EXPECT_FALSE(q.full());
  q.put_nowait(2);
  EXPECT_EQ(q.get_nowait(), 2);
}

// --- task_done / join ----------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(queue, join_waits_for_every_task_done) {
  aio::queue<int> q;
  co_await q.join();  // nothing unfinished: at once
  for (int i = 0; i < 3; ++i) q.put_nowait(i);
  bool joined = false;
  auto joiner = aio::create_task([&]() -> aio::coro<void> {
    co_await q.join();
    joined = true;
  });
  for (int i = 0; i < 3; ++i) {
    (void)co_await q.get();
    co_await yield();
    EXPECT_FALSE(joined);  // got, but not yet done
    q.task_done();
  }
  co_await joiner;
  EXPECT_TRUE(joined);
  EXPECT_THROW(q.task_done(), std::invalid_argument);
}

AIO_TEST_VIRTUAL_TIME(queue, cancelled_join_leaves_the_queue) {
  aio::queue<int> q;
  q.put_nowait(1);
  auto joiner = aio::create_task([&]() -> aio::coro<void> { co_await q.join(); });
  co_await yield();
  joiner.cancel();
  EXPECT_THROW(co_await joiner, aio::cancelled_error);
  (void)q.get_nowait();
  q.task_done();  // wakes nobody; nothing dangles
  co_await q.join();
}

AIO_TEST_VIRTUAL_TIME(queue, join_woken_then_cancelled_throws_cancelled) {
  aio::queue<int> q;
  q.put_nowait(1);
  auto joiner = aio::create_task([&]() -> aio::coro<void> { co_await q.join(); });
  co_await yield();
  (void)q.get_nowait();
  q.task_done();    // wakes the joiner
  joiner.cancel();  // before it runs
  EXPECT_THROW(co_await joiner, aio::cancelled_error);
}

// --- shutdown -------------------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(queue, shutdown_lets_getters_drain_then_throws) {
  aio::queue<int> q(2);
  q.put_nowait(1);
  q.put_nowait(2);
  auto putter = aio::create_task([&]() -> aio::coro<void> { co_await q.put(3); });
  co_await yield();
  q.shutdown();
  EXPECT_TRUE(q.is_shutdown());
  EXPECT_THROW(co_await putter, aio::queue_shutdown);
  EXPECT_THROW(q.put_nowait(4), aio::queue_shutdown);
  EXPECT_THROW(co_await q.put(4), aio::queue_shutdown);
  EXPECT_EQ(co_await q.get(), 1);
  EXPECT_EQ(q.get_nowait(), 2);
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);
  EXPECT_THROW((void)co_await q.get(), aio::queue_shutdown);
  q.task_done();
  q.task_done();
  co_await q.join();
  q.shutdown();  // idempotent
}

AIO_TEST_VIRTUAL_TIME(queue, shutdown_wakes_waiting_getters) {
  aio::queue<int> q;
  std::vector<aio::task<int>> getters;
  for (int i = 0; i < 3; ++i)
    getters.push_back(aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); }));
  co_await yield();
  q.shutdown();
  for (auto& g : getters) EXPECT_THROW(co_await g, aio::queue_shutdown);
}

AIO_TEST_VIRTUAL_TIME(queue, immediate_shutdown_drops_items_and_releases_join) {
  aio::queue<int> q(2);
  q.put_nowait(1);
  q.put_nowait(2);
  auto putter1 = aio::create_task([&]() -> aio::coro<void> { co_await q.put(3); });
  auto putter2 = aio::create_task([&]() -> aio::coro<void> { co_await q.put(4); });
  auto joiner = aio::create_task([&]() -> aio::coro<void> { co_await q.join(); });
  co_await yield();
  EXPECT_EQ(q.get_nowait(), 1);  // taken, not yet done; its slot promised to putter1
  q.shutdown(true);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_THROW(co_await putter1, aio::queue_shutdown);
  EXPECT_THROW(co_await putter2, aio::queue_shutdown);
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);
  co_await yield();
  EXPECT_FALSE(joiner.done());  // the item taken before the shutdown is unfinished
  q.task_done();
  co_await joiner;
  EXPECT_THROW(q.task_done(), std::invalid_argument);
  EXPECT_FALSE(q.full());
}

AIO_TEST_VIRTUAL_TIME(queue, an_item_handed_over_before_shutdown_is_delivered) {
  aio::queue<int> q;
  auto getter = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(7);   // handed to `getter`: its get() has completed
  q.shutdown(true);  // drops only what is still queued
  EXPECT_EQ(co_await getter, 7);
  q.task_done();
  co_await q.join();
}

AIO_TEST_VIRTUAL_TIME(queue, shutdown_promised_putter_throws_and_frees_its_slot) {
  aio::queue<int> q(1);
  q.put_nowait(1);
  auto putter = aio::create_task([&]() -> aio::coro<void> { co_await q.put(2); });
  co_await yield();
  EXPECT_EQ(q.get_nowait(), 1);  // slot promised to `putter`
  q.shutdown();                  // before it runs
  EXPECT_THROW(co_await putter, aio::queue_shutdown);
  EXPECT_FALSE(q.full());
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);
}

// --- cancellation ---------------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(queue, cancelled_getter_loses_its_place) {
  aio::queue<int> q;
  auto first = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  auto second = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  q.put_nowait(1);
  EXPECT_EQ(co_await second, 1);
  q.put_nowait(2);  // nobody waits any more: it stays
  EXPECT_EQ(q.qsize(), 1u);
}

// The item is handed to a getter that is cancelled before it runs: the item goes to the
// next getter (asyncio once lost it: CPython test_get_cancel_drop_one_pending_reader).
AIO_TEST_VIRTUAL_TIME(queue, getter_cancelled_while_being_handed_an_item_passes_it_on) {
  aio::queue<int> q;
  auto first = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  auto second = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed to `first`
  first.cancel();   // ... which is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  EXPECT_EQ(co_await second, 1);
  EXPECT_FALSE(q.full());
}

AIO_TEST_VIRTUAL_TIME(queue, handed_item_of_a_cancelled_getter_returns_to_the_head) {
  aio::queue<int> q;
  auto getter = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed to `getter`
  q.put_nowait(2);
  q.put_nowait(3);
  getter.cancel();
  EXPECT_THROW(co_await getter, aio::cancelled_error);
  EXPECT_EQ(drain(q), (std::vector<int>{1, 2, 3}));  // FIFO order kept

  aio::lifo_queue<int> l;
  auto lgetter = aio::create_task([&]() -> aio::coro<int> { co_return co_await l.get(); });
  co_await yield();
  l.put_nowait(1);  // handed over: it was the newest then, the oldest now
  l.put_nowait(2);
  l.put_nowait(3);
  lgetter.cancel();
  EXPECT_THROW(co_await lgetter, aio::cancelled_error);
  EXPECT_EQ(drain(l), (std::vector<int>{3, 2, 1}));

  aio::priority_queue<int> p;
  auto pgetter = aio::create_task([&]() -> aio::coro<int> { co_return co_await p.get(); });
  co_await yield();
  p.put_nowait(5);
  p.put_nowait(9);
  p.put_nowait(1);
  pgetter.cancel();
  EXPECT_THROW(co_await pgetter, aio::cancelled_error);
  EXPECT_EQ(drain(p), (std::vector<int>{1, 5, 9}));
}

AIO_TEST_VIRTUAL_TIME(queue, give_back_keeps_the_maxsize_bound) {
  aio::queue<int> q(1);
  auto getter = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed over; the slot stays taken
  EXPECT_THROW(q.put_nowait(2), aio::queue_full);
  getter.cancel();
  EXPECT_THROW(co_await getter, aio::cancelled_error);
  EXPECT_EQ(q.qsize(), 1u);  // back in the queue, still within maxsize
  EXPECT_TRUE(q.full());
}

AIO_TEST_VIRTUAL_TIME(queue, cancelled_putter_loses_its_place) {
  aio::queue<int> q(1);
  q.put_nowait(0);
  auto first = aio::create_task([&]() -> aio::coro<void> { co_await q.put(1); });
  auto second = aio::create_task([&]() -> aio::coro<void> { co_await q.put(2); });
  co_await yield();
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  EXPECT_EQ(q.get_nowait(), 0);
  co_await second;
  EXPECT_EQ(drain(q), (std::vector<int>{2}));
}

// The slot is promised to a putter that is cancelled before it runs: the next putter
// gets the slot; with none, the slot is free again.
AIO_TEST_VIRTUAL_TIME(queue, putter_cancelled_while_being_promised_a_slot_passes_it_on) {
  aio::queue<int> q(1);
  q.put_nowait(0);
  auto first = aio::create_task([&]() -> aio::coro<void> { co_await q.put(1); });
  auto second = aio::create_task([&]() -> aio::coro<void> { co_await q.put(2); });
  co_await yield();
  EXPECT_EQ(q.get_nowait(), 0);  // slot promised to `first`
  first.cancel();                // ... which is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await second;
  EXPECT_EQ(drain(q), (std::vector<int>{2}));

  q.put_nowait(0);
  auto only = aio::create_task([&]() -> aio::coro<void> { co_await q.put(1); });
  co_await yield();
  EXPECT_EQ(q.get_nowait(), 0);
  only.cancel();
  EXPECT_THROW(co_await only, aio::cancelled_error);
  EXPECT_FALSE(q.full());
  q.put_nowait(3);
  EXPECT_EQ(drain(q), (std::vector<int>{3}));
}

// After a (non-immediate) shutdown, an item handed to a getter that is then cancelled
// comes back: a getter still waiting must receive it rather than be told the queue is
// finished, or the item would be stranded and join() would never return.
AIO_TEST_VIRTUAL_TIME(queue, shutdown_waits_for_handed_items_that_may_come_back) {
  aio::queue<int> q;
  auto first = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  auto second = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed to `first`
  q.shutdown();
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  EXPECT_EQ(co_await second, 1);
  q.task_done();
  co_await q.join();
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);

  // Without a cancellation, the waiting getters are told once the handed item is taken.
  aio::queue<int> r;
  auto a = aio::create_task([&]() -> aio::coro<int> { co_return co_await r.get(); });
  auto b = aio::create_task([&]() -> aio::coro<int> { co_return co_await r.get(); });
  co_await yield();
  r.put_nowait(1);
  r.shutdown();
  EXPECT_EQ(co_await a, 1);
  EXPECT_THROW(co_await b, aio::queue_shutdown);
}

AIO_TEST_VIRTUAL_TIME(queue, immediate_shutdown_drops_an_item_given_back) {
  aio::queue<int> q;
  auto getter = aio::create_task([&]() -> aio::coro<int> { co_return co_await q.get(); });
  co_await yield();
  q.put_nowait(1);  // handed over
  q.shutdown(true);
  getter.cancel();
  EXPECT_THROW(co_await getter, aio::cancelled_error);
  EXPECT_EQ(q.qsize(), 0u);  // dropped, as the drain would have
  co_await q.join();         // and counted as done
  EXPECT_THROW(q.task_done(), std::invalid_argument);
}

AIO_TEST_VIRTUAL_TIME(queue, get_with_timeout_leaves_no_getter_behind) {
  aio::queue<int> q;
  EXPECT_THROW((void)co_await aio::wait_for(q.get(), 10ms), aio::timeout_error);
  q.put_nowait(1);
  EXPECT_EQ(q.qsize(), 1u);  // not handed to a ghost getter
}

// A task whose frame is destroyed (its loop closes) while it holds an item handed to it
// gives the item back to the queue, which outlives the loop here.
TEST(queue, frame_destroyed_while_holding_a_handed_item_gives_it_back) {
  aio::queue<std::unique_ptr<int>> q(1);
  {
    aio::event_loop loop({.virtual_clock = true});
    loop.set_exception_handler([](aio::event_loop&, const aio::exception_context&) {});
    auto getter = loop.create_task([&]() -> aio::coro<void> { (void)co_await q.get(); });
    loop.run_until_complete([]() -> aio::coro<void> { co_await aio::sleep(0s); });
    q.put_nowait(std::make_unique<int>(5));  // handed to `getter`, which never runs again
    EXPECT_EQ(q.qsize(), 0u);
    loop.close();  // destroys the pending getter
  }
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(*q.get_nowait(), 5);
  EXPECT_FALSE(q.full());
}

// --- producers and consumers ---------------------------------------------------------

aio::coro<void> producer(aio::queue<int>& q, int id, int n, std::vector<int>& put_ok) {
  for (int i = 0; i < n; ++i) {
    co_await q.put(id * 1000 + i);
    put_ok.push_back(id * 1000 + i);
    if (i % 2) co_await aio::sleep(1ms);
  }
}

aio::coro<void> consumer(aio::queue<int>& q, int n, std::vector<int>& got) {
  for (int i = 0; i < n; ++i) {
    int v = co_await q.get();
    got.push_back(v);
    q.task_done();
    if (i % 3 == 0) co_await aio::sleep(1ms);
  }
}

// Cancels a 2-producer / 2-consumer pipeline after every loop step, and checks that
// every item that was put is either received once or still in the queue.
TEST(queue, brute_force_cancellation_loses_and_duplicates_nothing) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::queue<int> q(2);
    std::vector<int> put_ok, got;
    auto check = [&] {
      std::vector<int> seen = got;
      while (!q.empty()) seen.push_back(q.get_nowait());
      std::sort(seen.begin(), seen.end());
      std::sort(put_ok.begin(), put_ok.end());
      EXPECT_EQ(seen, put_ok);
      EXPECT_FALSE(q.full());  // no slot left promised, no item left handed over
    };
    std::vector<aio::coro<void>> workers;
    workers.push_back(producer(q, 1, 6, put_ok));
    workers.push_back(producer(q, 2, 6, put_ok));
    workers.push_back(consumer(q, 5, got));
    workers.push_back(consumer(q, 7, got));
    try {
      co_await aio::gather(std::move(workers));
    } catch (const aio::cancelled_error&) {
      check();
      throw;
    }
    check();
    EXPECT_EQ(got.size(), 12u);
  });
  EXPECT_GT(stats.steps, 20u);
  EXPECT_GT(stats.cancelled, 0u);
}

// The same with a lifo_queue and a priority_queue, whose give-back paths differ.
template <class Q>
void brute_force_other_kind() {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    Q q(1);
    std::vector<int> put_ok, got;
    auto prod = [&](int id) -> aio::coro<void> {
      for (int i = 0; i < 3; ++i) {
        co_await q.put(id * 10 + i);
        put_ok.push_back(id * 10 + i);
      }
    };
    auto cons = [&](int n) -> aio::coro<void> {
      for (int i = 0; i < n; ++i) {
        int v = co_await q.get();
        got.push_back(v);
        co_await aio::sleep(1ms);
      }
    };
    auto check = [&] {
      std::vector<int> seen = got;
      while (!q.empty()) seen.push_back(q.get_nowait());
      std::sort(seen.begin(), seen.end());
      std::sort(put_ok.begin(), put_ok.end());
      EXPECT_EQ(seen, put_ok);
    };
    std::vector<aio::coro<void>> workers;
    workers.push_back(prod(1));
    workers.push_back(prod(2));
    workers.push_back(cons(2));
    workers.push_back(cons(4));
    try {
      co_await aio::gather(std::move(workers));
    } catch (const aio::cancelled_error&) {
      check();
      throw;
    }
    check();
  });
  EXPECT_GT(stats.steps, 10u);
}
TEST(queue, brute_force_cancellation_of_a_lifo_queue) {
  brute_force_other_kind<aio::lifo_queue<int>>();
}
TEST(queue, brute_force_cancellation_of_a_priority_queue) {
  brute_force_other_kind<aio::priority_queue<int>>();
}

// Random cancellations of producers and consumers in a longer run, seeded: each
// cancelled task is replaced by a fresh one of the same kind.
AIO_TEST_VIRTUAL_TIME(queue, random_cancellations_lose_and_duplicate_nothing) {
  std::mt19937 rng(12345);
  std::size_t cancelled = 0;
  for (int round = 0; round < 50; ++round) {
    aio::queue<int> q(1 + static_cast<std::size_t>(rng() % 3));
    std::vector<int> put_ok, got;
    int next = 0;
    auto pause = [&]() { return aio::sleep(std::chrono::microseconds(rng() % 3)); };
    auto start = [&](bool is_producer) {
      if (is_producer)
        return aio::create_task([&]() -> aio::coro<void> {
          for (;;) {
            int v = next++;
            co_await q.put(v);
            put_ok.push_back(v);
            co_await pause();
          }
        });
      return aio::create_task([&]() -> aio::coro<void> {
        for (;;) {
          got.push_back(co_await q.get());
          co_await pause();
        }
      });
    };
    std::vector<aio::task<void>> tasks;
    for (int i = 0; i < 6; ++i) tasks.push_back(start(i % 2 == 0));
    for (int step = 0; step < 40; ++step) {
      co_await aio::sleep(std::chrono::microseconds(rng() % 2));
      const std::size_t i = rng() % tasks.size();
      tasks[i].cancel();
      if (rng() % 2) co_await aio::sleep(0s);  // sometimes let others run first
      try {
        co_await tasks[i];
      } catch (const aio::cancelled_error&) {
        ++cancelled;
      }
      tasks[i] = start(i % 2 == 0);
    }
    for (auto& t : tasks) t.cancel();
    for (auto& t : tasks) {
      try {
        co_await t;
      } catch (const aio::cancelled_error&) {
      }
    }
    std::vector<int> seen = got;
    while (!q.empty()) seen.push_back(q.get_nowait());
    std::sort(seen.begin(), seen.end());
    std::sort(put_ok.begin(), put_ok.end());
    CO_ASSERT_EQ(seen, put_ok);
    EXPECT_FALSE(q.full());
  }
  EXPECT_GT(cancelled, 1000u);
}

AIO_TEST_VIRTUAL_TIME(queue, four_producers_four_consumers) {
  constexpr int producers = 4, consumers = 4, per_producer = 2500;
  aio::queue<int> q(16);
  std::vector<std::vector<int>> got(consumers);
  std::vector<aio::coro<void>> prod;
  for (int p = 0; p < producers; ++p)
    prod.push_back([](aio::queue<int>& q, int p) -> aio::coro<void> {
      for (int i = 0; i < per_producer; ++i) co_await q.put(p * per_producer + i);
    }(q, p));
  std::vector<aio::task<void>> cons;
  for (int c = 0; c < consumers; ++c)
    cons.push_back(aio::create_task([&q, &mine = got[c]]() -> aio::coro<void> {
      for (;;) {
        std::optional<int> v;
        try {
          v = co_await q.get();
        } catch (const aio::queue_shutdown&) {
        }
        if (!v) co_return;
        mine.push_back(*v);
        q.task_done();
        if (*v % 7 == 0) co_await aio::sleep(0s);
      }
    }));
  co_await aio::gather(std::move(prod));
  co_await q.join();
  q.shutdown();
  co_await aio::gather(std::move(cons));

  std::vector<int> all;
  for (auto& mine : got) {
    EXPECT_FALSE(mine.empty());  // the work was shared
    // Each producer's items reach each consumer in the order they were put.
    std::vector<int> last(producers, -1);
    for (int v : mine) {
      EXPECT_GT(v, last[v / per_producer]);
      last[v / per_producer] = v;
    }
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  CO_ASSERT_EQ(all.size(), static_cast<std::size_t>(producers * per_producer));
  for (int i = 0; i < producers * per_producer; ++i) CO_ASSERT_EQ(all[i], i);
}

}  // namespace
