// SPDX-License-Identifier: MIT
// aio/net/socket.hpp — aio::net::socket, the low-level socket API under the streams
// (asyncio's loop.sock_recv / sock_sendall / sock_accept / sock_connect, on a socket
// object that owns its fd).
//
//   auto s = aio::net::socket::create(AF_INET, SOCK_STREAM);
//   co_await s.connect(*aio::net::address::parse("127.0.0.1", 8080));
//   co_await s.send_all(as_bytes(std::span(request)));
//   std::size_t n = co_await s.recv(buffer);        // 0: the peer closed its side
//
//   auto listener = aio::net::socket::create(AF_INET6, SOCK_STREAM);
//   listener.set_reuse_address(true);
//   listener.bind(aio::net::address::any(AF_INET6, 0));
//   listener.listen();
//   aio::net::socket conn = co_await listener.accept();
//
// Every operation tries the system call first and waits only when it would block
// (DESIGN.md §8). The fd is registered with the loop once, edge-triggered, the first
// time an operation has to wait; recv fills the caller's buffer directly and sendmsg
// gathers. The API is completion-shaped — an operation is started, and its awaiter
// gets the result — so that a completion-based backend fits under it unchanged.
//
// One reader and one writer at a time: at most one recv/accept and one
// send/sendmsg/connect may be pending on a socket (std::logic_error otherwise). The
// socket belongs to the loop of the task that first waits on it.
//
// Cancellation: a pending operation is abandoned and the task gets cancelled_error;
// nothing was transferred (a wait never holds a partial result). If the operation
// completed in the same loop iteration in which the task was cancelled, the task
// gets the result and the cancellation at its next suspension point: received bytes
// are never lost. A cancelled connect leaves the socket in an unspecified state; close
// it. send_all cancelled midway has sent an unknown prefix (use send() in a loop
// to know how much).
//
// Errors: aio::os_error and its subclasses (aio/net/errors.hpp) with messages that
// name the operation and the peer: "connect to 127.0.0.1:1: connection refused".
// close() while an operation is pending wakes it with os_error(EBADF).
//
// Thread safety: a socket belongs to one loop's thread; it can be moved to another
// thread while no operation is pending and it is not registered (never waited on), or
// after release().
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <coroutine>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/backend.hpp"
#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/net/address.hpp"
#include "aio/net/errors.hpp"

namespace aio::net {

class socket;

namespace detail {

struct socket_state;

/// A pending socket operation: the part shared by every kind (see socket_state).
struct io_op : aio::detail::suspension {
  /// Makes the system call again; false if it would still block. Stores the result
  /// (`result`, or `error` > 0) otherwise.
  bool (*attempt)(io_op*) noexcept = nullptr;
  /// Called by the loop when a waiting operation completed (by default: wakes `task`).
  void (*complete)(io_op*) noexcept = &wake_task;
  static void wake_task(io_op* o) noexcept { o->task->wake(); }
  socket_state* st = nullptr;
  aio::detail::task_base* task = nullptr;
  std::size_t result = 0;
  int error = 0;
  bool done = false;       // result or error stored
  bool cancelled = false;  // abandoned by task.cancel()
};

/// The state of an open socket, on the heap so that the loop's watch pointer stays
/// valid when the socket object moves.
struct socket_state : aio::detail::io_watch {
  int fd = -1;
  event_loop* loop = nullptr;  // set when the fd is registered
  bool readable = true;        // no EAGAIN seen since the last readiness edge
  bool writable = true;
  bool stream = true;        // SOCK_STREAM: a short read means the queue is empty
  bool peer_closed = false;  // the peer's FIN (or an error) was reported
  address peer{};            // known from accept or connect (for error messages)
  io_op* reader = nullptr;   // pending recv/accept
  io_op* writer = nullptr;   // pending send/connect
  static void on_io(aio::detail::io_watch* w, std::uint32_t events) noexcept;
  void register_with(event_loop& l);  // once
  void close() noexcept;
  ~socket_state() { close(); }
};

/// The awaiter of every socket operation. `Op` provides `static bool call(Op*)`: make
/// the system call once, store result/error, return false on EAGAIN; and
/// `value_type finish()` called in await_resume after success.
template <class Op, bool Write>
class op_awaiter : public io_op {
 public:
  bool await_ready() noexcept {
    this->attempt = &attempt_fn;
    if (!(Write ? st->writable : st->readable)) return false;
    return attempt_fn(this);
  }
  void await_suspend(std::coroutine_handle<> h) {
    task = &aio::detail::require_task();
    event_loop& loop = get_running_loop();
    if (!st->loop)
      st->register_with(loop);
    else if (st->loop != &loop)
      throw std::logic_error("socket used from another event loop than the one it waits on");
    io_op*& slot = Write ? st->writer : st->reader;
    if (slot)
      throw std::logic_error(Write ? "socket: another send/connect is already pending"
                                   : "socket: another recv/accept is already pending");
    slot = this;
    this->ops = &ops_;
    task->suspend_on(h, this);
  }
  auto await_resume() {
    if (!done) {
      // Cancelled before completing (see the file comment).
      if (cancelled) throw cancelled_error(task->cancel_message());
    }
    if (error) static_cast<Op*>(this)->fail();
    return static_cast<Op*>(this)->finish();
  }

