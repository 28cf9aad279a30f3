// SPDX-License-Identifier: MIT
// The loop's backends (epoll and io_uring): run-time selection, the fallback to epoll
// when the kernel refuses io_uring, and the readiness contract each must keep. The
// whole suite also runs once per backend (scripts/test sets AIO_BACKEND).
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "aio/aio.hpp"

using namespace std::chrono_literals;

namespace {

// Sets (or unsets, with nullptr) an environment variable for one scope.
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

 private:
  const char* name_;
  std::optional<std::string> old_;
};

bool io_uring_allowed() {
  try {
    aio::event_loop loop({.backend = aio::backend_kind::io_uring});
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

}  // namespace

TEST(backend, each_kind_gives_its_backend) {
  aio::event_loop e({.backend = aio::backend_kind::epoll});
  EXPECT_STREQ(e.backend_name(), "epoll");
  if (!io_uring_allowed()) GTEST_SKIP() << "the kernel refuses io_uring here";
  aio::event_loop u({.backend = aio::backend_kind::io_uring});
  EXPECT_STREQ(u.backend_name(), "io_uring");
  u.close();
  EXPECT_STREQ(u.backend_name(), "closed");
}

TEST(backend, automatic_prefers_io_uring_and_obeys_AIO_BACKEND) {
  {
    scoped_env env("AIO_BACKEND", nullptr);
    aio::event_loop loop;
    EXPECT_STREQ(loop.backend_name(), io_uring_allowed() ? "io_uring" : "epoll");
  }
  {
    scoped_env env("AIO_BACKEND", "epoll");
    aio::event_loop loop;
    EXPECT_STREQ(loop.backend_name(), "epoll");
    // An explicit choice in the options wins over the environment.
    if (io_uring_allowed()) {
      aio::event_loop u({.backend = aio::backend_kind::io_uring});
      EXPECT_STREQ(u.backend_name(), "io_uring");
    }
  }
  {
    scoped_env env("AIO_BACKEND", "kqueue");
    try {
      aio::event_loop loop;
      FAIL() << "AIO_BACKEND=kqueue was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "AIO_BACKEND=kqueue: expected epoll or io_uring");
    }
  }
}

TEST(backend, run_passes_the_choice_to_its_loop) {
  std::string name;
  aio::run(
      [&]() -> aio::coro<void> {
        name = aio::get_running_loop().backend_name();
        co_return;
      },
      {.backend = aio::backend_kind::epoll});
  EXPECT_EQ(name, "epoll");
}

// The fallback, for real: a child process forbids io_uring_setup with a seccomp filter
// (as container runtimes do), then makes a loop. It must get epoll, and a debug-mode
// note that says why; forcing io_uring must fail with the kernel's error.
TEST(backend, falls_back_to_epoll_when_io_uring_is_refused) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) ::_exit(11);
    ::unsetenv("AIO_BACKEND");
    std::string notes;
    aio::set_log_handler([&](aio::log_level, std::string_view m) { notes.append(m) += '\n'; });
    int code = 0;
    {
      aio::event_loop loop({.debug = true});
      if (std::string(loop.backend_name()) != "epoll") code = 12;
      // The loop works: a callback runs.
      bool ran = false;
      loop.call_soon([&] {
        ran = true;
        loop.stop();
      });
      loop.run_forever();
      if (!ran) code = 13;
    }
    if (notes.find("io_uring is not available (io_uring_setup: Operation not permitted): "
                   "the loop uses epoll") == std::string::npos)
      code = 14;
    try {
      aio::event_loop forced({.backend = aio::backend_kind::io_uring});
      code = 15;
    } catch (const std::system_error& e) {
      if (e.code().value() != EPERM) code = 16;
    }
    // Without debug mode, the fallback is silent.
    notes.clear();
    { aio::event_loop quiet({.debug = false}); }
    if (!notes.empty()) code = 17;
    aio::set_log_handler({});
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the exit codes in the child's code";
}

// --- the readiness contract, on each backend ----------------------------------------

class each_backend : public ::testing::TestWithParam<aio::backend_kind> {
 protected:
  void SetUp() override {
    if (GetParam() == aio::backend_kind::io_uring && !io_uring_allowed())
      GTEST_SKIP() << "the kernel refuses io_uring here";
  }
  aio::loop_options options() const { return {.backend = GetParam()}; }
};

