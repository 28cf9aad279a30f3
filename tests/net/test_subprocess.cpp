// SPDX-License-Identifier: MIT
// Subprocesses (aio/net/subprocess.hpp): asyncio's create_subprocess_exec/_shell.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

aio::subprocess_options piped(bool in = false, bool out = true, bool err = false) {
  aio::subprocess_options o;
  if (in) o.input = aio::stdio::pipe;
  if (out) o.output = aio::stdio::pipe;
  if (err) o.error = aio::stdio::pipe;
  return o;
}

AIO_TEST(subprocess, exec_reads_stdout_and_exit_status) {
  std::vector<std::string> args;
  args.push_back("hello");
  args.push_back("world");
  aio::process p = co_await aio::create_subprocess_exec("echo", std::move(args), piped());
  EXPECT_GT(p.pid(), 0);
  EXPECT_EQ(co_await p.out.readline(), "hello world\n");
  EXPECT_EQ(co_await p.wait(), 0);
  EXPECT_EQ(p.returncode(), 0);
}

AIO_TEST(subprocess, shell_with_exit_code_and_stderr) {
  aio::process p = co_await aio::create_subprocess_shell("echo out; echo err >&2; exit 3",
                                                         piped(false, true, true));
  auto [out, err] = co_await p.communicate();
  EXPECT_EQ(out, "out\n");
  EXPECT_EQ(err, "err\n");
  EXPECT_EQ(p.returncode(), 3);
}

AIO_TEST(subprocess, communicate_feeds_stdin_and_collects_large_output) {
  // More than the pipe buffers hold in both directions: communicate must write and
  // read at the same time.
  std::string input;
  for (int i = 0; i < 100000; ++i) input += "line " + std::to_string(i) + "\n";
  aio::process p =
      co_await aio::create_subprocess_exec("cat", std::vector<std::string>(), piped(true, true));
  auto [out, err] = co_await p.communicate(input);
  EXPECT_EQ(out, input);
  EXPECT_EQ(err, "");
  EXPECT_EQ(p.returncode(), 0);
}

AIO_TEST(subprocess, stderr_to_stdout_and_devnull) {
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  o.error = aio::stdio::to_output;
  aio::process p = co_await aio::create_subprocess_shell("echo a; echo b >&2", o);
  std::string all = co_await p.out.read();
  EXPECT_EQ(all, "a\nb\n");
  co_await p.wait();

  aio::subprocess_options n;
  n.input = aio::stdio::devnull;
  n.output = aio::stdio::pipe;
  aio::process q = co_await aio::create_subprocess_exec("cat", std::vector<std::string>(), n);
  EXPECT_EQ(co_await q.out.read(), "");  // stdin is /dev/null: cat ends at once
  EXPECT_EQ(co_await q.wait(), 0);
}

AIO_TEST(subprocess, kill_and_terminate_give_negative_signal_numbers) {
  std::vector<std::string> args;
  args.push_back("60");
  aio::process p = co_await aio::create_subprocess_exec("sleep", args);
  p.kill();
  EXPECT_EQ(co_await p.wait(), -SIGKILL);
  aio::process q = co_await aio::create_subprocess_exec("sleep", std::move(args));
  q.terminate();
  EXPECT_EQ(co_await q.wait(), -SIGTERM);
  q.kill();  // already reaped: nothing happens
}

AIO_TEST(subprocess, a_missing_program_is_a_clear_error) {
  try {
    (void)co_await aio::create_subprocess_exec("aio-no-such-program");
    ADD_FAILURE() << "started";
  } catch (const aio::os_error& e) {
    EXPECT_EQ(std::string(e.what()), "spawn aio-no-such-program: no such file or directory");
  }
}

AIO_TEST(subprocess, cancelled_wait_leaves_the_child_running) {
  std::vector<std::string> args;
  args.push_back("60");
  aio::process p = co_await aio::create_subprocess_exec("sleep", std::move(args));
  EXPECT_THROW(co_await aio::wait_for(p.wait(), 10ms), aio::timeout_error);
  EXPECT_FALSE(p.returncode());
  p.kill();
  EXPECT_EQ(co_await p.wait(), -SIGKILL);
}

AIO_TEST(subprocess, working_directory_and_many_at_once) {
  aio::subprocess_options o = piped();
  o.cwd = "/";
  aio::process p = co_await aio::create_subprocess_exec("pwd", std::vector<std::string>(), o);
  EXPECT_EQ(co_await p.out.read(), "/\n");
  co_await p.wait();

  std::vector<aio::coro<int>> runs;
  for (int i = 0; i < 20; ++i)
    runs.push_back([](int i) -> aio::coro<int> {
      aio::subprocess_options plain;
      aio::process q = co_await aio::create_subprocess_shell("exit " + std::to_string(i), plain);
      co_return co_await q.wait();
    }(i));
  std::vector<int> codes = co_await aio::gather(std::move(runs));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(codes[i], i);
}

TEST(subprocess, a_dropped_process_is_still_reaped) {
  pid_t pid = -1;
  aio::run([&]() -> aio::coro<void> {
    {
      aio::process p = co_await aio::create_subprocess_exec("true");
      pid = p.pid();
    }
    // The handle is gone; the loop reaps the child when it exits.
    for (int i = 0; i < 2000; ++i) {
      if (::kill(pid, 0) < 0) break;  // no such process: reaped
      co_await aio::sleep(1ms);
    }
  });
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
