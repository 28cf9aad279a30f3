// SPDX-License-Identifier: MIT
// Port of CPython's Lib/test/test_asyncio/test_runners.py (see tests/conformance/README.md).
//
// asyncio.run(main()) is aio::run(main()). These tests are plain TESTs (not AIO_TEST):
// each one makes and closes its own loop through aio::run.
//
// aio has no asyncio.Runner; the RunnerTests about Ctrl-C (test_interrupt_*,
// test_signal_install_not_supported_ok) are ported onto aio::run, whose SIGINT handling
// is the Runner's: Runner.run() raising KeyboardInterrupt is aio::run(main,
// {.exit_on_sigint = false}) throwing aio::keyboard_interrupt. Python's
// _thread.interrupt_main() is raise(SIGINT). They need SIGINT at its default
// disposition (run() only installs its handler then), which is how a test binary
// starts.
//
// The suite RunSigintProcessTests is aio's own (no Python counterpart): with the
// default exit_on_sigint = true, run() ends the process as killed by SIGINT, so those
// cases run aio::run in a child process (fork) and check its exit status.
//
// Not ported (Python-only or API aio does not have):
//  - RunTests.test_asyncio_run_only_coro: aio::run rejects a non-coroutine at compile
//    time (static_assert), there is nothing to run.
//  - RunTests.test_asyncio_run_set_event_loop, RunnerTests.test_set_event_loop_called_once:
//    event loop policies / set_event_loop.
//  - RunTests.test_asyncio_run_without_uncancel: custom task factories.
//  - RunTests.test_asyncio_run_loop_factory, test_loop_factory_default_event_loop,
//    RunnerTests.test_custom_factory: loop_factory.
//  - RunnerTests.test_non_debug, test_debug, test_run, test_run_non_coro,
//    test_run_future, test_run_awaitable, test_explicit_close, test_double_close,
//    test_second_with_block_raises, test_recursive_run: the asyncio.Runner object
//    (get_loop, close, several run() calls on one loop).
//  - RunnerTests.test_run_keeps_context: contextvars.
//  - RunnerTests.test_no_repr_is_call_on_the_task_result: repr().
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

struct value_error : std::invalid_argument {
  explicit value_error(const std::string& what) : std::invalid_argument(what) {}
};
struct zero_division_error : std::domain_error {
  zero_division_error() : std::domain_error("division by zero") {}
};

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

bool sigint_is_default() {
  struct sigaction sa {};
  ::sigaction(SIGINT, nullptr, &sa);
  return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

// Sets an environment variable for the scope, restoring the old value after.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// --- RunTests --------------------------------------------------------------------------

TEST(RunTests, test_asyncio_run_return) {
  auto main_ = []() -> aio::coro<int> {
    co_await aio::sleep(0s);
    co_return 42;
  };
  EXPECT_EQ(aio::run(main_()), 42);
}

TEST(RunTests, test_asyncio_run_raises) {
  auto main_ = []() -> aio::coro<void> {
    co_await aio::sleep(0s);
    throw value_error("spam");
  };
  try {
    aio::run(main_());
    ADD_FAILURE() << "run() did not rethrow main's exception";
  } catch (const value_error& e) {
    EXPECT_STREQ(e.what(), "spam");
  }
}

TEST(RunTests, test_asyncio_run_debug) {
  auto main_ = [](bool expected) -> aio::coro<void> {
    EXPECT_EQ(aio::get_running_loop().get_debug(), expected);
    co_return;
  };
  {
    scoped_env env("AIO_DEBUG", nullptr);
    aio::run(main_(false), {.debug = false});
    aio::run(main_(true), {.debug = true});
  }
  {
    // Python patches asyncio.coroutines._is_debug_mode; aio reads AIO_DEBUG.
    scoped_env env("AIO_DEBUG", "1");
    aio::run(main_(true));
    aio::run(main_(false), {.debug = false});
  }
  {
    scoped_env env("AIO_DEBUG", "0");
    aio::run(main_(true), {.debug = true});
    aio::run(main_(false));
  }
}

TEST(RunTests, test_asyncio_run_from_running_loop) {
  auto inner = []() -> aio::coro<void> { co_return; };
  auto main_ = [&]() -> aio::coro<void> {
    aio::run(inner());
    co_return;
  };
  try {
    aio::run(main_());
    ADD_FAILURE() << "a nested aio::run() did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot be called from a running")) << e.what();
  }
}

