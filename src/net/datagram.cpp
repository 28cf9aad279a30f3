// SPDX-License-Identifier: MIT
#include "aio/net/datagram.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>

namespace aio {

coro<std::pair<std::string, net::address>> datagram_endpoint::recvfrom(std::size_t max_size) {
  std::string buf(max_size, '\0');
  net::detail::datagram_info d = co_await sock_.recvfrom(std::as_writable_bytes(std::span(buf)));
  buf.resize(d.size);
  co_return std::pair<std::string, net::address>(std::move(buf), d.from);
}

coro<std::string> datagram_endpoint::recv(std::size_t max_size) {
  std::string buf(max_size, '\0');
  const std::size_t n = co_await sock_.recv(std::as_writable_bytes(std::span(buf)));
  buf.resize(n);
  co_return buf;
}

coro<void> datagram_endpoint::sendto(std::string data, net::address to) {
  (void)co_await sock_.sendto(std::as_bytes(std::span(data)), to);
}

coro<void> datagram_endpoint::send(std::string data) {
  (void)co_await sock_.send(std::as_bytes(std::span(data)));
}

datagram_endpoint create_datagram_endpoint(const datagram_options& opts) {
  int family = AF_INET;
  if (!opts.local_addr.empty())
    family = opts.local_addr.family();
  else if (!opts.remote_addr.empty())
    family = opts.remote_addr.family();
  if (!opts.local_addr.empty() && !opts.remote_addr.empty() &&
      opts.local_addr.family() != opts.remote_addr.family())
    throw std::invalid_argument(
        "create_datagram_endpoint: local and remote address families differ");
  net::socket s = net::socket::create(family, SOCK_DGRAM);
  if (opts.reuse_port) s.set_reuse_port(true);
  if (opts.allow_broadcast) s.set_option(SOL_SOCKET, SO_BROADCAST, 1);
  if (!opts.local_addr.empty()) s.bind(opts.local_addr);
  if (!opts.remote_addr.empty()) {
    // A datagram connect never waits: it only sets the default peer.
    if (::connect(s.fd(), opts.remote_addr.data(), opts.remote_addr.size()) < 0)
      throw_os_error(errno, "connect to " + opts.remote_addr.to_string());
  }
  return datagram_endpoint(std::move(s));
}

}  // namespace aio
