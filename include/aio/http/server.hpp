// SPDX-License-Identifier: MIT
// aio/http/server.hpp — an HTTP/1.1 server in aiohttp.web's shape: an application with
// routes, handlers that are coroutines taking a request and returning a response,
// middlewares, startup/shutdown hooks, and run_app.
//
//   aio::coro<aio::http::response> hello(aio::http::request& req) {
//     co_return aio::http::response::text("Hello, " + std::string(req.match_info("name")));
//   }
//   aio::coro<aio::http::response> create(aio::http::request& req) {
//     aio::json::value body = co_await req.json();
//     co_return aio::http::json_response({{"id", 42}, {"name", body["name"]}}, 201);
//   }
//   int main() {
//     aio::http::application app;
//     app.router().add_get("/hello/{name}", hello);
//     app.router().add_post("/users", create);
//     aio::http::run_app(app, {.port = 8080});
//   }
//
// Requests. A handler gets the request by reference; it lives until the handler's
// coroutine ends. The body is read when the handler asks for it (read(), text(),
// json(), post(), or in pieces with read_chunk()), as aiohttp does: a client that sent
// "Expect: 100-continue" gets its "100 Continue" then. A body the handler does not
// read is discarded after the response (the connection is closed instead when more
// than 1 MiB of it is left).
//
// Responses. response::text / json_response / response::bytes build a whole response;
// response::stream(fn) sends the head and then lets `fn` write the body in chunks
// (chunked encoding); response::file(path) sends a file with sendfile. Content-Length,
// Date and Server are filled in. HEAD requests are answered by the GET handler, without
// the body.
//
// Errors. A handler may throw http_error (aiohttp's web.HTTPException: status, text,
// headers) to answer with that status; any other exception becomes a 500 and is
// reported through the loop's exception handler (the client never sees its text).
// Malformed requests are answered 400, oversized heads 431, oversized bodies 413, and
// the connection is closed.
//
// Limits and timeouts: see server_config. A connection that sends nothing for
// keepalive_timeout between requests is closed; one that does not complete a request
// head within header_timeout of its first byte gets 408 (slowloris); at most
// max_connections are served at once (the rest get 503 and are closed).
//
// Shutdown (run_app on SIGINT/SIGTERM, or app_server::shutdown()): stop accepting,
// close idle keep-alive connections, let requests in progress finish (their
// connections close after the response) for up to shutdown_timeout, then cancel what
// is left, then run the on_shutdown hooks.
//
// Threads: one loop per core with SO_REUSEPORT (server_config::workers). The
// application (routes, middlewares, hooks) is shared by the workers and must not change
// once serving starts; handlers run concurrently on several threads then, so state they
// share needs its own synchronisation (or one worker, the default).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/http/errors.hpp"
#include "aio/http/headers.hpp"
#include "aio/http/message.hpp"
#include "aio/http/url.hpp"
#include "aio/json.hpp"
#include "aio/net/address.hpp"
#include "aio/net/tls.hpp"

namespace aio::http {

class application;
class request;
class response;
class response_writer;

namespace detail {
class server_connection;
class app_server_state;
}  // namespace detail

/// A handler: a coroutine taking the request, returning the response.
using handler = std::function<coro<response>(request&)>;
/// A middleware: gets the request and the rest of the chain; may call it or answer
/// itself (aiohttp's new-style middleware).
using middleware = std::function<coro<response>(request&, const handler&)>;
/// A startup or shutdown hook.
using app_hook = std::function<coro<void>(application&)>;

/// aiohttp's web.HTTPException: throw it from a handler to answer with `status`.
class http_error : public std::runtime_error {
 public:
  explicit http_error(int status, std::string text = {}, http::headers h = {});
  int status() const noexcept { return status_; }
  const std::string& text() const noexcept { return text_; }
  const http::headers& headers() const noexcept { return headers_; }

 private:
  int status_;
  std::string text_;
  http::headers headers_;
};

class response {
 public:
  explicit response(int status = 200) : status(status) {}

  /// A text body with Content-Type text/plain; charset=utf-8 (or `content_type`).
  static response text(std::string body, int status = 200,
                       std::string_view content_type = "text/plain; charset=utf-8");
  /// Raw bytes with Content-Type application/octet-stream (or `content_type`).
  static response bytes(std::string body, int status = 200,
                        std::string_view content_type = "application/octet-stream");
  /// A body written by `fn` after the head has been sent, with chunked encoding (or
  /// raw up to Content-Length if the headers set one: a body that comes out shorter
  /// closes the connection, one that would be longer is refused by write()). An
  /// exception from `fn` is reported and closes the connection (the head is gone).
  static response stream(std::function<coro<void>(response_writer&)> fn, int status = 200,
                         std::string_view content_type = "application/octet-stream");
  /// A file's contents (sendfile), with a Content-Type guessed from its extension.
  /// 404 if it does not exist or is not a regular file.
  static response file(std::string path);

