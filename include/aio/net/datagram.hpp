// SPDX-License-Identifier: MIT
// aio/net/datagram.hpp — UDP (and Unix datagram) endpoints: asyncio's
// create_datagram_endpoint, with awaitable receive instead of a protocol callback.
//
//   auto server = aio::create_datagram_endpoint({.local_addr =
//   *aio::net::address::parse("127.0.0.1", 9999)}); auto [data, from] = co_await server.recvfrom();
//   co_await server.sendto(data, from);                  // echo it back
//
//   auto client = aio::create_datagram_endpoint({.remote_addr = server.sockname()});
//   co_await client.send("ping");                        // connected mode
//   std::string reply = co_await client.recv();
//
// Addresses are numeric (aio::net::address); resolve names first with
// aio::net::resolve (aio/net/dns.hpp). In connected mode (remote_addr given) the
// kernel filters datagrams from other senders, and send()/recv() need no address.
//
// Cancellation: a pending receive is abandoned, no datagram is lost (one that was
// received in the same loop iteration is returned, and the cancellation comes at the
// next suspension point). Errors: aio::os_error ("sendto 127.0.0.1:9: ...");
// in connected mode an ICMP "port unreachable" from an earlier send surfaces as
// connection_refused_error on a later call, as in asyncio's error_received.
// Thread safety: an endpoint belongs to the loop that first waits on it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/net/address.hpp"
#include "aio/net/socket.hpp"

namespace aio {

struct datagram_options {
  /// Bind here (port 0: any free port). Empty: the kernel picks at the first send.
  net::address local_addr{};
  /// Connect to this peer (connected mode). Empty: unconnected, use sendto().
  net::address remote_addr{};
  bool reuse_port = false;       // SO_REUSEPORT
  bool allow_broadcast = false;  // SO_BROADCAST
};
static_assert(std::is_trivially_destructible_v<datagram_options>);

class datagram_endpoint {
 public:
  datagram_endpoint() noexcept = default;
  explicit datagram_endpoint(net::socket s) noexcept : sock_(std::move(s)) {}

  /// One datagram (at most max_size bytes; a longer one is truncated) and its sender.
  [[nodiscard]] coro<std::pair<std::string, net::address>> recvfrom(std::size_t max_size = 65536);
  /// Connected mode: one datagram from the peer.
  [[nodiscard]] coro<std::string> recv(std::size_t max_size = 65536);
  /// Sends `data` as one datagram to `to`.
  [[nodiscard]] coro<void> sendto(std::string data, net::address to);
  /// Connected mode: sends `data` as one datagram to the peer.
  [[nodiscard]] coro<void> send(std::string data);

  net::address sockname() const { return sock_.local_address(); }
  net::socket& socket() noexcept { return sock_; }
  void close() noexcept { sock_.close(); }
  bool is_closing() const noexcept { return !sock_.is_open(); }

 private:
  net::socket sock_;
};

/// Creates the socket (family from the addresses given; IPv4 if none), binds and
/// connects it as the options say. Throws os_error (e.g. "bind to 127.0.0.1:53: ...").
datagram_endpoint create_datagram_endpoint(const datagram_options& opts);

}  // namespace aio
