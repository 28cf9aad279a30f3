// SPDX-License-Identifier: MIT
#include "aio/sync/barrier.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/core/with.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::barrier>);
static_assert(!std::is_move_constructible_v<aio::barrier>);
static_assert(std::is_base_of_v<std::runtime_error, aio::broken_barrier_error>);
static_assert(
    std::is_same_v<decltype(std::declval<aio::barrier::awaiter&>().await_resume()), std::size_t>);
static_assert(!aio::detail::aio_awaitable<aio::barrier>);  // `co_await b` is an error

namespace {

using state = aio::barrier_state;

/// `n` tasks that each wait once at `b` and return their index.
std::vector<aio::task<std::size_t>> waiters(aio::barrier& b, int n) {
  std::vector<aio::task<std::size_t>> ts;
  for (int i = 0; i < n; ++i)
    ts.push_back(
        aio::create_task([&b]() -> aio::coro<std::size_t> { co_return co_await b.wait(); }));
  return ts;
}

AIO_TEST(barrier, parties_must_be_positive) {
  EXPECT_THROW(aio::barrier(0), std::invalid_argument);
  EXPECT_THROW(aio::barrier(-4), std::invalid_argument);
  aio::barrier b(3);
  EXPECT_EQ(b.parties(), 3u);
  EXPECT_EQ(b.n_waiting(), 0u);
  EXPECT_FALSE(b.broken());
  EXPECT_EQ(b.state(), state::filling);
  co_return;
}

AIO_TEST_VIRTUAL_TIME(barrier, trips_when_all_parties_arrive_and_gives_arrival_indices) {
  aio::barrier b(4);
  auto ts = waiters(b, 3);
  co_await aio::sleep(1s);
  EXPECT_EQ(b.n_waiting(), 3u);
  for (auto& t : ts) EXPECT_FALSE(t.done());
  // The last party does not suspend, and gets parties - 1.
  auto& loop = aio::get_running_loop();
  const auto it = loop.iteration();
  EXPECT_EQ(co_await b.wait(), 3u);
  EXPECT_EQ(loop.iteration(), it);
  EXPECT_EQ(b.state(), state::draining);
  EXPECT_EQ(b.n_waiting(), 0u);
  auto indices = co_await aio::gather(std::move(ts));
  EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2}));  // FIFO arrival order
  EXPECT_EQ(b.state(), state::filling);                     // drained
}

AIO_TEST_VIRTUAL_TIME(barrier, is_reusable_round_after_round) {
  aio::barrier b(3);
  std::vector<int> log;
  std::vector<aio::task<void>> ts;
  for (int w = 0; w < 3; ++w)
    ts.push_back(aio::create_task([&, w]() -> aio::coro<void> {
      for (int round = 0; round < 4; ++round) {
        co_await aio::sleep(std::chrono::milliseconds(1 + w));
        log.push_back(round);
        co_await b.wait();
      }
    }));
  co_await aio::gather(std::move(ts));
  // No task starts round r + 1 before every task has finished round r.
  EXPECT_TRUE(std::is_sorted(log.begin(), log.end()));
  EXPECT_EQ(log.size(), 12u);
  EXPECT_EQ(b.state(), state::filling);
}

// Arrivals during the draining phase wait for the round to leave, then start the next
// one — in their arrival order.
AIO_TEST_VIRTUAL_TIME(barrier, arrivals_while_draining_start_the_next_round_in_order) {
  aio::barrier b(2);
  auto first = waiters(b, 1);
  co_await aio::sleep(0s);
  EXPECT_EQ(co_await b.wait(), 1u);  // trips; `first` has not run: draining
  EXPECT_EQ(b.state(), state::draining);
  auto next = waiters(b, 3);  // arrive during draining
  co_await aio::sleep(0s);
  EXPECT_TRUE(first[0].done());
  // The round left: next[0] and next[1] formed the next round, next[2] the one after.
  auto a = co_await next[0];
  auto c = co_await next[1];
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(c, 1u);
  co_await aio::sleep(0s);
  EXPECT_EQ(b.n_waiting(), 1u);
  EXPECT_FALSE(next[2].done());
  EXPECT_EQ(co_await b.wait(), 1u);
  EXPECT_EQ(co_await next[2], 0u);
}

// The task that ends the draining can act "between rounds" until it suspends: the
// blocked tasks join the next round only after its step (as in asyncio), so its reset()
// breaks nobody; and its own next wait() queues behind them (FIFO).
AIO_TEST_VIRTUAL_TIME(barrier, last_task_out_acts_between_rounds) {
  aio::barrier b(2);
  std::vector<std::string> log;
  auto a = aio::create_task([&]() -> aio::coro<std::size_t> {
    co_await b.wait();  // round 1; leaves last
    EXPECT_EQ(b.state(), state::filling);
    b.reset();  // nobody has joined round 2 yet
    log.push_back("a reset");
    co_return co_await b.wait();  // round 2, behind `c`
  });
  co_await aio::sleep(0s);
  auto c = aio::create_task([&]() -> aio::coro<std::size_t> {
    auto i = co_await b.wait();  // blocked by the draining
    log.push_back("c passed");
    co_return i;
  });
  EXPECT_EQ(co_await b.wait(), 1u);  // trips round 1; `a` has not left yet
  EXPECT_EQ(co_await c, 0u);
  EXPECT_EQ(co_await a, 1u);
  EXPECT_EQ(log, (std::vector<std::string>{"a reset", "c passed"}));
}

