// SPDX-License-Identifier: MIT
#include "aio/net/streams.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "aio/core/event_loop.hpp"
#include "aio/core/future.hpp"
#include "aio/core/gather.hpp"
#include "aio/core/task_group.hpp"
#include "aio/net/detail/tls_session.hpp"
#include "aio/net/dns.hpp"
#include "aio/sync/event.hpp"
#include "aio/time/sleep.hpp"
#include "aio/time/timeout.hpp"

namespace aio {
namespace detail {

/// A contiguous byte buffer with a consumed prefix: data lives in [head, tail).
class byte_buffer {
 public:
  std::size_t size() const noexcept { return tail_ - head_; }
  bool empty() const noexcept { return tail_ == head_; }
  const char* data() const noexcept { return buf_.get() + head_; }
  std::string_view view() const noexcept { return {data(), size()}; }
  void consume(std::size_t n) noexcept {
    head_ += n;
    if (head_ == tail_) head_ = tail_ = 0;
  }
  std::string take(std::size_t n) {
    std::string s(data(), n);
    consume(n);
    return s;
  }
  /// Room for at least `want` more bytes at the tail (compacts or grows).
  std::span<std::byte> prepare(std::size_t want) {
    if (cap_ - tail_ < want) {
      if (head_ > 0 && cap_ - size() >= want) {
        std::memmove(buf_.get(), buf_.get() + head_, size());
      } else {
        std::size_t cap = std::max({cap_ * 2, size() + want, std::size_t{4096}});
        auto nb = std::make_unique_for_overwrite<char[]>(cap);
        if (size()) std::memcpy(nb.get(), data(), size());
        buf_ = std::move(nb);
        cap_ = cap;
      }
      tail_ = size();
      head_ = 0;
    }
    return {reinterpret_cast<std::byte*>(buf_.get() + tail_), cap_ - tail_};
  }
  void commit(std::size_t n) noexcept { tail_ += n; }
  void append(const void* p, std::size_t n) {
    auto room = prepare(n);
    std::memcpy(room.data(), p, n);
    commit(n);
  }
  void release_memory() noexcept {
    buf_.reset();
    cap_ = head_ = tail_ = 0;
  }

 private:
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0, head_ = 0, tail_ = 0;
};

/// A task suspended until a condition of the transport holds (drain, wait_closed).
/// One intrusive list per condition; a woken or cancelled waiter leaves it.
struct stream_waiter : suspension {
  task_base* task = nullptr;
  stream_waiter* next = nullptr;
  stream_waiter** pprev = nullptr;
  bool cancelled = false;
  void link(stream_waiter*& head) noexcept {
    next = head;
    if (head) head->pprev = &next;
    pprev = &head;
    head = this;
  }
  void unlink() noexcept {
    if (!pprev) return;
    *pprev = next;
    if (next) next->pprev = pprev;
    next = nullptr;
    pprev = nullptr;
  }
  static void wake_all(stream_waiter*& head) noexcept {
    while (stream_waiter* w = head) {
      w->unlink();
      w->task->wake();
    }
  }
};

/// The connection under a reader/writer pair (asyncio's transport + protocol).
///
/// Writing. write() sends at once when nothing is buffered, and buffers the rest; the
/// flush operation (an io_op registered as the socket's writer) sends the buffer as
/// the socket becomes writable, wakes drain() waiters below the low-water mark, and
/// performs a requested write_eof or close once the buffer is empty.
///
/// Lifetime. The handles share ownership. While the flush operation is pending it
/// holds a reference too (`self_`), so a connection whose handles are gone still sends
/// what was written, then closes (asyncio's transport.close()). If the loop closes
/// first, the socket's watch is told (io_loop_closed), the flush fails, and the
/// reference is dropped: nothing outlives the loop.
class stream_transport;

/// The background send of a transport's write buffer.
struct flush_op : net::detail::io_op {
  stream_transport* owner = nullptr;
};

class stream_transport : public std::enable_shared_from_this<stream_transport> {
 public:
  stream_transport(net::socket s, std::size_t limit) : sock_(std::move(s)), limit_(limit) {
    flush_.owner = this;
    flush_.st = sock_.state();
    flush_.attempt = &flush_attempt;
    flush_.complete = &flush_complete;
  }
  ~stream_transport() { wake_waiters(); }

  // --- reading -------------------------------------------------------------------------

  /// Receives more data into the buffer; false at the end of the stream.
  coro<bool> fill() {
    if (eof_) co_return false;
    if (reading_)
      throw std::logic_error(
          "stream_reader: a read was started while another task is already waiting for "
          "data on this stream");
    reading_ = true;
    struct reset {
      bool& r;
      ~reset() { r = false; }
    } guard{reading_};
    if (!sock_.is_open()) {
      eof_ = true;
      co_return false;
    }
    if (tls_) {
      const bool got = co_await tls_fill();
      co_return got;
    }
    std::size_t n = 0;
    try {
      n = co_await sock_.recv(
          rbuf_.prepare(std::min<std::size_t>(std::max<std::size_t>(limit_, 4096), 256 * 1024)));
    } catch (const os_error& e) {
      // Our own close() while reading: the stream ended (asyncio: feed_eof).
      if (e.error_number() != EBADF || !closing_) throw;
    }
    if (n == 0) {
      eof_ = true;
      co_return false;
    }
    rbuf_.commit(n);
    co_return true;
  }

