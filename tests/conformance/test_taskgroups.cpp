// SPDX-License-Identifier: MIT
// Port of CPython's Lib/test/test_asyncio/test_taskgroups.py (see tests/conformance/README.md).
//
// One test per Python test method of BaseTestTaskGroup, run as TestTaskGroup (the
// Python class that runs them on the default loop). Differences for the whole file:
//  - `async with TaskGroup() as g: ...` is `co_await aio::with_task_group([&](g) ...)`;
//    the tests that enter a group twice or use it outside of a block drive a
//    task_group by hand with enter()/exit(), the public protocol that with_task_group
//    uses (asyncio's __aenter__/__aexit__).
//  - Python exceptions map to: ZeroDivisionError -> zero_division_error, ValueError ->
//    value_error, TypeError -> type_error, MyExc -> my_exc (std::exceptions),
//    MyBaseExc -> my_base_exc (not a std::exception, as BaseException is not an
//    Exception), RuntimeError -> std::runtime_error, KeyboardInterrupt ->
//    aio::keyboard_interrupt. ExceptionGroup and BaseExceptionGroup are both
//    aio::exception_group; `except* E` is exception_group::split<E>() (except_star below).
//  - asyncio.Event (not in aio's core) is an aio::future<void>.
//  - Time is virtual (AIO_TEST_VIRTUAL_TIME).
//
// Not ported: test_taskgroup_task_context (contextvars); test_exception_refcycles_direct,
// _errors, _parent_task, _parent_task_wr, _propagate_cancellation_error, _base_error
// (they check Python's reference cycles with gc.get_referrers); _test_taskgroup_21
// (disabled in CPython); the TestEagerTaskTaskGroup class (eager task factory).
#include <cxxabi.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

struct my_exc : std::exception {
  const char* what() const noexcept override { return "MyExc"; }
};
struct my_base_exc {};  // BaseException, not Exception
struct zero_division_error : std::domain_error {
  zero_division_error() : std::domain_error("division by zero") {}
};
struct value_error : std::invalid_argument {
  explicit value_error(const std::string& what = "ValueError") : std::invalid_argument(what) {}
};
struct type_error : std::logic_error {
  type_error() : std::logic_error("TypeError") {}
};

// --- helpers ---------------------------------------------------------------------------

std::string demangle(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> s(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                           std::free);
  return status == 0 && s ? s.get() : t.name();
}

// The dynamic type of an exception, demangled ("(anonymous namespace)::my_exc").
std::string type_name(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return t ? demangle(*t) : "?";
  }
}

template <class E>
std::string type_name() {
  return demangle(typeid(E));
}

// Python's get_error_types(eg): the types of the group's direct exceptions.
std::set<std::string> error_types(const aio::exception_group& eg) {
  std::set<std::string> s;
  for (const std::exception_ptr& e : eg.exceptions()) s.insert(type_name(e));
  return s;
}

template <class... E>
std::set<std::string> types() {
  return {type_name<E>()...};
}

// The exception_group that awaiting `aw` throws, or nullopt if it completes. Any
// other exception propagates (and fails the test).
template <class Aw>
aio::coro<std::optional<aio::exception_group>> catch_group(Aw aw) {
  std::optional<aio::exception_group> caught;
  try {
    co_await std::move(aw);
  } catch (const aio::exception_group& eg) {
    caught = eg;
  }
  co_return caught;
}

// `except* E:` — the part of `eg` that matches E; the rest, if any, is rethrown.
template <class E>
std::optional<aio::exception_group> except_star(const aio::exception_group& eg) {
  auto [match, rest] = eg.split<E>();
  if (rest) throw *rest;
  return match;
}

std::uint32_t current_cancelling() {
  return aio::current_task()->cancelling();
}

aio::coro<int> sleep_then_return(aio::duration d, int v) {
  co_await aio::sleep(d);
  co_return v;
}

aio::coro<void> sleep_for(aio::duration d) {
  co_await aio::sleep(d);
}

