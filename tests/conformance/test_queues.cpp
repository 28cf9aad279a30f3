// SPDX-License-Identifier: MIT
// Port of CPython's Lib/test/test_asyncio/test_queues.py (3.13, with the shutdown tests;
// see tests/conformance/README.md).
//
// One test per Python test method, same names (suite = Python class; the mixins'
// tests appear once per queue class, as in Python). Differences that hold for the whole
// file:
//  - `asyncio.Queue(maxsize=0)` (unbounded) is `aio::queue<T>()`: aio takes
//    std::optional<std::size_t> and has no "0 means infinite".
//  - The tests that look at the private `_getters` / `_putters` deques check the same
//    thing through behaviour: a getter left behind would be handed the next item, a
//    putter left behind would be promised the next free slot.
//  - `loop.create_task(q.get())` becomes a task running a lambda that awaits q.get().
//  - `asyncio.Event` becomes an aio::future<void> (the README's convention).
//  - Time is virtual (AIO_TEST_VIRTUAL_TIME).
//  - Python exceptions map to: QueueEmpty -> aio::queue_empty, QueueFull ->
//    aio::queue_full, QueueShutDown -> aio::queue_shutdown, ValueError ->
//    std::invalid_argument, TimeoutError -> aio::timeout_error, CancelledError ->
//    aio::cancelled_error.
//
// Not ported: test_repr, test_str (a queue has no repr), test_generic_alias
// (Queue[int] is a C++ template), test_float_maxsize (maxsize is an integer; 1.3 does
// not compile), test_format in the join and shutdown mixins (the private `_format()`
// repr helper).
#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/sync/queue.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

aio::coro<void> sleep0() {
  co_await aio::sleep(0s);
}

template <class Q>
auto get_task(Q& q) {
  return aio::create_task(
      [&q]() -> aio::coro<typename Q::value_type> { co_return co_await q.get(); });
}

template <class Q, class V>
auto put_task(Q& q, V v) {
  return aio::create_task([&q, v]() -> aio::coro<void> { co_await q.put(v); });
}

// --- QueueBasicTests -----------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(QueueBasicTests, test_empty) {
  aio::queue<int> q;
  EXPECT_TRUE(q.empty());
  co_await q.put(1);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(1, co_await q.get());
  EXPECT_TRUE(q.empty());
}

AIO_TEST_VIRTUAL_TIME(QueueBasicTests, test_full) {
  aio::queue<int> q;
  EXPECT_FALSE(q.full());

  aio::queue<int> q1(1);
  co_await q1.put(1);
  EXPECT_TRUE(q1.full());
}

AIO_TEST_VIRTUAL_TIME(QueueBasicTests, test_order) {
  aio::queue<int> q;
  for (int i : {1, 3, 2}) co_await q.put(i);
  std::vector<int> items;
  for (int i = 0; i < 3; ++i) items.push_back(co_await q.get());
  EXPECT_EQ(items, (std::vector<int>{1, 3, 2}));
}

AIO_TEST_VIRTUAL_TIME(QueueBasicTests, test_maxsize) {
  aio::queue<int> q(2);
  EXPECT_EQ(q.maxsize(), std::optional<std::size_t>(2));
  std::vector<int> have_been_put;

  auto t = aio::create_task([&]() -> aio::coro<bool> {
    for (int i = 0; i < 3; ++i) {
      co_await q.put(i);
      have_been_put.push_back(i);
    }
    co_return true;
  });
  for (int i = 0; i < 2; ++i) co_await sleep0();

  // The putter is blocked after putting two items.
  EXPECT_EQ(have_been_put, (std::vector<int>{0, 1}));
  EXPECT_EQ(0, co_await q.get());

  // Let the putter resume and put last item.
  co_await sleep0();
  EXPECT_EQ(have_been_put, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(1, co_await q.get());
  EXPECT_EQ(2, co_await q.get());

  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.result());
}

// --- QueueGetTests -------------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_blocking_get) {
  aio::queue<int> q;
  q.put_nowait(1);
  EXPECT_EQ(1, co_await q.get());
}

