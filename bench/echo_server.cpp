// SPDX-License-Identifier: MIT
// bench_echo_server — aio's echo servers for the `echo` suite of bench/run, measured
// side by side with the peers of ../shared/anchors (c-epoll, uvloop, Tokio, Asio, ...)
// by the anchors' bench.py and its closed-loop echo_client.
//
//   bench_echo_server --port P [--mode stream|socket] [--buffer BYTES]
//                     [--cert FILE --key FILE]
//
// Listens on 127.0.0.1:P (TCP_NODELAY on every connection), one thread, until SIGTERM
// or SIGINT. The process is the server itself: bench.py stops it by its PID.
//
//   --mode socket  the low-level API (aio/net/socket.hpp): an accept loop and a task
//                  per connection that does recv into its own buffer (256 KiB, as the
//                  C peer) and sends back what it got. The shape of c-epoll, tokio-net
//                  and asio-net.
//   --mode stream  the streams API (aio/net/streams.hpp): start_server and a handler
//                  per connection that loops read_some(100 KiB) / write / drain — the
//                  shape of the uvloop-streams peer (read(102400), write, await drain()).
//
// --buffer sets the per-connection receive buffer (socket mode) or the read size
// (stream mode). --cert/--key serve TLS (stream mode; the `tls` suite of bench/run).
#include <signal.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "aio/aio.hpp"
#include "aio/net/address.hpp"
#include "aio/net/errors.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/tls.hpp"

namespace {

struct options {
  std::uint16_t port = 0;
  bool stream = true;
  std::size_t buffer = 0;  // 0: the mode's default
  const char* cert = nullptr;
  const char* key = nullptr;
};

// --- mode socket ------------------------------------------------------------------------

aio::coro<void> echo_socket_connection(aio::net::socket s, std::size_t size) {
  auto buf = std::make_unique_for_overwrite<std::byte[]>(size);
  try {
    for (;;) {
      const std::size_t n = co_await s.recv(std::span(buf.get(), size));
      if (n == 0) break;
      // send() takes what the kernel accepts at once: usually all of it.
      for (std::size_t off = 0; off < n;)
        off += co_await s.send(std::span<const std::byte>(buf.get() + off, n - off));
    }
  } catch (const aio::os_error&) {
    // The load generator resets its connections when a run ends.
  }
}

aio::coro<void> serve_socket(options o) {
  auto listener = aio::net::socket::create(AF_INET, SOCK_STREAM);
  listener.set_reuse_address(true);
  listener.bind(*aio::net::address::parse("127.0.0.1", o.port));
  listener.listen();
  const std::size_t size = o.buffer ? o.buffer : 256 * 1024;
  for (;;) {
    aio::net::socket conn = co_await listener.accept();
    conn.set_nodelay(true);
    aio::create_task(echo_socket_connection(std::move(conn), size));
  }
}

// --- mode stream ------------------------------------------------------------------------

std::size_t stream_read_size = 102400;

aio::coro<void> echo_stream_connection(aio::stream_reader reader, aio::stream_writer writer) {
  auto buf = std::make_unique_for_overwrite<std::byte[]>(stream_read_size);
  const std::span<std::byte> whole(buf.get(), stream_read_size);
  try {
    for (;;) {
      const std::size_t n = co_await reader.read_some(whole);
      if (n == 0) break;
      writer.write(std::span<const std::byte>(buf.get(), n));
      co_await writer.drain();
    }
  } catch (const aio::os_error&) {
  }
  writer.close();
}

aio::coro<void> serve_stream(options o) {
  if (o.buffer) stream_read_size = o.buffer;
  std::optional<aio::ssl_context> tls;
  aio::server_options so;
  if (o.cert) {
    tls.emplace(aio::ssl_context::server());
    tls->load_cert_chain(o.cert, o.key);
    so.ssl = &*tls;
  }
  aio::server srv =
      co_await aio::start_server(&echo_stream_connection, "127.0.0.1", o.port, so);
  co_await srv.serve_forever();
}

// --- main -------------------------------------------------------------------------------

aio::coro<int> main_async(options o) {
  // SIGINT is aio::run's; SIGTERM (how bench.py stops a server) cancels main the same way.
  aio::any_task self = *aio::current_task();
  aio::get_running_loop().add_signal_handler(SIGTERM, [self]() mutable { self.cancel("SIGTERM"); });
  try {
    if (o.stream)
      co_await serve_stream(o);
    else
      co_await serve_socket(o);
  } catch (const aio::cancelled_error&) {
    // Stopped: aio::run cancels and awaits the connections' tasks.
  }
  co_return 0;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench_echo_server: %s\nusage: bench_echo_server --port P [--mode stream|socket] "
               "[--buffer BYTES]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const char* v = argv[++i];
    if (a == "--port") {
      const long p = std::strtol(v, nullptr, 10);
      if (p <= 0 || p > 65535) usage("bad port");
      o.port = static_cast<std::uint16_t>(p);
    } else if (a == "--mode") {
      if (std::strcmp(v, "stream") == 0)
        o.stream = true;
      else if (std::strcmp(v, "socket") == 0)
        o.stream = false;
      else
        usage("mode is stream or socket");
    } else if (a == "--cert") {
      o.cert = v;
    } else if (a == "--key") {
      o.key = v;
    } else if (a == "--buffer") {
      o.buffer = std::strtoul(v, nullptr, 10);
      if (o.buffer == 0) usage("bad buffer size");
    } else {
      usage("unknown option");
    }
  }
  if (o.port == 0) usage("--port is required");
  if (!o.cert != !o.key) usage("--cert and --key go together");
  if (o.cert && !o.stream) usage("TLS is served in stream mode");
  return aio::run(main_async(o));
}
