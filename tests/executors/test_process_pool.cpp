// SPDX-License-Identifier: MIT
#include "aio/executors/process_pool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<aio::process_pool_executor>);
static_assert(std::is_base_of_v<std::runtime_error, aio::broken_process_pool>);
static_assert(std::is_base_of_v<std::runtime_error, aio::process_error>);
static_assert(aio::detail::serialisable_v<std::vector<std::vector<std::string>>>);
static_assert(aio::detail::serialisable_v<std::array<float, 4>>);
static_assert(!aio::detail::serialisable_v<int*>);
static_assert(!aio::detail::serialisable_v<std::vector<const char*>>);

namespace {

// --- the functions the workers run (registered before any pool exists) -------------------

struct point {
  int x;
  double y;
};

int square(int x) {
  return x * x;
}
double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
std::string shout(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}
std::vector<std::vector<int>> transpose(std::vector<std::vector<int>> m) {
  std::vector<std::vector<int>> t;
  if (m.empty()) return t;
  t.assign(m[0].size(), std::vector<int>(m.size()));
  for (std::size_t i = 0; i < m.size(); ++i)
    for (std::size_t j = 0; j < m[i].size(); ++j) t[j][i] = m[i][j];
  return t;
}
point mirror(point p) noexcept {
  return {-p.x, -p.y};
}
pid_t worker_pid() {
  return ::getpid();
}
void touch() {}
std::string repeat(char c, std::size_t n) {
  return std::string(n, c);
}
std::size_t length(std::string&& s) {
  return s.size();
}
int out_of_range(int i) {
  throw std::out_of_range("index " + std::to_string(i) + " out of range");
}
int throw_an_int(int) {
  throw 42;
}
int crash(int) {
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);  // no core file for this deliberate crash
  std::abort();
}
int quit(int code) {
  ::_exit(code);
}
int block(int) {
  for (;;) ::pause();
}
int nap_then_square(int x) {
  std::this_thread::sleep_for(2ms);
  return x * x;
}
bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}
bool sigint_ignored() {
  struct sigaction sa {};
  ::sigaction(SIGINT, nullptr, &sa);
  return sa.sa_handler == SIG_IGN;
}

using pool_t = aio::process_pool_executor;
const auto square_fn = pool_t::register_function<&square>("square");
const auto mean_fn = pool_t::register_function<&mean>("mean");
const auto shout_fn = pool_t::register_function<&shout>("shout");
const auto split_fn = pool_t::register_function<&split_words>("split_words");
const auto transpose_fn = pool_t::register_function<&transpose>("transpose");
const auto mirror_fn = pool_t::register_function<&mirror>("mirror");
const auto pid_fn = pool_t::register_function<&worker_pid>("worker_pid");
const auto touch_fn = pool_t::register_function<&touch>("touch");
const auto repeat_fn = pool_t::register_function<&repeat>("repeat");
const auto length_fn = pool_t::register_function<&length>("length");
const auto out_of_range_fn = pool_t::register_function<&out_of_range>("out_of_range");
const auto throw_int_fn = pool_t::register_function<&throw_an_int>("throw_an_int");
const auto crash_fn = pool_t::register_function<&crash>("crash");
const auto quit_fn = pool_t::register_function<&quit>("quit");
const auto block_fn = pool_t::register_function<&block>("block");
const auto nap_fn = pool_t::register_function<&nap_then_square>("nap_then_square");
const auto fd_open_fn = pool_t::register_function<&fd_is_open>("fd_is_open");
const auto sigint_fn = pool_t::register_function<&sigint_ignored>("sigint_ignored");

static_assert(std::is_same_v<decltype(square_fn), const aio::process_function<int(int)>>);
static_assert(std::is_same_v<decltype(aio::run_in_executor(std::declval<pool_t&>(), square_fn, 1)),
                             aio::coro<int>>);

// --- helpers -----------------------------------------------------------------------------------

/// The processes whose parent is `parent` (zombies included), from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(f, stat);
    const auto close = stat.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return out;
}

/// True while `pid` exists (a zombie exists too).
bool exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

