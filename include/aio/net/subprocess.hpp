// SPDX-License-Identifier: MIT
// aio/net/subprocess.hpp — asyncio's subprocesses: create_subprocess_exec,
// create_subprocess_shell, and a process whose pipes are aio streams.
//
//   aio::subprocess_options o;
//   o.output = aio::stdio::pipe;
//   aio::process p = co_await aio::create_subprocess_exec("ls", {"-l", "/"}, o);
//   while (!p.out.at_eof()) std::cout << co_await p.out.readline();
//   int status = co_await p.wait();                // 0, or -9 if killed by SIGKILL
//
//   auto [out, err] = co_await p.communicate("input for stdin");
//
// The names follow asyncio with C++ spellings: stdin/stdout/stderr are macros in C, so
// the options are `input`, `output`, `error` and the pipes `p.in` (a stream_writer),
// `p.out` and `p.err` (stream_readers); asyncio.subprocess.PIPE / DEVNULL / STDOUT /
// None are aio::stdio::pipe / devnull / to_output / inherit. The pipes are Unix
// socket pairs (what the stream layer speaks); programs see an ordinary descriptor.
//
// returncode(): nullopt while the process runs, then its exit status, or -N if signal
// N ended it (asyncio's convention). wait() waits for that without blocking the loop
// (the kernel's pidfd tells the loop when the child exits; the child is reaped then,
// whether or not anyone waits). A process object may be dropped while the child runs:
// the loop still reaps it when it exits, as long as the loop runs.
//
// Cancellation: a cancelled wait() or communicate() leaves the child running (asyncio
// does the same); kill() it if it must stop. communicate() cancelled midway may have
// written part of the input and read part of the output.
// Errors: create_subprocess_* throws os_error naming the program when it cannot be
// started ("spawn no-such-program: no such file or directory").
// Thread safety: a process belongs to the loop that created it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/net/streams.hpp"

namespace aio {

/// What a child's stdin/stdout/stderr is connected to.
enum class stdio {
  inherit,    // the parent's (asyncio: None)
  pipe,       // a stream to the parent (asyncio.subprocess.PIPE)
  devnull,    // /dev/null (asyncio.subprocess.DEVNULL)
  to_output,  // stderr only: where stdout goes (asyncio.subprocess.STDOUT)
};

struct subprocess_options {
  stdio input = stdio::inherit;
  stdio output = stdio::inherit;
  stdio error = stdio::inherit;
  /// Working directory of the child; nullptr: the parent's.
  const char* cwd = nullptr;
  /// The pipes' stream limit (asyncio's `limit`).
  std::size_t limit = 64 * 1024;
};
static_assert(std::is_trivially_destructible_v<subprocess_options>);

namespace detail {
struct process_state;
}

/// What communicate() returns: everything the child wrote to its piped stdout and
/// stderr (empty for streams that are not pipes).
struct communicate_result {
  std::string out;
  std::string err;
};

class process {
 public:
  process() noexcept = default;
  process(process&&) noexcept;
  process& operator=(process&&) noexcept;
  ~process();

  pid_t pid() const noexcept;
  std::optional<int> returncode() const noexcept;
  /// Waits for the child to exit; its returncode.
  [[nodiscard]] coro<int> wait();
  /// Writes `input` to the child's stdin (if piped) and closes it, reads its piped
  /// stdout and stderr to the end, and waits for it to exit.
  [[nodiscard]] coro<communicate_result> communicate(std::string input = {});
  /// Sends `sig` (nothing if the child has exited and been reaped).
  void send_signal(int sig);
  void terminate();  // SIGTERM
  void kill();       // SIGKILL

  stream_writer in;   // the child's stdin, when stdio::pipe
  stream_reader out;  // its stdout, when stdio::pipe
  stream_reader err;  // its stderr, when stdio::pipe

  explicit process(std::shared_ptr<detail::process_state> s) noexcept;

 private:
  std::shared_ptr<detail::process_state> s_;
};

/// Starts `program` (searched in PATH when it has no '/') with `args`.
[[nodiscard]] coro<process> create_subprocess_exec(std::string program,
                                                   std::vector<std::string> args = {},
                                                   subprocess_options opts = {});
/// Starts `/bin/sh -c command`.
[[nodiscard]] coro<process> create_subprocess_shell(std::string command,
                                                    subprocess_options opts = {});

}  // namespace aio
