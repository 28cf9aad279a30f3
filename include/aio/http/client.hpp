// SPDX-License-Identifier: MIT
// aio/http/client.hpp — an HTTP/1.1 client in aiohttp's shape: a client_session that
// shares a connection pool, cookies and defaults between requests, and responses whose
// bodies are read whole or streamed.
//
//   aio::http::client_session session({.base_url = "https://api.example.com/"});
//   aio::http::client_response r = co_await session.get(
//       "users", aio::http::request_options().param("page", "2").header("Accept", "*/*"));
//   r.raise_for_status();                        // client_response_error for 4xx/5xx
//   aio::json::value users = co_await r.json();  // or text(), read(), read_chunk(n)
//
//   auto r2 = co_await session.post("users", aio::http::request_options().json(body));
//   auto gen = r2.iter_chunked(64 * 1024);       // streaming, chunk by chunk
//   for (;;) {                                   // (not `while (auto p = co_await ...)`:
//     auto piece = co_await gen.next();          //  g++ 12, docs/hazards.md)
//     if (!piece) break;
//     out.write(*piece);
//   }
//   co_await session.close();                    // graceful: closes the idle connections
//
// Why request_options is a builder and not a struct with designated initializers: g++ 12
// destroys an aggregate temporary with non-trivial members twice when it is built inside
// a co_await expression, and refuses braced lists there (docs/hazards.md, "GCC 12 bugs
// around co_await"). request_options has a user-declared constructor, so it is not an
// aggregate, and `co_await session.get(u, request_options().header(...))` is safe.
// session_options is used outside of co_await (in a constructor): an aggregate is fine.
//
// Ownership. A response owns its connection until its body has been read to the end:
// then the connection goes back to the session's pool (if the server keeps it alive).
// A response destroyed, closed or released before the end of its body closes its
// connection: a half-read connection never goes back into the pool. The response keeps
// the pool alive, so it may outlive its session (its connection is then closed, not
// pooled). iter_chunked/iter_any borrow the response: do not move it while iterating.
// Request options are taken by value (the coroutine frame owns them); a body_stream
// callable is kept until the request has been sent.
//
// Pool. Connections are kept per (scheme, host, port, TLS context, proxy). `limit`
// bounds the connections in use at once (100 by default, 0: no limit), `limit_per_host`
// those to one origin (0: no limit); waiters queue FIFO and a cancelled waiter leaves
// the queue. Idle connections are closed after keepalive_timeout. A pooled connection
// that the server closed meanwhile is found out (EOF) before use, or, when the request
// met the close before any byte of the response, an idempotent request without a
// streamed body is retried once on a fresh connection.
//
// Timeouts (client_timeout, aiohttp's ClientTimeout): `total` bounds the whole request,
// redirects included, and the reads of the body; `connect` the wait for a pool slot
// plus the connection; `sock_connect` one TCP (+ TLS, + proxy CONNECT) connection;
// `sock_read` each read from the socket. All of them raise aio::timeout_error
// (connection_timeout_error and socket_timeout_error are subclasses that tell which).
//
// Cancellation: a cancelled request closes the connection it was using (its permit goes
// to the next waiter); a cancelled or timed-out body read closes the connection, and
// later reads of that response raise client_connection_error.
//
// Errors (aiohttp's names, see aio/http/errors.hpp): client_connector_error (and its
// _dns_, _ssl_, _certificate_ subclasses) when no connection could be made;
// client_os_error for a socket error while sending or waiting for the head;
// server_disconnected_error when the server closed before a whole head came;
// client_response_error for a malformed head (status 400) and for raise_for_status;
// client_payload_error for a body cut short, badly chunked or not decodable;
// too_many_redirects; invalid_url; client_proxy_error when a proxy refuses CONNECT;
// content_type_error from json() on a body that is not JSON by its Content-Type;
// aio::timeout_error (above); std::invalid_argument for a header that would split the
// message (CR/LF) or a bad method.
//
// Thread safety: a session, its responses and its cookie jar belong to the loop (thread)
// that uses them; a session is not shared between loops.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/generator.hpp"
#include "aio/http/errors.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/url.hpp"
#include "aio/json.hpp"
#include "aio/net/tls.hpp"