/// Waits until `pid` has died and released its files (a zombie with no thread left
/// running, or reaped): kill() only sends the signal, and a process whose main thread
/// is already a zombie may have other threads still exiting and holding its
/// descriptors (TSan's runtime starts one in a forked child).
void wait_until_dead(pid_t pid) {
  for (int i = 0; i < 10000; ++i) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) return;  // gone
    const auto close = stat.rfind(')');
    char state = 0;
    long threads = 0;
    // Fields 3 (state) to 20 (num_threads); the 16 between are skipped.
    if (close != std::string::npos &&
        std::sscanf(stat.c_str() + close + 1,
                    " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %ld",
                    &state, &threads) == 2 &&
        state == 'Z' && threads <= 1)
      return;
    std::this_thread::sleep_for(1ms);
  }
}

// --- round trips -----------------------------------------------------------------------------

AIO_TEST(process_pool, round_trips_every_serialisable_kind) {
  pool_t pool(2);
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 7), 49);
  std::vector<double> v{1.0, 2.0, 4.5};
  EXPECT_DOUBLE_EQ(co_await aio::run_in_executor(pool, mean_fn, v), 2.5);
  EXPECT_EQ(co_await aio::run_in_executor(pool, shout_fn, std::string("quiet")), "QUIET");
  std::vector<std::string> words = co_await aio::run_in_executor(pool, split_fn, "to be  or not");
  EXPECT_EQ(words, (std::vector<std::string>{"to", "be", "or", "not"}));
  std::vector<std::vector<int>> m{{1, 2, 3}, {4, 5, 6}};
  auto t = co_await aio::run_in_executor(pool, transpose_fn, m);
  EXPECT_EQ(t, (std::vector<std::vector<int>>{{1, 4}, {2, 5}, {3, 6}}));
  point p = co_await aio::run_in_executor(pool, mirror_fn, point{3, 0.5});
  EXPECT_EQ(p.x, -3);
  EXPECT_EQ(p.y, -0.5);
  co_await aio::run_in_executor(pool, touch_fn);
  EXPECT_EQ(co_await aio::run_in_executor(pool, length_fn, std::string("four")), 4u);
  EXPECT_EQ(co_await aio::run_in_executor(pool, shout_fn, std::string()), "");
  pid_t other = co_await aio::run_in_executor(pool, pid_fn);
  EXPECT_NE(other, ::getpid());
  const auto pids = pool.worker_pids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), other), pids.end());
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, arguments_are_converted_to_the_parameter_types) {
  pool_t pool(1);
  EXPECT_EQ(co_await aio::run_in_executor(pool, shout_fn, "literal"), "LITERAL");  // -> std::string
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 'A'), 65 * 65);         // char -> int
  EXPECT_EQ(co_await aio::run_in_executor(pool, repeat_fn, 'z', 3), "zzz");        // int -> size_t
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, large_frames_cross_in_both_directions) {
  // Several MiB: more than a socket buffer holds, so the request is written in pieces
  // (add_writer) and the reply read in pieces.
  pool_t pool(2);
  const std::size_t n = std::size_t{8} << 20;
  std::string big(n, 'q');
  big[n / 2] = 'x';
  std::vector<aio::coro<std::size_t>> lengths;
  for (int i = 0; i < 3; ++i) lengths.push_back(aio::run_in_executor(pool, length_fn, big));
  auto ls = co_await aio::gather(std::move(lengths));
  for (std::size_t l : ls) EXPECT_EQ(l, n);
  std::string back = co_await aio::run_in_executor(pool, repeat_fn, 'r', n);
  EXPECT_EQ(back.size(), n);
  EXPECT_EQ(back.find_first_not_of('r'), std::string::npos);
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, more_jobs_than_workers) {
  pool_t pool(2);
  std::vector<aio::coro<int>> cs;
  for (int i = 0; i < 40; ++i) cs.push_back(aio::run_in_executor(pool, nap_fn, i));
  std::vector<int> rs = co_await aio::gather(std::move(cs));
  for (int i = 0; i < 40; ++i) EXPECT_EQ(rs[static_cast<std::size_t>(i)], i * i);
  EXPECT_EQ(pool.worker_count(), 2u);
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, the_job_is_sent_when_the_coro_is_awaited) {
  pool_t pool(1);
  auto c = aio::run_in_executor(pool, block_fn, 0);                 // encoded now, not sent
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 3), 9);  // the worker is free
  auto t = aio::create_task(std::move(c));
  co_await aio::sleep(0s);
  t.cancel();
  EXPECT_THROW(co_await t, aio::cancelled_error);
  co_await pool.shutdown_async();
}

