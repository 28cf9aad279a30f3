// SPDX-License-Identifier: MIT
// The HTTP client: client_session (requests, redirects, cookies, proxies), its
// connection pool, and client_response (head, body reading, decoding).
#include "aio/http/client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>

#include "aio/core/event_loop.hpp"
#include "aio/http/message.hpp"
#include "aio/net/dns.hpp"
#include "aio/net/errors.hpp"
#include "aio/net/streams.hpp"
#include "aio/sync/semaphore.hpp"
#include "aio/time/timeout.hpp"

namespace aio::http {

// --- request_options ---------------------------------------------------------------------

request_options& request_options::param(std::string_view name, std::string_view value) {
  params_.emplace_back(std::string(name), std::string(value));
  return *this;
}
request_options& request_options::params(query_params p) {
  for (auto& kv : p) params_.push_back(std::move(kv));
  return *this;
}
request_options& request_options::header(std::string_view name, std::string_view value) {
  headers_.add(name, value);
  return *this;
}
request_options& request_options::headers(http::headers h) {
  for (const auto& [name, value] : h) headers_.add(name, value);
  return *this;
}
request_options& request_options::json(aio::json::value v) {
  body_ = aio::json::dump(v);
  content_type_ = "application/json";
  return *this;
}
request_options& request_options::data(std::string body, std::string_view content_type) {
  body_ = std::move(body);
  content_type_ = std::string(content_type);
  return *this;
}
request_options& request_options::form(std::string_view name, std::string_view value) {
  form_.emplace_back(std::string(name), std::string(value));
  has_form_ = true;
  return *this;
}
request_options& request_options::body_stream(std::function<coro<std::string>()> next_chunk,
                                              std::string_view content_type) {
  stream_ = std::move(next_chunk);
  content_type_ = std::string(content_type);
  return *this;
}
request_options& request_options::basic_auth(std::string_view user, std::string_view password) {
  auth_.emplace(std::string(user), std::string(password));
  return *this;
}
request_options& request_options::cookie(std::string_view name, std::string_view value) {
  cookies_.emplace_back(std::string(name), std::string(value));
  return *this;
}
request_options& request_options::timeout(client_timeout t) {
  timeout_ = t;
  return *this;
}
request_options& request_options::allow_redirects(bool on) {
  allow_redirects_ = on;
  return *this;
}
request_options& request_options::max_redirects(int n) {
  max_redirects_ = n;
  return *this;
}
request_options& request_options::raise_for_status(bool on) {
  raise_for_status_ = on;
  return *this;
}
request_options& request_options::auto_decompress(bool on) {
  auto_decompress_ = on;
  return *this;
}
request_options& request_options::proxy(std::string url) {
  proxy_ = std::move(url);
  return *this;
}
request_options& request_options::ssl(const ssl_context* ctx) {
  ssl_ = ctx;
  return *this;
}

namespace detail {

namespace {

using std::chrono::milliseconds;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// --- Deadlines ---------------------------------------------------------------------------

enum class limit_kind { none, total, connect, sock_connect, sock_read };

struct deadline {
  std::optional<time_point> at;
  limit_kind kind = limit_kind::none;
};
static_assert(std::is_trivially_destructible_v<deadline>);

deadline after(std::optional<milliseconds> d, limit_kind k) {
  if (!d) return {};
  return {get_running_loop().time() + std::chrono::duration_cast<duration>(*d), k};
}

deadline earliest(deadline a, deadline b) {
  if (!a.at) return b;
  if (!b.at) return a;
  return *b.at < *a.at ? b : a;
}

[[noreturn]] void throw_timeout(limit_kind k, const std::string& where) {
  switch (k) {
    case limit_kind::connect:
    case limit_kind::sock_connect:
      throw connection_timeout_error("Connection timeout to host " + where);
    case limit_kind::sock_read:
      throw socket_timeout_error("Timeout on reading data from socket");
    case limit_kind::total:
    case limit_kind::none:
      break;
  }
  throw timeout_error("HTTP request timed out (client_timeout.total) for " + where);
}

// Awaits `c` within `d`; the timeout_error says which limit passed.
template <class T>
coro<T> bounded(deadline d, coro<T> c, const std::string& where) {
  if (!d.at) {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(c);
      co_return;
    } else {
      co_return co_await std::move(c);
    }
  }
  try {
    if constexpr (std::is_void_v<T>) {
      co_await aio::timeout_at(d.at, std::move(c));
      co_return;
    } else {
      co_return co_await aio::timeout_at(d.at, std::move(c));
    }
  } catch (const timeout_error&) {
    throw_timeout(d.kind, where);
  }
}

coro<semaphore::guard> take_permit(semaphore& s) {
  co_return co_await s.acquire();
}

}  // namespace

// --- The pool ------------------------------------------------------------------------------

struct pooled_connection {
  stream_reader reader;
  stream_writer writer;
  std::string key;
  time_point idle_since{};
  bool tls = false;
};

struct client_host_pool {
  std::vector<std::unique_ptr<pooled_connection>> idle;  // the most recently used last
  std::unique_ptr<semaphore> sem;                        // limit_per_host
};

struct client_connector : std::enable_shared_from_this<client_connector> {
  std::size_t limit_per_host = 0;
  milliseconds keepalive{15000};
  std::map<std::string, client_host_pool> pools;  // nodes are stable: semaphores are borrowed
  std::unique_ptr<semaphore> total;               // limit
  std::size_t in_use = 0;
  bool closed = false;
  timer_handle sweep;
  bool sweep_armed = false;
  std::optional<ssl_context> default_ssl;