  coro<std::size_t> read_some(std::span<std::byte> buf) {
    if (buf.empty()) co_return 0;
    if (tls_ && rbuf_.empty() && !eof_) {
      const bool got = co_await fill();  // decrypted into the buffer first
      (void)got;
    }
    if (rbuf_.empty() && !eof_) {
      if (reading_) throw std::logic_error("stream_reader: concurrent reads on one stream");
      if (!sock_.is_open()) {
        eof_ = true;
        co_return 0;
      }
      // Nothing buffered: receive straight into the caller's buffer.
      reading_ = true;
      struct reset {
        bool& r;
        ~reset() { r = false; }
      } guard{reading_};
      std::size_t n = 0;
      try {
        n = co_await sock_.recv(buf);
      } catch (const os_error& e) {
        if (e.error_number() != EBADF || !closing_) throw;
      }
      if (n == 0) eof_ = true;
      co_return n;
    }
    const std::size_t n = std::min(buf.size(), rbuf_.size());
    std::memcpy(buf.data(), rbuf_.data(), n);
    rbuf_.consume(n);
    co_return n;
  }

  coro<std::string> read(std::size_t n) {
    if (n == 0) co_return std::string();
    if (n == SIZE_MAX) {
      for (;;) {
        const bool more = co_await fill();
        if (!more) break;
      }
      co_return rbuf_.take(rbuf_.size());
    }
    if (rbuf_.empty()) co_await fill();
    co_return rbuf_.take(std::min(n, rbuf_.size()));
  }

  coro<std::string> readexactly(std::size_t n) {
    while (rbuf_.size() < n) {
      const bool more = co_await fill();
      if (!more) throw incomplete_read_error(rbuf_.take(rbuf_.size()), n);
    }
    co_return rbuf_.take(n);
  }

  coro<std::string> readuntil(std::string_view sep) {
    if (sep.empty()) throw std::invalid_argument("readuntil: the separator is empty");
    std::size_t searched = 0;  // bytes known not to start a separator
    for (;;) {
      const std::string_view v = rbuf_.view();
      const std::size_t pos = v.find(sep, searched);
      if (pos != std::string_view::npos) {
        if (pos > limit_)
          throw limit_overrun_error("separator is found, but the chunk is longer than the limit",
                                    pos);
        co_return rbuf_.take(pos + sep.size());
      }
      if (v.size() >= sep.size()) searched = v.size() - sep.size() + 1;
      // Before giving up on the limit, take what has already arrived (asyncio's reader
      // has it: its transport pushes data in as it comes).
      if (v.size() > limit_ && pull_available()) continue;
      if (v.size() > limit_)
        throw limit_overrun_error("separator is not found, and the chunk exceeds the limit",
                                  v.size());
      const bool more = co_await fill();
      if (!more) {
        std::string partial = rbuf_.take(rbuf_.size());
        throw incomplete_read_error(std::move(partial), 0);
      }
    }
  }

  coro<std::string> readline() {
    std::string line;
    std::exception_ptr overrun;
    std::size_t consumed = 0;
    try {
      line = co_await readuntil("\n");
    } catch (const incomplete_read_error& e) {
      co_return e.partial();
    } catch (const limit_overrun_error& e) {
      overrun = std::current_exception();
      consumed = e.consumed();
    }
    if (overrun) {
      // asyncio: the line is dropped (with its separator, if it came).
      const std::string_view v = rbuf_.view();
      if (consumed < v.size() && v[consumed] == '\n')
        rbuf_.consume(consumed + 1);
      else
        rbuf_.consume(rbuf_.size());
      std::rethrow_exception(overrun);
    }
    co_return line;
  }

  /// Moves into the buffer what the socket holds now, without waiting; true if
  /// anything came (data or the end of the stream). Errors are left for the next read.
  bool pull_available() {
    net::detail::socket_state* st = sock_.state();
    bool got = false;
    // One system call even when the readable flag is down: the socket may never have
    // waited on the loop, so no edge would have raised it.
    while (!eof_ && sock_.is_open() && !reading_) {
      auto room = rbuf_.prepare(4096);
      ssize_t k;
      do k = ::recv(sock_.fd(), room.data(), room.size(), MSG_DONTWAIT);
      while (k < 0 && errno == EINTR);
      if (k < 0) {
        if (errno == EAGAIN) st->readable = false;
        break;  // errors are left for the next read
      }
      got = true;
      if (k == 0) {
        eof_ = true;
        break;
      }
      rbuf_.commit(static_cast<std::size_t>(k));
    }
    return got;
  }

  bool at_eof() const noexcept { return eof_ && rbuf_.empty(); }
  std::size_t buffered() const noexcept { return rbuf_.size(); }

  // --- writing -------------------------------------------------------------------------