 private:
  static bool attempt_fn(io_op* o) noexcept {
    auto* self = static_cast<Op*>(o);
    if (!Op::call(self)) {
      (Write ? o->st->writable : o->st->readable) = false;
      return false;
    }
    o->done = true;
    return true;
  }
  static bool on_cancel(aio::detail::suspension* s, aio::detail::task_base*) {
    auto* self = static_cast<io_op*>(s);
    if (self->st) {
      io_op*& slot = Write ? self->st->writer : self->st->reader;
      if (slot == self) slot = nullptr;
    }
    self->cancelled = true;
    self->task->wake();
    return true;
  }
  static constexpr aio::detail::wait_ops ops_{nullptr, &on_cancel};
};

struct recv_op : op_awaiter<recv_op, false> {
  std::span<std::byte> buf;
  int flags = 0;
  static bool call(recv_op* o) noexcept;
  [[noreturn]] void fail();
  std::size_t finish() noexcept { return result; }
};

/// What recvfrom returns: the datagram's size (it was truncated if larger than the
/// buffer: `truncated`) and its sender.
struct datagram_info {
  std::size_t size = 0;
  address from{};
  bool truncated = false;
};

struct recvfrom_op : op_awaiter<recvfrom_op, false> {
  std::span<std::byte> buf;
  address from{};
  bool truncated = false;
  static bool call(recvfrom_op* o) noexcept;
  [[noreturn]] void fail();
  datagram_info finish() noexcept { return {result, from, truncated}; }
};

struct sendto_op : op_awaiter<sendto_op, true> {
  std::span<const std::byte> buf;
  address to{};
  static bool call(sendto_op* o) noexcept;
  [[noreturn]] void fail();
  std::size_t finish() noexcept { return result; }
};

struct send_op : op_awaiter<send_op, true> {
  std::span<const std::byte> buf;
  static bool call(send_op* o) noexcept;
  [[noreturn]] void fail();
  std::size_t finish() noexcept { return result; }
};

struct sendmsg_op : op_awaiter<sendmsg_op, true> {
  std::span<const iovec> iov;
  static bool call(sendmsg_op* o) noexcept;
  [[noreturn]] void fail();
  std::size_t finish() noexcept { return result; }
};

struct accept_op : op_awaiter<accept_op, false> {
  int new_fd = -1;
  address peer{};
  static bool call(accept_op* o) noexcept;
  [[noreturn]] void fail();
  socket finish();
};

struct sendfile_op : op_awaiter<sendfile_op, true> {
  int in_fd = -1;
  off_t offset = 0;
  std::size_t count = 0;
  static bool call(sendfile_op* o) noexcept;
  [[noreturn]] void fail();
  std::size_t finish() noexcept { return result; }
};

struct connect_op : op_awaiter<connect_op, true> {
  address peer;
  bool started = false;
  static bool call(connect_op* o) noexcept;
  [[noreturn]] void fail();
  void finish() noexcept {}
};

/// Wraps an op as an aio awaitable (the op is built in place in the frame).
template <class Op>
class op_awaitable {
 public:
  using aio_awaitable = void;
  explicit op_awaitable(Op op) noexcept : op_(std::move(op)) {}
  Op operator co_await() && noexcept { return std::move(op_); }