aio::coro<void> sleep_then_divide_by_zero(aio::duration d) {
  co_await aio::sleep(d);
  throw zero_division_error();
}

// try: await sleep(d)  finally: 1/0
aio::coro<void> divide_by_zero_when_cancelled(aio::duration d) {
  try {
    co_await aio::sleep(d);
  } catch (...) {
  }
  throw zero_division_error();
}

aio::coro<void> crash_after(aio::duration d) {
  co_await aio::sleep(d);
  throw value_error(std::to_string(std::chrono::duration<double>(d).count()));
}

template <class E>
aio::coro<void> raise_after(aio::duration d) {
  co_await aio::sleep(d);
  throw E("raise_after");
}

// --- tests -----------------------------------------------------------------------------

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_01) {
  aio::task<int> t1, t2;
  co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
    t1 = g.create_task(sleep_then_return(100ms, 42));
    t2 = g.create_task(sleep_then_return(200ms, 11));
    co_return;
  });
  EXPECT_EQ(t1.result(), 42);
  EXPECT_EQ(t2.result(), 11);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_02) {
  aio::task<int> t1, t2;
  co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
    t1 = g.create_task(sleep_then_return(100ms, 42));
    co_await aio::sleep(150ms);
    t2 = g.create_task(sleep_then_return(200ms, 11));
  });
  EXPECT_EQ(t1.result(), 42);
  EXPECT_EQ(t2.result(), 11);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_03) {
  aio::task<int> t1, t2;
  co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
    t1 = g.create_task(sleep_then_return(1s, 42));
    co_await aio::sleep(150ms);
    // Cancel t1 explicitly: everything else goes on as usual.
    t1.cancel();
    t2 = g.create_task(sleep_then_return(200ms, 11));
  });
  EXPECT_TRUE(t1.cancelled());
  EXPECT_EQ(t2.result(), 11);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_04) {
  int NUM = 0;
  bool t2_cancel = false;
  aio::task<void> t2;

  auto foo2 = [&]() -> aio::coro<void> {
    try {
      co_await aio::sleep(1s);
    } catch (const aio::cancelled_error&) {
      t2_cancel = true;
      throw;
    }
    NUM += 1;
  };
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      g.create_task(sleep_then_divide_by_zero(100ms));
      t2 = g.create_task(foo2);
      co_return;
    });
    NUM += 10;
  };

  auto eg = co_await catch_group(aio::create_task(runner));
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
  EXPECT_EQ(NUM, 0);
  EXPECT_TRUE(t2_cancel);
  EXPECT_TRUE(t2.cancelled());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_cancel_children_on_child_error) {
  // When a child task fails, the other children are cancelled and the errors are
  // gathered into a group.
  int NUM = 0;
  bool t2_cancel = false;
  bool runner_cancel = false;

  auto foo2 = [&]() -> aio::coro<void> {
    try {
      co_await aio::sleep(5s);
    } catch (const aio::cancelled_error&) {
      t2_cancel = true;
      throw;
    }
    NUM += 1;
  };
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      g.create_task(sleep_then_divide_by_zero(100ms));
      g.create_task(sleep_then_divide_by_zero(100ms));
      g.create_task(sleep_then_divide_by_zero(100ms));
      g.create_task(foo2);
      try {
        co_await aio::sleep(10s);
      } catch (const aio::cancelled_error&) {
        runner_cancel = true;
        throw;
      }
    });
    NUM += 10;
  };

  auto eg = co_await catch_group(aio::create_task(runner));
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
  EXPECT_EQ(NUM, 0);
  EXPECT_TRUE(t2_cancel);
  EXPECT_TRUE(runner_cancel);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_cancellation) {
  int NUM = 0;
  auto foo = [&]() -> aio::coro<void> {
    try {
      co_await aio::sleep(5s);
    } catch (const aio::cancelled_error&) {
      NUM += 1;
      throw;
    }
  };
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      for (int i = 0; i < 5; ++i) g.create_task(foo);
      co_return;
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  EXPECT_THROW(co_await r, aio::cancelled_error);
  EXPECT_EQ(NUM, 5);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_07) {
  int NUM = 0;
  auto foo = [&]() -> aio::coro<void> {
    try {
      co_await aio::sleep(5s);
    } catch (const aio::cancelled_error&) {
      NUM += 1;
      throw;
    }
  };
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      for (int i = 0; i < 5; ++i) g.create_task(foo);
      try {
        co_await aio::sleep(10s);
      } catch (const aio::cancelled_error&) {
        NUM += 10;
        throw;
      }
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  EXPECT_THROW(co_await r, aio::cancelled_error);
  EXPECT_EQ(NUM, 15);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_08) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
      for (int i = 0; i < 5; ++i) g.create_task(divide_by_zero_when_cancelled(10s));
      co_await aio::sleep(10s);
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  // The children's errors take precedence over the cancellation.
  auto eg = co_await catch_group(r);
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_09) {
  aio::task<int> t1, t2;
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      t1 = g.create_task(sleep_then_return(1s, 42));
      t2 = g.create_task(sleep_then_return(2s, 11));
      co_await aio::sleep(100ms);
      throw zero_division_error();
    });
  };

  auto eg = co_await catch_group(runner());
  CO_ASSERT_TRUE(eg.has_value());  // the exception_group was raised
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
  EXPECT_TRUE(t1.cancelled());
  EXPECT_TRUE(t2.cancelled());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_10) {
  aio::task<int> t1, t2;
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      t1 = g.create_task(sleep_then_return(1s, 42));
      t2 = g.create_task(sleep_then_return(2s, 11));
      throw zero_division_error();
      co_return;
    });
  };

  auto eg = co_await catch_group(runner());
  CO_ASSERT_TRUE(eg.has_value());  // the exception_group was raised
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
  EXPECT_TRUE(t1.cancelled());
  EXPECT_TRUE(t2.cancelled());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_11) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group&) -> aio::coro<void> {
      co_await aio::with_task_group([](aio::task_group& g2) -> aio::coro<void> {
        for (int i = 0; i < 5; ++i) g2.create_task(divide_by_zero_when_cancelled(10s));
        co_await aio::sleep(10s);
      });
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto eg = co_await catch_group(r);
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<aio::exception_group>());
  CO_ASSERT_EQ(eg->exceptions().size(), 1u);
  try {
    std::rethrow_exception(eg->exceptions()[0]);
  } catch (const aio::exception_group& inner) {
    EXPECT_EQ(error_types(inner), types<zero_division_error>());
  } catch (...) {
  }
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_12) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g1) -> aio::coro<void> {
      g1.create_task(sleep_for(10s));
      co_await aio::with_task_group([](aio::task_group& g2) -> aio::coro<void> {
        for (int i = 0; i < 5; ++i) g2.create_task(divide_by_zero_when_cancelled(10s));
        co_await aio::sleep(10s);
      });
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto eg = co_await catch_group(r);
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<aio::exception_group>());
  CO_ASSERT_EQ(eg->exceptions().size(), 1u);
  try {
    std::rethrow_exception(eg->exceptions()[0]);
  } catch (const aio::exception_group& inner) {
    EXPECT_EQ(error_types(inner), types<zero_division_error>());
  } catch (...) {
  }
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_13) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g1) -> aio::coro<void> {
      g1.create_task(crash_after(100ms));
      co_await aio::with_task_group([](aio::task_group& g2) -> aio::coro<void> {
        g2.create_task(crash_after(10s));
        co_return;
      });
    });
  };

  auto eg = co_await catch_group(aio::create_task(runner));
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<value_error>());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_14) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g1) -> aio::coro<void> {
      g1.create_task(crash_after(10s));
      co_await aio::with_task_group([](aio::task_group& g2) -> aio::coro<void> {
        g2.create_task(crash_after(100ms));
        co_return;
      });
    });
  };

  auto eg = co_await catch_group(aio::create_task(runner));
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<aio::exception_group>());
  CO_ASSERT_EQ(eg->exceptions().size(), 1u);
  try {
    std::rethrow_exception(eg->exceptions()[0]);
  } catch (const aio::exception_group& inner) {
    EXPECT_EQ(error_types(inner), types<value_error>());
  } catch (...) {
  }
}