  void write(const void* p, std::size_t n) {
    check_writable();
    if (n == 0) return;
    if (tls_) {
      tls_->write(static_cast<const char*>(p), n);
      push_output();
      return;
    }
    const char* data = static_cast<const char*>(p);
    if (wbuf_.empty() && sock_.state()->writable) {
      ssize_t k;
      do k = ::send(sock_.fd(), data, n, MSG_NOSIGNAL);
      while (k < 0 && errno == EINTR);
      if (k < 0) {
        if (errno != EAGAIN) return fail(errno);
        sock_.state()->writable = false;
        k = 0;
      }
      data += k;
      n -= static_cast<std::size_t>(k);
      if (n == 0) return;
    }
    wbuf_.append(data, n);
    start_flush();
  }

  void writev(std::span<const std::string_view> pieces) {
    check_writable();
    if (tls_) {
      for (std::string_view piece : pieces) tls_->write(piece.data(), piece.size());
      push_output();
      return;
    }
    std::size_t total = 0;
    for (auto p : pieces) total += p.size();
    if (total == 0) return;
    std::size_t sent = 0;
    if (wbuf_.empty() && sock_.state()->writable && pieces.size() <= IOV_MAX) {
      iovec iov[IOV_MAX < 64 ? IOV_MAX : 64];
      if (pieces.size() <= std::size(iov)) {
        for (std::size_t i = 0; i < pieces.size(); ++i)
          iov[i] = iovec{const_cast<char*>(pieces[i].data()), pieces[i].size()};
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = pieces.size();
        ssize_t k;
        do k = ::sendmsg(sock_.fd(), &m, MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
          if (errno != EAGAIN) return fail(errno);
          sock_.state()->writable = false;
          k = 0;
        }
        sent = static_cast<std::size_t>(k);
        if (sent == total) return;
      }
    }
    for (auto p : pieces) {
      if (sent >= p.size()) {
        sent -= p.size();
        continue;
      }
      wbuf_.append(p.data() + sent, p.size() - sent);
      sent = 0;
    }
    start_flush();
  }

  coro<void> drain();
  coro<void> wait_closed();

  void write_eof() {
    if (tls_)
      throw std::logic_error("write_eof: TLS streams cannot half-close (can_write_eof() is false)");
    if (closing_ || eof_written_ || eof_requested_) return;
    eof_requested_ = true;
    if (wbuf_.empty()) do_write_eof();
  }

  void close() {
    if (closing_) return;
    if (tls_ && !error_ && !closed_ && tls_ready_) {
      tls_->shutdown();  // close_notify, sent before the socket closes
      push_output();
    }
    closing_ = true;
    if (wbuf_.empty() || error_) finish_close();
    // else: the flush closes when the buffer is empty
  }
  bool is_closing() const noexcept { return closing_; }
  std::size_t buffer_size() const noexcept { return wbuf_.size(); }
  void set_limits(std::size_t high, std::optional<std::size_t> low) {
    const std::size_t l = low ? *low : high / 4;
    if (l > high) throw std::invalid_argument("set_write_buffer_limits: low > high");
    high_ = high;
    low_ = l;
  }
  net::socket& socket() noexcept { return sock_; }
  bool can_write_eof() const noexcept { return !tls_; }
  const detail::tls_session* tls() const noexcept { return tls_.get(); }

  // --- TLS --------------------------------------------------------------------------

  /// Runs the handshake of `session` on this (fresh) connection; from then on the
  /// reader and writer speak plaintext. Throws ssl_error and friends.
  coro<void> start_tls(std::unique_ptr<tls_session> session) {
    if (tls_) throw std::logic_error("start_tls: the stream already uses TLS");
    if (reading_) throw std::logic_error("start_tls: a read is in progress on this stream");
    if (closing_ || error_) throw std::logic_error("start_tls: the stream is closing");
    tls_ = std::move(session);
    cin_ = std::make_unique_for_overwrite<char[]>(cin_size);
    // An upgrade (STARTTLS): bytes already received past the plain-text part are the
    // peer's first TLS records.
    if (!rbuf_.empty()) {
      tls_->feed(rbuf_.data(), rbuf_.size());
      rbuf_.consume(rbuf_.size());
    }
    for (;;) {
      const bool done = tls_->handshake();
      push_output();
      if (done) break;
      std::size_t n = co_await sock_.recv(std::as_writable_bytes(std::span(cin_.get(), cin_size)));
      if (n == 0)
        tls_->feed_eof();
      else
        tls_->feed(cin_.get(), n);
    }
    tls_ready_ = true;
  }

 private:
  friend struct drain_awaiter;
  friend struct closed_awaiter;

  static constexpr std::size_t cin_size = 64 * 1024;

  // Decrypts into the read buffer; false at the end of the stream.
  coro<bool> tls_fill() {
    for (;;) {
      auto room = rbuf_.prepare(16 * 1024);
      const long r = tls_->read(reinterpret_cast<char*>(room.data()), room.size());
      push_output();  // a read may answer the peer (key update, alerts)
      if (r > 0) {
        rbuf_.commit(static_cast<std::size_t>(r));
        co_return true;
      }
      if (r == 0) {
        eof_ = true;
        co_return false;
      }
      std::size_t n = 0;
      try {
        n = co_await sock_.recv(std::as_writable_bytes(std::span(cin_.get(), cin_size)));
      } catch (const os_error& e) {
        if (e.error_number() != EBADF || !closing_) throw;
        eof_ = true;
        co_return false;
      }
      if (n == 0)
        tls_->feed_eof();
      else
        tls_->feed(cin_.get(), n);
    }
  }

