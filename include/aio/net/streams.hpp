// SPDX-License-Identifier: MIT
// aio/net/streams.hpp — asyncio's streams: open_connection, start_server,
// stream_reader, stream_writer (and the Unix-socket twins).
//
//   auto [reader, writer] = co_await aio::open_connection("127.0.0.1", 8888);
//   writer.write("hello\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();
//   writer.close();
//   co_await writer.wait_closed();
//
//   aio::coro<void> handle(aio::stream_reader reader, aio::stream_writer writer) {
//     while (!reader.at_eof()) writer.write(co_await reader.read(4096));
//   }
//   aio::server srv = co_await aio::start_server(handle, "127.0.0.1", 8888);
//   co_await srv.serve_forever();
//
// Ownership. A connection's reader and writer are two handles on one transport (the
// socket and its buffers), like asyncio's pair; both are movable, not copyable. The
// connection is closed when writer.close() is called or when both handles are gone;
// data already written is sent first in either case (asyncio's transport.close()). A
// server's handler receives the two handles by value: they live in its coroutine frame,
// and the connection ends with the handler unless it moves them elsewhere.
//
// Reading (stream_reader). Data is read into the reader's buffer, up to `limit` bytes
// (default 64 KiB, asyncio's) for readline/readuntil; read(n) returns what is there
// (at most n), waiting only when nothing is; read() with no argument reads to the end.
// read_some(buf) copies into the caller's buffer, and receives straight into it when
// the reader's buffer is empty (no copy). At the end of the stream read returns "",
// readexactly and readuntil throw incomplete_read_error (see each function). Closing
// the writer ends the reader's stream too (at_eof() once the buffer is read).
//
// Writing (stream_writer). write() sends at once what the socket takes and buffers the
// rest, which the loop sends in the background as the peer reads. drain() waits while
// the buffer is above the high-water mark (64 KiB) until it is below the low-water mark
// (16 KiB): call it after writes, or a peer that does not read makes the buffer grow.
// A write error is raised by the next drain() (or write() after it).
//
// Cancellation: a cancelled read returns nothing and loses nothing (the bytes stay in
// the reader's buffer for the next read); a cancelled drain() leaves the buffered data
// to be sent; a cancelled open_connection closes its socket.
//
// Errors: os_error and its subclasses (connection_refused_error, connection_reset_error,
// broken_pipe_error ...) with messages naming the peer; incomplete_read_error,
// limit_overrun_error as asyncio's; std::logic_error for two concurrent reads on one
// stream (any number of tasks may drain() at once).
//
// One difference from asyncio: the reader pulls from the socket only when its buffer
// cannot satisfy a read, so bytes received before a connection error are still
// delivered, and the error comes with the read after them (asyncio's reader raises at
// once, dropping what was buffered).
//
// Thread safety: a connection belongs to the loop that created it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/task.hpp"
#include "aio/net/address.hpp"
#include "aio/net/errors.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/tls.hpp"

namespace aio {

namespace detail {
class stream_transport;
class server_state;
}  // namespace detail

/// Options of open_connection / open_unix_connection. (Trivially destructible on
/// purpose: GCC 12 destroys aggregate temporaries of co_await expressions twice.)
struct connection_options {
  /// The reader's buffer limit for readline/readuntil (asyncio's `limit`).
  std::size_t limit = 64 * 1024;
  /// Bind the socket here before connecting (asyncio's `local_addr`); empty: no bind.
  net::address local_addr{};
  /// RFC 8305: start the next address's attempt after this long (asyncio's default
  /// when enabled: 250 ms). Zero: one address at a time, in order.
  std::chrono::milliseconds happy_eyeballs_delay{250};
  /// Address family to resolve to: AF_UNSPEC (both), AF_INET or AF_INET6.
  int family = 0;
  /// TCP_NODELAY on the connection (asyncio sets it on every TCP stream).
  bool nodelay = true;
  /// TLS (aio/net/tls.hpp): the client context, kept alive by the caller until
  /// open_connection returns. nullptr: plain TCP.
  const ssl_context* ssl = nullptr;
  /// The name for SNI and the certificate check; nullptr: the host given.
  const char* server_hostname = nullptr;
  /// Give up a TLS handshake after this long (asyncio's default: 60 s): timeout_error.
  std::chrono::milliseconds ssl_handshake_timeout{60000};
};
static_assert(std::is_trivially_destructible_v<connection_options>);

/// Options of start_server / start_unix_server.
struct server_options {
  std::size_t limit = 64 * 1024;
  int backlog = 4096;
  bool reuse_address = true;  // SO_REUSEADDR (asyncio's default on Unix)
  bool reuse_port = false;    // SO_REUSEPORT: one listener per loop and core
  int family = 0;             // AF_UNSPEC: every address the host resolves to
  bool nodelay = true;
  /// TLS: the server context (copied: the caller's may go). A connection whose
  /// handshake fails or times out is closed without calling the handler.
  const ssl_context* ssl = nullptr;
  std::chrono::milliseconds ssl_handshake_timeout{60000};
};
static_assert(std::is_trivially_destructible_v<server_options>);

class stream_reader {
 public:
  stream_reader() noexcept = default;
  stream_reader(stream_reader&&) noexcept;
  stream_reader& operator=(stream_reader&&) noexcept;
  ~stream_reader();