  client_host_pool& pool(const std::string& key) {
    auto [it, fresh] = pools.try_emplace(key);
    if (fresh && limit_per_host > 0)
      it->second.sem = std::make_unique<semaphore>(static_cast<std::ptrdiff_t>(limit_per_host));
    return it->second;
  }

  // Whether an idle connection may be used: not closed by the peer meanwhile (EOF or
  // unexpected bytes), not expired.
  bool usable(pooled_connection& c, time_point now) const {
    if (now - c.idle_since >= keepalive) return false;
    if (c.writer.is_closing() || c.reader.at_eof() || c.reader.buffered() > 0) return false;
    const int fd = c.writer.socket().fd();
    if (fd < 0) return false;
    char b = 0;
    const ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;  // the server closed it
    if (n > 0) return c.tls;   // plain: bytes nobody asked for; TLS: maybe a ticket
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }

  std::unique_ptr<pooled_connection> take_idle(const std::string& key) {
    client_host_pool& hp = pool(key);
    const time_point now = get_running_loop().time();
    while (!hp.idle.empty()) {
      std::unique_ptr<pooled_connection> c = std::move(hp.idle.back());
      hp.idle.pop_back();
      if (usable(*c, now)) return c;
      c->writer.close();
    }
    return nullptr;
  }

  void put_idle(std::unique_ptr<pooled_connection> c) noexcept {
    event_loop* loop = nullptr;
    try {
      loop = &get_running_loop();
    } catch (...) {
      loop = nullptr;
    }
    if (closed || loop == nullptr) {
      c->writer.close();
      return;
    }
    c->idle_since = loop->time();
    try {
      pool(c->key).idle.push_back(std::move(c));
      arm_sweep(*loop);
    } catch (...) {
      if (c) c->writer.close();
    }
  }

  void arm_sweep(event_loop& loop) {
    if (sweep_armed || closed) return;
    std::optional<time_point> first;
    for (auto& [key, hp] : pools)
      for (auto& c : hp.idle)
        if (!first || c->idle_since < *first) first = c->idle_since;
    if (!first) return;
    std::weak_ptr<client_connector> w = weak_from_this();
    sweep = loop.call_at(*first + std::chrono::duration_cast<duration>(keepalive), [w] {
      if (auto self = w.lock()) self->on_sweep();
    });
    sweep_armed = true;
  }

  void on_sweep() {
    sweep_armed = false;
    event_loop& loop = get_running_loop();
    const time_point now = loop.time();
    for (auto& [key, hp] : pools) {
      std::erase_if(hp.idle, [&](std::unique_ptr<pooled_connection>& c) {
        if (now - c->idle_since < keepalive) return false;
        c->writer.close();
        return true;
      });
    }
    arm_sweep(loop);
  }

  std::size_t idle_count() const noexcept {
    std::size_t n = 0;
    for (const auto& [key, hp] : pools) n += hp.idle.size();
    return n;
  }

  // Closes the pool: the idle connections are closed (handed to `out` if given, to wait
  // for), the ones in use will be when they come back.
  void shutdown(std::vector<std::unique_ptr<pooled_connection>>* out) noexcept {
    closed = true;
    if (sweep_armed) sweep.cancel();
    sweep_armed = false;
    sweep = timer_handle();
    for (auto& [key, hp] : pools) {
      for (auto& c : hp.idle) {
        c->writer.close();
        if (out != nullptr) {
          try {
            out->push_back(std::move(c));
          } catch (...) {
          }
        }
      }
      hp.idle.clear();
    }
  }
};

/// A connection taken from the pool, with its permits. Destroyed or closed: the
/// connection is closed. release(true): back to the pool.
struct client_lease {
  std::shared_ptr<client_connector> owner;  // first: destroyed after the permits
  semaphore::guard host_permit;
  semaphore::guard total_permit;
  std::unique_ptr<pooled_connection> conn;
  bool reused = false;

  client_lease() = default;
  client_lease(client_lease&& o) noexcept = default;
  client_lease& operator=(client_lease&& o) noexcept {
    if (this != &o) {
      close();
      owner = std::move(o.owner);
      host_permit = std::move(o.host_permit);
      total_permit = std::move(o.total_permit);
      conn = std::move(o.conn);
      reused = o.reused;
    }
    return *this;
  }
  client_lease(const client_lease&) = delete;
  client_lease& operator=(const client_lease&) = delete;
  ~client_lease() { close(); }

  void adopt(std::unique_ptr<pooled_connection> c) noexcept {
    conn = std::move(c);
    ++owner->in_use;
  }
  void close() noexcept { release(false); }
  void release(bool reusable) noexcept {
    if (conn) {
      --owner->in_use;
      if (reusable && !owner->closed) {
        owner->put_idle(std::move(conn));  // before the permits: a waiter finds it
      } else {
        conn->writer.close();
        conn.reset();
      }
    }
    host_permit.unlock();
    total_permit.unlock();
  }
};

/// Where a request connects to.
struct client_target {
  std::string key;
  std::string host;
  std::uint16_t port = 0;
  bool https = false;
  const ssl_context* ssl = nullptr;
  bool custom_ssl = false;
  std::optional<url> proxy;