  // Moves the session's ciphertext into the write buffer and sends what it can.
  void push_output() {
    std::size_t n = tls_->pending_output();
    if (n == 0) return;
    if (error_ || closed_) {
      char sink[4096];
      while (tls_->take_output(sink, sizeof sink) > 0) {
      }
      return;
    }
    auto room = wbuf_.prepare(n);
    wbuf_.commit(tls_->take_output(reinterpret_cast<char*>(room.data()), n));
    if (flush_pending_) return;
    if (sock_.state()->writable) {
      if (const int e = send_buffered(); e != 0 && e != EAGAIN) return fail(e);
    }
    if (!wbuf_.empty()) start_flush();
  }

  // Sends from the write buffer until it is empty (0), the socket is full (EAGAIN: its
  // writable flag goes down) or the connection fails (the errno).
  int send_buffered() noexcept {
    while (!wbuf_.empty()) {
      ssize_t k;
      do k = ::send(sock_.fd(), wbuf_.data(), wbuf_.size(), MSG_NOSIGNAL);
      while (k < 0 && errno == EINTR);
      if (k < 0) {
        if (errno != EAGAIN) return errno;
        sock_.state()->writable = false;
        return EAGAIN;
      }
      wbuf_.consume(static_cast<std::size_t>(k));
    }
    return 0;
  }

  void check_writable() {
    if (error_) throw_os_error(error_, "write to " + peer_text());
    if (closing_) throw std::logic_error("stream_writer: write after close()");
    if (eof_requested_ || eof_written_)
      throw std::logic_error("stream_writer: write after write_eof()");
  }

  std::string peer_text() const {
    try {
      return sock_.peer_address().to_string();
    } catch (...) {
      return "peer";
    }
  }

  void fail(int err) {
    if (!error_) error_ = err;
    wbuf_.release_memory();
    wake_waiters();
    if (closing_) finish_close();
  }

  void start_flush() {
    if (flush_pending_) return;
    net::detail::socket_state* st = sock_.state();
    if (!st->loop) {
      // First wait on this socket: it joins the running loop now.
      st->register_with(get_running_loop());
    }
    if (st->writer) throw std::logic_error("stream_writer: the socket has another writer");
    // The socket may have become writable between the send that returned EAGAIN and
    // now only through an edge the loop will report: wait for it.
    flush_pending_ = true;
    st->writer = &flush_;
    self_ = shared_from_this();
  }

  // Sends from the buffer until it is empty (true) or the socket is full (false).
  static bool flush_attempt(net::detail::io_op* op) noexcept {
    stream_transport* t = static_cast<flush_op*>(op)->owner;
    const int e = t->send_buffered();
    if (e == EAGAIN) {
      t->maybe_wake_drainers();  // partly sent: maybe below the low-water mark already
      return false;
    }
    op->error = e;
    return true;
  }

  static void flush_complete(net::detail::io_op* op) noexcept {
    stream_transport* t = static_cast<flush_op*>(op)->owner;
    // Keep ourselves alive to the end of this function.
    std::shared_ptr<stream_transport> self = std::move(t->self_);
    t->flush_pending_ = false;
    const int err = std::exchange(op->error, 0);
    op->done = false;
    if (err) {
      t->fail(err == ECANCELED ? EPIPE : err);
      return;
    }
    t->maybe_wake_drainers();
    if (t->closing_) {
      t->finish_close();
    } else if (t->eof_requested_ && !t->eof_written_) {
      t->do_write_eof();
    }
  }

  void do_write_eof() {
    eof_written_ = true;
    if (sock_.is_open()) ::shutdown(sock_.fd(), SHUT_WR);
  }

  void finish_close() {
    if (closed_) return;
    closed_ = true;
    if (flush_pending_) {
      if (sock_.state()->writer == &flush_) sock_.state()->writer = nullptr;
      flush_pending_ = false;
    }
    std::shared_ptr<stream_transport> keep = std::move(self_);
    sock_.close();
    eof_ = true;  // asyncio: connection_lost feeds the reader its end
    wbuf_.release_memory();
    wake_waiters();
  }

  void maybe_wake_drainers() noexcept {
    if (wbuf_.size() <= low_) stream_waiter::wake_all(drainers_);
  }
  void wake_waiters() noexcept {
    stream_waiter::wake_all(drainers_);
    if (closed_) stream_waiter::wake_all(closers_);
  }

  net::socket sock_;
  std::size_t limit_;
  byte_buffer rbuf_;
  byte_buffer wbuf_;
  std::size_t high_ = 64 * 1024;
  std::size_t low_ = 16 * 1024;
  flush_op flush_;
  std::shared_ptr<stream_transport> self_;  // while the flush is pending
  stream_waiter* drainers_ = nullptr;
  stream_waiter* closers_ = nullptr;
  int error_ = 0;
  bool eof_ = false;
  bool reading_ = false;
  bool flush_pending_ = false;
  bool eof_requested_ = false;
  bool eof_written_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool tls_ready_ = false;
  std::unique_ptr<tls_session> tls_;
  std::unique_ptr<char[]> cin_;  // ciphertext received, before decryption