// Python appends a bare future to q._putters; here a real putter waits instead. The
// get() wakes it at once (it is promised the freed slot).
AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_get_with_putters) {
  aio::queue<int> q(1);
  co_await q.put(1);

  auto waiter = put_task(q, 2);
  co_await sleep0();
  EXPECT_FALSE(waiter.done());

  EXPECT_EQ(1, co_await q.get());
  EXPECT_TRUE(q.full());  // the slot is the waiter's
  co_await sleep0();
  EXPECT_TRUE(waiter.done());
  waiter.result();
  EXPECT_EQ(2, q.get_nowait());
}

AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_blocking_get_wait) {
  auto& loop = aio::get_running_loop();
  aio::queue<int> q;
  aio::future<void> started;
  bool finished = false;

  auto queue_get_task = aio::create_task([&]() -> aio::coro<int> {
    started.set_result();
    int res = co_await q.get();
    finished = true;
    co_return res;
  });
  co_await started;
  EXPECT_FALSE(finished);
  loop.call_later(10ms, [&q] { q.put_nowait(1); });
  int res = co_await queue_get_task;
  EXPECT_TRUE(finished);
  EXPECT_EQ(1, res);
}

TEST(QueueGetTests, test_nonblocking_get) {
  aio::queue<int> q;
  q.put_nowait(1);
  EXPECT_EQ(1, q.get_nowait());
}

TEST(QueueGetTests, test_nonblocking_get_exception) {
  aio::queue<int> q;
  EXPECT_THROW(q.get_nowait(), aio::queue_empty);
}

AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_get_cancelled_race) {
  aio::queue<std::string> q;

  auto t1 = get_task(q);
  auto t2 = get_task(q);

  co_await sleep0();
  t1.cancel();
  co_await sleep0();
  EXPECT_TRUE(t1.done());
  co_await q.put("a");
  co_await sleep0();
  EXPECT_EQ("a", co_await t2);
  EXPECT_THROW(co_await t1, aio::cancelled_error);
}

AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_get_with_waiting_putters) {
  aio::queue<std::string> q(1);
  auto a = put_task(q, std::string("a"));
  auto b = put_task(q, std::string("b"));
  EXPECT_EQ(co_await q.get(), "a");
  EXPECT_EQ(co_await q.get(), "b");
  co_await a;
  co_await b;
}

AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_why_are_getters_waiting) {
  auto consumer = [](aio::queue<int>& queue, int num_expected) -> aio::coro<void> {
    for (int i = 0; i < num_expected; ++i) (void)co_await queue.get();
  };
  auto producer = [](aio::queue<int>& queue, int num_items) -> aio::coro<void> {
    for (int i = 0; i < num_items; ++i) co_await queue.put(i);
  };
  const int producer_num_items = 5;

  aio::queue<int> q(1);
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    tg.create_task(producer(q, producer_num_items));
    tg.create_task(consumer(q, producer_num_items));
    co_return;
  });
}

// Python checks len(queue._getters) == 0: a getter left behind would be handed the
// next item instead of the queue keeping it.
AIO_TEST_VIRTUAL_TIME(QueueGetTests, test_cancelled_getters_not_being_held_in_self_getters) {
  aio::queue<int> queue(5);

  EXPECT_THROW((void)co_await aio::wait_for(queue.get(), 100ms), aio::timeout_error);

  queue.put_nowait(1);
  EXPECT_EQ(queue.qsize(), 1u);
}

// --- QueuePutTests -------------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_blocking_put) {
  aio::queue<int> q;

  // No maxsize, won't block.
  co_await q.put(1);
  EXPECT_EQ(1, co_await q.get());
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_blocking_put_wait) {
  auto& loop = aio::get_running_loop();
  aio::queue<int> q(1);
  aio::future<void> started;
  bool finished = false;

  loop.call_later(10ms, [&q] { (void)q.get_nowait(); });
  auto queue_put_task = aio::create_task([&]() -> aio::coro<void> {
    started.set_result();
    co_await q.put(1);
    co_await q.put(2);
    finished = true;
  });
  co_await started;
  EXPECT_FALSE(finished);
  co_await queue_put_task;
  EXPECT_TRUE(finished);
}

