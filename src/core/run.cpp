// SPDX-License-Identifier: MIT
#include "aio/core/run.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>

namespace aio::detail {

namespace {

bool sigint_is_default() noexcept {
  struct sigaction cur {};
  if (::sigaction(SIGINT, nullptr, &cur) < 0) return false;
  return !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
}

// Awaits every task, ignoring outcomes (the caller inspects them afterwards).
coro<void> wait_all(std::vector<any_task> tasks) {
  for (any_task& t : tasks) {
    try {
      co_await t;
    } catch (...) {
    }
  }
}

[[noreturn]] void die_by_sigint() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::signal(SIGINT, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(SIGINT);
  ::_exit(130);  // SIGINT was ignored or blocked by someone else
}

}  // namespace

runner::runner(const run_options& opts)
    : opts_(opts),
      loop_(loop_options{
          .debug = opts.debug, .virtual_clock = opts.virtual_clock, .backend = opts.backend}) {
  if (tls_context.loop) {
    loop_.close();
    throw std::runtime_error("aio::run() cannot be called from a running event loop");
  }
}

runner::~runner() {
  if (sigint_installed_) loop_.remove_signal_handler(SIGINT);
  if (!loop_.is_closed()) shutdown();
}

void runner::run_main(task_base* main) {
  // Signals are process-wide: only the main thread's run() takes SIGINT (asyncio.Runner
  // does the same), so runs in other threads, several at once, do not compete for it.
  if (opts_.handle_sigint && ::gettid() == ::getpid() && sigint_is_default()) {
    // First Ctrl-C: cancel main (its clean-up runs) and give SIGINT back its default
    // action, so that a second Ctrl-C ends the process at once.
    any_task m = any_task::from_state(main);
    loop_.add_signal_handler(SIGINT, [this, m]() mutable {
      ++interrupts_;
      if (!m.done()) m.cancel();
      loop_.remove_signal_handler(SIGINT);
      sigint_installed_ = false;
    });
    sigint_installed_ = true;
  }
  try {
    run_until_done(loop_, main);
  } catch (...) {
    if (sigint_installed_) {
      loop_.remove_signal_handler(SIGINT);
      sigint_installed_ = false;
    }
    shutdown();
    throw;
  }
  if (sigint_installed_) {
    loop_.remove_signal_handler(SIGINT);
    sigint_installed_ = false;
  }
  // asyncio: a main task cancelled by our SIGINT (and by nothing else) means the
  // program was interrupted.
  const bool interrupted = interrupts_ > 0 && main->is_cancelled() && main->uncancel() == 0;
  shutdown();
  if (interrupted) {
    if (opts_.exit_on_sigint) die_by_sigint();
    throw keyboard_interrupt();
  }
}

void runner::shutdown() noexcept {
  try {
    std::vector<any_task> pending = all_tasks(loop_);
    if (!pending.empty()) {
      for (any_task& t : pending) t.cancel();
      loop_.run_until_complete(wait_all(pending));
      for (any_task& t : pending) {
        if (t.cancelled() || !t.done()) continue;
        if (std::exception_ptr e = t.exception())
          loop_.call_exception_handler(
              exception_context{"unhandled exception during aio::run() shutdown", e, t});
      }
    }
  } catch (...) {
    loop_.call_exception_handler(
        exception_context{"error during aio::run() shutdown", std::current_exception(), {}});
  }
  // asyncio.run then shuts the default executor down (and other layers' resources).
  try {
    loop_.run_until_complete(loop_.run_shutdown_hooks());
  } catch (...) {
    loop_.call_exception_handler(
        exception_context{"error during aio::run() shutdown", std::current_exception(), {}});
  }
  try {
    loop_.close();
  } catch (...) {
  }
}

}  // namespace aio::detail
