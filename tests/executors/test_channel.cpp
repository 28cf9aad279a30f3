// SPDX-License-Identifier: MIT
#include "aio/sync/channel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::channel<int>>);
static_assert(!std::is_convertible_v<std::size_t, aio::channel<int>>);
static_assert(std::is_base_of_v<std::runtime_error, aio::channel_closed>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::channel<int>&>().send(1))>);
static_assert(aio::detail::aio_awaitable<decltype(std::declval<aio::channel<int>&>().receive())>);
static_assert(
    std::is_same_v<aio::detail::awaited_t<decltype(std::declval<aio::channel<int>&>().receive())>,
                   std::optional<int>>);

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int scale = 2;  // sanitizers are slower: fewer values, same races
#else
constexpr int scale = 1;
#endif

// Runs `main` (a callable returning a coro) as aio::run on a new thread; joins on
// destruction. A failure inside is reported to the test.
class loop_thread {
 public:
  template <class F>
  explicit loop_thread(F main)
      : t_([main = std::move(main)]() mutable {
          try {
            aio::run(std::move(main), {.handle_sigint = false});
          } catch (const std::exception& e) {
            ADD_FAILURE() << "loop thread: " << e.what();
          } catch (...) {
            ADD_FAILURE() << "loop thread: unknown exception";
          }
        }) {}
  loop_thread(const loop_thread&) = delete;
  ~loop_thread() { join(); }
  void join() {
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread t_;
};

aio::coro<void> yield(int n = 1) {
  for (int i = 0; i < n; ++i) co_await aio::sleep(0s);
}

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

// --- one loop -------------------------------------------------------------------------

TEST(channel, capacity_must_be_positive) {
  EXPECT_THROW(aio::channel<int>(0), std::invalid_argument);
  aio::channel<int> ch(3);
  EXPECT_EQ(ch.capacity(), 3u);
}

AIO_TEST(channel, values_come_out_in_order) {
  aio::channel<std::string> ch(4);
  for (const char* s : {"a", "b", "c"}) co_await ch.send(s);
  EXPECT_EQ(ch.size(), 3u);
  EXPECT_EQ(co_await ch.receive(), "a");
  EXPECT_EQ(*ch.try_receive(), "b");
  EXPECT_EQ(co_await ch.receive(), "c");
  EXPECT_EQ(ch.try_receive(), std::nullopt);  // empty, not closed
}

AIO_TEST(channel, try_send_reports_a_full_channel_and_keeps_the_value) {
  aio::channel<std::unique_ptr<int>> ch(1);
  EXPECT_TRUE(ch.try_send(std::make_unique<int>(1)));
  auto two = std::make_unique<int>(2);
  EXPECT_FALSE(ch.try_send(std::move(two)));
  CO_ASSERT_TRUE(two != nullptr);  // not moved from
  EXPECT_EQ(**co_await ch.receive(), 1);
  EXPECT_TRUE(ch.try_send(std::move(two)));
  EXPECT_EQ(**ch.try_receive(), 2);
}

AIO_TEST_VIRTUAL_TIME(channel, send_waits_while_full) {
  aio::channel<int> ch(2);
  std::vector<int> sent;
  auto sender = aio::create_task([&]() -> aio::coro<void> {
    for (int i = 0; i < 4; ++i) {
      co_await ch.send(i);
      sent.push_back(i);
    }
  });
  co_await yield(3);
  EXPECT_EQ(sent, (std::vector<int>{0, 1}));
  EXPECT_EQ(co_await ch.receive(), 0);
  EXPECT_FALSE(ch.try_send(99));  // the freed slot is promised to the waiting sender
  co_await yield();
  EXPECT_EQ(sent, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(co_await ch.receive(), 1);
  EXPECT_EQ(co_await ch.receive(), 2);
  EXPECT_EQ(co_await ch.receive(), 3);
  co_await sender;
}

AIO_TEST_VIRTUAL_TIME(channel, close_lets_receivers_drain_then_ends) {
  aio::channel<int> ch(4);
  co_await ch.send(1);
  co_await ch.send(2);
  ch.close();
  EXPECT_TRUE(ch.closed());
  EXPECT_THROW(co_await ch.send(3), aio::channel_closed);
  EXPECT_THROW(ch.try_send(3), aio::channel_closed);
  std::vector<int> got;
  while (auto v = co_await ch.receive()) got.push_back(*v);
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_EQ(co_await ch.receive(), std::nullopt);  // and stays ended
  EXPECT_THROW(ch.try_receive(), aio::channel_closed);
  ch.close();  // idempotent
}

AIO_TEST_VIRTUAL_TIME(channel, close_wakes_waiting_receivers_and_senders) {
  aio::channel<int> empty(1), full(1);
  full.try_send(0);
  auto receiver = aio::create_task(
      [&]() -> aio::coro<std::optional<int>> { co_return co_await empty.receive(); });
  auto sender = aio::create_task([&]() -> aio::coro<void> { co_await full.send(1); });
  co_await yield();
  empty.close();
  full.close();
  EXPECT_EQ(co_await receiver, std::nullopt);
  EXPECT_THROW(co_await sender, aio::channel_closed);
  EXPECT_EQ(co_await full.receive(), 0);  // what was in is still delivered
  EXPECT_EQ(co_await full.receive(), std::nullopt);
}

AIO_TEST_VIRTUAL_TIME(channel, cancelled_receiver_loses_its_place) {
  aio::channel<int> ch(2);
  auto first =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  auto second =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  co_await yield();
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await ch.send(1);
  EXPECT_EQ(co_await second, 1);
}

AIO_TEST_VIRTUAL_TIME(channel, receiver_cancelled_while_being_handed_a_value_passes_it_on) {
  aio::channel<int> ch(4);
  auto first =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  auto second =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  co_await yield();
  co_await ch.send(1);  // handed to `first`
  first.cancel();       // ... which is cancelled before it runs
  EXPECT_THROW(co_await first, aio::cancelled_error);
  EXPECT_EQ(co_await second, 1);

  // With no other receiver, the value returns to the head of the channel.
  auto third =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  co_await yield();
  co_await ch.send(2);  // handed to `third`
  co_await ch.send(3);
  third.cancel();
  EXPECT_THROW(co_await third, aio::cancelled_error);
  EXPECT_EQ(co_await ch.receive(), 2);
  EXPECT_EQ(co_await ch.receive(), 3);
}

AIO_TEST_VIRTUAL_TIME(channel, sender_cancelled_while_being_promised_a_slot_passes_it_on) {
  aio::channel<int> ch(1);
  co_await ch.send(0);
  auto first = aio::create_task([&]() -> aio::coro<void> { co_await ch.send(1); });
  auto second = aio::create_task([&]() -> aio::coro<void> { co_await ch.send(2); });
  co_await yield();
  EXPECT_EQ(co_await ch.receive(), 0);  // slot promised to `first`
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  co_await second;
  EXPECT_EQ(co_await ch.receive(), 2);
  EXPECT_EQ(ch.size(), 0u);
}

AIO_TEST_VIRTUAL_TIME(channel, a_value_handed_over_may_come_back_after_close) {
  // After close(), a receiver still waiting is not told "ended" while a value handed to
  // another receiver may come back.
  aio::channel<int> ch(2);
  auto first =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  auto second =
      aio::create_task([&]() -> aio::coro<std::optional<int>> { co_return co_await ch.receive(); });
  co_await yield();
  co_await ch.send(7);  // handed to `first`
  ch.close();
  first.cancel();
  EXPECT_THROW(co_await first, aio::cancelled_error);
  EXPECT_EQ(co_await second, 7);
  EXPECT_EQ(co_await ch.receive(), std::nullopt);
}

TEST(channel, blocking_forms_refuse_to_block_a_loop) {
  aio::channel<int> ch(1);
  aio::run(
      [&]() -> aio::coro<void> {
        EXPECT_THROW(ch.blocking_send(1), std::logic_error);
        EXPECT_THROW((void)ch.blocking_receive(), std::logic_error);
        co_return;
      },
      {.handle_sigint = false});
}

// A task whose frame is destroyed (its loop closes) while it holds a value handed to it
// gives the value back to the channel.
TEST(channel, frame_destroyed_while_holding_a_handed_value_gives_it_back) {
  aio::channel<std::unique_ptr<int>> ch(1);
  {
    aio::event_loop loop;
    loop.set_exception_handler([](aio::event_loop&, const aio::exception_context&) {});
    auto receiver = loop.create_task([&]() -> aio::coro<void> { (void)co_await ch.receive(); });
    loop.run_until_complete([]() -> aio::coro<void> { co_await aio::sleep(0s); });
    std::thread([&] { EXPECT_TRUE(ch.try_send(std::make_unique<int>(5))); }).join();
    EXPECT_EQ(ch.size(), 0u);  // handed over; the wake-up is queued on `loop`
    loop.close();              // drops the wake-up, destroys the receiver's frame
  }
  EXPECT_EQ(ch.size(), 1u);
  EXPECT_EQ(**ch.try_receive(), 5);
}

// --- threads --------------------------------------------------------------------------

aio::coro<void> send_all(aio::channel<int>& out, int n) {
  for (int i = 0; i < n; ++i) co_await out.send(i);
  out.close();
}

aio::coro<void> receive_in_order(aio::channel<int>& in, int n) {
  int expected = 0;
  while (auto v = co_await in.receive()) {
    if (*v != expected) {
      ADD_FAILURE() << "expected " << expected << ", got " << *v;
      co_return;
    }
    ++expected;
  }
  EXPECT_EQ(expected, n);
}

TEST(channel, two_loops_exchange_100k_values_both_ways) {
  const int n = 100000 / scale;
  aio::channel<int> ab(64), ba(64);
  {
    loop_thread a([&]() -> aio::coro<void> {
      co_await aio::gather(send_all(ab, n), receive_in_order(ba, n));
    });
    loop_thread b([&]() -> aio::coro<void> {
      co_await aio::gather(send_all(ba, n), receive_in_order(ab, n));
    });
  }
  EXPECT_EQ(ab.size(), 0u);
  EXPECT_EQ(ba.size(), 0u);
}

TEST(channel, tight_capacity_hands_values_across_threads) {
  const int n = 20000 / scale;
  aio::channel<int> ch(1);
  loop_thread receiver([&]() -> aio::coro<void> { co_await receive_in_order(ch, n); });
  loop_thread sender([&]() -> aio::coro<void> { co_await send_all(ch, n); });
}

AIO_TEST(channel, a_plain_thread_sends_to_a_loop) {
  const int n = 50000 / scale;
  aio::channel<std::unique_ptr<int>> ch(16);
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) {
      if (i % 2) {
        ch.blocking_send(std::make_unique<int>(i));
      } else {
        auto p = std::make_unique<int>(i);
        while (!ch.try_send(std::move(p))) std::this_thread::yield();
      }
    }
    ch.close();
  });
  int expected = 0;
  while (auto v = co_await ch.receive()) {
    if (**v != expected) {
      ADD_FAILURE() << "expected " << expected << ", got " << **v;
      break;
    }
    ++expected;
  }
  producer.join();
  EXPECT_EQ(expected, n);
}

