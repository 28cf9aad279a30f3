// SPDX-License-Identifier: MIT
#include "aio/testing.hpp"

#include <dirent.h>

#include <optional>

namespace aio::testing {
namespace {

thread_local std::vector<exception_context>* tls_reports = nullptr;

std::string names_of(const std::vector<any_task>& tasks) {
  std::string s;
  for (const any_task& t : tasks) s += (s.empty() ? "'" : ", '") + t.get_name() + "'";
  return s;
}

std::string describe_report(const exception_context& r) {
  std::string s = r.message;
  if (r.task) s += " [task '" + r.task->get_name() + "']";
  if (r.exception) s += ": " + describe(r.exception);
  return s;
}

// Cancels whatever the body left running and waits for it, so that the loop can
// close without destroying live coroutines.
coro<void> reap(std::vector<any_task> tasks) {
  for (any_task& t : tasks) t.cancel("test ended");
  for (any_task& t : tasks) {
    try {
      co_await t;
    } catch (...) {
    }
  }
}

struct snapshot {
  std::size_t fds = open_fd_count();
  std::size_t callbacks = detail::tls_live_callbacks;
};

enum class outcome { completed, cancelled, failed };

// Runs one body on a fresh loop; returns how the body ended. `cancel_after` cancels
// the body's task after that many task steps (0: never); `steps` counts them.
outcome run_once(const std::function<coro<void>()>& body, options opts, std::size_t cancel_after,
                 std::size_t* steps) {
  const snapshot before;
  std::vector<exception_context> reports;
  outcome result = outcome::completed;
  {
    // A test that would wait forever fails instead (after 60 s of real time).
    event_loop loop(loop_options{.debug = opts.debug || cancel_after || steps,
                                 .virtual_clock = opts.virtual_clock,
                                 .deadlock_after = std::chrono::seconds(60)});
    loop.set_exception_handler(
        [&reports](event_loop&, const exception_context& ctx) { reports.push_back(ctx); });
    auto* saved = std::exchange(tls_reports, &reports);
    struct restore {
      std::vector<exception_context>* saved;
      ~restore() { tls_reports = saved; }
    } restore_reports{saved};

    task<void> main = loop.create_task(body(), {.name = "test body"});
    std::size_t count = 0;
    if (cancel_after || steps) {
      loop.step_observer = [&](detail::task_base&) {
        if (++count == cancel_after) main.cancel("cancel_at_every_step");
      };
    }
    try {
      loop.run_until_complete(main);
    } catch (const fatal_failure&) {
      result = outcome::failed;
    } catch (const cancelled_error&) {
      result = outcome::cancelled;
      if (!cancel_after) ADD_FAILURE() << "the test body was cancelled";
    } catch (...) {
      result = outcome::failed;
      ADD_FAILURE() << "the test body threw " << describe(std::current_exception());
    }
    if (steps) *steps = count;
    if (loop.is_running()) ADD_FAILURE() << "the loop is still running";
    loop.step_observer = nullptr;

    std::vector<any_task> left = all_tasks(loop);
    if (!left.empty()) {
      ADD_FAILURE() << left.size()
                    << " task(s) still pending when the test body ended: " << names_of(left);
      loop.run_until_complete(reap(std::move(left)));
    }
    if (loop.armed_timers() != 0)
      ADD_FAILURE() << loop.armed_timers() << " timer(s) still armed when the test body ended";
    loop.close();
    if (loop.live_tasks() != 0) ADD_FAILURE() << loop.live_tasks() << " task(s) alive after close";
  }
  for (const exception_context& r : reports)
    ADD_FAILURE() << "unexpected report to the exception handler: " << describe_report(r);
  const snapshot after;
  if (after.callbacks != before.callbacks)
    ADD_FAILURE() << (after.callbacks - before.callbacks) << " callback handle(s) leaked";
  if (after.fds != before.fds)
    ADD_FAILURE() << "file descriptors: " << before.fds << " before the test, " << after.fds
                  << " after";
  return result;
}

}  // namespace

std::size_t open_fd_count() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    --n;  // the directory stream's own fd
  }
  return n;
}

void run_test(const std::function<coro<void>()>& body, options opts) {
  run_once(body, opts, 0, nullptr);
}

std::vector<exception_context> take_reports() {
  if (!tls_reports) return {};
  return std::exchange(*tls_reports, {});
}

cancel_stats cancel_at_every_step(const std::function<coro<void>()>& scenario, options opts) {
  cancel_stats stats;
  if (run_once(scenario, opts, 0, &stats.steps) != outcome::completed) {
    ADD_FAILURE() << "the scenario failed without cancellation";
    return stats;
  }
  for (std::size_t k = 1; k <= stats.steps; ++k) {
    SCOPED_TRACE("cancelled after step " + std::to_string(k) + " of " +
                 std::to_string(stats.steps));
    switch (run_once(scenario, opts, k, nullptr)) {
      case outcome::completed:
        ++stats.completed;
        break;
      case outcome::cancelled:
        ++stats.cancelled;
        break;
      case outcome::failed:
        return stats;
    }
    if (::testing::Test::HasFailure()) return stats;
  }
  return stats;
}

}  // namespace aio::testing