// The body of test_taskgroup_15/16: on cancellation, sleep a while longer, then let
// the cancellation go on (try: sleep(10) except CancelledError: sleep(0.5); raise).
aio::coro<void> slow_to_cancel_group() {
  co_await aio::with_task_group([](aio::task_group& g1) -> aio::coro<void> {
    g1.create_task(sleep_then_divide_by_zero(300ms));
    std::exception_ptr cancel;
    try {
      co_await aio::sleep(10s);
    } catch (const aio::cancelled_error&) {
      cancel = std::current_exception();
    }
    if (cancel) {
      co_await aio::sleep(500ms);
      std::rethrow_exception(cancel);
    }
  });
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_15) {
  aio::task<void> r = aio::create_task(slow_to_cancel_group());
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto eg = co_await catch_group(r);
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_16) {
  auto runner = []() -> aio::coro<void> {
    aio::task<void> t = aio::create_task(slow_to_cancel_group());
    co_await t;
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto eg = co_await catch_group(r);
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_17) {
  int NUM = 0;
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group&) -> aio::coro<void> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::cancelled_error&) {
        NUM += 10;
        throw;
      }
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  EXPECT_THROW(co_await r, aio::cancelled_error);
  EXPECT_EQ(NUM, 10);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_18) {
  int NUM = 0;
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group&) -> aio::coro<void> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::cancelled_error&) {
        NUM += 10;
        // Not a good idea, but it has to be supported.
        throw my_exc();
      }
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(100ms);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto eg = co_await catch_group(r);
  CO_ASSERT_TRUE(eg.has_value());  // the exception_group was raised
  EXPECT_EQ(error_types(*eg), types<my_exc>());
  EXPECT_EQ(NUM, 10);
}