  /// Up to `n` bytes: what is buffered, or, when nothing is, what the next receive
  /// brings; "" at the end of the stream. With no argument (or SIZE_MAX): everything
  /// until the end of the stream.
  [[nodiscard]] coro<std::string> read(std::size_t n = SIZE_MAX);
  /// Copies up to buf.size() bytes into `buf` as read(n) would; 0 at the end.
  [[nodiscard]] coro<std::size_t> read_some(std::span<std::byte> buf);
  /// One line, '\n' included. At the end of the stream: the partial last line, or "".
  /// limit_overrun_error if no '\n' comes within the limit: as asyncio, the line is
  /// dropped (up to and including its '\n' if it came, else the whole buffer).
  [[nodiscard]] coro<std::string> readline();
  /// Exactly `n` bytes, or incomplete_read_error (with what was read) at the end.
  [[nodiscard]] coro<std::string> readexactly(std::size_t n);
  /// Up to and including `separator`. incomplete_read_error at the end of the stream
  /// (with the partial data, which leaves the buffer); limit_overrun_error if the
  /// separator is not within the limit (the data stays buffered).
  [[nodiscard]] coro<std::string> readuntil(std::string_view separator = "\n");
  /// True when the buffer is empty and the peer has closed its side.
  bool at_eof() const noexcept;
  /// The bytes buffered now, not yet read.
  std::size_t buffered() const noexcept;

  explicit stream_reader(std::shared_ptr<detail::stream_transport> t) noexcept;

 private:
  std::shared_ptr<detail::stream_transport> t_;
};

class stream_writer {
 public:
  stream_writer() noexcept = default;
  stream_writer(stream_writer&&) noexcept;
  stream_writer& operator=(stream_writer&&) noexcept;
  ~stream_writer();

  /// Sends `data` (what the socket does not take now is buffered and sent in the
  /// background). Throws the connection's error if one has occurred, and
  /// std::logic_error after close() or write_eof().
  void write(std::string_view data);
  void write(std::span<const std::byte> data);
  /// Writes each piece (one gathering system call when they fit).
  void writelines(std::span<const std::string_view> pieces);
  /// Waits for the buffer to fall below the low-water mark if it is above the high one;
  /// raises the connection's error if it has one.
  [[nodiscard]] coro<void> drain();
  /// Closes the write side after the buffered data (shutdown(SHUT_WR)).
  void write_eof();
  /// Upgrades the connection to TLS (asyncio's writer.start_tls; STARTTLS in SMTP,
  /// IMAP, PostgreSQL): `ctx` a client or server context, `server_hostname` the name
  /// to send and verify (client; nullptr: none, then an IP-less check is skipped).
  /// The reader and writer then speak plaintext over TLS. Call it with no read in
  /// progress, after the plain-text exchange that agreed on the upgrade.
  [[nodiscard]] coro<void> start_tls(
      const ssl_context& ctx, const char* server_hostname = nullptr,
      std::chrono::milliseconds handshake_timeout = std::chrono::milliseconds(60000));
  /// False on TLS streams (TLS cannot half-close; write_eof throws there).
  bool can_write_eof() const noexcept;
  /// Closes the connection once the buffered data is sent. Idempotent.
  void close();
  bool is_closing() const noexcept;
  /// Waits until the connection is closed (buffer sent, socket closed).
  [[nodiscard]] coro<void> wait_closed();
  /// The size of the write buffer (asyncio's transport.get_write_buffer_size()).
  std::size_t buffer_size() const noexcept;
  /// Sets the marks (asyncio's transport.set_write_buffer_limits); low defaults to
  /// high / 4.
  void set_write_buffer_limits(std::size_t high, std::optional<std::size_t> low = std::nullopt);

