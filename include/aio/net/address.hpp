// SPDX-License-Identifier: MIT
// aio/net/address.hpp — aio::net::address: a socket address (IPv4, IPv6 or Unix path),
// the value that Python passes around as ("127.0.0.1", 8080) tuples.
//
//   auto a = aio::net::address::parse("127.0.0.1", 8080);   // numeric hosts only
//   auto b = aio::net::address::parse("::1", 443);
//   auto u = aio::net::address::unix_path("/run/app.sock");
//   a->to_string()  // "127.0.0.1:8080"; b: "[::1]:443"; u: "/run/app.sock"
//
// parse() takes numeric hosts only and returns nullopt for anything else: names go
// through the resolver (aio/net/dns.hpp). A value type; the empty address (family
// AF_UNSPEC) is what a default-constructed one holds.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aio::net {

class address {
 public:
  address() noexcept = default;

  /// A numeric IPv4 or IPv6 host ("10.0.0.1", "::1", "fe80::1%lo") and a port;
  /// nullopt if `host` is not one.
  static std::optional<address> parse(std::string_view host, std::uint16_t port);
  /// A Unix-domain socket path (std::invalid_argument if longer than sun_path allows).
  /// A leading '@' names an abstract socket.
  static address unix_path(std::string_view path);
  /// Copies a sockaddr the system returned.
  static address from_sockaddr(const sockaddr* sa, socklen_t len);
  /// The wildcard address of a family (0.0.0.0 or ::) with `port`.
  static address any(int family, std::uint16_t port);
  static address loopback(int family, std::uint16_t port);

  int family() const noexcept { return storage_.ss_family; }
  bool empty() const noexcept { return family() == AF_UNSPEC; }
  /// The host as text: "127.0.0.1", "::1", or the Unix path.
  std::string host() const;
  std::uint16_t port() const noexcept;  // 0 for Unix sockets
  /// "127.0.0.1:8080", "[::1]:8080", or the Unix path.
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  /// For system calls that fill the address in: the room, then the length they wrote.
  socklen_t capacity() const noexcept { return sizeof storage_; }
  void set_size(socklen_t n) noexcept { len_ = n <= sizeof storage_ ? n : sizeof storage_; }

  friend bool operator==(const address& a, const address& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace aio::net
