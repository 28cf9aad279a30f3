// SPDX-License-Identifier: MIT
#include "aio/core/generator.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::generator<int>>);
static_assert(std::is_nothrow_move_constructible_v<aio::generator<int>>);

namespace {

aio::generator<int> count_to(int n, std::vector<std::string>* log = nullptr) {
  struct cleanup {
    std::vector<std::string>* log;
    ~cleanup() {
      if (log) log->push_back("cleanup");
    }
  } c{log};
  for (int i = 1; i <= n; ++i) {
    co_await aio::sleep(1ms);
    co_yield i;
  }
}

AIO_TEST_VIRTUAL_TIME(generator, next_yields_values_then_nullopt) {
  auto& loop = aio::get_running_loop();
  const auto t0 = loop.time();
  auto g = count_to(3);
  std::vector<int> got;
  while (auto v = co_await g.next()) got.push_back(*v);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loop.time() - t0, 3ms);  // it really awaited between the values
  EXPECT_TRUE(g.done());
  EXPECT_FALSE(co_await g.next());  // stays finished
}

AIO_TEST_VIRTUAL_TIME(generator, iterator_form) {
  auto g = count_to(4);
  int sum = 0;
  for (auto it = co_await g.begin(); it != g.end(); co_await ++it) sum += *it;
  EXPECT_EQ(sum, 10);
}

AIO_TEST_VIRTUAL_TIME(generator, lazy_until_first_next) {
  bool ran = false;
  auto g = [](bool& ran) -> aio::generator<int> {
    ran = true;
    co_yield 1;
  }(ran);
  co_await aio::sleep(1ms);
  EXPECT_FALSE(ran);
  EXPECT_EQ(*co_await g.next(), 1);
  EXPECT_TRUE(ran);
}

AIO_TEST_VIRTUAL_TIME(generator, destroying_early_runs_the_cleanup) {
  std::vector<std::string> log;
  {
    auto g = count_to(100, &log);
    EXPECT_EQ(*co_await g.next(), 1);
  }  // destroyed at its first co_yield
  EXPECT_EQ(log, (std::vector<std::string>{"cleanup"}));
}

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

AIO_TEST_VIRTUAL_TIME(generator, exception_reaches_the_consumer) {
  auto g = []() -> aio::generator<int> {
    co_yield 1;
    co_await aio::sleep(1ms);
    throw boom();
  }();
  EXPECT_EQ(*co_await g.next(), 1);
  EXPECT_THROW(co_await g.next(), boom);
  EXPECT_TRUE(g.done());
}

AIO_TEST_VIRTUAL_TIME(generator, aclose_lets_the_body_clean_up_asynchronously) {
  std::vector<std::string> log;
  auto g = [](std::vector<std::string>& log) -> aio::generator<int> {
    bool closing = false;
    try {
      for (int i = 0;; ++i) co_yield i;
    } catch (const aio::generator_exit&) {
      closing = true;
    }
    if (closing) {
      co_await aio::sleep(5ms);  // clean-up that awaits, after the handler
      log.push_back("closed");
    }
  }(log);
  EXPECT_EQ(*co_await g.next(), 0);
  EXPECT_EQ(*co_await g.next(), 1);
  co_await g.aclose();
  EXPECT_EQ(log, (std::vector<std::string>{"closed"}));
  EXPECT_TRUE(g.done());
}

AIO_TEST_VIRTUAL_TIME(generator, aclose_of_a_generator_that_keeps_yielding_is_an_error) {
  auto g = []() -> aio::generator<int> {
    for (;;) {
      try {
        co_yield 1;
      } catch (const aio::generator_exit&) {
      }
    }
  }();
  EXPECT_EQ(*co_await g.next(), 1);
  EXPECT_THROW(co_await g.aclose(), std::runtime_error);
}

AIO_TEST_VIRTUAL_TIME(generator, cancelling_the_consumer_cancels_the_generator_await) {
  std::vector<std::string> log;
  auto consumer = aio::create_task([&]() -> aio::coro<void> {
    auto g = count_to(1000, &log);
    while (auto v = co_await g.next()) {
    }
  });
  co_await aio::sleep(10500us);
  consumer.cancel();
  EXPECT_THROW(co_await consumer, aio::cancelled_error);
  EXPECT_EQ(log, (std::vector<std::string>{"cleanup"}));  // unwound out of the body
}

AIO_TEST_VIRTUAL_TIME(generator, move_only_values) {
  auto g = []() -> aio::generator<std::unique_ptr<int>> {
    for (int i = 0; i < 3; ++i) co_yield std::make_unique<int>(i);
  }();
  int sum = 0;
  while (auto p = co_await g.next()) sum += **p;
  EXPECT_EQ(sum, 3);
}

// A paginated API, the guides' example: pages fetched lazily, as the consumer asks.
AIO_TEST_VIRTUAL_TIME(generator, paginated_fetch) {
  int fetched = 0;
  auto pages = [](int& fetched) -> aio::generator<std::vector<int>> {
    for (int page = 0; page < 5; ++page) {
      co_await aio::sleep(100ms);  // "fetch" a page
      ++fetched;
      std::vector<int> items{page * 10, page * 10 + 1};  // g++ 12: no braced list in co_yield
      co_yield std::move(items);
    }
  }(fetched);
  std::vector<int> first_items;
  while (auto p = co_await pages.next()) {
    first_items.push_back(p->front());
    if (first_items.size() == 2) break;  // the consumer stops early
  }
  EXPECT_EQ(fetched, 2);  // no page was fetched that nobody asked for
  EXPECT_EQ(first_items, (std::vector<int>{0, 10}));
}

TEST(generator, brute_force_cancellation) {
  aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    auto g = count_to(5);
    int n = 0;
    while (auto v = co_await g.next()) n += *v;
    EXPECT_EQ(n, 15);
  });
}

}  // namespace