TEST(QueuePutTests, test_nonblocking_put) {
  aio::queue<int> q;
  q.put_nowait(1);
  EXPECT_EQ(1, q.get_nowait());
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_get_cancel_drop_one_pending_reader) {
  aio::queue<int> q;

  auto reader = get_task(q);

  co_await sleep0();

  q.put_nowait(1);
  q.put_nowait(2);
  reader.cancel();

  bool retried = false;
  try {
    co_await reader;
  } catch (const aio::cancelled_error&) {
    retried = true;
  }
  if (retried) {
    // try again
    reader = get_task(q);
    co_await reader;
  }

  int result = reader.result();
  // if we get 2, it means 1 got dropped!
  EXPECT_EQ(1, result);
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_get_cancel_drop_many_pending_readers) {
  aio::queue<int> q;
  std::optional<aio::task<int>> reader1, reader2, reader3;

  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    auto get = [&q]() -> aio::coro<int> { co_return co_await q.get(); };
    reader1 = tg.create_task(get());
    reader2 = tg.create_task(get());
    reader3 = tg.create_task(get());

    co_await sleep0();

    q.put_nowait(1);
    q.put_nowait(2);
    reader1->cancel();

    EXPECT_THROW(co_await *reader1, aio::cancelled_error);

    co_await *reader3;
  });

  // It is undefined in which order concurrent readers receive results.
  EXPECT_EQ((std::set<int>{reader2->result(), reader3->result()}), (std::set<int>{1, 2}));
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_put_cancel_drop) {
  aio::queue<int> q(1);

  q.put_nowait(1);

  // putting a second item in the queue has to block (qsize=1)
  auto writer = put_task(q, 2);
  co_await sleep0();

  int value1 = q.get_nowait();
  EXPECT_EQ(value1, 1);

  writer.cancel();
  bool retried = false;
  try {
    co_await writer;
  } catch (const aio::cancelled_error&) {
    retried = true;
  }
  if (retried) {
    // try again
    writer = put_task(q, 2);
    co_await writer;
  }

  int value2 = q.get_nowait();
  EXPECT_EQ(value2, 2);
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(QueuePutTests, test_nonblocking_put_exception) {
  aio::queue<int> q(1);
  q.put_nowait(1);
  EXPECT_THROW(q.put_nowait(2), aio::queue_full);
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_put_cancelled) {
  aio::queue<int> q;

  auto t = aio::create_task([&]() -> aio::coro<bool> {
    co_await q.put(1);
    co_return true;
  });

  EXPECT_EQ(1, co_await q.get());
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.result());
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_put_cancelled_race) {
  aio::queue<std::string> q(1);

  auto put_a = put_task(q, std::string("a"));
  auto put_b = put_task(q, std::string("b"));
  auto put_c = put_task(q, std::string("X"));

  co_await sleep0();
  EXPECT_TRUE(put_a.done());
  EXPECT_FALSE(put_b.done());

  put_c.cancel();
  co_await sleep0();
  EXPECT_TRUE(put_c.done());
  EXPECT_EQ(q.get_nowait(), "a");
  co_await sleep0();
  EXPECT_EQ(q.get_nowait(), "b");

  co_await put_b;
  EXPECT_THROW(co_await put_c, aio::cancelled_error);
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_put_with_waiting_getters) {
  aio::queue<std::string> q;
  auto t = get_task(q);
  co_await sleep0();
  co_await q.put("a");
  EXPECT_EQ(co_await t, "a");
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_why_are_putters_waiting) {
  aio::queue<int> queue(2);

  auto putter = [&queue](int item) -> aio::coro<void> { co_await queue.put(item); };
  auto getter = [&queue]() -> aio::coro<void> {
    co_await sleep0();
    const std::size_t num = queue.qsize();
    for (std::size_t i = 0; i < num; ++i) (void)queue.get_nowait();
  };

  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    tg.create_task(getter());
    tg.create_task(putter(0));
    tg.create_task(putter(1));
    tg.create_task(putter(2));
    tg.create_task(putter(3));
    co_return;
  });
}