 public:
  // For the awaiters below.
  bool drain_done() const noexcept { return error_ || closed_ || wbuf_.size() <= low_; }
  bool needs_drain() const noexcept { return !error_ && !closed_ && wbuf_.size() > high_; }
  bool closed() const noexcept { return closed_; }
  stream_waiter*& drainers() noexcept { return drainers_; }
  stream_waiter*& closers() noexcept { return closers_; }
  void rethrow_error() {
    if (error_) throw_os_error(error_, "write to " + peer_text());
  }
};

/// Waits on one of the transport's waiter lists.
struct list_awaiter : stream_waiter {
  stream_waiter*& head;
  explicit list_awaiter(stream_waiter*& h) noexcept : head(h) {}
  list_awaiter(const list_awaiter&) = delete;
  ~list_awaiter() { unlink(); }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task = &require_task();
    link(head);
    ops = &ops_;
    task->suspend_on(h, this);
  }
  void await_resume() {
    if (cancelled) throw cancelled_error(task->cancel_message());
  }
  static bool on_cancel(suspension* s, task_base*) {
    auto* self = static_cast<list_awaiter*>(s);
    self->unlink();
    self->cancelled = true;
    self->task->wake();
    return true;
  }
  static constexpr wait_ops ops_{nullptr, &on_cancel};
};

struct list_wait {
  using aio_awaitable = void;
  stream_waiter*& head;
  list_awaiter operator co_await() && noexcept { return list_awaiter(head); }
};

coro<void> stream_transport::drain() {
  if (needs_drain()) {
    while (!drain_done()) co_await list_wait{drainers_};
  }
  rethrow_error();
}

coro<void> stream_transport::wait_closed() {
  while (!closed_) co_await list_wait{closers_};
}

}  // namespace detail

// --- stream_reader ---------------------------------------------------------------------------

stream_reader::stream_reader(std::shared_ptr<detail::stream_transport> t) noexcept
    : t_(std::move(t)) {}
stream_reader::stream_reader(stream_reader&&) noexcept = default;
stream_reader& stream_reader::operator=(stream_reader&&) noexcept = default;
stream_reader::~stream_reader() = default;

namespace {
detail::stream_transport& need(const std::shared_ptr<detail::stream_transport>& t) {
  if (!t) throw std::logic_error("stream: empty (moved-from or default-constructed) handle");
  return *t;
}
}  // namespace

coro<std::string> stream_reader::read(std::size_t n) {
  return need(t_).read(n);
}
coro<std::size_t> stream_reader::read_some(std::span<std::byte> buf) {
  return need(t_).read_some(buf);
}
coro<std::string> stream_reader::readline() {
  return need(t_).readline();
}
coro<std::string> stream_reader::readexactly(std::size_t n) {
  return need(t_).readexactly(n);
}
coro<std::string> stream_reader::readuntil(std::string_view separator) {
  // The separator is copied: the coroutine may outlive the caller's string.
  return [](detail::stream_transport& t, std::string sep) -> coro<std::string> {
    co_return co_await t.readuntil(sep);
  }(need(t_), std::string(separator));
}
bool stream_reader::at_eof() const noexcept {
  return !t_ || t_->at_eof();
}
std::size_t stream_reader::buffered() const noexcept {
  return t_ ? t_->buffered() : 0;
}

// --- stream_writer ---------------------------------------------------------------------------

stream_writer::stream_writer(std::shared_ptr<detail::stream_transport> t) noexcept
    : t_(std::move(t)) {}
stream_writer::stream_writer(stream_writer&&) noexcept = default;
stream_writer& stream_writer::operator=(stream_writer&& o) noexcept {
  if (this != &o) {
    if (t_) t_->close();
    t_ = std::move(o.t_);
  }
  return *this;
}
stream_writer::~stream_writer() {
  // Dropping the writer closes the connection once its data is sent.
  if (t_) t_->close();
}

void stream_writer::write(std::string_view data) {
  need(t_).write(data.data(), data.size());
}
void stream_writer::write(std::span<const std::byte> data) {
  need(t_).write(data.data(), data.size());
}
void stream_writer::writelines(std::span<const std::string_view> pieces) {
  need(t_).writev(pieces);
}
coro<void> stream_writer::drain() {
  return need(t_).drain();
}
void stream_writer::write_eof() {
  need(t_).write_eof();
}
void stream_writer::close() {
  if (t_) t_->close();
}
bool stream_writer::is_closing() const noexcept {
  return !t_ || t_->is_closing();
}
coro<void> stream_writer::wait_closed() {
  return need(t_).wait_closed();
}
std::size_t stream_writer::buffer_size() const noexcept {
  return t_ ? t_->buffer_size() : 0;
}
void stream_writer::set_write_buffer_limits(std::size_t high, std::optional<std::size_t> low) {
  need(t_).set_limits(high, low);
}
net::address stream_writer::peername() const {
  return need(t_).socket().peer_address();
}
net::address stream_writer::sockname() const {
  return need(t_).socket().local_address();
}
net::socket& stream_writer::socket() const {
  return need(t_).socket();
}
coro<void> stream_writer::start_tls(const ssl_context& ctx, const char* server_hostname,
                                    std::chrono::milliseconds handshake_timeout) {
  std::shared_ptr<detail::stream_transport> t = t_;
  if (!t) throw std::logic_error("stream: empty (moved-from or default-constructed) handle");
  const std::string peer = t->socket().peer_address().to_string();
  auto session = std::make_unique<detail::tls_session>(
      ctx, server_hostname ? std::string(server_hostname) : std::string(), peer);
  co_await timeout(handshake_timeout, t->start_tls(std::move(session)));
}