  /// asyncio's get_extra_info("peername") / ("sockname") / ("socket").
  net::address peername() const;
  net::address sockname() const;
  net::socket& socket() const;
  /// TLS streams: the negotiated ALPN protocol ("" if none) and version ("TLSv1.3");
  /// "" on plain streams. (asyncio's get_extra_info("ssl_object").selected_alpn_protocol().)
  std::string tls_alpn() const;
  std::string tls_version() const;
  /// TLS streams: the subject of the peer's certificate, RFC 2253 ("CN=client,O=aio"),
  /// "" if it sent none (a server sees the client's with mutual TLS; asyncio's
  /// get_extra_info("peercert")["subject"]).
  std::string tls_peer_subject() const;
  /// TLS streams: the handshake resumed a cached session (asyncio's
  /// get_extra_info("ssl_object").session_reused).
  bool tls_session_reused() const;

  explicit stream_writer(std::shared_ptr<detail::stream_transport> t) noexcept;
  const std::shared_ptr<detail::stream_transport>& transport() const noexcept { return t_; }

 private:
  std::shared_ptr<detail::stream_transport> t_;
};

/// What open_connection returns: `auto [reader, writer] = co_await open_connection(...)`.
struct stream_pair {
  stream_reader reader;
  stream_writer writer;
};

/// Wraps a connected socket in a reader/writer pair (asyncio's open_connection(sock=)).
stream_pair make_streams(net::socket sock, std::size_t limit = 64 * 1024);

/// A reader alone on a socket or pipe end that is only read (a child's stdout): the
/// socket is closed when the reader is destroyed.
stream_reader make_stream_reader(net::socket sock, std::size_t limit = 64 * 1024);

/// Connects to host:port (names resolved with aio/net/dns.hpp; several addresses are
/// tried with happy eyeballs) and returns the stream pair.
[[nodiscard]] coro<stream_pair> open_connection(std::string host, std::uint16_t port,
                                                connection_options opts = {});
/// Connects to a Unix-domain socket.
[[nodiscard]] coro<stream_pair> open_unix_connection(std::string path,
                                                     connection_options opts = {});

/// A connection handler: takes the pair by value (see Ownership).
using client_connected_cb = std::function<coro<void>(stream_reader, stream_writer)>;

/// A listening server (asyncio.Server). Start it with start_server; it accepts until
/// close(). The handle is movable. Destroying it closes the listeners and cancels the
/// handlers still running (abort_clients), without waiting for them (no blocking
/// destructors, DESIGN.md §4); for a graceful end, close() and co_await wait_closed()
/// first.
class server {
 public:
  server() noexcept = default;
  server(server&&) noexcept;
  server& operator=(server&&) noexcept;
  ~server();

  /// Stops listening (the listening sockets are closed); connections go on.
  void close();
  /// Cancels the handlers of every open connection (asyncio 3.13's abort_clients,
  /// without the RST).
  void abort_clients();
  /// Waits until the server is closed and every connection's handler has ended.
  [[nodiscard]] coro<void> wait_closed();
  /// Waits until the server is closed (by close(), or cancelled: then it closes it).
  [[nodiscard]] coro<void> serve_forever();
  bool is_serving() const noexcept;
  /// The listening sockets (asyncio's server.sockets), e.g. to read the port chosen
  /// for port 0: `srv.sockets()[0].local_address().port()`.
  const std::vector<net::socket>& sockets() const;
  /// Connections whose handler is running.
  std::size_t active_connections() const noexcept;

  explicit server(std::shared_ptr<detail::server_state> s) noexcept;

 private:
  std::shared_ptr<detail::server_state> s_;
};

/// Listens on host:port (host "" or "0.0.0.0"/"::" for every interface; a name binds
/// every address it resolves to) and runs `handler` as a task per connection. An
/// exception from a handler is reported through the loop's exception handler and
/// closes that connection.
[[nodiscard]] coro<server> start_server(client_connected_cb handler, std::string host,
                                        std::uint16_t port, server_options opts = {});
[[nodiscard]] coro<server> start_unix_server(client_connected_cb handler, std::string path,
                                             server_options opts = {});

}  // namespace aio