AIO_TEST_VIRTUAL_TIME(barrier, abort_breaks_waiting_and_later_waits) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  b.abort();
  EXPECT_TRUE(b.broken());
  for (auto& t : ts) EXPECT_THROW(co_await t, aio::broken_barrier_error);
  EXPECT_THROW(co_await b.wait(), aio::broken_barrier_error);
  EXPECT_EQ(b.n_waiting(), 0u);
  b.reset();
  EXPECT_FALSE(b.broken());
  EXPECT_EQ(b.state(), state::filling);
  auto again = waiters(b, 2);
  co_await aio::sleep(0s);
  EXPECT_EQ(co_await b.wait(), 2u);
  co_await aio::gather(std::move(again));
}

AIO_TEST_VIRTUAL_TIME(barrier, reset_breaks_the_waiting_tasks_and_refills) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  auto late = waiters(b, 1);  // runs before the two: it finds the barrier resetting
  b.reset();
  EXPECT_EQ(b.state(), state::resetting);  // the two are still inside
  EXPECT_EQ(b.n_waiting(), 0u);
  for (auto& t : ts) EXPECT_THROW(co_await t, aio::broken_barrier_error);
  EXPECT_EQ(b.state(), state::filling);
  EXPECT_FALSE(b.broken());
  EXPECT_FALSE(late[0].done());
  EXPECT_EQ(b.n_waiting(), 0u);  // `late` joins after the step that ended the resetting
  co_await aio::sleep(0s);
  EXPECT_EQ(b.n_waiting(), 1u);
  auto one_more = waiters(b, 1);
  co_await aio::sleep(0s);
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_EQ(co_await late[0], 0u);
  EXPECT_EQ(co_await one_more[0], 1u);
}

// The direct hand-over: a reset() or abort() after the trip does not take back the
// passage of tasks already let through (asyncio would raise BrokenBarrierError in them
// if they had not run yet).
AIO_TEST_VIRTUAL_TIME(barrier, abort_after_the_trip_does_not_break_released_tasks) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  EXPECT_EQ(co_await b.wait(), 2u);
  b.abort();  // the two released tasks have not run yet
  EXPECT_EQ(co_await ts[0], 0u);
  EXPECT_EQ(co_await ts[1], 1u);
  EXPECT_TRUE(b.broken());  // leaving does not repair a broken barrier
}

// Case 1 of the protocol: a task cancelled while waiting withdraws its arrival; the
// barrier is not broken and fills with the others.
AIO_TEST_VIRTUAL_TIME(barrier, cancelled_waiter_withdraws_its_arrival) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  EXPECT_EQ(b.n_waiting(), 2u);
  ts[0].cancel();
  EXPECT_THROW(co_await ts[0], aio::cancelled_error);
  EXPECT_EQ(b.n_waiting(), 1u);
  EXPECT_FALSE(b.broken());
  auto more = waiters(b, 1);
  co_await aio::sleep(0s);
  EXPECT_EQ(b.n_waiting(), 2u);
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_EQ(co_await ts[1], 1u);
  // Indices follow asyncio: the count at arrival, which the withdrawal lowered — so
  // after a withdrawal two tasks of a round can share an index.
  EXPECT_EQ(co_await more[0], 1u);
  EXPECT_EQ(b.state(), state::filling);
}

// The withdrawal happens at the cancel, not when the cancelled task runs: a task that
// arrives in between must not trip the barrier with the cancelled one still counted.
AIO_TEST_VIRTUAL_TIME(barrier, cancelled_waiter_does_not_count_towards_the_trip) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  ts[0].cancel();  // ts[0] is woken, but has not run
  EXPECT_EQ(b.n_waiting(), 1u);
  auto wait_one = [&]() -> aio::coro<std::size_t> { co_return co_await b.wait(); };
  auto third = aio::create_task(wait_one);
  co_await aio::sleep(1s);
  EXPECT_FALSE(third.done());  // two live parties of three: no trip
  EXPECT_FALSE(ts[1].done());
  EXPECT_THROW(co_await ts[0], aio::cancelled_error);
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_EQ(co_await ts[1], 1u);
  EXPECT_EQ(co_await third, 1u);
}