  std::string where() const {
    return std::string(https ? "https://" : "http://") +
           (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
  }
};

namespace {

std::string authority_of(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

std::string reason_of(int err) {
  std::string r = std::generic_category().message(err);
  if (!r.empty() && r[0] >= 'A' && r[0] <= 'Z') r[0] = static_cast<char>(r[0] | 0x20);
  return r;
}

// Rethrows a failure to connect as aiohttp's ClientConnectorError family; timeouts,
// cancellation and client errors go through as they are.
[[noreturn]] void throw_connect_error(std::exception_ptr e, const std::string& host,
                                      std::uint16_t port, const std::string& ssl_label) {
  const std::string head =
      "Cannot connect to host " + authority_of(host, port) + " ssl:" + ssl_label;
  try {
    std::rethrow_exception(e);
  } catch (const ssl_cert_verification_error& x) {
    throw client_connector_certificate_error(0, host, port, head + " [" + x.what() + "]", e);
  } catch (const ssl_error& x) {
    throw client_connector_ssl_error(0, host, port, head + " [" + x.what() + "]", e);
  } catch (const net::dns_error& x) {
    throw client_connector_dns_error(0, host, port, head + " [" + x.what() + "]", e);
  } catch (const os_error& x) {
    throw client_connector_error(x.error_number(), host, port,
                                 head + " [" + reason_of(x.error_number()) + "]", e);
  }
}

}  // namespace

// Opens a connection for `t`: TCP (+ TLS), or through a proxy (+ CONNECT + TLS).
coro<std::unique_ptr<pooled_connection>> client_open_new(const client_target& t, deadline dl) {
  const std::string& host = t.proxy ? t.proxy->host() : t.host;
  const std::uint16_t port = t.proxy ? t.proxy->port() : t.port;
  const std::string ssl_label = !t.https ? "default" : (t.custom_ssl ? "custom" : "default");
  connection_options o;
  o.ssl = (!t.proxy && t.https) ? t.ssl : nullptr;
  std::exception_ptr err;
  auto c = std::make_unique<pooled_connection>();
  c->key = t.key;
  try {
    stream_pair p = co_await bounded(dl, open_connection(host, port, o), t.where());
    c->reader = std::move(p.reader);
    c->writer = std::move(p.writer);
  } catch (const timeout_error&) {
    throw;
  } catch (const std::exception&) {
    err = std::current_exception();
  }
  if (err) throw_connect_error(err, host, port, ssl_label);
  c->tls = t.https;
  if (!(t.proxy && t.https)) co_return c;

  // CONNECT host:port through the proxy, then TLS inside the tunnel.
  const std::string authority = authority_of(t.host, t.port);
  http::headers h;
  h.add("Host", authority);
  if (!t.proxy->user().empty() || !t.proxy->password().empty())
    h.add("Proxy-Authorization",
          "Basic " + base64_encode(t.proxy->user() + ":" + t.proxy->password()));
  std::string out;
  write_request_head(out, "CONNECT", authority, h);
  message_parser p(message_parser::response);
  p.expect_no_body(true);
  try {
    c->writer.write(out);
    co_await bounded(dl, c->writer.drain(), t.where());
    for (;;) {
      std::string more = co_await bounded(dl, c->reader.read(65536), t.where());
      if (more.empty()) {
        throw server_disconnected_error("Server disconnected: the proxy " + t.proxy->origin() +
                                        " closed the connection during CONNECT");
      }
      p.feed(more);
      if (p.head_done()) break;
    }
  } catch (const os_error&) {
    err = std::current_exception();
  }
  if (err) throw_connect_error(err, host, port, ssl_label);
  if (p.head().status != 200) {
    throw client_proxy_error(p.head().status, p.head().reason, t.proxy->without_userinfo().str(),
                             std::to_string(p.head().status) + ", message='" + p.head().reason +
                                 "', url='" + t.proxy->without_userinfo().str() + "'");
  }
  try {
    co_await bounded(dl, c->writer.start_tls(*t.ssl, t.host.c_str()), t.where());
  } catch (const timeout_error&) {
    throw;
  } catch (const std::exception&) {
    err = std::current_exception();
  }
  if (err) throw_connect_error(err, t.host, t.port, ssl_label);
  co_return c;
}

// A pool slot for `t` (an idle connection, or a new one unless force_new is false).
coro<client_lease> client_acquire(std::shared_ptr<client_connector> owner, const client_target& t,
                                  bool force_new, deadline total, client_timeout to) {
  client_lease l;
  l.owner = owner;
  const deadline connect_dl = earliest(total, after(to.connect, limit_kind::connect));
  client_host_pool& hp = owner->pool(t.key);
  // A free permit is taken at once; only a wait needs the deadline.
  if (hp.sem) {
    if (!hp.sem->locked()) {
      l.host_permit = co_await hp.sem->acquire();
    } else {
      l.host_permit = co_await bounded(connect_dl, take_permit(*hp.sem), t.where());
    }
  }
  if (owner->total) {
    if (!owner->total->locked()) {
      l.total_permit = co_await owner->total->acquire();
    } else {
      l.total_permit = co_await bounded(connect_dl, take_permit(*owner->total), t.where());
    }
  }
  if (owner->closed) throw std::runtime_error("Session is closed");
  if (!force_new) {
    std::unique_ptr<pooled_connection> idle = owner->take_idle(t.key);
    if (idle) {
      l.adopt(std::move(idle));
      l.reused = true;
      co_return l;
    }
  }
  const deadline sock_dl = earliest(connect_dl, after(to.sock_connect, limit_kind::sock_connect));
  std::unique_ptr<pooled_connection> fresh = co_await client_open_new(t, sock_dl);
  if (owner->closed) throw std::runtime_error("Session is closed");
  l.adopt(std::move(fresh));
  co_return l;
}

// --- Responses -----------------------------------------------------------------------------

struct response_state {
  client_lease l;
  message_parser parser;
  std::string raw;  // bytes read, from raw_pos on not parsed yet
  std::size_t raw_pos = 0;
  std::string pending;  // decoded body bytes not handed out yet
  std::size_t pending_pos = 0;
  std::unique_ptr<content_decoder> decoder;
  bool auto_decompress = true;
  bool no_body = false;  // HEAD
  bool head_done = false;
  bool body_done = false;
  bool got_bytes = false;
  bool body_cached = false;
  std::string body;
  std::exception_ptr error;     // a failed read: raised again by later reads
  std::exception_ptr deferred;  // a body error met while parsing, raised after the data
  std::optional<time_point> total;
  std::optional<milliseconds> sock_read;
  std::size_t max_line = 8190;
  std::size_t max_field = 8190;
  std::string method;
  http::url url;
  std::vector<redirect_info> history;