 private:
  Op op_;
};

}  // namespace detail

class socket {
 public:
  /// No socket (is_open() is false).
  socket() noexcept = default;
  /// Adopts `fd` (made non-blocking and close-on-exec). std::invalid_argument if < 0.
  explicit socket(int fd);
  /// socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC. Throws os_error.
  static socket create(int family, int type, int protocol = 0);
  socket(socket&& o) noexcept = default;
  socket& operator=(socket&& o) noexcept = default;
  ~socket() = default;  // closes

  int fd() const noexcept { return st_ ? st_->fd : -1; }
  bool is_open() const noexcept { return st_ && st_->fd >= 0; }
  /// Closes the fd (idempotent). A pending operation is woken with os_error(EBADF).
  void close() noexcept;
  /// Gives up the fd without closing it (unregistered from the loop); -1 if none.
  int release() noexcept;

  void bind(const address& a);
  void listen(int backlog = 4096);
  void shutdown(int how);  // SHUT_RD, SHUT_WR, SHUT_RDWR

  /// Receives into `buf`: the number of bytes (0 at the end of the stream). Waits
  /// only if nothing is available.
  [[nodiscard]] detail::op_awaitable<detail::recv_op> recv(std::span<std::byte> buf, int flags = 0);
  /// Datagram sockets: receives one datagram into `buf` with its sender (asyncio's
  /// sock_recvfrom). A datagram larger than `buf` is truncated (`truncated` is set).
  [[nodiscard]] detail::op_awaitable<detail::recvfrom_op> recvfrom(std::span<std::byte> buf);
  /// Datagram sockets: sends `buf` as one datagram to `to` (asyncio's sock_sendto);
  /// on a connected datagram socket use send().
  [[nodiscard]] detail::op_awaitable<detail::sendto_op> sendto(std::span<const std::byte> buf,
                                                               const address& to);
  /// Sends what the kernel takes at once from `buf` (at least one byte, waiting if it
  /// takes none). Returns the count.
  [[nodiscard]] detail::op_awaitable<detail::send_op> send(std::span<const std::byte> buf);
  /// sendmsg(2) of a gather list (at most IOV_MAX entries): like send.
  [[nodiscard]] detail::op_awaitable<detail::sendmsg_op> sendmsg(std::span<const iovec> iov);
  /// Sends all of `buf` (asyncio's sock_sendall).
  [[nodiscard]] coro<void> send_all(std::span<const std::byte> buf);
  /// Sends `count` bytes of file `in_fd` from `offset` with sendfile(2); returns the
  /// count sent (less only if the file ended first).
  [[nodiscard]] coro<std::size_t> sendfile(int in_fd, off_t offset, std::size_t count);
  /// Accepts a connection (non-blocking and close-on-exec, as every aio socket).
  [[nodiscard]] detail::op_awaitable<detail::accept_op> accept();
  /// Connects to `peer` (asyncio's sock_connect).
  [[nodiscard]] detail::op_awaitable<detail::connect_op> connect(const address& peer);

  address local_address() const;
  address peer_address() const;
  void set_option(int level, int name, int value);
  int get_option(int level, int name) const;
  void set_nodelay(bool on) { set_option(IPPROTO_TCP_, TCP_NODELAY_, on); }
  void set_reuse_address(bool on) { set_option(SOL_SOCKET, SO_REUSEADDR, on); }
  void set_reuse_port(bool on) { set_option(SOL_SOCKET, SO_REUSEPORT, on); }
  void set_keepalive(bool on) { set_option(SOL_SOCKET, SO_KEEPALIVE, on); }

  /// Adopts an fd known to be non-blocking and close-on-exec already.
  struct nonblocking_t {};
  static constexpr nonblocking_t nonblocking{};
  socket(int fd, nonblocking_t);

  /// The shared state (for the stream layer).
  detail::socket_state* state() const noexcept { return st_.get(); }

 private:
  static constexpr int IPPROTO_TCP_ = 6;  // <netinet/in.h>'s IPPROTO_TCP
  static constexpr int TCP_NODELAY_ = 1;  // <netinet/tcp.h>'s TCP_NODELAY
  detail::socket_state& require_open(const char* what) const;
  std::unique_ptr<detail::socket_state> st_;
};

namespace detail {
inline socket accept_op::finish() {
  socket s(std::exchange(new_fd, -1), socket::nonblocking);
  s.state()->peer = peer;
  return s;
}
}  // namespace detail

}  // namespace aio::net