AIO_TEST(channel, a_loop_sends_to_plain_threads) {
  const int n = 50000 / scale;
  aio::channel<int> ch(8);
  std::vector<std::vector<int>> got(3);
  std::vector<std::thread> consumers;
  for (auto& mine : got)
    consumers.emplace_back([&ch, &mine] {
      while (auto v = ch.blocking_receive()) mine.push_back(*v);
    });
  // One more consumer that polls.
  std::vector<int> polled;
  std::thread poller([&] {
    for (;;) {
      try {
        if (auto v = ch.try_receive())
          polled.push_back(*v);
        else
          std::this_thread::yield();
      } catch (const aio::channel_closed&) {
        return;
      }
    }
  });
  co_await send_all(ch, n);
  for (auto& t : consumers) t.join();
  poller.join();
  std::vector<int> all = polled;
  for (auto& mine : got) {
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(n));
}

AIO_TEST(channel, close_from_another_thread_wakes_a_waiting_receiver) {
  aio::channel<int> ch(1);
  std::thread closer([&] {
    std::this_thread::sleep_for(5ms);
    ch.close();
  });
  EXPECT_EQ(co_await ch.receive(), std::nullopt);
  closer.join();
}

// Many senders (two loops and a plain thread) and many receivers (two loops, several
// tasks each): every value arrives exactly once.
TEST(channel, many_senders_many_receivers_across_threads) {
  constexpr int per_sender = 20000 / scale;
  aio::channel<int> ch(4);
  std::atomic<int> senders_left{3};
  auto finish_sender = [&] {
    if (--senders_left == 0) ch.close();
  };
  std::vector<std::vector<int>> got(2);
  {
    auto receiving_loop = [&](std::vector<int>& mine) {
      return [&ch, &mine]() -> aio::coro<void> {
        std::vector<aio::coro<void>> rs;
        for (int i = 0; i < 3; ++i)
          rs.push_back([](aio::channel<int>& ch, std::vector<int>& mine) -> aio::coro<void> {
            while (auto v = co_await ch.receive()) mine.push_back(*v);
          }(ch, mine));
        co_await aio::gather(std::move(rs));
      };
    };
    loop_thread r1(receiving_loop(got[0]));
    loop_thread r2(receiving_loop(got[1]));
    auto sending_loop = [&](int id) {
      return [&ch, &finish_sender, id]() -> aio::coro<void> {
        for (int i = 0; i < per_sender; ++i) co_await ch.send(id * per_sender + i);
        finish_sender();
      };
    };
    loop_thread s1(sending_loop(0));
    loop_thread s2(sending_loop(1));
    std::thread s3([&] {
      for (int i = 0; i < per_sender; ++i) ch.blocking_send(2 * per_sender + i);
      finish_sender();
    });
    s3.join();
  }
  std::vector<int> all;
  for (auto& mine : got) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(3 * per_sender));
}

