// SPDX-License-Identifier: MIT
#include "aio/core/coro.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

// Traits: a coro is a move-only, awaitable-once handle; misuse does not compile.
template <class C>
concept awaitable_as_lvalue = requires(C& c) {
  c.operator co_await();
};
template <class C>
concept awaitable_as_rvalue = requires(C&& c) {
  std::move(c).operator co_await();
};
static_assert(!std::is_copy_constructible_v<aio::coro<int>>);
static_assert(std::is_nothrow_move_constructible_v<aio::coro<int>>);
static_assert(awaitable_as_rvalue<aio::coro<int>>);
// Awaiting an lvalue coro is deleted: a coro runs once (co_await std::move(c)).
static_assert(!awaitable_as_lvalue<aio::coro<int>>);
// Tasks are awaitable any number of times, as lvalues too.
static_assert(awaitable_as_lvalue<aio::task<int>> && awaitable_as_rvalue<aio::task<int>>);
static_assert(std::is_copy_constructible_v<aio::task<int>>);
// A coro of a reference type is rejected (static_assert inside coro).
static_assert(std::is_same_v<aio::coro<>::value_type, void>);

namespace {

aio::coro<int> one() {
  co_return 1;
}

aio::coro<long> sum_sequential(long n) {
  long total = 0;
  for (long i = 0; i < n; ++i) total += co_await one();
  co_return total;
}

aio::coro<long> nested(long depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

// DESIGN.md §3: 1,000,000 sequential awaits of coroutines that complete at once must
// not grow the stack (g++ 12 does not guarantee the symmetric-transfer tail call: the
// trampoline in coro.hpp keeps the depth constant under every preset).
AIO_TEST(coro, million_sequential_synchronous_awaits) {
  EXPECT_EQ(co_await sum_sequential(1'000'000), 1'000'000);
}

// 100,000 nested awaits: the frames are all alive at once, the stack stays flat.
AIO_TEST(coro, hundred_thousand_nested_awaits) {
  EXPECT_EQ(co_await nested(100'000), 100'000);
}

aio::coro<long> nested_suspending(long depth) {
  if (depth == 0) {
    co_await aio::sleep(0s);
    co_return 0;
  }
  co_return 1 + co_await nested_suspending(depth - 1);
}

// The same with a real suspension at the bottom: resuming the chain unwinds 100k
// frames one by one through the driver.
AIO_TEST(coro, nested_awaits_with_suspension_at_the_bottom) {
  EXPECT_EQ(co_await nested_suspending(100'000), 100'000);
}

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};
aio::coro<int> thrower() {
  co_await aio::sleep(0s);
  throw boom();
}

AIO_TEST(coro, exception_propagates_to_awaiter) {
  EXPECT_THROW(co_await thrower(), boom);
  bool caught = false;
  try {
    co_await thrower();
  } catch (const std::exception& e) {
    caught = std::string(e.what()) == "boom";
  }
  EXPECT_TRUE(caught);
}

aio::coro<std::unique_ptr<int>> make_unique_value() {
  co_return std::make_unique<int>(7);
}

AIO_TEST(coro, move_only_results) {
  std::unique_ptr<int> p = co_await make_unique_value();
  EXPECT_EQ(*p, 7);
  auto t = aio::create_task(make_unique_value());
  std::unique_ptr<int> q = co_await std::move(t);
  EXPECT_EQ(*q, 7);
}

AIO_TEST(coro, lazy_until_awaited) {
  bool ran = false;
  auto c = [&]() -> aio::coro<void> {
    ran = true;
    co_return;
  }();
  co_await aio::sleep(0s);
  EXPECT_FALSE(ran);
  co_await std::move(c);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(c.valid());
}

AIO_TEST(coro, braced_return_value) {
  auto f = []() -> aio::coro<std::pair<int, std::string>> { co_return {1, "x"}; };
  auto [a, b] = co_await f();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, "x");
}

AIO_TEST(coro, awaiting_an_empty_coro_is_an_invalid_state) {
  auto c = one();
  EXPECT_EQ(co_await std::move(c), 1);
  EXPECT_THROW(co_await std::move(c), aio::invalid_state_error);  // awaited already
  aio::coro<int> empty;
  EXPECT_THROW(co_await std::move(empty), aio::invalid_state_error);
}

AIO_TEST_WITH(coro, options_macro_turns_debug_mode_on, {.virtual_clock = true, .debug = true}) {
  EXPECT_TRUE(aio::get_running_loop().get_debug());
  EXPECT_TRUE(aio::get_running_loop().uses_virtual_clock());
  co_return;
}

TEST(coro, destroying_an_unstarted_coro_runs_nothing) {
  bool ran = false;
  {
    auto c = [&]() -> aio::coro<void> {
      ran = true;
      co_return;
    }();
    (void)c;
  }
  EXPECT_FALSE(ran);
}

// A coroutine resumed outside any task step (here: by hand) still awaits coros: the
// awaiter drives the child in place (coro.hpp, drive_inline).
TEST(coro, awaits_work_without_a_driver) {
  struct detached {
    struct promise_type {
      detached get_return_object() { return {}; }
      std::suspend_never initial_suspend() noexcept { return {}; }
      std::suspend_never final_suspend() noexcept { return {}; }
      void return_void() {}
      void unhandled_exception() { std::terminate(); }
    };
  };
  long result = 0;
  [](long& out) -> detached { out = co_await sum_sequential(1000); }(result);
  EXPECT_EQ(result, 1000);
}

}  // namespace