namespace aio::http {

// --- Errors ------------------------------------------------------------------------------

/// aiohttp's ClientOSError: a socket error on the way (reset, broken pipe ...).
/// error_number() is the errno.
class client_os_error : public client_connection_error {
 public:
  client_os_error(int err, const std::string& what) : client_connection_error(what), errno_(err) {}
  int error_number() const noexcept { return errno_; }

 private:
  int errno_;
};

/// aiohttp's ClientConnectorError: no connection could be made to host:port. what() is
/// "Cannot connect to host 127.0.0.1:1 ssl:default [connection refused]"; cause() is
/// the original exception (aio::connection_refused_error, aio::net::dns_error,
/// aio::ssl_error ...), error_number() the errno (0 for DNS and TLS failures).
class client_connector_error : public client_os_error {
 public:
  client_connector_error(int err, std::string host, std::uint16_t port, const std::string& what,
                         std::exception_ptr cause)
      : client_os_error(err, what), host_(std::move(host)), port_(port), cause_(cause) {}
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  std::exception_ptr cause() const noexcept { return cause_; }

 private:
  std::string host_;
  std::uint16_t port_;
  std::exception_ptr cause_;
};
/// The host name could not be resolved (aiohttp's ClientConnectorDNSError).
class client_connector_dns_error : public client_connector_error {
 public:
  using client_connector_error::client_connector_error;
};
/// The TLS handshake failed (aiohttp's ClientConnectorSSLError).
class client_connector_ssl_error : public client_connector_error {
 public:
  using client_connector_error::client_connector_error;
};
/// The server's certificate was rejected (aiohttp's ClientConnectorCertificateError).
class client_connector_certificate_error : public client_connector_ssl_error {
 public:
  using client_connector_ssl_error::client_connector_ssl_error;
};

/// A proxy answered CONNECT with something else than 200 (aiohttp's
/// ClientHttpProxyError); status() is the proxy's answer, url() the proxy's URL.
class client_proxy_error : public client_response_error {
 public:
  using client_response_error::client_response_error;
};

/// json() on a response whose Content-Type is not JSON (aiohttp's ContentTypeError).
class content_type_error : public client_response_error {
 public:
  using client_response_error::client_response_error;
};

/// No connection within client_timeout::connect or ::sock_connect (aiohttp's
/// ConnectionTimeoutError, an asyncio.TimeoutError).
class connection_timeout_error : public timeout_error {
 public:
  using timeout_error::timeout_error;
};
/// No data within client_timeout::sock_read (aiohttp's SocketTimeoutError).
class socket_timeout_error : public timeout_error {
 public:
  using timeout_error::timeout_error;
};

// --- Options -----------------------------------------------------------------------------

/// aiohttp's ClientTimeout. An unset field is no limit. (Trivially destructible: safe
/// inside co_await expressions.)
struct client_timeout {
  std::optional<std::chrono::milliseconds> total{};
  std::optional<std::chrono::milliseconds> connect{};
  std::optional<std::chrono::milliseconds> sock_connect{};
  std::optional<std::chrono::milliseconds> sock_read{};
};
static_assert(std::is_trivially_destructible_v<client_timeout>);

/// Options of a session (aiohttp's ClientSession and TCPConnector arguments).
struct session_options {
  /// Relative request URLs are resolved against it (url::join); "" for none.
  std::string base_url{};
  /// Sent with every request (a request's own headers replace those of the same name).
  http::headers headers{};
  /// aiohttp's default: 5 minutes in total, nothing else.
  client_timeout timeout{.total = std::chrono::minutes(5)};
  /// Connections in use at once; 0: no limit.
  std::size_t limit = 100;
  /// Connections in use at once to one (scheme, host, port); 0: no limit.
  std::size_t limit_per_host = 0;
  /// An idle pooled connection is closed after this long.
  std::chrono::milliseconds keepalive_timeout{15000};
  /// TLS for https: borrowed, must outlive the session. nullptr: a verifying client
  /// context (system CAs, host name check), made on the first https request.
  const ssl_context* ssl = nullptr;
  /// raise_for_status() on every response before it is returned.
  bool raise_for_status = false;
  /// Decode Content-Encoding gzip, deflate and br (and ask for them with
  /// Accept-Encoding).
  bool auto_decompress = true;
  /// aiohttp's max_redirects: a request stops with too_many_redirects once it has met
  /// this many redirects (0: no limit).
  int max_redirects = 10;
  /// Keep a cookie jar (aiohttp's CookieJar); false: aiohttp's DummyCookieJar.
  bool cookies = true;
  /// Accept cookies from IP-address hosts (aiohttp's CookieJar(unsafe=True)). Off by
  /// default, as in aiohttp: cookies set by http://127.0.0.1 are dropped.
  bool cookies_unsafe = false;
  /// An HTTP proxy for every request ("http://user:pass@proxy:3128"); "" for none.
  std::string proxy{};
  /// Read HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lower-case forms) from the
  /// environment when `proxy` is empty (aiohttp's trust_env).
  bool trust_env = false;
  /// The longest status line, and header field (name + value), accepted in a response
  /// (aiohttp's max_line_size and max_field_size): client_response_error (400) beyond.
  std::size_t max_line_size = 8190;
  std::size_t max_field_size = 8190;
  /// The whole response head, and the number of header fields.
  std::size_t max_head_size = 256 * 1024;
  std::size_t max_headers = 256;
  /// The User-Agent sent unless a request sets its own.
  std::string user_agent = "aio/0.1";
};

namespace detail {
struct session_impl;
struct response_state;
}  // namespace detail

/// Per-request options (aiohttp's keyword arguments of session.request). A builder: see
/// the top of this file for why it is not an aggregate.
///
///   request_options().param("q", "x").header("Accept", "text/html").timeout({.total = 5s})
class request_options {
 public:
  request_options() = default;  // user-declared: not an aggregate (g++ 12, see above)

