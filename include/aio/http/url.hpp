// SPDX-License-Identifier: MIT
// aio/http/url.hpp — absolute http(s) URLs, as yarl's URL that aiohttp uses.
//
//   aio::http::url u("https://user@example.com:8443/a/b?q=1#top");
//   u.scheme();   // "https"        u.host();  // "example.com"   u.port(); // 8443
//   u.path();     // "/a/b"         u.query_string(); // "q=1"   u.fragment(); // "top"
//   u.target();   // "/a/b?q=1"  (what goes on the request line)
//   u.join("../c?x=2");           // https://user@example.com:8443/c?x=2 (RFC 3986 §5)
//   u.with_query({{"page", "2"}}); // replaces the query, percent-encoding the values
//
// Scope: the "http", "https", "ws" and "wss" schemes (a host is required); the
// host is lower-cased, an IPv6 literal keeps its brackets in str() and loses them
// in host(); the default port is filled in (80/443) and left out of str(). The path
// and query are kept as given (already percent-encoded); path() is never empty ("/").
// Bad input throws aio::http::invalid_url naming what is wrong.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aio::http {

/// A multi-valued, ordered query: [("a", "1"), ("a", "2"), ("b", "")].
using query_params = std::vector<std::pair<std::string, std::string>>;

class url {
 public:
  url() = default;
  /// Parses an absolute URL; invalid_url if it is not one.
  explicit url(std::string_view text);

  const std::string& scheme() const noexcept { return scheme_; }
  const std::string& user() const noexcept { return user_; }
  const std::string& password() const noexcept { return password_; }
  /// Without brackets for IPv6 ("::1").
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  bool is_default_port() const noexcept;
  bool secure() const noexcept { return scheme_ == "https" || scheme_ == "wss"; }
  /// Percent-encoded, at least "/".
  const std::string& path() const noexcept { return path_; }
  /// Percent-encoded, without '?'.
  const std::string& query_string() const noexcept { return query_; }
  const std::string& fragment() const noexcept { return fragment_; }
  /// The decoded query pairs.
  query_params query() const;
  /// path + ("?" + query if any): the request target (origin form).
  std::string target() const;
  /// The Host header value: host, with ":port" unless it is the default.
  std::string host_header() const;
  /// scheme://host[:port] — the origin (for connection pools and redirect checks).
  std::string origin() const;

  /// Resolves a reference (absolute, "//host/..", "/path", "rel", "?q", "#f") against
  /// this URL as a browser does (RFC 3986 §5.2, dot segments removed).
  url join(std::string_view reference) const;
  /// A copy with the query replaced by `params`, percent-encoded.
  url with_query(const query_params& params) const;
  /// A copy with `params` appended to the existing query.
  url extend_query(const query_params& params) const;
  url with_fragment(std::string_view fragment) const;
  /// A copy without user and password.
  url without_userinfo() const;

  std::string str() const;
  bool empty() const noexcept { return host_.empty(); }
  friend bool operator==(const url& a, const url& b) { return a.str() == b.str(); }

 private:
  std::string scheme_, user_, password_, host_, path_ = "/", query_, fragment_;
  std::uint16_t port_ = 0;
  bool ipv6_ = false;
};

/// Percent-encodes everything but unreserved characters (RFC 3986) and `safe`.
std::string quote(std::string_view s, std::string_view safe = "/");
/// Percent-encodes for a query value or form field: space becomes '+'.
std::string quote_plus(std::string_view s);
/// Decodes %XX (and '+' as space when `plus` is set). Invalid escapes are kept as is.
std::string unquote(std::string_view s, bool plus = false);
/// "a=1&b=x+y" -> [("a","1"), ("b","x y")] (application/x-www-form-urlencoded).
query_params parse_query(std::string_view qs);
/// The reverse of parse_query.
std::string encode_query(const query_params& params);

}  // namespace aio::http
