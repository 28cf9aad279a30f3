// SPDX-License-Identifier: MIT
// The process pool: the registry, the fork server and worker processes (child side),
// and the parent side's state machine (process_pool_core).
//
// Processes. The pool's constructor forks the fork server; the server forks the
// workers on request. Each worker talks to the parent over its own Unix stream socket,
// passed to the parent by the server (SCM_RIGHTS). The parent talks to the server over
// a SOCK_SEQPACKET control socket, synchronously (a request and its reply take the
// time of a fork or of a waitpid on a killed process: well under a millisecond).
//
//   parent ──control──> fork server ──fork──> worker 1, worker 2, ...
//   parent <══════════ job socket ═══════════> worker i
//
// Frames on a job socket: an 8-byte payload length, then the payload.
//   request payload: u32 function id, the encoded arguments
//   reply payload:   u8 kind (0: value, 1: error), then the encoded result, or the
//                    exception's type name and what() as two strings
//
// Life of a job (parent side, loop thread): queued -> running (the frame is written,
// with add_writer while the socket is full; add_reader watches for the reply and for
// EOF) -> done. A worker that dies shows up as EOF (or EPIPE on write): the server
// kills (to be sure) and reaps it, the job fails with broken_process_pool and the
// exit status, and a replacement is forked into the same slot.
#include "aio/executors/process_pool.hpp"

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <typeinfo>

#include "aio/core/detail/debug.hpp"