// try: await sleep(10)  finally: raise E
template <class E>
aio::coro<void> nested_raising() {
  try {
    co_await aio::sleep(10s);
  } catch (...) {
  }
  throw E();
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_19) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
      g.create_task(sleep_then_divide_by_zero(100ms));
      co_await nested_raising<my_exc>();
    });
  };

  auto eg = co_await catch_group(aio::create_task(runner));
  CO_ASSERT_TRUE(eg.has_value());  // the exception_group was raised
  EXPECT_EQ(error_types(*eg), (types<my_exc, zero_division_error>()));
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_20) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
      g.create_task(sleep_then_divide_by_zero(100ms));
      co_await nested_raising<aio::keyboard_interrupt>();
    });
  };

  bool interrupted = false;
  try {
    co_await runner();
  } catch (const aio::keyboard_interrupt&) {
    interrupted = true;
  } catch (const aio::exception_group& eg) {
    ADD_FAILURE() << "got " << eg.what() << " instead of aio::keyboard_interrupt";
  }
  EXPECT_TRUE(interrupted);
  // gh-135736: the child's error that keyboard_interrupt would hide is reported.
  auto reports = aio::testing::take_reports();
  CO_ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(aio::exception_group::matches<zero_division_error>(reports[0].exception));
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_20a) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
      g.create_task(sleep_then_divide_by_zero(100ms));
      co_await nested_raising<my_base_exc>();
    });
  };

  auto eg = co_await catch_group(runner());
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), (types<my_base_exc, zero_division_error>()));
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_21a) {
  auto crash_soon = []() -> aio::coro<void> {
    co_await aio::sleep(100ms);
    throw my_base_exc();
  };
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      g.create_task(crash_soon);
      co_await nested_raising<type_error>();
    });
  };

  auto eg = co_await catch_group(runner());
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), (types<my_base_exc, type_error>()));
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_22) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
      g.create_task(sleep_then_return(1s, 42));
      g.create_task(sleep_then_return(2s, 11));
      co_return;
    });
  };

  aio::task<void> r = aio::create_task(runner);
  co_await aio::sleep(50ms);
  r.cancel();
  EXPECT_THROW(co_await r, aio::cancelled_error);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_23) {
  co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
    for (int count = 0; count < 10; ++count) {
      co_await aio::sleep(100ms);
      g.create_task(sleep_for(300ms));
      if (count == 5) {
        EXPECT_LT(g.size(), 5u);
      }
    }
    co_await aio::sleep(1350ms);
    EXPECT_EQ(g.size(), 0u);
  });
}