  /// A query parameter, appended to those of the URL (repeat for several values).
  request_options& param(std::string_view name, std::string_view value);
  request_options& params(query_params p);
  /// A header field (replaces the session's default of that name; several calls with
  /// one name send several fields).
  request_options& header(std::string_view name, std::string_view value);
  request_options& headers(http::headers h);
  /// A JSON body, with Content-Type application/json.
  request_options& json(aio::json::value v);
  /// A body of bytes with this Content-Type.
  request_options& data(std::string body,
                        std::string_view content_type = "application/octet-stream");
  /// A field of an application/x-www-form-urlencoded body (repeat for more).
  request_options& form(std::string_view name, std::string_view value);
  /// A streamed body, sent with chunked encoding: `next_chunk` is awaited again and
  /// again until it returns "". Such a request is not retried, and a 307/308 redirect
  /// (which would send the body again) is returned instead of followed.
  request_options& body_stream(std::function<coro<std::string>()> next_chunk,
                               std::string_view content_type = "application/octet-stream");
  /// Basic authentication (aiohttp's auth=BasicAuth(...)); user info in the URL does
  /// the same.
  request_options& basic_auth(std::string_view user, std::string_view password);
  /// A cookie for this request only, sent with those of the jar.
  request_options& cookie(std::string_view name, std::string_view value);
  /// Replaces the session's timeouts for this request (as aiohttp's timeout=).
  request_options& timeout(client_timeout t);
  request_options& allow_redirects(bool on);
  request_options& max_redirects(int n);
  request_options& raise_for_status(bool on);
  request_options& auto_decompress(bool on);
  /// An HTTP proxy for this request ("" for none, overriding the session's).
  request_options& proxy(std::string url);
  /// The TLS context for this request (borrowed until the request returns; the
  /// connection keeps what it needs). Connections are pooled per context.
  request_options& ssl(const ssl_context* ctx);