bool stream_writer::can_write_eof() const noexcept {
  return t_ && t_->can_write_eof();
}
std::string stream_writer::tls_alpn() const {
  const detail::tls_session* s = need(t_).tls();
  return s ? s->alpn() : std::string();
}
bool stream_writer::tls_session_reused() const {
  const detail::tls_session* s = need(t_).tls();
  return s && s->session_reused();
}
std::string stream_writer::tls_version() const {
  const detail::tls_session* s = need(t_).tls();
  return s ? s->version() : std::string();
}
std::string stream_writer::tls_peer_subject() const {
  const detail::tls_session* s = need(t_).tls();
  return s ? s->peer_subject() : std::string();
}

stream_pair make_streams(net::socket sock, std::size_t limit) {
  if (!sock.is_open()) throw std::invalid_argument("make_streams: the socket is not open");
  if (limit == 0) throw std::invalid_argument("stream limit must be > 0");
  auto t = std::make_shared<detail::stream_transport>(std::move(sock), limit);
  return stream_pair{stream_reader(t), stream_writer(t)};
}

stream_reader make_stream_reader(net::socket sock, std::size_t limit) {
  if (!sock.is_open()) throw std::invalid_argument("make_stream_reader: the socket is not open");
  if (limit == 0) throw std::invalid_argument("stream limit must be > 0");
  return stream_reader(std::make_shared<detail::stream_transport>(std::move(sock), limit));
}

// --- open_connection -----------------------------------------------------------------------

namespace {

coro<net::socket> connect_one(net::address addr, connection_options opts) {
  net::socket s = net::socket::create(addr.family(), SOCK_STREAM);
  if (!opts.local_addr.empty()) s.bind(opts.local_addr);
  co_await s.connect(addr);
  if (opts.nodelay && addr.family() != AF_UNIX) s.set_nodelay(true);
  co_return s;
}

/// RFC 8305 happy eyeballs: attempts start `delay` apart (or when the previous one
/// fails); the first to connect wins and the others are cancelled and closed.
coro<net::socket> happy_eyeballs(std::vector<net::address> addrs, connection_options opts) {
  if (addrs.size() == 1 || opts.happy_eyeballs_delay.count() == 0) {
    std::exception_ptr first;
    for (const net::address& a : addrs) {
      try {
        co_return co_await connect_one(a, opts);
      } catch (const os_error&) {
        if (!first) first = std::current_exception();
      }
    }
    std::rethrow_exception(first);
  }
  std::optional<net::socket> winner;
  std::exception_ptr first_error;
  std::size_t failed = 0;
  co_await with_task_group([&](task_group& tg) -> coro<void> {
    for (std::size_t i = 0; i < addrs.size() && !winner; ++i) {
      future<void> failed_now = get_running_loop().create_future<void>();
      tg.create_task([&, i, failed_now]() mutable -> coro<void> {
        try {
          net::socket s = co_await connect_one(addrs[i], opts);
          if (!winner) {
            winner.emplace(std::move(s));
            tg.cancel();
          }
        } catch (const os_error&) {
          if (!first_error) first_error = std::current_exception();
          ++failed;
          if (!failed_now.done()) failed_now.set_result();
        }
      });
      if (i + 1 < addrs.size()) {
        // The next attempt starts after the delay, or as soon as this one fails. (On
        // timeout wait_for cancels the future, which the attempt then leaves alone.)
        try {
          co_await wait_for(failed_now, opts.happy_eyeballs_delay);
        } catch (const timeout_error&) {
        }
      }
    }
  });
  if (winner) co_return std::move(*winner);
  std::rethrow_exception(first_error);
}

}  // namespace