INSTANTIATE_TEST_SUITE_P(backends, each_backend,
                         ::testing::Values(aio::backend_kind::epoll, aio::backend_kind::io_uring),
                         [](const auto& info) {
                           return info.param == aio::backend_kind::epoll ? "epoll" : "io_uring";
                         });

// add_reader is level-triggered: a reader that leaves data unread is called again on
// the next iteration, and not after remove_reader.
TEST_P(each_backend, readers_are_level_triggered) {
  aio::event_loop loop(options());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  ASSERT_EQ(::write(fds[1], "abc", 3), 3);
  int calls = 0;
  loop.add_reader(fds[0], [&] {
    if (++calls == 3) {
      loop.remove_reader(fds[0]);
      loop.call_later(20ms, [&] { loop.stop(); });  // time for a stray call to show
    }
  });
  loop.run_forever();
  EXPECT_EQ(calls, 3);
  char buf[8];
  EXPECT_EQ(::read(fds[0], buf, sizeof buf), 3);  // nothing was consumed
  ::close(fds[0]);
  ::close(fds[1]);
}

// Registering, replacing and removing in one iteration: only the last registration
// reports, and a reader replaced by a writer is not called.
TEST_P(each_backend, a_replaced_registration_does_not_report) {
  aio::event_loop loop(options());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  int reads = 0, writes = 0;
  loop.add_reader(fds[0], [&] { ++reads; });
  loop.remove_reader(fds[0]);
  loop.add_writer(fds[1], [&] {
    ++writes;
    loop.remove_writer(fds[1]);
    loop.call_later(20ms, [&] { loop.stop(); });
  });
  loop.run_forever();
  EXPECT_EQ(reads, 0);
  EXPECT_EQ(writes, 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

// More registrations than the io_uring submission queue holds (1024), all ready at
// once: more events than one poll returns (256). Every writer is called exactly once.
TEST_P(each_backend, thousands_of_ready_fds_are_all_reported) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  constexpr rlim_t want = 5000;
  if (lim.rlim_cur < want && lim.rlim_max >= want) {
    rlimit raised = lim;
    raised.rlim_cur = want;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  }
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  const std::size_t pipes = now.rlim_cur >= want ? 2000 : (now.rlim_cur - 64) / 2;
  aio::event_loop loop(options());
  std::vector<int> rd(pipes), wr(pipes);
  std::vector<int> calls(pipes, 0);
  std::size_t done = 0;
  for (std::size_t i = 0; i < pipes; ++i) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
    rd[i] = fds[0];
    wr[i] = fds[1];
    loop.add_writer(wr[i], [&, i] {
      ++calls[i];
      loop.remove_writer(wr[i]);
      if (++done == pipes) loop.call_later(20ms, [&] { loop.stop(); });
    });
  }
  loop.run_forever();
  EXPECT_EQ(done, pipes);
  for (std::size_t i = 0; i < pipes; ++i) {
    EXPECT_EQ(calls[i], 1) << "writer " << i;
    ::close(rd[i]);
    ::close(wr[i]);
  }
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

// A loop blocked in its poll with nothing to wait for wakes for another thread's post.
TEST_P(each_backend, another_thread_wakes_a_blocked_loop) {
  aio::event_loop loop(options());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  loop.add_reader(fds[0], [] {});  // something watched: the loop blocks in the poller
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    loop.call_soon_threadsafe([&] { loop.stop(); });
  });
  loop.run_forever();
  t.join();
  loop.remove_reader(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

// Closing a watched socket ends the connection at once (the io_uring backend's poll
// holds a reference to the file until it is cancelled): the peer reads end-of-file
// before the loop runs again.
TEST_P(each_backend, closing_a_watched_fd_closes_it_in_the_kernel) {
  aio::event_loop loop(options());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  loop.add_reader(sv[0], [] {});
  loop.call_later(5ms, [&] { loop.stop(); });
  loop.run_forever();  // the loop waited in its poller: the registration is in the kernel
  loop.remove_reader(sv[0]);
  ::close(sv[0]);
  char c;
  EXPECT_EQ(::read(sv[1], &c, 1), 0);  // end-of-file, not EAGAIN
  ::close(sv[1]);
}

// A regular file cannot be waited for: both backends refuse it as epoll does.
TEST_P(each_backend, a_regular_file_is_refused_with_eperm) {
  aio::event_loop loop(options());
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  try {
    loop.add_reader(fileno(f), [] {});
    FAIL() << "a regular file was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPERM);
  }
  std::fclose(f);
}