// Python checks len(queue._putters) before and after: a putter left behind would be
// promised the slot that get_nowait() frees, and the queue would stay full.
AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_cancelled_puts_not_being_held_in_self_putters) {
  // Full queue.
  aio::queue<int> queue(1);
  queue.put_nowait(1);

  // Task waiting for space to put an item in the queue.
  auto put_task_ = put_task(queue, 1);
  co_await sleep0();

  // Check that the putter is correctly removed from the queue when the task is
  // canceled.
  EXPECT_FALSE(put_task_.done());
  put_task_.cancel();
  EXPECT_THROW(co_await put_task_, aio::cancelled_error);
  EXPECT_EQ(queue.get_nowait(), 1);
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.qsize(), 0u);
}

AIO_TEST_VIRTUAL_TIME(QueuePutTests, test_cancelled_put_silence_value_error_exception) {
  // Full Queue.
  aio::queue<int> queue(1);
  queue.put_nowait(1);

  // Task waiting for space to put a item in the queue.
  auto put_task_ = put_task(queue, 1);
  co_await sleep0();

  // get_nowait() hands the freed slot to put_task_.
  (void)queue.get_nowait();
  // When canceled, the putter passes the slot on and raises CancelledError (Python:
  // the ValueError of removing it twice must be silenced).
  put_task_.cancel();

  EXPECT_THROW(co_await put_task_, aio::cancelled_error);
  EXPECT_FALSE(queue.full());
}

// --- LifoQueueTests, PriorityQueueTests ------------------------------------------------

AIO_TEST_VIRTUAL_TIME(LifoQueueTests, test_order) {
  aio::lifo_queue<int> q;
  for (int i : {1, 3, 2}) co_await q.put(i);
  std::vector<int> items;
  for (int i = 0; i < 3; ++i) items.push_back(co_await q.get());
  EXPECT_EQ(items, (std::vector<int>{2, 3, 1}));
}

AIO_TEST_VIRTUAL_TIME(PriorityQueueTests, test_order) {
  aio::priority_queue<int> q;
  for (int i : {1, 3, 2}) co_await q.put(i);
  std::vector<int> items;
  for (int i = 0; i < 3; ++i) items.push_back(co_await q.get());
  EXPECT_EQ(items, (std::vector<int>{1, 2, 3}));
}

// --- _QueueJoinTestMixin ---------------------------------------------------------------

template <class Q>
void test_task_done_underflow() {
  Q q;
  EXPECT_THROW(q.task_done(), std::invalid_argument);
}

template <class Q>
aio::coro<void> test_task_done() {
  Q q;
  for (int i = 0; i < 100; ++i) q.put_nowait(i);

  int accumulator = 0;

  // Two workers get items from the queue and call task_done after each.
  // Join the queue and assert all items have been processed.
  bool running = true;

  auto worker = [&]() -> aio::coro<void> {
    while (running) {
      int item = co_await q.get();
      accumulator += item;
      q.task_done();
    }
  };

  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    std::vector<aio::task<void>> tasks;
    for (int index = 0; index < 2; ++index) tasks.push_back(tg.create_task(worker()));

    co_await q.join();
    EXPECT_EQ(99 * 100 / 2, accumulator);

    // close running generators
    running = false;
    for (std::size_t i = 0; i < tasks.size(); ++i) q.put_nowait(0);
  });
}

template <class Q>
aio::coro<void> test_join_empty_queue() {
  Q q;

  // Test that a queue join()s successfully, and before anything else
  // (done twice for insurance).

  co_await q.join();
  co_await q.join();
}

TEST(QueueJoinTests, test_task_done_underflow) {
  test_task_done_underflow<aio::queue<int>>();
}
AIO_TEST_VIRTUAL_TIME(QueueJoinTests, test_task_done) {
  co_await test_task_done<aio::queue<int>>();
}
AIO_TEST_VIRTUAL_TIME(QueueJoinTests, test_join_empty_queue) {
  co_await test_join_empty_queue<aio::queue<int>>();
}