aio::coro<void> root_24(aio::task_group& g) {
  co_await aio::sleep(100ms);
  g.create_task(sleep_for(100ms));
  g.create_task(sleep_for(200ms));
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_24) {
  auto runner = []() -> aio::coro<void> {
    co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
      g.create_task(root_24(g));
      co_return;
    });
  };
  co_await runner();
}

// hydra(...) inside hydra only creates a coroutine (it runs later, as a new task);
// clang's -Winfinite-recursion cannot tell.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winfinite-recursion"
#endif
aio::coro<void> hydra(aio::task_group& g, int& nhydras) {
  nhydras += 1;
  co_await aio::sleep(10ms);
  g.create_task(hydra(g, nhydras));
  g.create_task(hydra(g, nhydras));
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

aio::coro<void> hercules(const int& nhydras) {
  while (nhydras < 10) co_await aio::sleep(15ms);
  throw zero_division_error();
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_25) {
  int nhydras = 0;
  auto runner = [&]() -> aio::coro<void> {
    co_await aio::with_task_group([&](aio::task_group& g) -> aio::coro<void> {
      g.create_task(hydra(g, nhydras));
      g.create_task(hercules(nhydras));
      co_return;
    });
  };

  auto eg = co_await catch_group(runner());
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
  EXPECT_GE(nhydras, 10);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_task_name) {
  co_await aio::with_task_group([](aio::task_group& g) -> aio::coro<void> {
    aio::task<void> t = g.create_task(sleep_for(0s), {.name = "yolo"});
    EXPECT_EQ(t.get_name(), "yolo");
    co_return;
  });
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_no_create_task_after_failure) {
  auto body = [](aio::task_group& g) -> aio::coro<void> {
    g.create_task(sleep_then_divide_by_zero(1ms));
    g.create_task([&g]() -> aio::coro<void> {
      try {
        co_await aio::sleep(1s);
      } catch (const aio::cancelled_error&) {
        EXPECT_THROW(g.create_task(sleep_then_divide_by_zero(1ms)), std::runtime_error);
      }
    });
    co_return;
  };

  auto eg = co_await catch_group(aio::with_task_group(body));
  CO_ASSERT_TRUE(eg.has_value());
  EXPECT_EQ(error_types(*eg), types<zero_division_error>());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_context_manager_exit_raises) {
  // See https://github.com/python/cpython/issues/95289
  struct custom_exception : std::exception {};
  auto raise_exc = []() -> aio::coro<void> {
    throw custom_exception();
    co_return;
  };
  auto main_ = [&]() -> aio::coro<void> {
    aio::any_task task = *aio::current_task();
    auto body = [&](aio::task_group& tg) -> aio::coro<void> {
      // async with database(): ..., where database() raises CustomException in its
      // `finally:` (which replaces the cancellation that the failing child caused).
      try {
        tg.create_task(raise_exc);
        co_await aio::sleep(1s);
      } catch (...) {
      }
      throw custom_exception();
    };
    bool caught = false;
    try {
      co_await aio::with_task_group(body);
    } catch (const aio::exception_group& eg) {
      caught = true;
      auto err = except_star<custom_exception>(eg);
      EXPECT_EQ(task.cancelling(), 0u);
      EXPECT_TRUE(err.has_value() && err->exceptions().size() == 2u) << eg.what();
    }
    if (!caught) ADD_FAILURE() << "CustomException not raised";
  };
  co_await aio::create_task(main_);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_already_entered) {
  co_await aio::with_task_group([](aio::task_group& tg) -> aio::coro<void> {
    try {
      tg.enter();
      ADD_FAILURE() << "entering an entered task group did not throw";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string_view(e.what()).find("has already been entered"), std::string::npos)
          << e.what();
    }
    co_return;
  });
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_double_enter) {
  aio::task_group tg;  // `async with tg: pass`, by hand
  tg.enter();
  co_await tg.exit(nullptr);
  try {
    tg.enter();
    ADD_FAILURE() << "entering a finished task group did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string_view(e.what()).find("has already been entered"), std::string::npos)
        << e.what();
  }
}