  int status;
  std::string reason;  // empty: the standard phrase
  http::headers headers;
  std::string body;

  /// Adds a Set-Cookie header (aiohttp's set_cookie).
  void set_cookie(std::string_view name, std::string_view value,
                  std::string_view attributes = "Path=/");

 private:
  friend class detail::server_connection;
  std::function<coro<void>(response_writer&)> stream_;
  std::string file_;
};

/// `json` serialized, with Content-Type application/json (web.json_response).
response json_response(const json::value& body, int status = 200);

/// Writes a streamed response's body (response::stream).
class response_writer {
 public:
  /// Sends `data` as the next piece of the body (waits while the peer is slow).
  /// std::length_error if it would go past the Content-Length the response declared
  /// (nothing of `data` is sent then).
  [[nodiscard]] coro<void> write(std::string_view data);
  /// Body bytes written so far.
  std::uint64_t bytes_written() const noexcept { return written_; }

 private:
  friend class detail::server_connection;
  response_writer(detail::server_connection* c, bool chunked,
                  std::optional<std::uint64_t> length) noexcept
      : c_(c), chunked_(chunked), length_(length) {}
  detail::server_connection* c_;
  bool chunked_;
  std::optional<std::uint64_t> length_;
  std::uint64_t written_ = 0;
};

class request {
 public:
  std::string_view method() const noexcept { return head_->method; }
  /// The request target as sent ("/a%20b?x=1").
  std::string_view target() const noexcept { return head_->target; }
  /// The decoded path ("/a b").
  const std::string& path() const noexcept { return path_; }
  /// The raw query string, without '?'.
  std::string_view query_string() const noexcept { return query_string_; }
  /// The decoded query pairs (request.query).
  const query_params& query() const;
  /// The first value of query parameter `name`, if present.
  std::optional<std::string_view> query_param(std::string_view name) const;
  const http::headers& headers() const noexcept { return head_->headers; }
  int version_minor() const noexcept { return head_->version_minor; }
  bool keep_alive() const noexcept { return head_->keep_alive; }
  /// A path parameter of the matched route ("/users/{id}" -> match_info("id")).
  /// std::out_of_range naming it if the route has no such parameter.
  std::string_view match_info(std::string_view name) const;
  /// The peer's address (request.remote).
  const net::address& remote() const noexcept { return *remote_; }
  /// A cookie sent by the client, if any.
  std::optional<std::string> cookie(std::string_view name) const;
  /// The value of Content-Length, if sent.
  std::optional<std::uint64_t> content_length() const noexcept { return head_->content_length; }
  bool has_body() const noexcept { return head_->chunked || head_->content_length.value_or(0) > 0; }
  application& app() const noexcept { return *app_; }

  /// The whole body. http_error(413) beyond server_config::max_body_size.
  [[nodiscard]] coro<std::string> read();
  [[nodiscard]] coro<std::string> text() { return read(); }
  /// The body parsed as JSON; http_error(400) if it is not JSON.
  [[nodiscard]] coro<json::value> json();
  /// A form body (application/x-www-form-urlencoded) as pairs.
  [[nodiscard]] coro<query_params> post();
  /// The next piece of the body, at most `max` bytes; "" at its end.
  [[nodiscard]] coro<std::string> read_chunk(std::size_t max = 64 * 1024);

  /// Runs `fn` after the response has been sent (FastAPI's BackgroundTasks); the
  /// connection's next request waits for it. Exceptions are reported, not sent.
  void add_background_task(std::function<coro<void>()> fn);

  request(const request&) = delete;
  request& operator=(const request&) = delete;

 private:
  friend class detail::server_connection;
  friend class router;
  friend class application;
  request() = default;
  const message_head* head_ = nullptr;  // the connection's parser's (trailers ignored)
  std::string path_;
  std::string_view query_string_;
  mutable std::optional<query_params> query_;
  std::vector<std::pair<std::string, std::string>> match_info_;
  const net::address* remote_ = nullptr;
  application* app_ = nullptr;
  detail::server_connection* conn_ = nullptr;
  std::vector<std::function<coro<void>()>> background_;
};

/// Routes by method and path pattern. Patterns: "/users" (exact), "/users/{id}" (a
/// parameter matching one path segment), "/static/{path:.*}" (a parameter matching the
/// rest of the path). "*" as the method matches any method.
class router {
 public:
  void add_route(std::string_view method, std::string_view pattern, handler h);
  void add_get(std::string_view p, handler h) { add_route("GET", p, std::move(h)); }
  void add_post(std::string_view p, handler h) { add_route("POST", p, std::move(h)); }
  void add_put(std::string_view p, handler h) { add_route("PUT", p, std::move(h)); }
  void add_patch(std::string_view p, handler h) { add_route("PATCH", p, std::move(h)); }
  void add_delete(std::string_view p, handler h) { add_route("DELETE", p, std::move(h)); }
  /// Serves files under `directory` at `prefix` + "/{path}" (no escape from the
  /// directory: ".." segments are refused with 403).
  void add_static(std::string_view prefix, std::string directory);