// Case 2: let through by the trip, then cancelled before it runs. It throws
// cancelled_error; the others pass; it still counts as having left, so the barrier
// drains and the next round can start.
AIO_TEST_VIRTUAL_TIME(barrier, task_cancelled_after_the_trip_still_leaves) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  EXPECT_EQ(co_await b.wait(), 2u);
  ts[0].cancel();  // released, not yet run
  EXPECT_THROW(co_await ts[0], aio::cancelled_error);
  EXPECT_EQ(co_await ts[1], 1u);
  EXPECT_EQ(b.state(), state::filling);
  auto next = waiters(b, 2);
  co_await aio::sleep(0s);
  EXPECT_EQ(co_await b.wait(), 2u);
  co_await aio::gather(std::move(next));
}

// A task blocked by the draining phase and cancelled there just leaves.
AIO_TEST_VIRTUAL_TIME(barrier, cancelled_while_blocked_by_draining) {
  aio::barrier b(3);
  auto ts = waiters(b, 2);
  co_await aio::sleep(0s);
  // Ready order after the trip below: `blocked`, `canceller`, then ts[0], ts[1] (woken
  // by the trip). `blocked` arrives while the barrier drains; `canceller` cancels it
  // there, before the round has left.
  auto blocked = waiters(b, 1);
  auto canceller = aio::create_task([&]() -> aio::coro<void> {
    EXPECT_EQ(b.state(), state::draining);
    blocked[0].cancel();
    co_return;
  });
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_THROW(co_await blocked[0], aio::cancelled_error);
  co_await canceller;
  EXPECT_EQ(co_await ts[0], 0u);
  EXPECT_EQ(co_await ts[1], 1u);
  EXPECT_EQ(b.state(), state::filling);
  EXPECT_EQ(b.n_waiting(), 0u);  // the cancelled task was not let in
}

AIO_TEST_VIRTUAL_TIME(barrier, with_gives_the_index_to_the_body) {
  aio::barrier b(2);
  std::vector<std::size_t> seen;
  auto body = [&](std::size_t& i) -> aio::coro<void> {
    seen.push_back(i);
    co_return;
  };
  auto other = aio::create_task([&]() -> aio::coro<void> { co_await aio::with(b, body); });
  co_await aio::sleep(0s);
  co_await aio::with(b, body);
  co_await other;
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1}));
  // An exception from the body propagates; the barrier is not affected.
  auto failing = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::with(b, [&]() -> aio::coro<void> { throw std::runtime_error("x"); });
  });
  co_await aio::sleep(0s);
  co_await b.wait();
  EXPECT_THROW(co_await failing, std::runtime_error);
  EXPECT_EQ(b.state(), state::filling);
  // Cancelled while waiting to enter: the body does not run, the arrival is withdrawn.
  bool ran = false;
  auto cancelled = aio::create_task([&]() -> aio::coro<void> {
    co_await aio::with(b, [&]() -> aio::coro<void> {
      ran = true;
      co_return;
    });
  });
  co_await aio::sleep(0s);
  cancelled.cancel();
  EXPECT_THROW(co_await cancelled, aio::cancelled_error);
  EXPECT_FALSE(ran);
  EXPECT_EQ(b.n_waiting(), 0u);
}

// Workers going round a barrier, cancelled at every step: however the run is cut,
// the barrier's count returns to zero (every arrival left or was withdrawn).
TEST(barrier, brute_force_cancellation_of_rounds) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::barrier b(3);
    std::vector<aio::coro<void>> workers;
    for (int w = 0; w < 3; ++w)
      workers.push_back([](aio::barrier& b, int w) -> aio::coro<void> {
        for (int round = 0; round < 3; ++round) {
          co_await aio::sleep(std::chrono::milliseconds(1 + w));
          co_await b.wait();
        }
      }(b, w));
    std::exception_ptr e;
    try {
      co_await aio::gather(std::move(workers));
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_EQ(b.state(), state::filling);
    if (e) std::rethrow_exception(e);
  });
  EXPECT_GT(stats.steps, 10u);
}

// Tasks cancelled from outside at every step while the barrier trips, drains, resets.
TEST(barrier, brute_force_cancellation_with_reset_and_outside_cancels) {
  auto stats = aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    aio::barrier b(3);
    std::vector<aio::task<void>> ts;
    for (int w = 0; w < 4; ++w)
      ts.push_back(aio::create_task([&b]() -> aio::coro<void> {
        for (int round = 0; round < 3; ++round) {
          try {
            co_await b.wait();
          } catch (const aio::broken_barrier_error&) {
          }
        }
      }));
    std::exception_ptr e;
    try {
      co_await aio::sleep(0s);
      ts[3].cancel();
      co_await aio::sleep(0s);
      b.reset();
      co_await aio::sleep(0s);
      ts[0].cancel();
      co_await aio::wait(ts, {.timeout = 1s});
    } catch (...) {
      e = std::current_exception();
    }
    for (auto& t : ts) t.cancel();
    co_await aio::wait(ts);
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_EQ(b.state(), state::filling);  // everybody left
    if (e) std::rethrow_exception(e);
  });
  EXPECT_GT(stats.steps, 3u);
}

}  // namespace