// test_taskgroup_finished also checks that the coroutine handed to the finished group is
// closed without the "was never awaited" warning; that warning only exists in debug
// mode, so the test runs in debug mode and watches the log.
aio::coro<void> taskgroup_finished_body() {
  std::vector<std::string> warnings;
  struct restore_log {
    aio::log_handler previous;
    ~restore_log() { aio::set_log_handler(std::move(previous)); }
  } restore{aio::set_log_handler([&](aio::log_level, std::string_view msg) {
    if (msg.find("never awaited") != std::string_view::npos) warnings.emplace_back(msg);
  })};
  {
    aio::task_group tg;  // `async with tg: pass`, by hand
    tg.enter();
    co_await tg.exit(nullptr);
    try {
      tg.create_task(sleep_for(0s));
      ADD_FAILURE() << "create_task on a finished task group did not throw";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string_view(e.what()).find("is finished"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(TestTaskGroup, test_taskgroup_finished) {
  aio::testing::run_test(&taskgroup_finished_body, {.virtual_clock = true, .debug = true});
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_not_entered) {
  aio::task_group tg;
  try {
    tg.create_task(sleep_for(0s));
    ADD_FAILURE() << "create_task on a task group that was not entered did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string_view(e.what()).find("has not been entered"), std::string::npos)
        << e.what();
  }
  co_return;
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_taskgroup_without_parent_task) {
  // Python enters the group from a coroutine driven outside of any task; the nearest
  // thing here is a plain loop callback.
  aio::future<void> done;
  aio::get_running_loop().call_soon([&] {
    aio::task_group tg;
    try {
      tg.enter();
      ADD_FAILURE() << "entering a task group outside of a task did not throw";
    } catch (const std::logic_error& e) {
      // asyncio raises RuntimeError ("cannot determine the parent task"); aio's
      // require_task() documents std::logic_error.
      EXPECT_NE(std::string_view(e.what()).find("task"), std::string::npos) << e.what();
    }
    try {
      tg.create_task(sleep_for(0s));
      ADD_FAILURE() << "create_task on a task group that was not entered did not throw";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string_view(e.what()).find("has not been entered"), std::string::npos)
          << e.what();
    }
    done.set_result();
  });
  co_await done;
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_coro_closed_when_tg_closed) {
  aio::task_group tg;  // `async with TaskGroup() as tg: pass`, by hand
  tg.enter();
  co_await tg.exit(nullptr);
  try {
    tg.create_task(sleep_for(0s));
    ADD_FAILURE() << "create_task on a finished task group did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string_view(e.what()).find("is finished"), std::string::npos) << e.what();
  }
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_cancelling_level_preserved) {
  try {
    co_await aio::with_task_group([](aio::task_group& tg) -> aio::coro<void> {
      tg.create_task(raise_after<std::runtime_error>(0s));
      co_return;
    });
  } catch (const aio::exception_group& eg) {
    except_star<std::runtime_error>(eg);
  }
  EXPECT_EQ(current_cancelling(), 0u);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_nested_groups_both_cancelled) {
  bool value_error_raised = false;
  try {
    co_await aio::with_task_group([](aio::task_group& outer_tg) -> aio::coro<void> {
      bool runtime_error_raised = false;
      try {
        co_await aio::with_task_group([&](aio::task_group& inner_tg) -> aio::coro<void> {
          inner_tg.create_task(raise_after<std::runtime_error>(0s));
          outer_tg.create_task(raise_after<value_error>(0s));
          co_return;
        });
      } catch (const aio::exception_group& eg) {
        except_star<std::runtime_error>(eg);
        runtime_error_raised = true;
      }
      EXPECT_TRUE(runtime_error_raised) << "RuntimeError not raised";
      EXPECT_EQ(current_cancelling(), 1u);
    });
  } catch (const aio::exception_group& eg) {
    except_star<value_error>(eg);
    value_error_raised = true;
  }
  EXPECT_TRUE(value_error_raised) << "ValueError not raised";
  EXPECT_EQ(current_cancelling(), 0u);
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_error_and_cancel) {
  aio::future<void> event;

  auto raise_error = [&]() -> aio::coro<void> {
    event.set_result();
    co_await aio::sleep(0s);
    throw std::runtime_error("raise_error");
  };
  auto inner = [&]() -> aio::coro<void> {
    try {
      co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
        tg.create_task(raise_error);
        co_await aio::sleep(1s);
        ADD_FAILURE() << "Sleep in group should have been cancelled";
      });
    } catch (const aio::exception_group& eg) {
      except_star<std::runtime_error>(eg);
      EXPECT_EQ(current_cancelling(), 1u);
    }
    EXPECT_EQ(current_cancelling(), 1u);
    co_await aio::sleep(1s);
    ADD_FAILURE() << "Sleep after group should have been cancelled";
  };
  auto outer = [&]() -> aio::coro<void> {
    aio::task<void> t = aio::create_task(inner);
    co_await event;
    EXPECT_EQ(t.cancelling(), 0u);
    t.cancel();
    EXPECT_EQ(t.cancelling(), 1u);
    EXPECT_THROW(co_await t, aio::cancelled_error);
    EXPECT_TRUE(t.cancelled());
  };
  co_await outer();
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_name) {
  std::string name;
  co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
    tg.create_task(
        [&]() -> aio::coro<void> {
          name = aio::current_task()->get_name();
          co_return;
        },
        {.name = "example name"});
    co_return;
  });
  EXPECT_EQ(name, "example name");
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_cancels_task_if_created_during_creation) {
  // Regression test for gh-128550.
  struct my_error : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  bool ran = false;
  std::optional<aio::exception_group> exc;
  try {
    co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
      auto third_task = []() -> aio::coro<void> {
        throw my_error("third task failed");
        co_return;
      };
      auto second_task = [&tg, &ran, third_task]() -> aio::coro<void> {
        tg.create_task(third_task);
        bool cancelled = false;
        try {
          co_await aio::sleep(0s);  // eager tasks are cancelled here
          co_await aio::sleep(0s);  // lazy tasks are cancelled here
        } catch (const aio::cancelled_error&) {
          cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        ran = true;
      };
      tg.create_task(second_task);
      co_return;
    });
  } catch (const aio::exception_group& eg) {
    exc = except_star<my_error>(eg);
  }
  EXPECT_TRUE(ran);
  CO_ASSERT_TRUE(exc.has_value());
  EXPECT_EQ(error_types(*exc), types<my_error>());
}

AIO_TEST_VIRTUAL_TIME(TestTaskGroup, test_cancellation_does_not_leak_out_of_tg) {
  struct my_error : std::exception {};
  auto throw_error = []() -> aio::coro<void> {
    throw my_error();
    co_return;
  };
  bool caught = false;
  try {
    co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
      tg.create_task(throw_error);
      co_return;
    });
  } catch (const aio::exception_group& eg) {
    except_star<my_error>(eg);
    caught = true;
  }
  EXPECT_TRUE(caught) << "should have raised one my_error in a group";
  // If the group's cancellation leaked out, this await would be cancelled.
  co_await aio::sleep(0s);
}

}  // namespace