  struct match {
    const handler* h = nullptr;        // nullptr: no route
    std::vector<std::string> allowed;  // for 405: the methods the path has
  };
  /// Finds the handler for `method` and `path`, filling the request's match_info.
  match resolve(std::string_view method, std::string_view path,
                std::vector<std::pair<std::string, std::string>>& params) const;

 private:
  struct segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
    bool rest = false;  // {name:.*}
  };
  struct route {
    std::string method;
    std::string pattern;
    std::vector<segment> segments;
    handler h;
  };
  std::vector<route> routes_;
};

/// aiohttp's web.Application.
class application {
 public:
  application();
  class router& router() noexcept {
    return router_;
  }
  const class router& router() const noexcept { return router_; }
  /// Middlewares run in the order added, the first outermost.
  void add_middleware(middleware m) { middlewares_.push_back(std::move(m)); }
  std::vector<app_hook>& on_startup() noexcept { return on_startup_; }
  std::vector<app_hook>& on_shutdown() noexcept { return on_shutdown_; }

  /// Handles one request through the middlewares and the router (what a connection
  /// calls; also usable to test an application without sockets). http_error for 404
  /// and 405 (thrown by the returned coroutine or, without middlewares, at once).
  [[nodiscard]] coro<response> handle(request& req) const;

 private:
  coro<response> dispatch(request& req) const;
  coro<response> handle_chain(request& req) const;
  friend class detail::app_server_state;
  class router router_;
  std::vector<middleware> middlewares_;
  std::vector<app_hook> on_startup_;
  std::vector<app_hook> on_shutdown_;
};

/// Options of start_app / run_app. Trivially destructible on purpose: g++ 12 destroys
/// an aggregate with non-trivial members twice when it is built inside a co_await
/// expression (`co_await start_app(app, {.port = 0})`, docs/hazards.md), so strings
/// are borrowed views, copied when the server starts.
struct server_config {
  std::string_view host = "0.0.0.0";
  std::uint16_t port = 8080;
  bool reuse_port = false;
  int backlog = 1024;
  /// TLS: a server context (aio::ssl_context::server(...)), borrowed.
  const ssl_context* ssl = nullptr;
  /// Event loops (threads), each with its own SO_REUSEPORT listener. 1: this thread.
  unsigned workers = 1;
  std::size_t max_head_size = 16 * 1024;               // request line + headers (431 beyond)
  std::size_t max_headers = 128;                       // header fields (431 beyond)
  std::size_t max_body_size = 1024 * 1024;             // aiohttp's client_max_size (413 beyond)
  std::size_t max_connections = 10000;                 // 503 beyond
  std::chrono::milliseconds header_timeout{10000};     // first byte to end of head (408)
  std::chrono::milliseconds keepalive_timeout{75000};  // idle between requests
  std::chrono::milliseconds shutdown_timeout{60000};   // in-flight requests at shutdown
  /// Print "serving on http://host:port" (run_app) when ready.
  bool print_banner = true;
};

static_assert(std::is_trivially_destructible_v<server_config>);

/// A running server for an application (aiohttp's AppRunner + TCPSite, in one).
class app_server {
 public:
  app_server() noexcept = default;
  app_server(app_server&&) noexcept;
  app_server& operator=(app_server&&) noexcept;
  ~app_server();

  /// The port it listens on (the one chosen for port 0).
  std::uint16_t port() const;
  /// Graceful shutdown (see the top of this file); then the on_shutdown hooks.
  [[nodiscard]] coro<void> shutdown();
  /// Connections open now.
  std::size_t active_connections() const noexcept;

  explicit app_server(std::shared_ptr<detail::app_server_state> s) noexcept;

 private:
  std::shared_ptr<detail::app_server_state> s_;
};

/// Runs the on_startup hooks and starts serving on this loop (workers is ignored: one
/// loop). The application must outlive the server.
[[nodiscard]] coro<app_server> start_app(application& app, server_config cfg = {});

/// Serves `app` until SIGINT or SIGTERM, then shuts down gracefully (aiohttp's
/// web.run_app). Runs its own loop(s): call it from main, not from a coroutine.
void run_app(application& app, server_config cfg = {});

}  // namespace aio::http
