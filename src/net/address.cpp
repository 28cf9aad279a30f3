// SPDX-License-Identifier: MIT
#include "aio/net/address.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace aio::net {

std::optional<address> address::parse(std::string_view host, std::uint16_t port) {
  if (host.empty() || host.size() > 63) return std::nullopt;
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  address a;
  sockaddr_in v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(&a.storage_, &v4, sizeof v4);
    a.len_ = sizeof v4;
    return a;
  }
  sockaddr_in6 v6{};
  std::string scope;
  if (auto pct = h.find('%'); pct != std::string::npos) {
    scope = h.substr(pct + 1);
    h.resize(pct);
  }
  if (::inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    if (!scope.empty()) {
      unsigned idx = ::if_nametoindex(scope.c_str());
      if (idx == 0) {
        char* end = nullptr;
        unsigned long n = std::strtoul(scope.c_str(), &end, 10);
        if (*end != '\0') return std::nullopt;
        idx = static_cast<unsigned>(n);
      }
      v6.sin6_scope_id = idx;
    }
    std::memcpy(&a.storage_, &v6, sizeof v6);
    a.len_ = sizeof v6;
    return a;
  }
  return std::nullopt;
}

address address::unix_path(std::string_view path) {
  sockaddr_un un{};
  if (path.empty() || path.size() >= sizeof un.sun_path)
    throw std::invalid_argument("unix socket path must have 1 to " +
                                std::to_string(sizeof un.sun_path - 1) + " bytes");
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  if (path[0] == '@') un.sun_path[0] = '\0';  // abstract namespace
  address a;
  std::memcpy(&a.storage_, &un, sizeof un);
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                  (path[0] == '@' ? 0 : 1));
  return a;
}

address address::from_sockaddr(const sockaddr* sa, socklen_t len) {
  address a;
  if (len > sizeof a.storage_) len = sizeof a.storage_;
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

address address::any(int family, std::uint16_t port) {
  return *parse(family == AF_INET6 ? "::" : "0.0.0.0", port);
}

address address::loopback(int family, std::uint16_t port) {
  return *parse(family == AF_INET6 ? "::1" : "127.0.0.1", port);
}

std::string address::host() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  switch (family()) {
    case AF_INET:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                  sizeof buf);
      return buf;
    case AF_INET6: {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
      std::string s = buf;
      if (v6->sin6_scope_id != 0) s += "%" + std::to_string(v6->sin6_scope_id);
      return s;
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      const std::size_t off = offsetof(sockaddr_un, sun_path);
      if (len_ <= off) return {};  // unnamed
      std::size_t n = len_ - off;
      if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, n - 1);
      return std::string(un->sun_path, ::strnlen(un->sun_path, n));
    }
    default:
      return {};
  }
}

std::uint16_t address::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string address::to_string() const {
  switch (family()) {
    case AF_INET:
      return host() + ":" + std::to_string(port());
    case AF_INET6:
      return "[" + host() + "]:" + std::to_string(port());
    case AF_UNIX:
      return host();
    default:
      return "(no address)";
  }
}

bool operator==(const address& a, const address& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace aio::net
