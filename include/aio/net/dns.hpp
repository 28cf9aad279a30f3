// SPDX-License-Identifier: MIT
// aio/net/dns.hpp — aio::net::resolve and aio::net::resolver: asynchronous host-name
// resolution on c-ares, the asynchronous equivalent of getaddrinfo() (asyncio's
// loop.getaddrinfo, with aiohttp's ttl_dns_cache built in).
//
//   std::vector<address> resolve(std::string host, std::uint16_t port, resolve_options = {})
//
//   auto addrs = co_await aio::net::resolve("example.com", 443);
//   auto v4 = co_await aio::net::resolve("example.com", 443, {.family = AF_INET});
//   aio::net::resolver r(loop, {.servers = "127.0.0.1:5353", .timeout = 1s});
//   auto a = co_await r.resolve("db.internal", 5432);   // "10.0.0.7:5432", ...
//
// What answers. A numeric host ("10.0.0.1", "::1") is returned at once, without c-ares.
// A name is looked up in /etc/hosts first, then through DNS (A and AAAA queries for
// AF_UNSPEC); the DNS servers are those of /etc/resolv.conf unless the resolver's
// options name others. The addresses come in the order c-ares gives them: sorted by
// the RFC 6724 destination rules, as getaddrinfo() sorts them (so on a machine without
// an IPv6 route the IPv4 addresses come first). Each carries `port`. Interleaving the
// families for Happy Eyeballs is the connecting code's business.
//
// The cache. Each resolver keeps the answers it got, per (host, family), for the
// shortest TTL of the records and at most options.cache_ttl (10 s by default, like
// aiohttp's ttl_dns_cache); an answer with a zero TTL, an /etc/hosts answer (no TTL)
// and a failure are not cached. Concurrent resolves of the same (host, family) share
// one lookup. clear_cache() forgets everything.
//
// The default resolver. aio::net::resolve uses default_resolver(loop) of the running
// loop, made on first use with default_resolver_options(): what
// set_default_resolver_options() last set, or else resolver_options{} whose `servers`
// come from the AIO_DNS_SERVERS environment variable when it is set. It lives until
// aio::run shuts the loop down (a loop shutdown hook) or, for a loop driven by hand,
// until the loop is destroyed.
//
// Cancellation: cancelling a task that awaits a resolve returns at once with
// cancelled_error. c-ares cannot stop one query, so the lookup goes on unobserved (a
// concurrent resolve of the same name still gets its answer) unless no task of the
// resolver waits for anything any more: then every pending c-ares query is cancelled,
// and the resolver holds no timer and no socket.
// Errors: aio::net::dns_error, whose status() is the c-ares code (ARES_ENOTFOUND,
// ARES_ETIMEOUT, ...) and whose message names the host: "resolve example.invalid:
// domain name not found". A resolver destroyed while lookups are pending fails them
// with ARES_EDESTRUCTION. std::invalid_argument for a family other than AF_UNSPEC,
// AF_INET or AF_INET6; std::logic_error when a resolver is used from another loop.
// Thread safety: a resolver belongs to its loop's thread. set_default_resolver_options
// and default_resolver_options may be called from any thread.
//
// Example:
//   aio::coro<void> print_addresses(std::string host) {
//     try {
//       for (const aio::net::address& a : co_await aio::net::resolve(host, 443))
//         std::cout << a.to_string() << '\n';
//     } catch (const aio::net::dns_error& e) {
//       std::cout << e.what() << '\n';  // "resolve nope.invalid: domain name not found"
//     }
//   }
//
// The timeouts of a lookup run on c-ares's own clock (real time), not on the loop's:
// with a virtual clock (aio/testing.hpp), a lookup that waits for a silent server still
// takes its real timeout.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/net/address.hpp"

namespace aio {
class event_loop;
}

namespace aio::net {

namespace detail {
struct dns_access;
}

/// getaddrinfo's hints: which addresses a resolve returns.
struct resolve_options {
  /// AF_UNSPEC (IPv4 and IPv6), AF_INET or AF_INET6.
  int family = AF_UNSPEC;
};
static_assert(std::is_trivially_destructible_v<resolve_options>);  // docs/hazards.md

/// A name could not be resolved (Python's socket.gaierror).
class dns_error : public std::runtime_error {
 public:
  /// `status` is a c-ares code; the message is "resolve <host>: <reason>".
  dns_error(int status, const std::string& host);
  /// The c-ares status: ARES_ENOTFOUND (no such name), ARES_ENODATA (no address of the
  /// family asked), ARES_ETIMEOUT, ARES_ECONNREFUSED, ARES_ESERVFAIL, ARES_EBADNAME,
  /// ARES_EDESTRUCTION (the resolver was destroyed), ... (see ares.h).
  int status() const noexcept { return status_; }

 private:
  int status_;
};

/// Options of a resolver (not used in co_await expressions, so it may hold a string).
struct resolver_options {
  /// DNS servers, comma-separated: "127.0.0.1:5353,[::1]:53,10.0.0.1" (port 53 when
  /// none is given). Empty: the nameservers of /etc/resolv.conf.
  std::string servers{};
  /// How long to wait for an answer from one server on the first try. c-ares doubles it
  /// at each further round over the servers.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  /// Tries per server before giving up with ARES_ETIMEOUT (at least 1).
  int tries = 2;
  /// Longest time an answer is cached (see the file comment); zero disables the cache.
  std::chrono::milliseconds cache_ttl = std::chrono::seconds(10);
  /// Look names up in /etc/hosts before asking DNS.
  bool use_hosts_file = true;
};

/// A c-ares channel driven by one event loop, with its cache.
class resolver {
 public:
  /// Throws std::invalid_argument for bad options (unparsable servers, tries < 1,
  /// negative durations), dns_error when c-ares cannot be initialised.
  explicit resolver(event_loop& loop, resolver_options opts = {});
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;
  /// Fails the pending lookups (ARES_EDESTRUCTION; their tasks are woken) and closes
  /// the c-ares sockets. Must run while the loop is alive.
  ~resolver();

  /// The addresses of `host` with `port` (see the file comment). The coro may outlive
  /// the resolver: it then fails with ARES_EDESTRUCTION.
  [[nodiscard]] coro<std::vector<address>> resolve(std::string host, std::uint16_t port,
                                                   resolve_options opts = {});

  /// Forgets every cached answer (lookups in progress are not affected).
  void clear_cache() noexcept;

  event_loop& loop() const noexcept;
  const resolver_options& options() const noexcept;

  class impl;

 private:
  friend struct detail::dns_access;
  std::shared_ptr<impl> impl_;
};

/// The default resolver of `loop`, made on first use (see the file comment).
resolver& default_resolver(event_loop& loop);

/// The options default resolvers are made with from now on (resolvers that exist keep
/// theirs). std::nullopt restores the initial choice: resolver_options{} with `servers`
/// from the AIO_DNS_SERVERS environment variable.
void set_default_resolver_options(std::optional<resolver_options> opts);
/// The options the next default resolver will be made with.
resolver_options default_resolver_options();

/// Resolves `host` with the running loop's default resolver.
[[nodiscard]] coro<std::vector<address>> resolve(std::string host, std::uint16_t port,
                                                 resolve_options opts = {});

}  // namespace aio::net