// --- errors ------------------------------------------------------------------------------------

AIO_TEST(process_pool, exception_in_the_function_comes_back_as_process_error) {
  pool_t pool(1);
  try {
    co_await aio::run_in_executor(pool, out_of_range_fn, 3);
    ADD_FAILURE() << "no exception";
  } catch (const aio::process_error& e) {
    EXPECT_STREQ(e.what(), "index 3 out of range");
    EXPECT_EQ(e.type_name(), "std::out_of_range");
  }
  try {
    co_await aio::run_in_executor(pool, throw_int_fn, 0);
    ADD_FAILURE() << "no exception";
  } catch (const aio::process_error& e) {
    EXPECT_EQ(e.type_name(), "int");
  }
  const auto pids = pool.worker_pids();
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 5), 25);
  EXPECT_EQ(pool.worker_pids(), pids);  // an exception does not cost the worker
  co_await pool.shutdown_async();
}

// The worker running a job is killed from outside (kill -9). That job fails with
// broken_process_pool; the worker is reaped and replaced, and the next jobs run.
AIO_TEST(process_pool, worker_killed_mid_job_breaks_that_job_only) {
  pool_t pool(1);
  const pid_t victim = pool.worker_pids().at(0);
  auto t = aio::create_task(aio::run_in_executor(pool, block_fn, 0));
  co_await aio::sleep(0s);  // the job is sent
  ::kill(victim, SIGKILL);
  try {
    co_await t;
    ADD_FAILURE() << "no exception";
  } catch (const aio::broken_process_pool& e) {
    EXPECT_NE(std::string(e.what()).find("killed by signal 9"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(victim)), std::string::npos) << e.what();
  }
  EXPECT_FALSE(exists(victim));  // reaped
  EXPECT_EQ(pool.worker_count(), 1u);
  EXPECT_NE(pool.worker_pids().at(0), victim);
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 6), 36);
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, worker_that_aborts_or_exits_breaks_its_job_only) {
  pool_t pool(2);
  std::vector<aio::coro<int>> ok;
  for (int i = 0; i < 6; ++i) ok.push_back(aio::run_in_executor(pool, nap_fn, i));
  auto others = aio::create_task(aio::gather(std::move(ok)));
  try {
    co_await aio::run_in_executor(pool, crash_fn, 0);
    ADD_FAILURE() << "no exception";
  } catch (const aio::broken_process_pool& e) {
    EXPECT_NE(std::string(e.what()).find("signal 6"), std::string::npos) << e.what();
  }
  try {
    co_await aio::run_in_executor(pool, quit_fn, 3);
    ADD_FAILURE() << "no exception";
  } catch (const aio::broken_process_pool& e) {
    EXPECT_NE(std::string(e.what()).find("exited with status 3"), std::string::npos) << e.what();
  }
  std::vector<int> rs = co_await others;  // unaffected
  EXPECT_EQ(rs, (std::vector<int>{0, 1, 4, 9, 16, 25}));
  EXPECT_EQ(pool.worker_count(), 2u);
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 8), 64);
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, idle_worker_that_died_is_replaced_when_next_used) {
  pool_t pool(1);
  const pid_t victim = pool.worker_pids().at(0);
  ::kill(victim, SIGKILL);
  wait_until_dead(victim);
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 4), 16);  // given to a new worker
  EXPECT_NE(pool.worker_pids().at(0), victim);
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, submitting_after_shutdown_throws_runtime_error) {
  pool_t pool(1);
  pool.shutdown();
  EXPECT_THROW(co_await aio::run_in_executor(pool, square_fn, 1), std::runtime_error);
  pool.shutdown();  // idempotent
  co_await pool.shutdown_async();
}