// The race of channel.hpp's receive_awaiter comment: receivers on this loop are
// cancelled at random moments while a sender on another thread hands them values.
// Every value must be received exactly once (a value handed to a receiver that is being
// cancelled goes back to the channel).
AIO_TEST(channel, receivers_cancelled_while_another_thread_sends) {
  const int n = 20000 / scale;
  aio::channel<int> ch(1);
  loop_thread sender([&]() -> aio::coro<void> { co_await send_all(ch, n); });
  std::mt19937 rng(42);
  std::vector<int> got;
  bool ended = false;
  std::size_t cancelled = 0;
  while (!ended) {
    auto r = aio::create_task([&]() -> aio::coro<void> {
      auto v = co_await ch.receive();
      if (v)
        got.push_back(*v);
      else
        ended = true;
    });
    const int spins = static_cast<int>(rng() % 3);
    for (int i = 0; i < spins; ++i) co_await aio::sleep(0s);
    if (rng() % 4 == 0) std::this_thread::yield();  // give the sender a head start
    r.cancel();
    try {
      co_await r;
    } catch (const aio::cancelled_error&) {
      ++cancelled;
    }
  }
  sender.join();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, iota(n));
  EXPECT_GT(cancelled, 0u);
}

// The mirror image: senders on this loop are cancelled at random moments while a
// plain thread receives. A value counts as sent when send() returned normally; the
// receiver must get exactly those.
AIO_TEST(channel, senders_cancelled_while_another_thread_receives) {
  const int n = 20000 / scale;
  aio::channel<int> ch(1);
  std::vector<int> received;
  std::thread receiver([&] {
    while (auto v = ch.blocking_receive()) received.push_back(*v);
  });
  std::mt19937 rng(7);
  std::vector<int> sent;
  for (int i = 0; i < n; ++i) {
    auto s = aio::create_task([&ch, &sent, i]() -> aio::coro<void> {
      co_await ch.send(i);
      sent.push_back(i);
    });
    const int spins = static_cast<int>(rng() % 3);
    for (int k = 0; k < spins; ++k) co_await aio::sleep(0s);
    s.cancel();
    try {
      co_await s;
    } catch (const aio::cancelled_error&) {
    }
  }
  ch.close();
  receiver.join();
  std::sort(sent.begin(), sent.end());
  std::sort(received.begin(), received.end());
  EXPECT_EQ(received, sent);
  EXPECT_GT(sent.size(), 0u);
  EXPECT_LT(sent.size(), static_cast<std::size_t>(n));
}