TEST(LifoQueueJoinTests, test_task_done_underflow) {
  test_task_done_underflow<aio::lifo_queue<int>>();
}
AIO_TEST_VIRTUAL_TIME(LifoQueueJoinTests, test_task_done) {
  co_await test_task_done<aio::lifo_queue<int>>();
}
AIO_TEST_VIRTUAL_TIME(LifoQueueJoinTests, test_join_empty_queue) {
  co_await test_join_empty_queue<aio::lifo_queue<int>>();
}

TEST(PriorityQueueJoinTests, test_task_done_underflow) {
  test_task_done_underflow<aio::priority_queue<int>>();
}
AIO_TEST_VIRTUAL_TIME(PriorityQueueJoinTests, test_task_done) {
  co_await test_task_done<aio::priority_queue<int>>();
}
AIO_TEST_VIRTUAL_TIME(PriorityQueueJoinTests, test_join_empty_queue) {
  co_await test_join_empty_queue<aio::priority_queue<int>>();
}

// --- _QueueShutdownTestMixin -----------------------------------------------------------

template <class Q>
aio::coro<void> test_shutdown_empty() {
  // Test shutting down an empty queue

  // Setup empty queue, and join() and get() tasks
  Q q;
  auto get_task_ = get_task(q);
  co_await sleep0();  // want get task pending before shutdown

  // Perform shut-down
  q.shutdown(false);  // unfinished tasks: 0 -> 0

  EXPECT_EQ(q.qsize(), 0u);

  // Ensure join() task successfully finishes
  co_await q.join();

  // Ensure get() task is finished, and raised ShutDown
  co_await sleep0();
  EXPECT_TRUE(get_task_.done());
  EXPECT_THROW(co_await get_task_, aio::queue_shutdown);

  // Ensure put() and get() raise ShutDown
  EXPECT_THROW(co_await q.put("data"), aio::queue_shutdown);
  EXPECT_THROW(q.put_nowait("data"), aio::queue_shutdown);

  EXPECT_THROW((void)co_await q.get(), aio::queue_shutdown);
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);
}

template <class Q>
aio::coro<void> test_shutdown_nonempty() {
  // Test shutting down a non-empty queue

  // Setup full queue with 1 item, and join() and put() tasks
  Q q(1);

  q.put_nowait("data");
  auto join_task = aio::create_task([&q]() -> aio::coro<void> { co_await q.join(); });
  auto put_task_ = put_task(q, std::string("data2"));

  // Ensure put() task is not finished
  co_await sleep0();
  EXPECT_FALSE(put_task_.done());

  // Perform shut-down
  q.shutdown(false);  // unfinished tasks: 1 -> 1

  EXPECT_EQ(q.qsize(), 1u);

  // Ensure put() task is finished, and raised ShutDown
  co_await sleep0();
  EXPECT_TRUE(put_task_.done());
  EXPECT_THROW(co_await put_task_, aio::queue_shutdown);

  // Ensure get() succeeds on enqueued item
  EXPECT_EQ(co_await q.get(), "data");

  // Ensure join() task is not finished
  co_await sleep0();
  EXPECT_FALSE(join_task.done());

  // Ensure put() and get() raise ShutDown
  EXPECT_THROW(co_await q.put("data"), aio::queue_shutdown);
  EXPECT_THROW(q.put_nowait("data"), aio::queue_shutdown);

  EXPECT_THROW((void)co_await q.get(), aio::queue_shutdown);
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);

  // Ensure there is 1 unfinished task, and join() task succeeds
  q.task_done();

  co_await sleep0();
  EXPECT_TRUE(join_task.done());
  co_await join_task;

  EXPECT_THROW(q.task_done(), std::invalid_argument) << "Didn't appear to mark all tasks done";
}