 private:
  friend struct detail::session_impl;
  query_params params_;
  http::headers headers_;
  std::optional<std::string> body_;
  std::string content_type_;
  query_params form_;
  bool has_form_ = false;
  std::function<coro<std::string>()> stream_;
  std::optional<std::pair<std::string, std::string>> auth_;
  query_params cookies_;
  std::optional<client_timeout> timeout_;
  std::optional<bool> allow_redirects_;
  std::optional<int> max_redirects_;
  std::optional<bool> raise_for_status_;
  std::optional<bool> auto_decompress_;
  std::optional<std::string> proxy_;
  const ssl_context* ssl_ = nullptr;
};

// --- Cookies -----------------------------------------------------------------------------

/// One stored cookie (RFC 6265 §5.3).
struct cookie {
  std::string name;
  std::string value;
  /// Lower-case, without a leading dot; "" for a cookie shared by every host.
  std::string domain;
  std::string path = "/";
  /// Unset: a session cookie (kept until the jar is cleared).
  std::optional<std::chrono::system_clock::time_point> expires;
  /// No Domain attribute: sent to the host that set it only.
  bool host_only = true;
  bool secure = false;
  bool http_only = false;
};

/// aiohttp's CookieJar: stores Set-Cookie answers and sends them back where they
/// belong (domain, path, Secure, expiry; RFC 6265). Without a public-suffix list, a
/// Domain attribute without a dot (other than the host itself) is refused. With
/// unsafe=false, cookies from IP-address hosts are refused and none are sent to them
/// (only shared cookies). Expires is parsed with RFC 6265's lenient date algorithm;
/// Max-Age wins over it.
class cookie_jar {
 public:
  explicit cookie_jar(bool unsafe = false) : unsafe_(unsafe) {}

  /// Stores every Set-Cookie field of `response_headers`, received from `response_url`.
  void update(const http::headers& response_headers, const url& response_url);
  /// Stores one Set-Cookie value; false if it was refused (bad domain, IP host ...).
  bool set_cookie(std::string_view set_cookie_value, const url& response_url);
  /// Stores plain name/value pairs (aiohttp's update_cookies(dict, response_url)): for
  /// `response_url`'s host, or for every host when it is empty.
  void update(const query_params& cookies, const url& response_url = url{});
  /// The cookies to send to `request_url`, most specific path first.
  query_params filter_cookies(const url& request_url) const;
  /// filter_cookies as a Cookie header value ("a=1; b=2"), "" if none.
  std::string cookie_header(const url& request_url) const;

  void clear() noexcept { cookies_.clear(); }
  /// Forgets the cookies of `domain` and its subdomains.
  void clear_domain(std::string_view domain);
  /// The cookies stored now (expired ones are dropped first).
  const std::vector<cookie>& cookies();
  std::size_t size() { return cookies().size(); }
  bool unsafe() const noexcept { return unsafe_; }

 private:
  void store(cookie c);
  std::vector<cookie> cookies_;
  bool unsafe_;
};

// --- Responses ---------------------------------------------------------------------------

/// A response met on the way, in client_response::history() (a redirect).
struct redirect_info {
  int status = 0;
  std::string reason;
  http::url url;
  http::headers headers;
};

/// aiohttp's ClientResponse. Movable, not copyable (see Ownership at the top).
class client_response {
 public:
  client_response() noexcept;
  client_response(client_response&&) noexcept;
  client_response& operator=(client_response&&) noexcept;
  ~client_response();

  int status() const;
  const std::string& reason() const;
  /// Case-insensitive, multi-valued, in the order received.
  const http::headers& headers() const;
  /// The URL of this response (the last one, after redirects).
  const http::url& url() const;
  const std::string& method() const;
  /// The redirects followed to get here, oldest first.
  const std::vector<redirect_info>& history() const;
  /// Content-Length as sent (the encoded size), if any.
  std::optional<std::uint64_t> content_length() const;
  /// The media type without parameters, lower-case ("application/json"); "" if none.
  std::string content_type() const;
  /// The charset parameter of Content-Type, if any.
  std::optional<std::string> charset() const;
  /// status() < 400.
  bool ok() const { return status() < 400; }
  /// Body bytes received so far as sent (before decoding), to compare with
  /// content_length() for progress.
  std::uint64_t bytes_read() const;
  /// True once the body has been read to its end.
  bool at_eof() const;
  /// True once the response no longer holds a connection (read to the end, released
  /// or closed).
  bool closed() const;

  /// The whole body (decoded). The first call reads it; later calls return it again.
  [[nodiscard]] coro<std::string> read();
  /// read(), as text: the bytes are returned as they are (UTF-8 assumed, not checked).
  [[nodiscard]] coro<std::string> text();
  /// read(), parsed as JSON (aio::json::parse); a body of only whitespace is null.
  /// With check_content_type, a Content-Type other than application/json or
  /// application/*+json raises content_type_error.
  [[nodiscard]] coro<aio::json::value> json(bool check_content_type = true);
  /// The next piece of the (decoded) body, at most `max` bytes; "" at the end.
  [[nodiscard]] coro<std::string> read_chunk(std::size_t max = 64 * 1024);
  /// The body in pieces of at most `n` bytes (aiohttp's content.iter_chunked).
  generator<std::string> iter_chunked(std::size_t n);
  /// The body in the pieces it arrives in (aiohttp's content.iter_any).
  generator<std::string> iter_any();