// --- cancellation ----------------------------------------------------------------------------

// One worker runs a job that never ends; a second job waits in the queue. Cancelling
// the queued one drops it (the busy worker is untouched); cancelling the running one
// kills its worker, which is reaped and replaced before the task gets cancelled_error.
AIO_TEST(process_pool, cancel_drops_a_queued_job_and_kills_a_running_one) {
  pool_t pool(1);
  const pid_t first = pool.worker_pids().at(0);
  auto running = aio::create_task(aio::run_in_executor(pool, block_fn, 0));
  auto queued = aio::create_task(aio::run_in_executor(pool, square_fn, 2));
  co_await aio::sleep(0s);
  queued.cancel();
  EXPECT_THROW(co_await queued, aio::cancelled_error);
  EXPECT_EQ(pool.worker_pids().at(0), first);  // still running `block`
  EXPECT_FALSE(running.done());
  running.cancel();
  EXPECT_THROW(co_await running, aio::cancelled_error);
  EXPECT_FALSE(exists(first));  // killed and reaped before the task resumed
  EXPECT_NE(pool.worker_pids().at(0), first);
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 9), 81);
  co_await pool.shutdown_async();
}

AIO_TEST(process_pool, timeout_kills_the_job) {
  pool_t pool(1);
  const pid_t first = pool.worker_pids().at(0);
  EXPECT_THROW(co_await aio::wait_for(aio::run_in_executor(pool, block_fn, 0), 10ms),
               aio::timeout_error);
  EXPECT_FALSE(exists(first));
  EXPECT_EQ(co_await aio::run_in_executor(pool, square_fn, 10), 100);
  co_await pool.shutdown_async();
}

TEST(process_pool, brute_force_cancellation) {
  const auto before = children_of(::getpid()).size();
  const aio::testing::cancel_stats stats = aio::testing::cancel_at_every_step(
      []() -> aio::coro<void> {
        pool_t pool(1);
        int a = co_await aio::run_in_executor(pool, square_fn, 3);
        auto both = co_await aio::gather(aio::run_in_executor(pool, square_fn, a),
                                         aio::run_in_executor(pool, shout_fn, "x"));
        EXPECT_EQ(std::get<0>(both), 81);
        co_await pool.shutdown_async();
      },
      {});
  EXPECT_GT(stats.steps, 2u);
  EXPECT_EQ(stats.completed + stats.cancelled, stats.steps);
  EXPECT_EQ(children_of(::getpid()).size(), before);
}

// --- shutdown and clean-up -----------------------------------------------------------------------

AIO_TEST(process_pool, shutdown_wait_runs_the_submitted_jobs_first) {
  pool_t pool(1);
  std::vector<aio::task<int>> ts;
  for (int i = 1; i <= 4; ++i)
    ts.push_back(aio::create_task(aio::run_in_executor(pool, nap_fn, i)));
  co_await aio::sleep(0s);  // all submitted: one sent, three queued
  pool.shutdown(true);      // blocks until they ran, then reaps the processes
  EXPECT_EQ(pool.worker_count(), 0u);
  EXPECT_TRUE(children_of(::getpid()).empty());
  int sum = 0;
  for (auto& t : ts) sum += co_await t;
  EXPECT_EQ(sum, 1 + 4 + 9 + 16);
}

AIO_TEST(process_pool, shutdown_async_lets_pending_jobs_finish) {
  pool_t pool(2);
  std::vector<aio::task<int>> ts;
  for (int i = 1; i <= 6; ++i)
    ts.push_back(aio::create_task(aio::run_in_executor(pool, nap_fn, i)));
  co_await aio::sleep(0s);
  co_await pool.shutdown_async();
  for (auto& t : ts) EXPECT_TRUE(t.done());
  int sum = 0;
  for (auto& t : ts) sum += co_await t;
  EXPECT_EQ(sum, 91);
  EXPECT_TRUE(children_of(::getpid()).empty());
  EXPECT_THROW(co_await aio::run_in_executor(pool, square_fn, 1), std::runtime_error);
}