// Receivers on two loops, each cancelled at random, with senders on two more threads:
// the cancellation races run on several loops at once.
TEST(channel, cancellation_races_on_several_loops) {
  constexpr int per_sender = 10000 / scale;
  aio::channel<int> ch(2);
  std::atomic<int> senders_left{2};
  std::vector<std::vector<int>> got(2);
  {
    auto receiving_loop = [&](std::vector<int>& mine, unsigned seed) {
      return [&ch, &mine, seed]() -> aio::coro<void> {
        std::mt19937 rng(seed);
        bool ended = false;
        while (!ended) {
          auto r = aio::create_task([&]() -> aio::coro<void> {
            auto v = co_await ch.receive();
            if (v)
              mine.push_back(*v);
            else
              ended = true;
          });
          const int spins = static_cast<int>(rng() % 3);
          for (int i = 0; i < spins; ++i) co_await aio::sleep(0s);
          r.cancel();
          try {
            co_await r;
          } catch (const aio::cancelled_error&) {
          }
        }
      };
    };
    loop_thread r1(receiving_loop(got[0], 1));
    loop_thread r2(receiving_loop(got[1], 2));
    auto sending_loop = [&](int id) {
      return [&ch, &senders_left, id]() -> aio::coro<void> {
        for (int i = 0; i < per_sender; ++i) co_await ch.send(id * per_sender + i);
        if (--senders_left == 0) ch.close();
      };
    };
    loop_thread s1(sending_loop(0));
    loop_thread s2(sending_loop(1));
  }
  std::vector<int> all;
  for (auto& mine : got) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(2 * per_sender));
}

}  // namespace