  /// client_response_error (status, reason, URL) if status() >= 400; the connection is
  /// released first (closed if the body is unread), as in aiohttp.
  void raise_for_status();
  /// Gives the connection back: to the pool if the body has been read to its end, else
  /// it is closed.
  void release();
  /// Closes the connection (unless it is already back in the pool).
  void close();

  explicit client_response(std::unique_ptr<detail::response_state> s) noexcept;

 private:
  friend struct detail::session_impl;
  detail::response_state& state() const;
  std::unique_ptr<detail::response_state> s_;
};

// --- The session -------------------------------------------------------------------------

/// What the pool holds now (for monitoring and tests).
struct pool_stats {
  std::size_t idle = 0;    // open connections waiting in the pool
  std::size_t in_use = 0;  // connections held by requests or unread responses
};

/// aiohttp's ClientSession (with its TCPConnector).
class client_session {
 public:
  explicit client_session(session_options opts = {});
  client_session(client_session&&) noexcept;
  client_session& operator=(client_session&&) noexcept;
  /// Closes the idle connections; never blocks (DESIGN.md §4). Responses still alive
  /// keep their connection until they end, then close it.
  ~client_session();

  /// Sends a request and returns the response once its head has arrived (the body is
  /// read through the response). `url_text` is absolute, or relative to base_url.
  [[nodiscard]] coro<client_response> request(std::string method, std::string url_text,
                                              request_options opts = request_options());
  [[nodiscard]] coro<client_response> get(std::string url_text,
                                          request_options opts = request_options());
  [[nodiscard]] coro<client_response> post(std::string url_text,
                                           request_options opts = request_options());
  [[nodiscard]] coro<client_response> put(std::string url_text,
                                          request_options opts = request_options());
  [[nodiscard]] coro<client_response> patch(std::string url_text,
                                            request_options opts = request_options());
  /// session.delete in aiohttp (`delete` is a C++ keyword).
  [[nodiscard]] coro<client_response> delete_(std::string url_text,
                                              request_options opts = request_options());
  [[nodiscard]] coro<client_response> head(std::string url_text,
                                           request_options opts = request_options());
  [[nodiscard]] coro<client_response> options(std::string url_text,
                                              request_options opts = request_options());

  /// Closes the pool (idle connections now, those in use when their response ends) and
  /// waits until the idle ones are closed. Requests after it: std::runtime_error.
  [[nodiscard]] coro<void> close();
  bool closed() const noexcept;

  /// The session's cookies (with session_options::cookies = false, an unused jar).
  http::cookie_jar& cookie_jar();
  pool_stats pool() const;
  const session_options& options_used() const;

 private:
  std::shared_ptr<detail::session_impl> impl_;
};

namespace detail {

/// Compresses `data` with a Content-Encoding ("gzip", "deflate" (zlib format),
/// "raw-deflate" (no zlib header) or "br"); std::invalid_argument for another name.
/// For tests and servers; the client only decodes.
std::string compress(std::string_view data, std::string_view encoding);

/// A streaming decoder of a Content-Encoding. feed() appends what it can decode to
/// `out`; finish() checks that the stream ended (client_payload_error otherwise).
class content_decoder {
 public:
  virtual ~content_decoder() = default;
  virtual void feed(std::string_view in, std::string& out) = 0;
  virtual void finish(std::string& out) = 0;
  /// A decoder for "gzip"/"x-gzip", "deflate" (zlib, or raw deflate as a fallback) or
  /// "br"; nullptr for "identity" or an encoding it does not know.
  static std::unique_ptr<content_decoder> make(std::string_view encoding);
};

/// RFC 4648 base64 (for Basic authentication).
std::string base64_encode(std::string_view data);

/// A cookie date (Expires) by RFC 6265's lenient algorithm (§5.1.1); nullopt if it is
/// not one.
std::optional<std::chrono::system_clock::time_point> parse_cookie_date(std::string_view s);

}  // namespace detail

}  // namespace aio::http