namespace aio::detail {

// --- the registry ------------------------------------------------------------------------

namespace {

struct registry_entry {
  std::string name;
  process_invoker invoke;
};

struct registry {
  std::mutex mutex;
  std::vector<registry_entry> entries;
};

registry& the_registry() {
  static registry* r = new registry;  // never destroyed: workers use it until _exit
  return *r;
}

std::size_t registry_size() {
  registry& r = the_registry();
  std::lock_guard lk(r.mutex);
  return r.entries.size();
}

}  // namespace

std::uint32_t register_process_function(std::string_view name, process_invoker invoke) {
  if (name.empty()) throw std::invalid_argument("register_function: empty name");
  registry& r = the_registry();
  std::lock_guard lk(r.mutex);
  for (std::size_t i = 0; i < r.entries.size(); ++i) {
    if (r.entries[i].name != name) continue;
    if (r.entries[i].invoke == invoke) return static_cast<std::uint32_t>(i);
    throw std::invalid_argument("register_function: the name '" + std::string(name) +
                                "' is taken by another function");
  }
  r.entries.push_back({std::string(name), invoke});
  return static_cast<std::uint32_t>(r.entries.size() - 1);
}

std::string process_function_name(std::uint32_t id) {
  registry& r = the_registry();
  std::lock_guard lk(r.mutex);
  return id < r.entries.size() ? r.entries[id].name : std::string();
}

// --- the child side ------------------------------------------------------------------------

namespace {

constexpr std::uint8_t reply_value = 0;
constexpr std::uint8_t reply_error = 1;
constexpr std::uint64_t max_frame = std::uint64_t{1} << 36;  // 64 GiB: anything larger is corrupt

enum : std::uint32_t { op_spawn = 1, op_reap = 2 };
struct server_request {
  std::uint32_t op;
  std::int32_t pid;
};
struct server_reply {
  std::int32_t value;  // spawn: the worker's pid; reap: its wait status
  std::int32_t error;  // errno, 0 on success
};

bool read_full(int fd, void* p, std::size_t n) noexcept {
  auto* c = static_cast<char*>(p);
  while (n) {
    const ssize_t r = ::read(fd, c, n);
    if (r > 0) {
      c += r;
      n -= static_cast<std::size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      return false;  // EOF or error
    }
  }
  return true;
}

bool write_full(int fd, const void* p, std::size_t n) noexcept {
  auto* c = static_cast<const char*>(p);
  while (n) {
    const ssize_t r = ::send(fd, c, n, MSG_NOSIGNAL);
    if (r > 0) {
      c += r;
      n -= static_cast<std::size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

std::string current_exception_type() {
  if (std::type_info* t = abi::__cxa_current_exception_type()) return demangle(t->name());
  return "unknown";
}

// Runs one request; returns the reply frame.
std::string serve(const std::string& payload) {
  std::string out(sizeof(std::uint64_t), '\0');
  frame_writer w(out);
  try {
    frame_reader r(payload);
    const auto id = r.get<std::uint32_t>();
    // The registry was copied with the process; no other thread exists here, and its
    // mutex may have been copied locked: read it without locking.
    std::vector<registry_entry>& entries = the_registry().entries;
    if (id >= entries.size())
      throw std::logic_error("process pool: function " + std::to_string(id) +
                             " is not registered in the worker");
    w.put<std::uint8_t>(reply_value);
    entries[id].invoke(r, w);
  } catch (const std::exception& e) {
    out.resize(sizeof(std::uint64_t));
    w.put<std::uint8_t>(reply_error);
    w.put<std::string>(demangle(typeid(e).name()));
    w.put<std::string>(e.what());
  } catch (...) {
    out.resize(sizeof(std::uint64_t));
    w.put<std::uint8_t>(reply_error);
    w.put<std::string>(current_exception_type());
    w.put<std::string>("unknown exception (not derived from std::exception)");
  }
  const std::uint64_t len = out.size() - sizeof(std::uint64_t);
  std::memcpy(out.data(), &len, sizeof len);
  return out;
}

[[noreturn]] void worker_main(int fd) noexcept {
  try {
    for (;;) {
      std::uint64_t len = 0;
      if (!read_full(fd, &len, sizeof len)) ::_exit(0);  // the parent closed: done
      if (len > max_frame) ::_exit(2);
      std::string payload(static_cast<std::size_t>(len), '\0');
      if (!read_full(fd, payload.data(), payload.size())) ::_exit(0);
      const std::string reply = serve(payload);
      std::fflush(nullptr);  // _exit does not flush what the function printed
      if (!write_full(fd, reply.data(), reply.size())) ::_exit(0);
    }
  } catch (...) {
    ::_exit(3);  // out of memory while decoding or encoding: this worker is lost
  }
}

void close_from(int first) noexcept {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, 0u) == 0) return;
#endif
  rlimit rl{};
  int last = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < static_cast<rlim_t>(last))
    last = static_cast<int>(rl.rlim_cur);
  for (int fd = first; fd < last; ++fd) ::close(fd);
}

void reset_signals() noexcept {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::signal(sig, SIG_DFL);
  }
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C is the parent's to handle
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void send_reply(int ctl, server_reply reply, int fd) noexcept {
  msghdr msg{};
  iovec iov{&reply, sizeof reply};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  while (::sendmsg(ctl, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

// The fork server: single-threaded, no locks held, nothing of the parent's open but
// stdio and the control socket. Forks workers and reaps them on request.
[[noreturn]] void server_main(int ctl) noexcept {
  reset_signals();
  if (ctl != 3) {
    ::dup2(ctl, 3);
    ctl = 3;
  }
  close_from(4);
  const pid_t self = ::getpid();
  for (;;) {
    server_request req{};
    const ssize_t n = ::recv(ctl, &req, sizeof req, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof req)) break;  // EOF: the parent is done (or gone)
    if (req.op == op_spawn) {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        send_reply(ctl, {-1, errno}, -1);
        continue;
      }
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(sv[0]);
        ::close(ctl);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != self) ::_exit(0);  // the server died meanwhile
        worker_main(sv[1]);
      }
      const int err = pid < 0 ? errno : 0;
      ::close(sv[1]);
      send_reply(ctl, {pid, err}, pid > 0 ? sv[0] : -1);
      ::close(sv[0]);
    } else if (req.op == op_reap) {
      ::kill(req.pid, SIGKILL);  // it is dead or must die; a dead one keeps its status
      int status = 0;
      pid_t r;
      while ((r = ::waitpid(req.pid, &status, 0)) < 0 && errno == EINTR) {
      }
      send_reply(ctl, {status, r < 0 ? errno : 0}, -1);
    }
  }
  // The parent closed the control socket: the workers see their sockets closed too and
  // exit; reap them all, then go.
  for (;;) {
    const pid_t r = ::waitpid(-1, nullptr, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
  }
  ::_exit(0);
}

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string describe_status(pid_t pid, int status) {
  std::string s = "process pool worker " + std::to_string(pid);
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    s += " was killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
  } else if (WIFEXITED(status)) {
    s += " exited with status " + std::to_string(WEXITSTATUS(status));
  } else {
    s += " ended (wait status " + std::to_string(status) + ")";
  }
  return s;
}

}  // namespace

