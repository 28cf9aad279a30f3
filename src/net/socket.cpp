// SPDX-License-Identifier: MIT
#include "aio/net/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <stdexcept>

static_assert(IPPROTO_TCP == 6 && TCP_NODELAY == 1, "socket.hpp's constants");

namespace aio::net {

namespace detail {

// --- the watch --------------------------------------------------------------------------

void socket_state::on_io(aio::detail::io_watch* w, std::uint32_t events) noexcept {
  auto* st = static_cast<socket_state*>(w);
  if (events & aio::detail::io_loop_closed) {
    // The loop is closing: forget it, and fail what still waits (the last thing done
    // here: a completion may destroy the state).
    st->loop = nullptr;
    io_op* r = std::exchange(st->reader, nullptr);
    io_op* o = std::exchange(st->writer, nullptr);
    for (io_op* op : {r, o}) {
      if (!op) continue;
      op->error = ECANCELED;
      op->done = true;
      op->st = nullptr;
    }
    if (r) r->complete(r);
    if (o) o->complete(o);
    return;
  }
  // A completion may run user code that closes the socket (stream callbacks): read
  // the writer slot only after the reader is done, and stop if the fd went away.
  if (events & (aio::detail::io_peer_closed | aio::detail::io_error)) st->peer_closed = true;
  if (events & (aio::detail::io_readable | aio::detail::io_error)) {
    st->readable = true;
    if (io_op* r = st->reader; r && r->attempt(r)) {
      st->reader = nullptr;
      r->complete(r);
    }
  }
  if (st->fd < 0) return;
  if (events & (aio::detail::io_writable | aio::detail::io_error)) {
    st->writable = true;
    if (io_op* o = st->writer; o && o->attempt(o)) {
      st->writer = nullptr;
      o->complete(o);
    }
  }
}

void socket_state::register_with(event_loop& l) {
  on_event = &on_io;
  l.add_watch(fd, this);
  loop = &l;
}

void socket_state::close() noexcept {
  if (fd < 0) return;
  if (loop) loop->remove_watch(fd);
  ::close(fd);
  fd = -1;
  // Wake what waits: it finds EBADF.
  for (io_op** slot : {&reader, &writer}) {
    if (io_op* o = std::exchange(*slot, nullptr)) {
      o->error = EBADF;
      o->done = true;
      o->st = nullptr;  // this state may be freed before the operation's task runs
      o->complete(o);
    }
  }
}

namespace {

std::string peer_of(const socket_state* st) {
  if (st && !st->peer.empty()) return st->peer.to_string();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (st && st->fd >= 0 && ::getpeername(st->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).to_string();
  return "socket";
}

std::string local_of(const socket_state* st) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (st && st->fd >= 0 && ::getsockname(st->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).to_string();
  return "socket";
}

// Stores the outcome of a system call that returned `n`; false on EAGAIN.
bool store(io_op* o, ssize_t n) noexcept {
  if (n >= 0) {
    o->result = static_cast<std::size_t>(n);
    return true;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
  o->error = errno;
  return true;
}

}  // namespace

bool recv_op::call(recv_op* o) noexcept {
  ssize_t n;
  do n = ::recv(o->st->fd, o->buf.data(), o->buf.size(), o->flags);
  while (n < 0 && errno == EINTR);
  // A stream socket that filled less than the buffer has no more data queued: the next
  // recv waits for the next edge instead of costing a system call that says EAGAIN.
  // (Data arriving after this recv raises a new edge: edge-triggered epoll reports
  // every arrival, not just the empty -> non-empty transition.) Not after the peer's
  // FIN was reported: the end of the stream is queued behind the data, and its edge is
  // already spent.
  if (n > 0 && static_cast<std::size_t>(n) < o->buf.size() && o->st->stream &&
      !o->st->peer_closed && !(o->flags & MSG_PEEK))
    o->st->readable = false;
  return store(o, n);
}
void recv_op::fail() {
  throw_os_error(error, "recv from " + peer_of(st));
}

bool recvfrom_op::call(recvfrom_op* o) noexcept {
  ssize_t n;
  do {
    socklen_t len = o->from.capacity();
    n = ::recvfrom(o->st->fd, o->buf.data(), o->buf.size(), MSG_TRUNC, o->from.data(), &len);
    if (n >= 0) o->from.set_size(len);
  } while (n < 0 && errno == EINTR);
  if (n >= 0 && static_cast<std::size_t>(n) > o->buf.size()) {
    o->truncated = true;  // MSG_TRUNC: n is the datagram's real size
    n = static_cast<ssize_t>(o->buf.size());
  }
  return store(o, n);
}
void recvfrom_op::fail() {
  throw_os_error(error, "recvfrom on " + local_of(st));
}

bool sendto_op::call(sendto_op* o) noexcept {
  ssize_t n;
  do
    n = ::sendto(o->st->fd, o->buf.data(), o->buf.size(), MSG_NOSIGNAL, o->to.data(), o->to.size());
  while (n < 0 && errno == EINTR);
  return store(o, n);
}
void sendto_op::fail() {
  throw_os_error(error, "sendto " + to.to_string());
}

bool send_op::call(send_op* o) noexcept {
  ssize_t n;
  do n = ::send(o->st->fd, o->buf.data(), o->buf.size(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return store(o, n);
}
void send_op::fail() {
  throw_os_error(error, "send to " + peer_of(st));
}

bool sendmsg_op::call(sendmsg_op* o) noexcept {
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(o->iov.data());
  m.msg_iovlen = o->iov.size() > IOV_MAX ? IOV_MAX : o->iov.size();
  ssize_t n;
  do n = ::sendmsg(o->st->fd, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return store(o, n);
}
void sendmsg_op::fail() {
  throw_os_error(error, "send to " + peer_of(st));
}

bool sendfile_op::call(sendfile_op* o) noexcept {
  ssize_t n;
  do n = ::sendfile(o->st->fd, o->in_fd, &o->offset, o->count);
  while (n < 0 && errno == EINTR);
  return store(o, n);
}
void sendfile_op::fail() {
  throw_os_error(error, "sendfile to " + peer_of(st));
}

bool accept_op::call(accept_op* o) noexcept {
  for (;;) {
    socklen_t len = o->peer.capacity();
    const int fd = ::accept4(o->st->fd, o->peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      o->peer.set_size(len);
      o->new_fd = fd;
      return true;
    }
    switch (errno) {
      case EINTR:
        continue;
      case EAGAIN:
        return false;
      // The connection died in the backlog (Linux reports its error here): try the
      // next one, as servers do.
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
        continue;
      default:
        o->error = errno;
        return true;
    }
  }
}
void accept_op::fail() {
  throw_os_error(error, "accept on " + local_of(st));
}

bool connect_op::call(connect_op* o) noexcept {
  if (!o->started) {
    o->started = true;
    int r;
    do r = ::connect(o->st->fd, o->peer.data(), o->peer.size());
    while (r < 0 && errno == EINTR);
    o->st->peer = o->peer;
    if (r == 0) return true;
    if (errno == EINPROGRESS || errno == EAGAIN) return false;
    o->error = errno;
    return true;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(o->st->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) {
    // Connected, unless the edge came before the handshake ended (then no peer yet).
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (::getpeername(o->st->fd, reinterpret_cast<sockaddr*>(&ss), &sl) < 0) return false;
    return true;
  }
  o->error = err;
  return true;
}
void connect_op::fail() {
  throw_os_error(error, "connect to " + peer.to_string());
}

}  // namespace detail

// --- socket ---------------------------------------------------------------------------------

socket::socket(int fd) {
  if (fd < 0) throw std::invalid_argument("socket: invalid file descriptor");
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  st_ = std::make_unique<detail::socket_state>();
  st_->fd = fd;
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) st_->stream = type == SOCK_STREAM;
}

socket::socket(int fd, nonblocking_t) {
  try {
    st_ = std::make_unique<detail::socket_state>();
  } catch (...) {
    ::close(fd);
    throw;
  }
  st_->fd = fd;
}

socket socket::create(int family, int type, int protocol) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_os_error(errno, "socket");
  socket s(fd, nonblocking);
  s.st_->stream = (type & 0xf) == SOCK_STREAM;
  return s;
}

void socket::close() noexcept {
  if (st_) st_->close();
}

int socket::release() noexcept {
  if (!st_ || st_->fd < 0) return -1;
  if (st_->loop) st_->loop->remove_watch(st_->fd);
  const int fd = std::exchange(st_->fd, -1);
  st_.reset();
  return fd;
}

detail::socket_state& socket::require_open(const char* what) const {
  if (!is_open()) throw os_error(EBADF, std::string(what) + " on a closed socket");
  return *st_;
}

void socket::bind(const address& a) {
  auto& st = require_open("bind");
  if (::bind(st.fd, a.data(), a.size()) < 0) throw_os_error(errno, "bind to " + a.to_string());
}

void socket::listen(int backlog) {
  auto& st = require_open("listen");
  if (::listen(st.fd, backlog) < 0)
    throw_os_error(errno, "listen on " + local_address().to_string());
}

void socket::shutdown(int how) {
  auto& st = require_open("shutdown");
  if (::shutdown(st.fd, how) < 0 && errno != ENOTCONN) throw_os_error(errno, "shutdown");
}

detail::op_awaitable<detail::recv_op> socket::recv(std::span<std::byte> buf, int flags) {
  detail::recv_op op;
  op.st = &require_open("recv");
  op.buf = buf;
  op.flags = flags;
  return detail::op_awaitable<detail::recv_op>(std::move(op));
}

detail::op_awaitable<detail::send_op> socket::send(std::span<const std::byte> buf) {
  detail::send_op op;
  op.st = &require_open("send");
  op.buf = buf;
  return detail::op_awaitable<detail::send_op>(std::move(op));
}

detail::op_awaitable<detail::sendmsg_op> socket::sendmsg(std::span<const iovec> iov) {
  detail::sendmsg_op op;
  op.st = &require_open("sendmsg");
  op.iov = iov;
  return detail::op_awaitable<detail::sendmsg_op>(std::move(op));
}

detail::op_awaitable<detail::recvfrom_op> socket::recvfrom(std::span<std::byte> buf) {
  detail::recvfrom_op op;
  op.st = &require_open("recvfrom");
  op.buf = buf;
  return detail::op_awaitable<detail::recvfrom_op>(std::move(op));
}

detail::op_awaitable<detail::sendto_op> socket::sendto(std::span<const std::byte> buf,
                                                       const address& to) {
  detail::sendto_op op;
  op.st = &require_open("sendto");
  op.buf = buf;
  op.to = to;
  return detail::op_awaitable<detail::sendto_op>(std::move(op));
}

coro<void> socket::send_all(std::span<const std::byte> buf) {
  while (!buf.empty()) {
    const std::size_t n = co_await send(buf);
    buf = buf.subspan(n);
  }
}

coro<std::size_t> socket::sendfile(int in_fd, off_t offset, std::size_t count) {
  std::size_t sent = 0;
  while (sent < count) {
    detail::sendfile_op op;
    op.st = &require_open("sendfile");
    op.in_fd = in_fd;
    op.offset = offset + static_cast<off_t>(sent);
    op.count = count - sent;
    const std::size_t n = co_await detail::op_awaitable<detail::sendfile_op>(std::move(op));
    if (n == 0) break;  // the file ended
    sent += n;
  }
  co_return sent;
}

detail::op_awaitable<detail::accept_op> socket::accept() {
  detail::accept_op op;
  op.st = &require_open("accept");
  return detail::op_awaitable<detail::accept_op>(std::move(op));
}

detail::op_awaitable<detail::connect_op> socket::connect(const address& peer) {
  detail::connect_op op;
  op.st = &require_open("connect");
  op.peer = peer;
  return detail::op_awaitable<detail::connect_op>(std::move(op));
}

address socket::local_address() const {
  auto& st = require_open("getsockname");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(st.fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    throw_os_error(errno, "getsockname");
  return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

address socket::peer_address() const {
  auto& st = require_open("getpeername");
  if (!st.peer.empty()) return st.peer;  // known from accept/connect: no system call
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(st.fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    throw_os_error(errno, "getpeername");
  return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

void socket::set_option(int level, int name, int value) {
  auto& st = require_open("setsockopt");
  if (::setsockopt(st.fd, level, name, &value, sizeof value) < 0)
    throw_os_error(errno, "setsockopt");
}

int socket::get_option(int level, int name) const {
  auto& st = require_open("getsockopt");
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(st.fd, level, name, &v, &len) < 0) throw_os_error(errno, "getsockopt");
  return v;
}

}  // namespace aio::net