  explicit response_state(parser_limits lim) : parser(message_parser::response, lim) {}

  const message_head& head() const { return parser.head(); }

  void body_ended(bool eof) {
    if (decoder) decoder->finish(pending);
    body_done = true;
    const message_head& h = head();
    const bool reusable = !eof && h.keep_alive && !h.upgrade && h.status != 101 &&
                          raw_pos == raw.size() && l.conn && l.conn->reader.buffered() == 0;
    l.release(reusable);
  }

  void head_ended() {
    head_done = true;
    const message_head& h = head();
    if (h.reason.size() + 13 > max_line) {
      throw client_response_error(
          400, "Got more than " + std::to_string(max_line) + " bytes when reading the status line",
          url.str());
    }
    for (const auto& [name, value] : h.headers) {
      if (name.size() + 2 + value.size() > max_field) {
        throw client_response_error(400,
                                    "Got more than " + std::to_string(max_field) +
                                        " bytes when reading header field " + name.substr(0, 64),
                                    url.str());
      }
    }
    if (auto_decompress && !no_body) {
      if (auto ce = h.headers.get("Content-Encoding")) decoder = content_decoder::make(*ce);
    }
  }

  // Parses what is in raw[raw_pos..]. Errors of the body (framing, decoding) are kept
  // in `deferred`, raised once the body bytes before them have been read, as aiohttp
  // raises them from read() and not from the request; the connection is closed then.
  void parse() {
    while (raw_pos < raw.size() && !body_done && !deferred) {
      message_parser::result r;
      try {
        r = parser.feed(std::string_view(raw).substr(raw_pos));
      } catch (const protocol_error& e) {
        if (!parser.head_done()) throw client_response_error(e.status(), e.what(), url.str());
        if (!head_done) head_ended();
        defer(std::make_exception_ptr(
            client_payload_error(std::string("Response payload is not completed: ") + e.what())));
        return;
      }
      raw_pos += r.consumed;
      if (r.head_done) {
        const int status = head().status;
        if (status >= 100 && status < 200 && status != 101) {
          // An interim response (100 Continue, 103 Early Hints): the real one follows.
          parser.next_message();
          parser.expect_no_body(no_body);
          continue;
        }
        head_ended();
      }
      try {
        for (std::string_view piece : r.body) {
          if (decoder) {
            decoder->feed(piece, pending);
          } else {
            pending.append(piece);
          }
        }
        if (r.message_done) {
          body_ended(false);
          return;
        }
      } catch (const client_payload_error&) {
        defer(std::current_exception());
        return;
      }
      if (r.consumed == 0) return;
    }
    if (raw_pos == raw.size()) {
      raw.clear();
      raw_pos = 0;
    }
  }

  void defer(std::exception_ptr e) noexcept {
    deferred = e;
    l.close();
  }

  // Reads from the socket once and parses what came.
  coro<void> fill() {
    if (!l.conn) throw client_connection_error("Connection closed");
    deadline dl{total, limit_kind::total};
    dl = earliest(dl, after(sock_read, limit_kind::sock_read));
    std::string more;
    try {
      if (l.conn->reader.buffered() > 0) {
        more = co_await l.conn->reader.read(65536);  // there already: no deadline needed
      } else {
        more = co_await bounded(dl, l.conn->reader.read(65536), url.str());
      }
    } catch (const os_error& e) {
      if (!head_done) throw client_os_error(e.error_number(), e.what());
      throw client_payload_error(std::string("Response payload is not completed: ") + e.what());
    } catch (const ssl_error& e) {
      if (!head_done) throw client_os_error(0, e.what());
      throw client_payload_error(std::string("Response payload is not completed: ") + e.what());
    }
    if (more.empty()) {
      bool done = false;
      try {
        done = parser.finish();
      } catch (const protocol_error& e) {
        if (!head_done) throw server_disconnected_error("Server disconnected");
        throw client_payload_error(std::string("Response payload is not completed: ") + e.what());
      }
      if (!done) throw server_disconnected_error("Server disconnected");
      if (!head_done) head_ended();
      try {
        body_ended(true);
      } catch (const client_payload_error&) {
        defer(std::current_exception());
      }
      co_return;
    }
    got_bytes = true;
    if (raw.empty()) {
      raw = std::move(more);
    } else {
      raw.append(more);
    }
    parse();
  }

  coro<void> read_head() {
    parse();  // nothing, unless bytes are left from earlier
    while (!head_done) co_await fill();
  }

  // After a failed or cancelled read: the connection is closed; later reads fail.
  void fail(std::exception_ptr e) noexcept {
    l.close();
    try {
      std::rethrow_exception(e);
    } catch (const client_error&) {
      error = e;
    } catch (...) {
      error = std::make_exception_ptr(client_connection_error(
          "Connection closed: an earlier read of this response failed, timed out or was "
          "cancelled"));
    }
  }