// --- the parent side ----------------------------------------------------------------------

frame_reader process_result(const process_job& job) {
  if (job.out == process_job::outcome::broken) throw broken_process_pool(job.failure);
  frame_reader r(job.reply);
  if (r.get<std::uint8_t>() == reply_error) {
    std::string type = r.get<std::string>();
    std::string what = r.get<std::string>();
    throw process_error(std::move(type), what);
  }
  return r;
}

process_pool_core::process_pool_core(std::size_t workers) : slots_(workers) {
  if (workers == 0) throw std::invalid_argument("process_pool_executor: workers must be > 0");
  registry_size_ = registry_size();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    throw_errno("process_pool_executor: socketpair");
  std::fflush(nullptr);  // or the children would write the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    throw std::system_error(err, std::generic_category(), "process_pool_executor: fork");
  }
  if (pid == 0) {
    ::close(sv[0]);
    server_main(sv[1]);
  }
  ::close(sv[1]);
  server_pid_ = pid;
  server_fd_ = sv[0];
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (!spawn(i)) {
      const int err = errno;
      terminate();
      throw std::system_error(err, std::generic_category(),
                              "process_pool_executor: cannot start a worker process");
    }
  }
}

process_pool_core::~process_pool_core() {
  terminate();
}

bool process_pool_core::spawn(std::size_t i) noexcept {
  slot& s = slots_[i];
  s = slot{};
  if (server_fd_ < 0) return false;
  const server_request req{op_spawn, 0};
  if (::send(server_fd_, &req, sizeof req, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof req))
    return false;
  server_reply reply{};
  msghdr msg{};
  iovec iov{&reply, sizeof reply};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  while ((n = ::recvmsg(server_fd_, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof reply)) return false;  // the server is gone
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  if (reply.value <= 0 || fd < 0) {
    if (fd >= 0) ::close(fd);
    errno = reply.error ? reply.error : EAGAIN;
    return false;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  s.pid = reply.value;
  s.fd = fd;
  return true;
}

std::string process_pool_core::reap(pid_t pid) noexcept {
  try {
    if (server_fd_ >= 0) {
      const server_request req{op_reap, pid};
      server_reply reply{};
      if (::send(server_fd_, &req, sizeof req, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req)) {
        ssize_t n;
        while ((n = ::recv(server_fd_, &reply, sizeof reply, 0)) < 0 && errno == EINTR) {
        }
        if (n == static_cast<ssize_t>(sizeof reply) && reply.error == 0)
          return describe_status(pid, reply.value);
      }
    }
    // No fork server: kill the worker ourselves; init reaps it.
    ::kill(pid, SIGKILL);
    return "process pool worker " + std::to_string(pid) + " was lost";
  } catch (...) {
    return "process pool worker lost";
  }
}

void process_pool_core::submit(process_job* job) {
  if (shutdown_ || closed_) throw std::runtime_error("cannot schedule new jobs after shutdown");
  frame_reader r(std::string_view(job->frame).substr(sizeof(std::uint64_t)));
  const auto id = r.get<std::uint32_t>();
  if (id >= registry_size_)
    throw std::logic_error("process pool: '" + process_function_name(id) +
                           "' was registered after the pool was created; register functions "
                           "before creating the pool (its workers are forked then)");
  job->out = process_job::outcome::none;
  job->suspended = false;
  enqueue_back(job);
  dispatch();
  if (job->st == process_job::state::done) {
    // It failed before the task could suspend: no worker could be started.
    job->st = process_job::state::created;
    throw broken_process_pool(job->failure);
  }
}

void process_pool_core::enqueue_back(process_job* job) noexcept {
  job->prev = tail_;
  job->next = nullptr;
  (tail_ ? tail_->next : head_) = job;
  tail_ = job;
  job->st = process_job::state::queued;
}

void process_pool_core::enqueue_front(process_job* job) noexcept {
  job->prev = nullptr;
  job->next = head_;
  (head_ ? head_->prev : tail_) = job;
  head_ = job;
  job->st = process_job::state::queued;
}

void process_pool_core::unlink(process_job* job) noexcept {
  (job->prev ? job->prev->next : head_) = job->next;
  (job->next ? job->next->prev : tail_) = job->prev;
  job->prev = job->next = nullptr;
}

void process_pool_core::dispatch() noexcept {
  // Bounded retries: a worker that dies before it gets its job is replaced and the job
  // is tried again, but a pool whose new workers keep dying gives up.
  std::size_t failures = 0;
  const std::size_t max_failures = 2 * slots_.size() + 2;
  while (head_ && !closed_) {
    std::size_t i = 0;
    for (; i < slots_.size(); ++i)
      if (slots_[i].fd >= 0 && !slots_[i].job) break;
    if (i == slots_.size()) {
      // Every worker is busy, or some slots lost their worker (a failed replacement):
      // try to refill an empty slot.
      for (i = 0; i < slots_.size(); ++i)
        if (slots_[i].fd < 0 && spawn(i)) break;
      if (i == slots_.size()) {
        if (worker_count() == 0) fail_queued("process pool: no worker process could be started");
        return;
      }
    }
    process_job* job = head_;
    unlink(job);
    if (start(i, job)) continue;
    enqueue_front(job);  // it never reached the worker: try again
    worker_lost(i, "before it received a job");
    if (++failures >= max_failures) {
      fail_queued("process pool: worker processes keep dying before they get a job");
      return;
    }
  }
}

bool process_pool_core::start(std::size_t i, process_job* job) noexcept {
  slot& s = slots_[i];
  s.job = job;
  s.sent = 0;
  s.in.clear();
  s.loop = job->loop;
  job->worker = static_cast<int>(i);
  job->st = process_job::state::running;
  // An idle worker is not watched: one that died meanwhile shows as EOF here. Better
  // to find out now, and give the job to a replacement, than to lose the job to it.
  char c;
  const ssize_t r = ::recv(s.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  const bool alive = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  if (!alive || !write_some(i)) {
    s.job = nullptr;
    job->worker = -1;
    return false;
  }
  watch(i, s.sent < job->frame.size());
  return true;
}

bool process_pool_core::write_some(std::size_t i) noexcept {
  slot& s = slots_[i];
  const std::string& f = s.job->frame;
  while (s.sent < f.size()) {
    const ssize_t n =
        ::send(s.fd, f.data() + s.sent, f.size() - s.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      s.sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;  // the rest when the socket is writable
    } else {
      return false;  // EPIPE, ECONNRESET: the worker is gone
    }
  }
  return true;
}

void process_pool_core::watch(std::size_t i, bool want_write) noexcept {
  slot& s = slots_[i];
  try {
    if (!s.reading) {
      s.loop->add_reader(s.fd, [this, i] { on_readable(i); });
      s.reading = true;
    }
    if (want_write && !s.writing) {
      s.loop->add_writer(s.fd, [this, i] { on_writable(i); });
      s.writing = true;
    } else if (!want_write && s.writing) {
      s.loop->remove_writer(s.fd);
      s.writing = false;
    }
  } catch (...) {
    // The loop cannot watch the socket (out of memory): give the job up.
    worker_lost(i, "(the event loop could not watch its socket)");
  }
}

void process_pool_core::unwatch(std::size_t i) noexcept {
  slot& s = slots_[i];
  if (s.reading) s.loop->remove_reader(s.fd);
  if (s.writing) s.loop->remove_writer(s.fd);
  s.reading = s.writing = false;
}

void process_pool_core::on_writable(std::size_t i) noexcept {
  slot& s = slots_[i];
  if (!s.job) return;
  if (!write_some(i)) {
    worker_lost(i, "while receiving a job");
    dispatch();
    maybe_close();
    return;
  }
  if (s.sent == s.job->frame.size()) watch(i, false);
}

void process_pool_core::on_readable(std::size_t i) noexcept {
  slot& s = slots_[i];
  if (s.fd < 0) return;
  try {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        s.in.append(buf, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buf) break;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {  // EOF or ECONNRESET: the worker died
        worker_lost(i, "while running a job");
        dispatch();
        maybe_close();
        return;
      }
    }
  } catch (...) {  // out of memory for the reply
    worker_lost(i, "(its reply could not be stored)");
    dispatch();
    maybe_close();
    return;
  }
  if (s.in.size() < sizeof(std::uint64_t)) return;
  std::uint64_t len;
  std::memcpy(&len, s.in.data(), sizeof len);
  if (len > max_frame || !s.job || s.sent < s.job->frame.size() || s.in.size() > sizeof len + len) {
    worker_lost(i, "(it sent a reply that does not follow the protocol)");
    dispatch();
    maybe_close();
    return;
  }
  if (s.in.size() < sizeof len + len) return;  // more to come
  process_job* job = s.job;
  s.job = nullptr;
  unwatch(i);
  job->reply.assign(s.in, sizeof len);
  if (s.in.capacity() > (std::size_t{1} << 20))
    s.in = std::string();  // do not keep a large reply's buffer for the next job
  else
    s.in.clear();
  job->out = process_job::outcome::reply;
  finish(job);
  dispatch();
  maybe_close();
}

void process_pool_core::worker_lost(std::size_t i, const char* when) noexcept {
  slot& s = slots_[i];
  process_job* job = s.job;
  unwatch(i);
  if (s.fd >= 0) ::close(s.fd);
  const pid_t pid = s.pid;
  s.fd = -1;
  s.job = nullptr;
  std::string why = pid > 0 ? reap(pid) : std::string("process pool worker lost");
  if (job) {
    try {
      job->failure = why + " " + when;
    } catch (...) {
    }
    job->out = process_job::outcome::broken;
    finish(job);
  }
  if (!shutdown_ || busy()) spawn(i);  // a replacement, unless the pool is winding down
}

void process_pool_core::finish(process_job* job) noexcept {
  job->st = process_job::state::done;
  job->worker = -1;
  if (job->suspended) job->task->wake();
}

void process_pool_core::fail_queued(const std::string& why) noexcept {
  while (process_job* job = head_) {
    unlink(job);
    try {
      job->failure = why;
    } catch (...) {
    }
    job->out = process_job::outcome::broken;
    finish(job);
  }
}

void process_pool_core::cancel(process_job* job) noexcept {
  if (job->st == process_job::state::queued) {
    unlink(job);
    job->st = process_job::state::done;
    return;
  }
  if (job->st != process_job::state::running) return;
  // Kill the worker running it, reap it and fork a replacement (see process_pool.hpp,
  // Cancellation). The job is done before the task resumes.
  const auto i = static_cast<std::size_t>(job->worker);
  slot& s = slots_[i];
  s.job = nullptr;
  unwatch(i);
  ::close(s.fd);
  s.fd = -1;
  reap(s.pid);
  s.pid = -1;
  job->st = process_job::state::done;
  job->worker = -1;
  if (!shutdown_ || busy()) spawn(i);
  dispatch();
  maybe_close();
}

bool process_pool_core::busy() const noexcept {
  if (head_) return true;
  for (const slot& s : slots_)
    if (s.job) return true;
  return false;
}

void process_pool_core::pump() noexcept {
  // shutdown(wait=true): drive the jobs without the loop, with poll(2).
  in_pump_ = true;
  while (busy() && !closed_) {
    dispatch();
    std::vector<pollfd> fds;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const slot& s = slots_[i];
      if (!s.job || s.fd < 0) continue;
      short ev = POLLIN;
      if (s.sent < s.job->frame.size()) ev |= POLLOUT;
      fds.push_back({s.fd, ev, 0});
      which.push_back(i);
    }
    if (fds.empty()) break;  // nothing can make progress (dispatch failed the rest)
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (std::size_t k = 0; k < fds.size(); ++k) {
      const std::size_t i = which[k];
      if (slots_[i].fd != fds[k].fd) continue;  // replaced meanwhile
      if (fds[k].revents & POLLOUT) on_writable(i);
      if (slots_[i].fd == fds[k].fd && (fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
        on_readable(i);
    }
  }
  in_pump_ = false;
}

void process_pool_core::shutdown(bool wait) {
  shutdown_ = true;
  if (closed_) return;
  if (wait) {
    pump();
    close_all();
  } else if (!busy()) {
    close_all();
  } else {
    close_when_idle_ = true;  // the last job to finish closes the pool
  }
}

void process_pool_core::maybe_close() noexcept {
  if (close_when_idle_ && !in_pump_ && !busy()) close_all();
}

void process_pool_core::close_all() noexcept {
  if (closed_) return;
  closed_ = true;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slot& s = slots_[i];
    unwatch(i);
    if (s.fd >= 0) ::close(s.fd);  // an idle worker exits when it reads EOF
    s.fd = -1;
    s.pid = -1;
  }
  if (server_fd_ >= 0) {
    ::close(server_fd_);  // the server reaps the workers, then exits
    server_fd_ = -1;
  }
  if (server_pid_ > 0) {
    while (::waitpid(server_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    server_pid_ = -1;
  }
  while (sync_link* w = close_waiters_) {
    remove_close_waiter(w);
    w->task->wake();
  }
}

void process_pool_core::terminate() noexcept {
  if (closed_) return;
  shutdown_ = true;
  fail_queued("process pool: shut down before the job was sent to a worker");
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slot& s = slots_[i];
    if (!s.job) continue;
    process_job* job = s.job;
    s.job = nullptr;
    unwatch(i);
    ::close(s.fd);
    s.fd = -1;
    const std::string status = reap(s.pid);
    s.pid = -1;
    try {
      job->failure = "process pool: destroyed while the job was running (" + status + ")";
    } catch (...) {
    }
    job->out = process_job::outcome::broken;
    finish(job);
  }
  close_all();
}

void process_pool_core::add_close_waiter(sync_link* w) noexcept {
  w->next = close_waiters_;
  if (close_waiters_) close_waiters_->pprev = &w->next;
  close_waiters_ = w;
  w->pprev = &close_waiters_;
}

void process_pool_core::remove_close_waiter(sync_link* w) noexcept {
  if (!w->pprev) return;
  *w->pprev = w->next;
  if (w->next) w->next->pprev = w->pprev;
  w->next = nullptr;
  w->pprev = nullptr;
}

std::size_t process_pool_core::worker_count() const noexcept {
  std::size_t n = 0;
  for (const slot& s : slots_)
    if (s.fd >= 0) ++n;
  return n;
}

std::vector<pid_t> process_pool_core::worker_pids() const {
  std::vector<pid_t> v;
  for (const slot& s : slots_)
    if (s.fd >= 0) v.push_back(s.pid);
  return v;
}

}  // namespace aio::detail

namespace aio {

process_pool_executor::process_pool_executor(std::size_t workers)
    : core_(std::make_shared<detail::process_pool_core>(workers)) {}

process_pool_executor::~process_pool_executor() {
  core_->terminate();
}

void process_pool_executor::shutdown(bool wait) {
  core_->shutdown(wait);
}

}  // namespace aio