AIO_TEST(process_pool, shutdown_without_wait_closes_when_the_last_job_ends) {
  pool_t pool(1);
  auto t = aio::create_task(aio::run_in_executor(pool, nap_fn, 5));
  co_await aio::sleep(0s);
  pool.shutdown(false);
  EXPECT_EQ(co_await t, 25);
  EXPECT_EQ(pool.worker_count(), 0u);
  EXPECT_TRUE(children_of(::getpid()).empty());
}

// The pool is destroyed while a job runs: the destructor does not wait for it; the
// job fails with broken_process_pool and every process is reaped.
AIO_TEST(process_pool, destructor_fails_pending_jobs_and_leaves_no_zombie) {
  auto pool = std::make_unique<pool_t>(1);
  const auto pids = pool->worker_pids();
  auto running = aio::create_task(aio::run_in_executor(*pool, block_fn, 0));
  auto queued = aio::create_task(aio::run_in_executor(*pool, square_fn, 1));
  co_await aio::sleep(0s);
  pool.reset();
  EXPECT_THROW(co_await running, aio::broken_process_pool);
  EXPECT_THROW(co_await queued, aio::broken_process_pool);
  EXPECT_TRUE(children_of(::getpid()).empty());
  for (pid_t p : pids) EXPECT_FALSE(exists(p));
}

TEST(process_pool, no_process_is_left_after_shutdown_or_destruction) {
  const pid_t self = ::getpid();
  ASSERT_TRUE(children_of(self).empty());
  std::vector<pid_t> seen;
  {
    pool_t pool(3);
    aio::run([&]() -> aio::coro<void> {
      for (pid_t p : pool.worker_pids()) seen.push_back(p);
      std::vector<aio::coro<int>> cs;
      for (int i = 0; i < 9; ++i) cs.push_back(aio::run_in_executor(pool, square_fn, i));
      co_await aio::gather(std::move(cs));
      EXPECT_THROW(co_await aio::run_in_executor(pool, crash_fn, 0), aio::broken_process_pool);
      for (pid_t p : pool.worker_pids()) seen.push_back(p);
    });
    EXPECT_EQ(children_of(self).size(), 1u);  // the fork server (the workers are its children)
  }                                           // destroyed without shutdown()
  EXPECT_TRUE(children_of(self).empty());
  for (pid_t p : seen) EXPECT_FALSE(exists(p)) << p;

  {
    pool_t pool(2);
    seen = pool.worker_pids();
    pool.shutdown();
  }
  EXPECT_TRUE(children_of(self).empty());
  for (pid_t p : seen) EXPECT_FALSE(exists(p)) << p;
}

// --- fork safety --------------------------------------------------------------------------------

TEST(process_pool, workers_get_no_descriptor_of_the_parent_and_ignore_sigint) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::dup2(p[0], 100), 100);
  ::close(p[0]);
  {
    pool_t pool(1);
    aio::run([&]() -> aio::coro<void> {
      EXPECT_TRUE(fd_is_open(100));
      EXPECT_FALSE(co_await aio::run_in_executor(pool, fd_open_fn, 100));
      EXPECT_TRUE(co_await aio::run_in_executor(pool, sigint_fn));
    });
  }
  ::close(100);
  ::close(p[1]);
}

TEST(process_pool, functions_must_be_registered_before_the_pool_is_made) {
  pool_t pool(1);
  static const auto late = pool_t::register_function<&square>("square, registered late");
  EXPECT_THROW(aio::run([&]() -> aio::coro<void> { co_await aio::run_in_executor(pool, late, 1); }),
               std::logic_error);
  pool_t later(1);  // a pool made afterwards knows it
  EXPECT_EQ(aio::run([&]() -> aio::coro<int> {
              co_return co_await aio::run_in_executor(later, late, 2);
            }),
            4);
}

TEST(process_pool, registration_names_are_unique) {
  EXPECT_EQ(pool_t::register_function<&square>("square").id(), square_fn.id());
  EXPECT_EQ(square_fn.name(), "square");
  EXPECT_THROW(pool_t::register_function<&shout>("square"), std::invalid_argument);
  EXPECT_THROW(pool_t(0), std::invalid_argument);
}

}  // namespace