TEST(RunTests, test_asyncio_run_cancels_hanging_tasks) {
  aio::task<void> lo_task;
  auto leftover = []() -> aio::coro<void> { co_await aio::sleep(100ms); };
  auto main_ = [&]() -> aio::coro<int> {
    lo_task = aio::create_task(leftover);
    co_return 123;
  };
  EXPECT_EQ(aio::run(main_()), 123);
  EXPECT_TRUE(lo_task.done());
  EXPECT_TRUE(lo_task.cancelled());
}

TEST(RunTests, test_asyncio_run_reports_hanging_tasks_errors) {
  aio::task<void> lo_task;
  std::vector<aio::exception_context> calls;  // Python mocks call_exception_handler

  auto leftover = []() -> aio::coro<void> {
    try {
      co_await aio::sleep(100ms);
    } catch (const aio::cancelled_error&) {
      throw zero_division_error();
    }
  };
  auto main_ = [&]() -> aio::coro<int> {
    aio::get_running_loop().set_exception_handler(
        [&](aio::event_loop&, const aio::exception_context& ctx) { calls.push_back(ctx); });
    lo_task = aio::create_task(leftover);
    co_return 123;
  };

  EXPECT_EQ(aio::run(main_()), 123);
  EXPECT_TRUE(lo_task.done());

  ASSERT_FALSE(calls.empty());
  const aio::exception_context& last = calls.back();  // assert_called_with: the last call
  // asyncio's message matches r'asyncio.run.*shutdown'.
  const auto run_at = last.message.find("run");
  EXPECT_TRUE(run_at != std::string::npos &&
              last.message.find("shutdown", run_at) != std::string::npos)
      << last.message;
  ASSERT_TRUE(last.task.has_value());
  EXPECT_TRUE(*last.task == lo_task);
  EXPECT_TRUE(aio::exception_group::matches<zero_division_error>(last.exception))
      << aio::describe(last.exception);
}

TEST(RunTests, test_asyncio_run_closes_gens_after_hanging_tasks_errors) {
  // Python's version also checks that the async generator the leftover task iterates
  // is finalized; aio has no async generators, so the leftover task loops on sleep().
  // What remains: main's exception comes out of run(), and the leftover task (which
  // fails if it is cancelled once started) is finished.
  struct fancy_exit : std::exception {};
  aio::task<void> lazyboy;

  auto spin = []() -> aio::coro<void> {
    try {
      for (;;) co_await aio::sleep(1s);
    } catch (const aio::cancelled_error&) {
      throw zero_division_error();
    }
  };
  auto main_ = [&]() -> aio::coro<void> {
    aio::get_running_loop().set_exception_handler(
        [](aio::event_loop&, const aio::exception_context&) {});  // Python: a Mock
    lazyboy = aio::create_task(spin);
    throw fancy_exit();
    co_return;
  };

  EXPECT_THROW(aio::run(main_()), fancy_exit);
  EXPECT_TRUE(lazyboy.done());
}

// --- RunnerTests (Ctrl-C handling of the runner, ported onto aio::run) ------------------

