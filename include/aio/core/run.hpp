// SPDX-License-Identifier: MIT
// aio/core/run.hpp — aio::run(main): the program's entry point into async code
// (asyncio.run).
//
//   aio::coro<int> main_async() { co_await aio::sleep(1s); co_return 42; }
//   int main() { return aio::run(main_async()); }
//
// run() makes a fresh event loop on this thread, runs `main` (a coro, or a callable
// returning one, kept alive until it ends) as a task, and then shuts down as asyncio
// does: tasks still pending are cancelled and awaited (an exception one of them ends
// with is reported), and the loop is closed. It returns main's value or rethrows
// main's exception.
//
// Ctrl-C: while run() is running, SIGINT cancels the main task (asyncio 3.11+), so
// its clean-up code runs. When main has unwound, run() finishes the shutdown and then,
// like Python, ends the process as killed by SIGINT (exit status 130 in a shell), or
// with run_options::exit_on_sigint = false throws aio::keyboard_interrupt instead. A
// second Ctrl-C during the clean-up kills the process at once. run() only installs
// its handler on the main thread, and only if SIGINT has its default disposition (as
// asyncio.Runner); a run() in another thread leaves SIGINT alone.
//
// Errors: std::runtime_error if called while a loop is running on this thread.
// Thread safety: one run() per thread at a time; each thread gets its own loop.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "aio/core/event_loop.hpp"

namespace aio {

struct run_options {
  /// Debug mode (DESIGN.md §7); unset: from AIO_DEBUG.
  std::optional<bool> debug{};

  /// Run on virtual time (see loop_options::virtual_clock). For tests.
  bool virtual_clock = false;
  /// Cancel the main task on SIGINT.
  bool handle_sigint = true;
  /// After a SIGINT-cancelled main: end the process like Python (true), or throw
  /// aio::keyboard_interrupt (false).
  bool exit_on_sigint = true;
  /// The loop's backend (see backend_kind): by default io_uring when the kernel allows
  /// it, or what AIO_BACKEND says.
  backend_kind backend = backend_kind::automatic;
};
static_assert(std::is_trivially_destructible_v<run_options>);  // docs/hazards.md

namespace detail {

/// asyncio.Runner: owns the loop of one run() call.
class runner {
 public:
  explicit runner(const run_options& opts);
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;
  ~runner();
  event_loop& loop() noexcept { return loop_; }
  /// Runs the main task to completion, then shuts down and closes the loop. Handles
  /// SIGINT as described in run.hpp. The task's outcome stays in the task.
  void run_main(task_base* main);

 private:
  void shutdown() noexcept;
  run_options opts_;
  event_loop loop_;
  bool sigint_installed_ = false;
  int interrupts_ = 0;
};

}  // namespace detail

/// Runs `main` on a new event loop and returns its result (asyncio.run).
template <class Main>
auto run(Main&& main, run_options opts = {}) {
  static_assert(detail::is_coro<std::remove_cvref_t<Main>>::value || detail::coro_factory<Main>,
                "aio::run takes an aio::coro (main()) or a callable returning one");
  detail::runner r(opts);
  auto t = r.loop().create_task(std::forward<Main>(main), {.name = "main"});
  r.run_main(t.state());
  return detail::take_result(t);
}

}  // namespace aio