  // Reads and drops the body of a redirect (up to 1 MiB; then the connection is closed).
  coro<void> discard() {
    decoder.reset();
    try {
      while (!body_done && l.conn && !deferred) {
        pending.clear();
        pending_pos = 0;
        if (parser.body_bytes() > 1024 * 1024) break;
        co_await fill();
      }
    } catch (const client_error&) {
      // A broken redirect body does not matter: the connection is closed below.
    }
    pending.clear();
    pending_pos = 0;
    if (!body_done) l.close();
  }
};

namespace {

bool is_stale_connection_error(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const server_disconnected_error&) {
    return true;
  } catch (const client_os_error&) {
    return true;
  } catch (...) {
    return false;
  }
}

bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

std::string env(const char* upper_name, const char* lower_name) {
  const char* v = std::getenv(lower_name);
  if (v == nullptr || *v == '\0') v = std::getenv(upper_name);
  return v != nullptr ? std::string(v) : std::string();
}

}  // namespace

// --- The session ---------------------------------------------------------------------------

struct session_impl {
  session_options opts;
  std::optional<http::url> base;
  std::shared_ptr<client_connector> conn = std::make_shared<client_connector>();
  http::cookie_jar jar;
  bool closed = false;
  std::string env_http_proxy, env_https_proxy, env_no_proxy;

  explicit session_impl(session_options o) : opts(std::move(o)), jar(opts.cookies_unsafe) {
    if (!opts.base_url.empty()) base.emplace(opts.base_url);
    conn->limit_per_host = opts.limit_per_host;
    conn->keepalive = opts.keepalive_timeout;
    if (opts.limit > 0)
      conn->total = std::make_unique<semaphore>(static_cast<std::ptrdiff_t>(opts.limit));
    if (opts.trust_env) {
      env_http_proxy = env("HTTP_PROXY", "http_proxy");
      env_https_proxy = env("HTTPS_PROXY", "https_proxy");
      env_no_proxy = env("NO_PROXY", "no_proxy");
    }
  }

  parser_limits limits() const {
    parser_limits lim;
    lim.max_head_size = opts.max_head_size;
    lim.max_headers = opts.max_headers;
    return lim;
  }

  http::url resolve(const std::string& text) const {
    if (text.find("://") != std::string::npos) return http::url(text);
    if (!base) throw invalid_url("invalid URL \"" + text + "\": relative, and no base_url is set");
    return base->join(text);
  }

  bool no_proxy_for(const std::string& host) const {
    std::string_view list = env_no_proxy;
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view item = trim(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      if (item.empty()) continue;
      if (item == "*") return true;
      if (item.starts_with('.')) item.remove_prefix(1);
      if (auto colon = item.rfind(':');
          colon != std::string_view::npos && item.find(':') == colon && !item.starts_with('['))
        item = item.substr(0, colon);
      const std::string d = lower(item);
      if (host == d) return true;
      if (host.size() > d.size() && host.ends_with(d) && host[host.size() - d.size() - 1] == '.')
        return true;
    }
    return false;
  }

  std::optional<http::url> proxy_for(const http::url& u, const request_options& o) const {
    std::string p = o.proxy_ ? *o.proxy_ : opts.proxy;
    if (!o.proxy_ && p.empty() && opts.trust_env) {
      p = u.secure() ? env_https_proxy : env_http_proxy;
      if (!p.empty() && no_proxy_for(u.host())) p.clear();
    }
    if (p.empty()) return std::nullopt;
    http::url pu(p);
    if (pu.scheme() != "http")
      throw invalid_url("invalid proxy URL \"" + p + "\": only http:// proxies are supported");
    return pu;
  }

  const ssl_context* ssl_for(const request_options& o) {
    if (o.ssl_ != nullptr) return o.ssl_;
    if (opts.ssl != nullptr) return opts.ssl;
    if (!conn->default_ssl) conn->default_ssl.emplace(ssl_context::client());
    return &*conn->default_ssl;
  }

  client_target make_target(const http::url& u, const std::optional<http::url>& proxy,
                            const request_options& o) {
    client_target t;
    t.https = u.secure();
    t.host = u.host();
    t.port = u.port();
    t.proxy = proxy;
    if (t.https) {
      t.ssl = ssl_for(o);
      t.custom_ssl = o.ssl_ != nullptr || opts.ssl != nullptr;
    }
    char ptr[32];
    std::snprintf(ptr, sizeof ptr, "%p", static_cast<const void*>(t.ssl));
    t.key = u.scheme() + "://" + authority_of(t.host, t.port) + "|" + ptr + "|" +
            (proxy ? proxy->str() : std::string());
    return t;
  }