TEST(RunnerTests, test_interrupt_call_soon) {
  // The only case where the task is not suspended waiting for a future or another task.
  ASSERT_TRUE(sigint_is_default());
  auto coro_ = []() -> aio::coro<void> {
    // Real time: the task never lets the loop idle, so virtual time would not move.
    aio::get_running_loop().call_later(100ms, [] { ::raise(SIGINT); });
    bool cancelled = false;
    try {
      for (;;) co_await aio::sleep(0s);
    } catch (const aio::cancelled_error&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    throw aio::cancelled_error();
  };
  EXPECT_THROW(aio::run(coro_(), {.exit_on_sigint = false}), aio::keyboard_interrupt);
  EXPECT_TRUE(sigint_is_default());
}

TEST(RunnerTests, test_interrupt_wait) {
  // Interrupting while main waits for a future cancels both the future and main.
  ASSERT_TRUE(sigint_is_default());
  std::optional<aio::future<void>> fut;
  auto coro_ = [&]() -> aio::coro<void> {
    fut.emplace();  // Python creates it on the runner's loop before run()
    aio::get_running_loop().call_later(100ms, [] { ::raise(SIGINT); });
    bool cancelled = false;
    try {
      co_await *fut;
    } catch (const aio::cancelled_error&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    throw aio::cancelled_error();
  };
  EXPECT_THROW(aio::run(coro_(), {.virtual_clock = true, .exit_on_sigint = false}),
               aio::keyboard_interrupt);
  ASSERT_TRUE(fut.has_value());
  EXPECT_TRUE(fut->cancelled());
  EXPECT_TRUE(sigint_is_default());
}

TEST(RunnerTests, test_interrupt_cancelled_task) {
  // Interrupting a main task that was cancelled otherwise too is no KeyboardInterrupt:
  // run() sees the other cancellation and rethrows cancelled_error.
  ASSERT_TRUE(sigint_is_default());
  auto subtask = [](aio::any_task task) -> aio::coro<void> {
    co_await aio::sleep(0s);
    task.cancel();
    ::raise(SIGINT);
  };
  auto coro_ = [&]() -> aio::coro<void> {
    aio::create_task(subtask(*aio::current_task()));
    co_await aio::sleep(10s);
  };
  EXPECT_THROW(aio::run(coro_(), {.virtual_clock = true, .exit_on_sigint = false}),
               aio::cancelled_error);
  EXPECT_TRUE(sigint_is_default());
}

TEST(RunnerTests, test_signal_install_not_supported_ok) {
  // Python makes signal.signal() fail; aio::run's equivalent case is a SIGINT that is
  // not at its default disposition: run() leaves it alone and works as usual.
  ASSERT_TRUE(sigint_is_default());
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(::sigaction(SIGINT, &ignore, &previous), 0);

  auto coro_ = []() -> aio::coro<int> { co_return 7; };
  EXPECT_EQ(aio::run(coro_()), 7);

  struct sigaction now {};
  ::sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  ::sigaction(SIGINT, &previous, nullptr);
}

// --- RunSigintProcessTests (aio's own) --------------------------------------------------
//
// A child process runs aio::run; it reports its progress as lines on a pipe, and the
// parent sends SIGINT when the child says "ready" (and again on "cleanup" when asked).

struct child_outcome {
  int status = 0;      // as from waitpid
  std::string output;  // every line the child wrote
  bool hung = false;
};

// Runs `body(fd)` in a child process (which then _exits with the returned code).
// `on_line(line, pid)` is called in the parent for every line the child writes.
child_outcome run_child(const std::function<int(int)>& body,
                        const std::function<void(const std::string&, pid_t)>& on_line) {
  child_outcome out;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return out;
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return out;
  }
  if (pid == 0) {
    ::close(fds[0]);
    int code = 99;
    try {
      code = body(fds[1]);
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string pending;
  // A watchdog, not a timing assertion: a child that hangs is killed and reported.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up - std::chrono::steady_clock::now());
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (r == 0) {
      out.hung = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[256];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      out.output += line + "\n";
      on_line(line, pid);
    }
  }
  ::close(fds[0]);
  while (::waitpid(pid, &out.status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

void say(int fd, const char* line) {
  const std::string s = std::string(line) + "\n";
  [[maybe_unused]] const ssize_t n = ::write(fd, s.data(), s.size());
}

// main() of the child: says "ready", sleeps; on cancellation says "cleanup", optionally
// sleeps again (for a second Ctrl-C), says "done" and lets the cancellation go on.
aio::coro<void> interruptible_main(int fd, bool slow_cleanup) {
  say(fd, "ready");
  std::exception_ptr cancel;
  try {
    co_await aio::sleep(1h);
  } catch (const aio::cancelled_error&) {
    cancel = std::current_exception();
  }
  say(fd, cancel ? "cleanup" : "not cancelled");
  if (slow_cleanup) co_await aio::sleep(1h);
  say(fd, "done");
  if (cancel) std::rethrow_exception(cancel);
}

TEST(RunSigintProcessTests, sigint_cancels_main_then_exits_killed_by_sigint) {
  ASSERT_TRUE(sigint_is_default());
  const child_outcome c = run_child(
      [](int fd) {
        aio::run(interruptible_main(fd, false));
        say(fd, "run returned");
        return 0;
      },
      [](const std::string& line, pid_t pid) {
        if (line == "ready") ::kill(pid, SIGINT);
      });
  EXPECT_FALSE(c.hung);
  EXPECT_EQ(c.output, "ready\ncleanup\ndone\n");
  // Killed by SIGINT, as Python does after a KeyboardInterrupt (a shell shows 130).
  EXPECT_TRUE(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGINT) << "status " << c.status;
}

TEST(RunSigintProcessTests, sigint_with_exit_on_sigint_false_throws_keyboard_interrupt) {
  ASSERT_TRUE(sigint_is_default());
  const child_outcome c = run_child(
      [](int fd) {
        try {
          aio::run(interruptible_main(fd, false), {.exit_on_sigint = false});
          say(fd, "run returned");
        } catch (const aio::keyboard_interrupt&) {
          say(fd, "keyboard_interrupt");
        } catch (const aio::cancelled_error&) {
          say(fd, "cancelled_error");
        }
        return 0;
      },
      [](const std::string& line, pid_t pid) {
        if (line == "ready") ::kill(pid, SIGINT);
      });
  EXPECT_FALSE(c.hung);
  EXPECT_EQ(c.output, "ready\ncleanup\ndone\nkeyboard_interrupt\n");
  EXPECT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) << "status " << c.status;
}

TEST(RunSigintProcessTests, second_sigint_during_cleanup_kills_at_once) {
  ASSERT_TRUE(sigint_is_default());
  const child_outcome c = run_child(
      [](int fd) {
        aio::run(interruptible_main(fd, true));
        say(fd, "run returned");
        return 0;
      },
      [](const std::string& line, pid_t pid) {
        if (line == "ready" || line == "cleanup") ::kill(pid, SIGINT);
      });
  EXPECT_FALSE(c.hung);
  EXPECT_EQ(c.output, "ready\ncleanup\n");
  EXPECT_TRUE(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGINT) << "status " << c.status;
}

TEST(RunSigintProcessTests, main_that_swallows_the_cancel_is_not_an_interrupt) {
  // asyncio: KeyboardInterrupt only if main ended cancelled by that SIGINT. A main that
  // catches the cancellation and returns normally makes run() return its value.
  ASSERT_TRUE(sigint_is_default());
  const child_outcome c = run_child(
      [](int fd) {
        auto main_ = [fd]() -> aio::coro<int> {
          say(fd, "ready");
          try {
            co_await aio::sleep(1h);
          } catch (const aio::cancelled_error&) {
            say(fd, "cleanup");
          }
          co_return 5;
        };
        const int v = aio::run(main_());
        say(fd, v == 5 ? "returned 5" : "returned something else");
        return 0;
      },
      [](const std::string& line, pid_t pid) {
        if (line == "ready") ::kill(pid, SIGINT);
      });
  EXPECT_FALSE(c.hung);
  EXPECT_EQ(c.output, "ready\ncleanup\nreturned 5\n");
  EXPECT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) << "status " << c.status;
}

}  // namespace
