// SPDX-License-Identifier: MIT
#include "aio/net/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "aio/core/event_loop.hpp"
#include "aio/core/gather.hpp"
#include "aio/sync/event.hpp"

extern char** environ;

namespace aio {
namespace detail {

/// The child as the loop sees it: its pid, a pidfd watched with add_reader until the
/// child exits (the registration keeps this state alive), and the exit status.
struct process_state : std::enable_shared_from_this<process_state> {
  pid_t pid = -1;
  int pidfd = -1;
  event_loop* loop = nullptr;
  std::optional<int> returncode;
  aio::event exited;

  ~process_state() {
    if (pidfd >= 0) ::close(pidfd);
  }

  void watch() {
    // The callback holds a reference: the child is reaped even if every process handle
    // is gone by then.
    loop->add_reader(pidfd, [self = shared_from_this()] { self->reap(); });
  }

  void reap() {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == 0) return;  // not yet (a spurious wake-up)
    if (r < 0)
      returncode = 255;  // someone else reaped it (a SIGCHLD handler with waitpid(-1))
    else if (WIFEXITED(status))
      returncode = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      returncode = -WTERMSIG(status);
    else
      return;                        // stopped or continued: not an exit
    auto keep = shared_from_this();  // remove_reader releases the callback's reference
    loop->remove_reader(pidfd);
    ::close(std::exchange(pidfd, -1));
    exited.set();
  }
};

}  // namespace detail

namespace {

struct fd_pair {
  int parent = -1, child = -1;
};

fd_pair make_pipe() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    throw_os_error(errno, "socketpair");
  return {sv[0], sv[1]};
}

/// Closes what it holds on scope exit (the child ends of the pipes, or everything on
/// an error).
struct fd_closer {
  std::vector<int> fds;
  ~fd_closer() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

coro<process> spawn(std::string program, std::vector<std::string> args, subprocess_options opts,
                    std::string display) {
  if (opts.input == stdio::to_output || opts.output == stdio::to_output)
    throw std::invalid_argument("stdio::to_output is only for the error stream");
  event_loop& loop = get_running_loop();
  fd_closer child_ends, parent_ends;
  int devnull = -1;
  auto need_devnull = [&] {
    if (devnull < 0) {
      devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (devnull < 0) throw_os_error(errno, "open /dev/null");
      child_ends.fds.push_back(devnull);
    }
    return devnull;
  };
  fd_pair in, out, err;
  if (opts.input == stdio::pipe)
    in = make_pipe(), parent_ends.fds.push_back(in.parent), child_ends.fds.push_back(in.child);
  if (opts.output == stdio::pipe)
    out = make_pipe(), parent_ends.fds.push_back(out.parent), child_ends.fds.push_back(out.child);
  if (opts.error == stdio::pipe)
    err = make_pipe(), parent_ends.fds.push_back(err.parent), child_ends.fds.push_back(err.child);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  struct fa_guard {
    posix_spawn_file_actions_t* fa;
    ~fa_guard() { posix_spawn_file_actions_destroy(fa); }
  } fa_g{&fa};
  auto route = [&](stdio mode, int child_fd, int target) {
    switch (mode) {
      case stdio::inherit:
        break;
      case stdio::pipe:
        posix_spawn_file_actions_adddup2(&fa, child_fd, target);
        break;
      case stdio::devnull:
        posix_spawn_file_actions_adddup2(&fa, need_devnull(), target);
        break;
      case stdio::to_output:
        posix_spawn_file_actions_adddup2(&fa, 1, target);
        break;
    }
  };
  route(opts.input, in.child, 0);
  route(opts.output, out.child, 1);
  route(opts.error, err.child, 2);
  if (opts.cwd) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd);

  // The child starts with default signal handling and an empty mask (the loop may
  // block or catch signals in this process).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  struct attr_guard {
    posix_spawnattr_t* a;
    ~attr_guard() { posix_spawnattr_destroy(a); }
  } attr_g{&attr};
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> argv;
  argv.push_back(program.data());
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int rc = program.find('/') == std::string::npos
                     ? ::posix_spawnp(&pid, program.c_str(), &fa, &attr, argv.data(), environ)
                     : ::posix_spawn(&pid, program.c_str(), &fa, &attr, argv.data(), environ);
  if (rc != 0) throw_os_error(rc, "spawn " + display);

  auto st = std::make_shared<detail::process_state>();
  st->pid = pid;
  st->loop = &loop;
  st->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (st->pidfd < 0) {
    const int e = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw_os_error(e, "pidfd_open for " + display);
  }
  ::fcntl(st->pidfd, F_SETFD, FD_CLOEXEC);
  st->watch();

  process p(st);
  parent_ends.fds.clear();  // the streams own them now
  if (in.parent >= 0) p.in = std::move(make_streams(net::socket(in.parent), opts.limit).writer);
  if (out.parent >= 0) p.out = make_stream_reader(net::socket(out.parent), opts.limit);
  if (err.parent >= 0) p.err = make_stream_reader(net::socket(err.parent), opts.limit);
  co_return p;
}

}  // namespace

process::process(std::shared_ptr<detail::process_state> s) noexcept : s_(std::move(s)) {}
process::process(process&&) noexcept = default;
process& process::operator=(process&&) noexcept = default;
process::~process() = default;

pid_t process::pid() const noexcept {
  return s_ ? s_->pid : -1;
}
std::optional<int> process::returncode() const noexcept {
  return s_ ? s_->returncode : std::nullopt;
}

coro<int> process::wait() {
  if (!s_) throw std::logic_error("process: empty handle");
  std::shared_ptr<detail::process_state> s = s_;
  co_await s->exited.wait();
  co_return *s->returncode;
}

coro<communicate_result> process::communicate(std::string input) {
  if (!s_) throw std::logic_error("process: empty handle");
  communicate_result r;
  auto feed = [](stream_writer& w, std::string data) -> coro<void> {
    if (!data.empty()) {
      w.write(data);
      try {
        co_await w.drain();
      } catch (const broken_pipe_error&) {
        // the child exited without reading: asyncio ignores it too
      } catch (const connection_reset_error&) {
      }
    }
    w.close();
  };
  auto slurp = [](stream_reader& rd, std::string& into) -> coro<void> {
    into = co_await rd.read();
  };
  std::vector<coro<void>> jobs;
  if (!in.is_closing()) jobs.push_back(feed(in, std::move(input)));
  if (!out.at_eof()) jobs.push_back(slurp(out, r.out));
  if (!err.at_eof()) jobs.push_back(slurp(err, r.err));
  co_await gather(std::move(jobs));
  co_await wait();
  co_return r;
}

void process::send_signal(int sig) {
  if (!s_ || s_->returncode) return;  // reaped: the pid may belong to someone else now
  if (::syscall(SYS_pidfd_send_signal, s_->pidfd, sig, nullptr, 0) < 0 && errno != ESRCH)
    throw_os_error(errno, "kill " + std::to_string(s_->pid));
}
void process::terminate() {
  send_signal(SIGTERM);
}
void process::kill() {
  send_signal(SIGKILL);
}

coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     subprocess_options opts) {
  std::string display = program;
  return spawn(std::move(program), std::move(args), opts, std::move(display));
}

coro<process> create_subprocess_shell(std::string command, subprocess_options opts) {
  std::string display = "/bin/sh -c " + command;
  std::vector<std::string> args;
  args.push_back("-c");
  args.push_back(std::move(command));
  return spawn("/bin/sh", std::move(args), opts, std::move(display));
}

}  // namespace aio