/// RFC 8305 §4: alternate the families, starting with the first one returned, so
/// that a broken family costs one attempt, not all of them.
static std::vector<net::address> interleave_families(std::vector<net::address> addrs) {
  if (addrs.size() < 3) return addrs;
  std::vector<net::address> first, other, out;
  const int f = addrs[0].family();
  for (const auto& a : addrs) (a.family() == f ? first : other).push_back(a);
  for (std::size_t i = 0; i < first.size() || i < other.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}

coro<stream_pair> open_connection(std::string host, std::uint16_t port, connection_options opts) {
  // Numeric hosts come back at once (and are checked against opts.family).
  net::resolve_options ro;
  ro.family = opts.family;
  std::vector<net::address> addrs = interleave_families(co_await net::resolve(host, port, ro));
  net::socket s = co_await happy_eyeballs(std::move(addrs), opts);
  if (!opts.ssl) co_return make_streams(std::move(s), opts.limit);
  if (opts.ssl->is_server())
    throw std::invalid_argument("open_connection: the ssl context is a server context");
  const std::string peer = s.peer_address().to_string();
  auto t = std::make_shared<detail::stream_transport>(std::move(s), opts.limit);
  auto session = std::make_unique<detail::tls_session>(
      *opts.ssl, opts.server_hostname ? std::string(opts.server_hostname) : host, peer);
  co_await timeout(opts.ssl_handshake_timeout, t->start_tls(std::move(session)));
  co_return stream_pair{stream_reader(t), stream_writer(t)};
}

// --- servers -----------------------------------------------------------------------------

namespace detail {

/// A listening server: its listeners, the task accepting on each, and the handler task
/// of each open connection.
class server_state : public std::enable_shared_from_this<server_state> {
 public:
  server_state(client_connected_cb cb, std::size_t limit, bool nodelay)
      : cb_(std::move(cb)), limit_(limit), nodelay_(nodelay) {}

  void use_tls(const ssl_context& ctx, std::chrono::milliseconds handshake_timeout) {
    if (!ctx.is_server())
      throw std::invalid_argument("start_server: the ssl context is a client context");
    ssl_.emplace(ctx);
    handshake_timeout_ = handshake_timeout;
  }

  void start(std::vector<net::socket> listeners) {
    listeners_ = std::move(listeners);
    loop_ = &get_running_loop();
    unix_ = !listeners_.empty() && listeners_[0].local_address().family() == AF_UNIX;
    serving_ = true;
    for (std::size_t i = 0; i < listeners_.size(); ++i)
      accepters_.push_back(
          aio::create_task([self = shared_from_this(), i]() { return self->accept_loop(i); },
                           task_options{.name = "aio.server.accept"}));
  }

  void close() {
    if (!serving_ && listeners_.empty()) return;
    serving_ = false;
    if (stop_future_ && !stop_future_->done()) stop_future_->set_result();
    for (auto& t : accepters_) t.cancel();
    accepters_.clear();
    for (auto& l : listeners_) l.close();
    listeners_.clear();  // asyncio: server.sockets is empty once closed
    maybe_closed();
  }

  void abort_clients() {
    for (auto& [id, t] : connections_) t.cancel();
  }

  // An event, not a future: a waiter that is cancelled (wait_for around wait_closed)
  // must not cancel what the other waiters, and later ones, wait for.
  coro<void> wait_closed() {
    if (closed_) co_return;
    co_await closed_event_.wait();
  }

  bool is_serving() const noexcept { return serving_; }
  /// Resolved by close(): what serve_forever waits for.
  future<void> stopped() {
    if (!stop_future_) {
      stop_future_ = loop_->create_future<void>();
      if (!serving_) stop_future_->set_result();
    }
    return *stop_future_;
  }
  const std::vector<net::socket>& sockets() const noexcept { return listeners_; }
  std::size_t active() const noexcept { return connections_.size(); }

 private:
  coro<void> accept_loop(std::size_t i) {
    // close() clears listeners_: look the listener up only while serving.
    for (;;) {
      if (!serving_) co_return;
      net::socket conn;
      bool failed = false;
      try {
        conn = co_await listeners_[i].accept();
      } catch (const os_error& e) {
        // Out of descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ...): report, pause,
        // go on (asyncio pauses accepting for a while in the same case).
        if (!serving_) co_return;
        loop_->report("server: " + std::string(e.what()), std::current_exception(), nullptr);
        failed = true;
      }
      if (failed) {
        co_await aio::sleep(std::chrono::milliseconds(100));
        continue;
      }
      if (!serving_) co_return;  // accepted as the server closed: drop it
      if (nodelay_ && !unix_) {
        try {
          conn.set_nodelay(true);
        } catch (const os_error&) {
        }
      }
      const std::uint64_t id = ++next_id_;
      auto pair = make_streams(std::move(conn), limit_);
      task<void> t = aio::create_task(
          [self = shared_from_this(), p = std::move(pair)]() mutable {
            return self->ssl_ ? self->run_tls_handler(std::move(p))
                              : self->run_handler(std::move(p));
          },
          task_options{.name = "aio.server.connection"});
      // The bookkeeping is a done callback, not code at the end of the handler's task: a
      // task cancelled before its first step (abort_clients right after an accept)
      // never runs its body, but it does finish.
      t.add_done_callback([self = shared_from_this(), id](const any_task&) {
        self->connections_.erase(id);
        self->maybe_closed();
      });
      connections_.emplace(id, std::move(t));
    }
  }

  // The TLS handshake runs in the connection's task, before the handler: a slow or
  // failing client holds up nobody else. A failed handshake closes the connection
  // quietly (scanners and plain-text clients are common on TLS ports).
  coro<void> run_tls_handler(stream_pair p) {
    std::shared_ptr<stream_transport> t = p.writer.transport();
    bool ok = false;
    try {
      std::string peer = t->socket().peer_address().to_string();
      auto session = std::make_unique<tls_session>(*ssl_, std::string(), std::move(peer));
      co_await timeout(handshake_timeout_, t->start_tls(std::move(session)));
      ok = true;
    } catch (const std::exception&) {
    }
    if (!ok) co_return;
    co_await run_handler(std::move(p));
  }

  coro<void> run_handler(stream_pair p) {
    std::exception_ptr error;
    try {
      co_await cb_(std::move(p.reader), std::move(p.writer));
    } catch (...) {
      error = std::current_exception();
    }
    if (!error) co_return;
    try {
      std::rethrow_exception(error);
    } catch (const cancelled_error&) {
      throw;  // abort_clients, or the loop shutting down
    } catch (...) {
      loop_->report("Unhandled exception in client_connected_cb", error, nullptr);
    }
  }

  void maybe_closed() {
    if (serving_ || !connections_.empty() || closed_) return;
    closed_ = true;
    closed_event_.set();
  }

  client_connected_cb cb_;
  std::size_t limit_;
  bool nodelay_;
  event_loop* loop_ = nullptr;
  std::vector<net::socket> listeners_;
  std::vector<task<void>> accepters_;
  std::unordered_map<std::uint64_t, task<void>> connections_;
  std::uint64_t next_id_ = 0;
  event closed_event_;
  std::optional<future<void>> stop_future_;
  bool serving_ = false;
  bool closed_ = false;
  bool unix_ = false;
  std::optional<ssl_context> ssl_;
  std::chrono::milliseconds handshake_timeout_{60000};
};

}  // namespace detail

server::server(std::shared_ptr<detail::server_state> s) noexcept : s_(std::move(s)) {}
server::server(server&&) noexcept = default;
server& server::operator=(server&& o) noexcept {
  if (this != &o) {
    if (s_) {
      s_->close();
      s_->abort_clients();
    }
    s_ = std::move(o.s_);
  }
  return *this;
}
server::~server() {
  // No blocking destructor (DESIGN.md §4): stop listening and ask the handlers to stop.
  if (s_) {
    s_->close();
    s_->abort_clients();
  }
}
void server::close() {
  if (s_) s_->close();
}
void server::abort_clients() {
  if (s_) s_->abort_clients();
}
coro<void> server::wait_closed() {
  if (!s_) throw std::logic_error("server: empty handle");
  return s_->wait_closed();
}
coro<void> server::serve_forever() {
  if (!s_) throw std::logic_error("server: empty handle");
  std::shared_ptr<detail::server_state> s = s_;
  std::exception_ptr cancelled;
  try {
    future<void> stopped = s->stopped();
    co_await stopped;
  } catch (const cancelled_error&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    // asyncio: a cancelled serve_forever closes the server.
    s->close();
    std::rethrow_exception(cancelled);
  }
}
bool server::is_serving() const noexcept {
  return s_ && s_->is_serving();
}
const std::vector<net::socket>& server::sockets() const {
  static const std::vector<net::socket> none;
  return s_ ? s_->sockets() : none;
}
std::size_t server::active_connections() const noexcept {
  return s_ ? s_->active() : 0;
}

namespace {

net::socket make_listener(const net::address& a, const server_options& opts) {
  net::socket l = net::socket::create(a.family(), SOCK_STREAM);
  if (a.family() != AF_UNIX) {
    if (opts.reuse_address) l.set_reuse_address(true);
    if (opts.reuse_port) l.set_reuse_port(true);
    if (a.family() == AF_INET6) l.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1);
  }
  l.bind(a);
  l.listen(opts.backlog);
  return l;
}

}  // namespace