template <class Q>
aio::coro<void> test_shutdown_immediate() {
  // Test immediately shutting down a queue

  // Setup queue with 1 item, and a join() task
  Q q;
  q.put_nowait("data");
  auto join_task = aio::create_task([&q]() -> aio::coro<void> { co_await q.join(); });

  // Perform shut-down
  q.shutdown(true);  // unfinished tasks: 1 -> 0

  EXPECT_EQ(q.qsize(), 0u);

  // Ensure join() task has successfully finished
  co_await sleep0();
  EXPECT_TRUE(join_task.done());
  co_await join_task;

  // Ensure put() and get() raise ShutDown
  EXPECT_THROW(co_await q.put("data"), aio::queue_shutdown);
  EXPECT_THROW(q.put_nowait("data"), aio::queue_shutdown);

  EXPECT_THROW((void)co_await q.get(), aio::queue_shutdown);
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);

  // Ensure there are no unfinished tasks
  EXPECT_THROW(q.task_done(), std::invalid_argument) << "Didn't appear to mark all tasks done";
}

template <class Q>
aio::coro<void> test_shutdown_immediate_with_unfinished() {
  // Test immediately shutting down a queue with unfinished tasks

  // Setup queue with 2 items (1 retrieved), and a join() task
  Q q;
  q.put_nowait("data");
  q.put_nowait("data");
  auto join_task = aio::create_task([&q]() -> aio::coro<void> { co_await q.join(); });
  EXPECT_EQ(co_await q.get(), "data");

  // Perform shut-down
  q.shutdown(true);  // unfinished tasks: 2 -> 1

  EXPECT_EQ(q.qsize(), 0u);

  // Ensure join() task is not finished
  co_await sleep0();
  EXPECT_FALSE(join_task.done());

  // Ensure put() and get() raise ShutDown
  EXPECT_THROW(co_await q.put("data"), aio::queue_shutdown);
  EXPECT_THROW(q.put_nowait("data"), aio::queue_shutdown);

  EXPECT_THROW((void)co_await q.get(), aio::queue_shutdown);
  EXPECT_THROW(q.get_nowait(), aio::queue_shutdown);

  // Ensure there is 1 unfinished task
  q.task_done();
  EXPECT_THROW(q.task_done(), std::invalid_argument) << "Didn't appear to mark all tasks done";

  // Ensure join() task has successfully finished
  co_await sleep0();
  EXPECT_TRUE(join_task.done());
  co_await join_task;
}

AIO_TEST_VIRTUAL_TIME(QueueShutdownTests, test_shutdown_empty) {
  co_await test_shutdown_empty<aio::queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(QueueShutdownTests, test_shutdown_nonempty) {
  co_await test_shutdown_nonempty<aio::queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(QueueShutdownTests, test_shutdown_immediate) {
  co_await test_shutdown_immediate<aio::queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(QueueShutdownTests, test_shutdown_immediate_with_unfinished) {
  co_await test_shutdown_immediate_with_unfinished<aio::queue<std::string>>();
}

AIO_TEST_VIRTUAL_TIME(LifoQueueShutdownTests, test_shutdown_empty) {
  co_await test_shutdown_empty<aio::lifo_queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(LifoQueueShutdownTests, test_shutdown_nonempty) {
  co_await test_shutdown_nonempty<aio::lifo_queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(LifoQueueShutdownTests, test_shutdown_immediate) {
  co_await test_shutdown_immediate<aio::lifo_queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(LifoQueueShutdownTests, test_shutdown_immediate_with_unfinished) {
  co_await test_shutdown_immediate_with_unfinished<aio::lifo_queue<std::string>>();
}

AIO_TEST_VIRTUAL_TIME(PriorityQueueShutdownTests, test_shutdown_empty) {
  co_await test_shutdown_empty<aio::priority_queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(PriorityQueueShutdownTests, test_shutdown_nonempty) {
  co_await test_shutdown_nonempty<aio::priority_queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(PriorityQueueShutdownTests, test_shutdown_immediate) {
  co_await test_shutdown_immediate<aio::priority_queue<std::string>>();
}
AIO_TEST_VIRTUAL_TIME(PriorityQueueShutdownTests, test_shutdown_immediate_with_unfinished) {
  co_await test_shutdown_immediate_with_unfinished<aio::priority_queue<std::string>>();
}

}  // namespace