  // The request head (and body, when it is not streamed), ready to write.
  std::string build(const std::string& method, const http::url& u,
                    const std::optional<http::url>& proxy, const http::headers& user_headers,
                    const std::optional<std::pair<std::string, std::string>>& auth,
                    const query_params& req_cookies, const std::optional<std::string>& body,
                    const std::string& content_type, bool streaming, bool auto_dec) {
    http::headers h;
    // Session defaults, replaced by the request's fields of the same name.
    http::headers merged;
    for (const auto& [name, value] : opts.headers)
      if (!user_headers.contains(name)) merged.add(name, value);
    for (const auto& [name, value] : user_headers) merged.add(name, value);
    if (!merged.contains("Host")) h.add("Host", u.host_header());
    for (const auto& [name, value] : merged) h.add(name, value);
    h.set_default("User-Agent", opts.user_agent);
    h.set_default("Accept", "*/*");
    if (auto_dec) h.set_default("Accept-Encoding", "gzip, deflate, br");
    if (auth && !h.contains("Authorization"))
      h.add("Authorization", "Basic " + base64_encode(auth->first + ":" + auth->second));
    if (proxy && !u.secure() && (!proxy->user().empty() || !proxy->password().empty()) &&
        !h.contains("Proxy-Authorization"))
      h.add("Proxy-Authorization",
            "Basic " + base64_encode(proxy->user() + ":" + proxy->password()));
    // Cookies: the jar's, then this request's, after a Cookie header set by hand.
    std::string cookies;
    if (opts.cookies) cookies = jar.cookie_header(u);
    for (const auto& [name, value] : req_cookies) {
      if (!cookies.empty()) cookies += "; ";
      cookies += name + "=" + value;
    }
    if (!cookies.empty()) {
      if (auto existing = h.get("Cookie")) {
        h.set("Cookie", std::string(*existing) + "; " + cookies);
      } else {
        h.add("Cookie", cookies);
      }
    }
    if (streaming) {
      if (!content_type.empty()) h.set_default("Content-Type", content_type);
      h.erase("Content-Length");
      h.set("Transfer-Encoding", "chunked");
    } else if (body) {
      if (!content_type.empty()) h.set_default("Content-Type", content_type);
      h.erase("Transfer-Encoding");  // never both (request smuggling)
      h.set("Content-Length", std::to_string(body->size()));
    } else if (method == "POST" || method == "PUT" || method == "PATCH") {
      h.set_default("Content-Length", "0");
    }
    std::string target = u.target();
    if (proxy && !u.secure()) target = u.scheme() + "://" + u.host_header() + target;
    std::string out;
    out.reserve(256 + (body ? body->size() : 0));
    write_request_head(out, method, target, h);
    if (body && !streaming) out += *body;
    return out;
  }

  // drain() returns at once while the write buffer is below its high-water mark: only
  // a real wait needs the deadline.
  static coro<void> drain(stream_writer& w, deadline total, const std::string& where) {
    if (w.buffer_size() == 0) {
      co_await w.drain();
    } else {
      co_await bounded(total, w.drain(), where);
    }
  }

  static coro<void> send(response_state& st, const std::string& wire,
                         std::function<coro<std::string>()>* stream, deadline total) {
    stream_writer& w = st.l.conn->writer;
    const std::string where = st.url.str();
    try {
      w.write(wire);
      co_await drain(w, total, where);
      if (stream != nullptr) {
        for (;;) {
          std::string chunk = co_await (*stream)();
          if (chunk.empty()) break;
          std::string framed;
          write_chunk(framed, chunk);
          w.write(framed);
          co_await drain(w, total, where);
        }
        std::string last;
        write_last_chunk(last);
        w.write(last);
        co_await drain(w, total, where);
      }
    } catch (const os_error& e) {
      throw client_os_error(e.error_number(), e.what());
    } catch (const ssl_error& e) {
      throw client_os_error(0, e.what());
    }
  }