coro<server> start_server(client_connected_cb handler, std::string host, std::uint16_t port,
                          server_options opts) {
  if (!handler) throw std::invalid_argument("start_server: no handler");
  std::vector<net::address> addrs;
  if (host.empty()) {
    if (opts.family != AF_INET6) addrs.push_back(net::address::any(AF_INET, port));
    if (opts.family != AF_INET) addrs.push_back(net::address::any(AF_INET6, port));
  } else if (auto a = net::address::parse(host, port)) {
    addrs.push_back(*a);
  } else {
    net::resolve_options ro;
    ro.family = opts.family;
    addrs = co_await net::resolve(host, port, ro);
  }
  std::vector<net::socket> listeners;
  for (net::address a : addrs) {
    // Port 0 with several addresses: the others take the port the first one got.
    if (port != 0 && a.port() != port) a = *net::address::parse(a.host(), port);
    try {
      listeners.push_back(make_listener(a, opts));
    } catch (const os_error& e) {
      // An IPv6 wildcard on a host without IPv6 is skipped, as asyncio does.
      if (host.empty() && a.family() == AF_INET6 && e.error_number() == EAFNOSUPPORT) continue;
      throw;
    }
    if (port == 0 && listeners.size() == 1) port = listeners[0].local_address().port();
  }
  auto st = std::make_shared<detail::server_state>(std::move(handler), opts.limit, opts.nodelay);
  if (opts.ssl) st->use_tls(*opts.ssl, opts.ssl_handshake_timeout);
  st->start(std::move(listeners));
  co_return server(std::move(st));
}

coro<server> start_unix_server(client_connected_cb handler, std::string path, server_options opts) {
  if (!handler) throw std::invalid_argument("start_unix_server: no handler");
  std::vector<net::socket> listeners;
  listeners.push_back(make_listener(net::address::unix_path(path), opts));
  auto st = std::make_shared<detail::server_state>(std::move(handler), opts.limit, opts.nodelay);
  if (opts.ssl) st->use_tls(*opts.ssl, opts.ssl_handshake_timeout);
  st->start(std::move(listeners));
  co_return server(std::move(st));
}

coro<stream_pair> open_unix_connection(std::string path, connection_options opts) {
  net::address a = net::address::unix_path(path);
  net::socket s = co_await connect_one(a, opts);
  co_return make_streams(std::move(s), opts.limit);
}

}  // namespace aio