  static coro<client_response> run(std::shared_ptr<session_impl> self, std::string method,
                                   std::string url_text, request_options o) {
    session_impl& s = *self;
    if (s.closed) throw std::runtime_error("Session is closed");
    for (char& c : method)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    http::url u = s.resolve(url_text);
    if (!o.params_.empty()) u = u.extend_query(o.params_);
    const client_timeout to = o.timeout_ ? *o.timeout_ : s.opts.timeout;
    const deadline total = after(to.total, limit_kind::total);
    const bool allow_redirects = o.allow_redirects_.value_or(true);
    const int max_redirects = o.max_redirects_.value_or(s.opts.max_redirects);
    const bool auto_dec = o.auto_decompress_.value_or(s.opts.auto_decompress);
    const bool raise = o.raise_for_status_.value_or(s.opts.raise_for_status);

    std::optional<std::string> body = std::move(o.body_);
    std::string content_type = o.content_type_;
    if (o.has_form_) {
      body = encode_query(o.form_);
      content_type = "application/x-www-form-urlencoded";
    }
    bool streaming = static_cast<bool>(o.stream_);
    if (streaming) body.reset();
    http::headers user_headers = std::move(o.headers_);
    std::optional<std::pair<std::string, std::string>> auth = o.auth_;
    query_params req_cookies = o.cookies_;
    std::vector<redirect_info> history;

    for (;;) {
      if (u.scheme() != "http" && u.scheme() != "https")
        throw invalid_url("invalid URL \"" + u.str() + "\": the client speaks http and https");
      if (!u.user().empty() || !u.password().empty()) {
        if (!auth) auth.emplace(u.user(), u.password());
        u = u.without_userinfo();
      }
      const std::optional<http::url> proxy = s.proxy_for(u, o);
      const client_target t = s.make_target(u, proxy, o);
      const std::string wire = s.build(method, u, proxy, user_headers, auth, req_cookies, body,
                                       content_type, streaming, auto_dec);
      const bool may_retry = idempotent(method) && !streaming;
      std::unique_ptr<response_state> st;
      for (int attempt = 0;; ++attempt) {
        client_lease l = co_await client_acquire(s.conn, t, attempt > 0, total, to);
        st = std::make_unique<response_state>(s.limits());
        st->l = std::move(l);
        st->auto_decompress = auto_dec;
        st->no_body = method == "HEAD";
        st->parser.expect_no_body(st->no_body);
        st->total = total.at;
        st->sock_read = to.sock_read;
        st->max_line = s.opts.max_line_size;
        st->max_field = s.opts.max_field_size;
        st->method = method;
        st->url = u;
        const bool reused = st->l.reused;
        std::exception_ptr err;
        try {
          co_await send(*st, wire, streaming ? &o.stream_ : nullptr, total);
          co_await st->read_head();
        } catch (...) {
          err = std::current_exception();
        }
        if (!err) break;
        st->l.close();
        if (!(reused && attempt == 0 && may_retry && !st->got_bytes &&
              is_stale_connection_error(err)))
          std::rethrow_exception(err);
      }

      const message_head& head = st->head();
      if (s.opts.cookies) s.jar.update(head.headers, u);
      const int status = head.status;
      const std::optional<std::string_view> location = head.headers.get("Location");
      const bool redirect =
          status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
      if (allow_redirects && redirect && location) {
        const bool drop_body = (status == 303 && method != "HEAD") ||
                               ((status == 301 || status == 302) && method == "POST");
        if (!drop_body && streaming) {
          // The body would have to be sent again: the caller gets the redirect.
          client_response resp(std::move(st));
          resp.s_->history = std::move(history);
          co_return resp;
        }
        redirect_info info;
        info.status = status;
        info.reason = head.reason;
        info.url = u;
        info.headers = head.headers;
        history.push_back(std::move(info));
        if (max_redirects > 0 && static_cast<int>(history.size()) >= max_redirects) {
          st->l.close();
          throw too_many_redirects(status, head.reason, u.str(),
                                   "Too many redirects (" + std::to_string(history.size()) +
                                       "), last: " + std::to_string(status) + ", url='" + u.str() +
                                       "'");
        }
        http::url next;
        try {
          next = u.join(*location);
        } catch (const invalid_url& e) {
          st->l.close();
          throw invalid_url(std::string("invalid redirect: ") + e.what());
        }
        if (next.scheme() != "http" && next.scheme() != "https") {
          st->l.close();
          throw invalid_url("invalid redirect URL \"" + next.str() +
                            "\": the client speaks http and https");
        }
        co_await st->discard();
        st.reset();
        if (drop_body) {
          if (method != "HEAD") method = "GET";
          body.reset();
          streaming = false;
          o.stream_ = nullptr;
          user_headers.erase("Content-Type");
          user_headers.erase("Content-Length");
          user_headers.erase("Transfer-Encoding");
        }
        if (next.origin() != u.origin()) {
          // No credentials for another origin (aiohttp drops auth; we also drop the
          // cookies given by hand: the jar decides for the new host).
          user_headers.erase("Authorization");
          user_headers.erase("Cookie");
          auth.reset();
          req_cookies.clear();
        }
        u = next.with_fragment("");
        continue;
      }
      client_response resp(std::move(st));
      resp.s_->history = std::move(history);
      if (raise) resp.raise_for_status();
      co_return resp;
    }
  }
};

}  // namespace detail

// --- client_response -----------------------------------------------------------------------

client_response::client_response() noexcept = default;
client_response::client_response(std::unique_ptr<detail::response_state> s) noexcept
    : s_(std::move(s)) {}
client_response::client_response(client_response&&) noexcept = default;
client_response& client_response::operator=(client_response&&) noexcept = default;
client_response::~client_response() = default;

detail::response_state& client_response::state() const {
  if (!s_) throw std::logic_error("client_response: empty (moved-from or default-constructed)");
  return *s_;
}

int client_response::status() const {
  return state().head().status;
}
const std::string& client_response::reason() const {
  return state().head().reason;
}
const http::headers& client_response::headers() const {
  return state().head().headers;
}
const http::url& client_response::url() const {
  return state().url;
}
const std::string& client_response::method() const {
  return state().method;
}
const std::vector<redirect_info>& client_response::history() const {
  return state().history;
}
std::optional<std::uint64_t> client_response::content_length() const {
  return state().head().content_length;
}
std::string client_response::content_type() const {
  auto ct = headers().get("Content-Type");
  if (!ct) return "application/octet-stream";  // aiohttp's default
  return detail::lower(detail::trim(ct->substr(0, ct->find(';'))));
}
std::optional<std::string> client_response::charset() const {
  auto ct = headers().get("Content-Type");
  if (!ct) return std::nullopt;
  std::string_view rest = *ct;
  while (true) {
    auto semi = rest.find(';');
    if (semi == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(semi + 1);
    std::string_view param = detail::trim(rest.substr(0, rest.find(';')));
    auto eq = param.find('=');
    if (eq != std::string_view::npos && iequals(detail::trim(param.substr(0, eq)), "charset")) {
      std::string_view v = detail::trim(param.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return detail::lower(v);
    }
  }
}
std::uint64_t client_response::bytes_read() const {
  return state().parser.body_bytes();
}
bool client_response::at_eof() const {
  const auto& st = state();
  return st.body_done && st.pending_pos >= st.pending.size();
}
bool client_response::closed() const {
  return !s_ || !s_->l.conn;
}

coro<std::string> client_response::read_chunk(std::size_t max) {
  detail::response_state* st = &state();
  if (max == 0) throw std::invalid_argument("client_response::read_chunk: max must be > 0");
  for (;;) {
    if (st->pending_pos < st->pending.size()) {
      std::string piece;
      if (st->pending_pos == 0 && max >= st->pending.size()) {
        piece = std::move(st->pending);
        st->pending.clear();
      } else {
        const std::size_t n = std::min(max, st->pending.size() - st->pending_pos);
        piece = st->pending.substr(st->pending_pos, n);
        st->pending_pos += n;
        if (st->pending_pos == st->pending.size()) {
          st->pending.clear();
          st->pending_pos = 0;
        }
      }
      co_return piece;
    }
    if (st->deferred) {
      std::exception_ptr e = std::exchange(st->deferred, nullptr);
      st->fail(e);
      std::rethrow_exception(e);
    }
    if (st->body_done) co_return std::string();
    if (st->error) std::rethrow_exception(st->error);
    if (!st->l.conn) throw client_connection_error("Connection closed");
    std::exception_ptr err;
    try {
      co_await st->fill();
    } catch (...) {
      err = std::current_exception();
    }
    if (err) {
      st->fail(err);
      std::rethrow_exception(err);
    }
  }
}

coro<std::string> client_response::read() {
  detail::response_state* st = &state();
  if (st->body_cached) co_return st->body;
  std::string all;
  for (;;) {
    std::string piece = co_await read_chunk(SIZE_MAX);
    if (piece.empty()) break;
    if (all.empty()) {
      all = std::move(piece);
    } else {
      all += piece;
    }
  }
  st->body = all;
  st->body_cached = true;
  co_return all;
}

coro<std::string> client_response::text() {
  std::string body = co_await read();
  co_return body;
}

coro<aio::json::value> client_response::json(bool check_content_type) {
  std::string body = co_await read();
  if (check_content_type) {
    const std::string ct = content_type();
    const bool is_json =
        ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"));
    if (!is_json) {
      throw content_type_error(
          status(), "Attempt to decode JSON with unexpected mimetype: " + ct, url().str(),
          std::to_string(status()) +
              ", message='Attempt to decode JSON with unexpected mimetype: " + ct + "', url='" +
              url().str() + "'");
    }
  }
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) co_return aio::json::value();
  co_return aio::json::parse(body);
}

generator<std::string> client_response::iter_chunked(std::size_t n) {
  for (;;) {
    std::string piece = co_await read_chunk(n);
    if (piece.empty()) co_return;
    co_yield std::move(piece);
  }
}

generator<std::string> client_response::iter_any() {
  for (;;) {
    std::string piece = co_await read_chunk(SIZE_MAX);
    if (piece.empty()) co_return;
    co_yield std::move(piece);
  }
}

void client_response::raise_for_status() {
  auto& st = state();
  if (st.head().status < 400) return;
  release();
  throw client_response_error(st.head().status, st.head().reason, st.url.str());
}

void client_response::release() {
  close();  // a body read to its end has released its connection already
}

void client_response::close() {
  if (!s_) return;
  detail::response_state& st = *s_;
  st.l.close();
  if (!st.body_done && !st.error) {
    // What was buffered goes too: reads after close() fail, as in aiohttp.
    st.pending.clear();
    st.pending_pos = 0;
    st.deferred = nullptr;
    st.error = std::make_exception_ptr(client_connection_error("Connection closed"));
  }
}

// --- client_session ------------------------------------------------------------------------

client_session::client_session(session_options opts)
    : impl_(std::make_shared<detail::session_impl>(std::move(opts))) {}
client_session::client_session(client_session&&) noexcept = default;
client_session& client_session::operator=(client_session&& o) noexcept {
  if (this != &o) {
    if (impl_) {
      impl_->closed = true;
      impl_->conn->shutdown(nullptr);
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}
client_session::~client_session() {
  if (impl_) {
    impl_->closed = true;
    impl_->conn->shutdown(nullptr);
  }
}

coro<client_response> client_session::request(std::string method, std::string url_text,
                                              request_options opts) {
  if (!impl_) throw std::logic_error("client_session: empty (moved-from)");
  return detail::session_impl::run(impl_, std::move(method), std::move(url_text), std::move(opts));
}
coro<client_response> client_session::get(std::string url_text, request_options opts) {
  return request("GET", std::move(url_text), std::move(opts));
}
coro<client_response> client_session::post(std::string url_text, request_options opts) {
  return request("POST", std::move(url_text), std::move(opts));
}
coro<client_response> client_session::put(std::string url_text, request_options opts) {
  return request("PUT", std::move(url_text), std::move(opts));
}
coro<client_response> client_session::patch(std::string url_text, request_options opts) {
  return request("PATCH", std::move(url_text), std::move(opts));
}
coro<client_response> client_session::delete_(std::string url_text, request_options opts) {
  return request("DELETE", std::move(url_text), std::move(opts));
}
coro<client_response> client_session::head(std::string url_text, request_options opts) {
  return request("HEAD", std::move(url_text), std::move(opts));
}
coro<client_response> client_session::options(std::string url_text, request_options opts) {
  return request("OPTIONS", std::move(url_text), std::move(opts));
}

coro<void> client_session::close() {
  std::shared_ptr<detail::session_impl> self = impl_;
  if (!self) co_return;
  self->closed = true;
  std::vector<std::unique_ptr<detail::pooled_connection>> idle;
  self->conn->shutdown(&idle);
  for (auto& c : idle) co_await c->writer.wait_closed();
}

bool client_session::closed() const noexcept {
  return !impl_ || impl_->closed;
}

http::cookie_jar& client_session::cookie_jar() {
  if (!impl_) throw std::logic_error("client_session: empty (moved-from)");
  return impl_->jar;
}

pool_stats client_session::pool() const {
  pool_stats p;
  if (impl_) {
    p.idle = impl_->conn->idle_count();
    p.in_use = impl_->conn->in_use;
  }
  return p;
}

const session_options& client_session::options_used() const {
  if (!impl_) throw std::logic_error("client_session: empty (moved-from)");
  return impl_->opts;
}

}  // namespace aio::http
