// SPDX-License-Identifier: MIT
// The HTTP/1.1 server: one coroutine per connection reads requests with the sans-I/O
// parser, runs the application, writes responses. See aio/http/server.hpp.
#include "aio/http/server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "aio/core/event_loop.hpp"
#include "aio/core/run.hpp"
#include "aio/core/task.hpp"
#include "aio/net/streams.hpp"
#include "aio/sync/event.hpp"
#include "aio/time/timeout.hpp"

namespace aio::http {

using namespace std::string_view_literals;

// ---- responses ----

http_error::http_error(int status, std::string text, http::headers h)
    : std::runtime_error(std::to_string(status) + ": " +
                         (text.empty() ? std::string(reason_phrase(status)) : text)),
      status_(status),
      text_(std::move(text)),
      headers_(std::move(h)) {}

response response::text(std::string body, int status, std::string_view content_type) {
  response r(status);
  r.headers.add("Content-Type", content_type);
  r.body = std::move(body);
  return r;
}

response response::bytes(std::string body, int status, std::string_view content_type) {
  return text(std::move(body), status, content_type);
}

response response::stream(std::function<coro<void>(response_writer&)> fn, int status,
                          std::string_view content_type) {
  if (!fn) throw std::invalid_argument("response::stream: no body function");
  response r(status);
  r.headers.add("Content-Type", content_type);
  r.stream_ = std::move(fn);
  return r;
}

namespace {

std::string_view guess_content_type(std::string_view path) {
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext(path.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
  static const std::pair<const char*, const char*> types[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"pdf", "application/pdf"},
      {"wasm", "application/wasm"},
      {"gz", "application/gzip"},
      {"zip", "application/zip"},
      {"csv", "text/csv; charset=utf-8"},
      {"md", "text/markdown; charset=utf-8"},
  };
  for (const auto& [e, t] : types) {
    if (ext == e) return t;
  }
  return "application/octet-stream";
}

}  // namespace

response response::file(std::string path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return text("404: Not Found", 404);
  }
  response r(200);
  r.headers.add("Content-Type", guess_content_type(path));
  r.file_ = std::move(path);
  return r;
}

void response::set_cookie(std::string_view name, std::string_view value,
                          std::string_view attributes) {
  if (!is_token(name)) {
    throw std::invalid_argument("invalid cookie name: \"" + std::string(name) + "\"");
  }
  for (char c : value) {
    if (c == ';' || c == ',' || c == ' ' || c == '"' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) == 0x7f) {
      throw std::invalid_argument("invalid character in the value of cookie \"" +
                                  std::string(name) + "\"");
    }
  }
  std::string v(name);
  v += '=';
  v += value;
  if (!attributes.empty()) {
    v += "; ";
    v += attributes;
  }
  headers.add("Set-Cookie", v);
}

response json_response(const json::value& body, int status) {
  response r(status);
  r.headers.add("Content-Type", "application/json");
  json::dump_to(body, r.body);
  return r;
}

// ---- routing ----

void router::add_route(std::string_view method, std::string_view pattern, handler h) {
  if (!h) throw std::invalid_argument("add_route: no handler for " + std::string(pattern));
  if (pattern.empty() || pattern[0] != '/') {
    throw std::invalid_argument("route pattern must start with '/': \"" + std::string(pattern) +
                                "\"");
  }
  if (method != "*" && !is_token(method)) {
    throw std::invalid_argument("invalid method for a route: \"" + std::string(method) + "\"");
  }
  route r;
  r.method = std::string(method);
  for (char& c : r.method) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  r.pattern = std::string(pattern);
  r.h = std::move(h);
  std::string_view rest = pattern.substr(1);
  for (;;) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      std::string_view inner = seg.substr(1, seg.size() - 2);
      auto colon = inner.find(':');
      s.param = true;
      s.text = std::string(inner.substr(0, colon));
      if (colon != std::string_view::npos) {
        if (inner.substr(colon + 1) != ".*" || slash != std::string_view::npos) {
          throw std::invalid_argument("route \"" + std::string(pattern) +
                                      "\": only {name} and a final {name:.*} are supported");
        }
        s.rest = true;
      }
      if (s.text.empty()) {
        throw std::invalid_argument("route \"" + std::string(pattern) + "\": empty parameter");
      }
    } else if (seg.find_first_of("{}") != std::string_view::npos) {
      throw std::invalid_argument("route \"" + std::string(pattern) +
                                  "\": a parameter must be a whole segment");
    } else {
      s.text = std::string(seg);
    }
    r.segments.push_back(std::move(s));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  routes_.push_back(std::move(r));
}

router::match router::resolve(std::string_view method, std::string_view path,
                              std::vector<std::pair<std::string, std::string>>& params) const {
  match m;
  const handler* head_fallback = nullptr;
  std::vector<std::pair<std::string, std::string>> fallback_params;
  for (const route& r : routes_) {
    // Match the path segment by segment.
    std::vector<std::pair<std::string, std::string>> got;
    std::string_view rest = path.empty() ? path : path.substr(1);
    bool ok = true;
    for (std::size_t i = 0; i < r.segments.size(); ++i) {
      const segment& s = r.segments[i];
      if (s.rest) {
        got.emplace_back(s.text, std::string(rest));
        rest = {};
        break;
      }
      auto slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      const bool last = i + 1 == r.segments.size();
      if (last != (slash == std::string_view::npos)) {
        ok = false;
        break;
      }
      if (s.param) {
        if (seg.empty()) {
          ok = false;
          break;
        }
        got.emplace_back(s.text, std::string(seg));
      } else if (seg != s.text) {
        ok = false;
        break;
      }
      rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    }
    if (!ok) continue;
    if (r.method == "*" || r.method == method) {
      params = std::move(got);
      m.h = &r.h;
      return m;
    }
    if (method == "HEAD" && r.method == "GET" && head_fallback == nullptr) {
      head_fallback = &r.h;
      fallback_params = std::move(got);
    }
    m.allowed.push_back(r.method);
  }
  if (head_fallback != nullptr) {
    params = std::move(fallback_params);
    m.h = head_fallback;
    m.allowed.clear();
  }
  return m;
}

namespace {

// Resolves `rel` under `dir`, refusing any ".." segment.
bool safe_relative(std::string_view rel) {
  std::string_view rest = rel;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg == "..") return false;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return rel.find('\0') == std::string_view::npos;
}

}  // namespace

void router::add_static(std::string_view prefix, std::string directory) {
  std::string p(prefix);
  while (!p.empty() && p.back() == '/') p.pop_back();
  add_route("GET", p + "/{path:.*}", [dir = std::move(directory)](request& req) -> coro<response> {
    std::string rel(req.match_info("path"));
    if (!safe_relative(rel)) throw http_error(403);
    co_return response::file(dir + "/" + rel);
  });
}

application::application() = default;

coro<response> application::dispatch(request& r) const {
  router::match m = router_.resolve(r.method(), r.path(), r.match_info_);
  if (m.h == nullptr) {
    if (!m.allowed.empty()) {
      std::string allow;
      for (const auto& a : m.allowed) {
        if (!allow.empty()) allow += ", ";
        allow += a;
      }
      throw http_error(405, "", http::headers{{"Allow", allow}});
    }
    throw http_error(404);
  }
  return (*m.h)(r);  // no coroutine frame of our own between the connection and the handler
}

coro<response> application::handle_chain(request& req) const {
  // The chain is built per call from the middleware list (a handful of std::function
  // objects); the router is the innermost handler.
  std::vector<handler> chain(middlewares_.size() + 1);
  chain.back() = [this](request& r) { return dispatch(r); };
  for (std::size_t i = middlewares_.size(); i-- > 0;) {
    chain[i] = [&mw = middlewares_[i], &next = chain[i + 1]](request& r) { return mw(r, next); };
  }
  co_return co_await chain.front()(req);
}

coro<response> application::handle(request& req) const {
  if (middlewares_.empty()) return dispatch(req);
  return handle_chain(req);
}

// ---- the request ----

const query_params& request::query() const {
  if (!query_) query_ = parse_query(query_string_);
  return *query_;
}

std::optional<std::string_view> request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query()) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view request::match_info(std::string_view name) const {
  for (const auto& [k, v] : match_info_) {
    if (k == name) return v;
  }
  throw std::out_of_range("the route has no parameter \"" + std::string(name) + "\"");
}

std::optional<std::string> request::cookie(std::string_view name) const {
  for (std::string_view line : head_->headers.get_all("Cookie")) {
    while (!line.empty()) {
      auto semi = line.find(';');
      std::string_view pair = line.substr(0, semi);
      line = semi == std::string_view::npos ? std::string_view{} : line.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (pair.substr(0, eq) == name) {
        std::string_view v = pair.substr(eq + 1);
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return std::string(v);
      }
    }
  }
  return std::nullopt;
}

void request::add_background_task(std::function<coro<void>()> fn) {
  if (!fn) throw std::invalid_argument("add_background_task: no function");
  background_.push_back(std::move(fn));
}

// ---- the server ----

namespace detail {

class app_server_state {
 public:
  app_server_state(application& app, server_config cfg) : app_(app), host_(cfg.host), cfg_(cfg) {
    cfg_.host = host_;
  }

  application& app_;
  std::string host_;
  server_config cfg_;  // cfg_.host views host_
  aio::server server_;
  bool closing_ = false;
  bool shut_down_ = false;
  std::unordered_set<server_connection*> conns_;
};

/// One connection: reads requests, runs the application, writes responses.
class server_connection {
 public:
  server_connection(std::shared_ptr<app_server_state> st, stream_reader r, stream_writer w)
      : st_(std::move(st)),
        cfg_(st_->cfg_),
        reader_(std::move(r)),
        writer_(std::move(w)),
        parser_(message_parser::request, parser_limits{.max_head_size = cfg_.max_head_size,
                                                       .max_headers = cfg_.max_headers,
                                                       .max_body_size = cfg_.max_body_size}) {
    st_->conns_.insert(this);
    if (auto t = current_task()) task_ = *t;
  }
  ~server_connection() {
    timer_.cancel();
    st_->conns_.erase(this);
  }
  server_connection(const server_connection&) = delete;
  server_connection& operator=(const server_connection&) = delete;

  coro<void> run();

  /// The next body piece of the current request, at most `max` bytes; "" at its end.
  coro<std::string> read_body(std::size_t max);
  coro<void> write_body(std::string_view data, bool chunked);

  /// Idle: waiting for the next request (shutdown may cancel it at once).
  bool idle() const noexcept { return idle_; }
  any_task& task() noexcept { return task_; }

 private:
  // Reads until the head of a request is parsed; false at a clean end (EOF or idle
  // timeout before a request began).
  coro<bool> read_head();
  // Reads more bytes into in_: fill_data, fill_eof, or fill_timeout when `deadline`
  // passed first.
  enum fill_result { fill_data, fill_eof, fill_timeout };
  coro<fill_result> fill(std::optional<time_point> deadline);
  // Deadlines without a timer per request: one timer per connection, re-armed lazily
  // when it fires early (the deadline moved on meanwhile). An expired deadline cancels
  // the connection's task, which fill() turns into fill_timeout (see fill()).
  void set_deadline(time_point t);
  void on_timer();
  // Parses buffered bytes; body pieces go to body_.
  void parse_buffered();
  coro<void> send_response(request& req, response& resp);
  coro<void> send_error(int status, std::string_view text);
  void append_common_headers(std::string& out, const http::headers& h, bool close,
                             std::optional<std::uint64_t> length, bool chunked);
  coro<void> flush();

  std::shared_ptr<app_server_state> st_;
  const server_config& cfg_;
  stream_reader reader_;
  stream_writer writer_;
  message_parser parser_;
  any_task task_;
  std::string in_;
  std::size_t in_start_ = 0, in_end_ = 0;
  std::string body_;  // parsed body bytes not yet given to the handler
  std::size_t body_pos_ = 0;
  std::string out_;
  bool idle_ = false;
  bool eof_ = false;
  std::optional<time_point> deadline_;
  time_point timer_at_{};
  timer_handle timer_;
  bool timer_armed_ = false;
  bool expired_ = false;
  bool client_gone_ = false;
  bool expect_continue_ = false;
  bool close_after_ = false;
};

namespace {

// "Sun, 06 Nov 1994 08:49:37 GMT", computed once per second per thread.
// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", computed once per second per thread, with
// "Server: aio\r\n" after it (date_server_lines()), so the common case is one append.
struct date_lines {
  std::time_t second = -1;
  char buf[96];
  std::size_t date_len = 0;  // "Date: ...\r\n"
  std::size_t all_len = 0;   // + "Server: aio\r\n"
};

const date_lines& current_date_lines() {
  thread_local date_lines d;
  const std::time_t now = std::time(nullptr);
  if (now != d.second) {
    d.second = now;
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    d.date_len = std::strftime(d.buf, sizeof d.buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    static constexpr std::string_view server = "Server: aio\r\n";
    std::memcpy(d.buf + d.date_len, server.data(), server.size());
    d.all_len = d.date_len + server.size();
  }
  return d;
}

void append_decimal(std::string& out, std::uint64_t v) {
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, static_cast<std::size_t>(end - p));
}

}  // namespace

void server_connection::set_deadline(time_point t) {
  deadline_ = t;
  if (timer_armed_ && timer_at_ <= t) return;  // fires first, then re-arms for t
  timer_.cancel();
  timer_ = get_running_loop().call_at(t, [this] { on_timer(); });
  timer_at_ = t;
  timer_armed_ = true;
}

void server_connection::on_timer() {
  timer_armed_ = false;
  if (!deadline_) return;
  event_loop& loop = get_running_loop();
  if (loop.time() < *deadline_) {
    timer_ = loop.call_at(*deadline_, [this] { on_timer(); });
    timer_at_ = *deadline_;
    timer_armed_ = true;
    return;
  }
  deadline_.reset();
  expired_ = true;
  if (task_.valid()) task_.cancel("HTTP connection deadline");
}

coro<server_connection::fill_result> server_connection::fill(std::optional<time_point> deadline) {
  if (eof_) co_return fill_eof;
  if (in_start_ == in_end_) {
    in_start_ = in_end_ = 0;
  } else if (in_.size() - in_end_ < 4096 && in_start_ > 0) {
    std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
    in_end_ -= in_start_;
    in_start_ = 0;
  }
  if (in_end_ == in_.size()) in_.resize(in_.size() * 2);
  std::span<std::byte> room(reinterpret_cast<std::byte*>(in_.data()) + in_end_,
                            in_.size() - in_end_);
  if (deadline) set_deadline(*deadline);
  std::size_t n = 0;
  std::exception_ptr cancelled;
  try {
    n = co_await reader_.read_some(room);
  } catch (const cancelled_error&) {
    cancelled = std::current_exception();
  } catch (const connection_error&) {
    client_gone_ = true;  // a reset while a handler reads the body is not its fault
    throw;
  }
  deadline_.reset();
  if (expired_) {
    // Our own cancel: withdraw it. If somebody else cancelled the task too (shutdown),
    // theirs stays and is delivered. Data that came as the deadline passed is kept.
    expired_ = false;
    const bool others = task_.uncancel() > 0;
    if (cancelled) {
      if (others) std::rethrow_exception(cancelled);
      co_return fill_timeout;
    }
  } else if (cancelled) {
    std::rethrow_exception(cancelled);
  }
  if (n == 0) {
    eof_ = true;
    co_return fill_eof;
  }
  in_end_ += n;
  co_return fill_data;
}

void server_connection::parse_buffered() {
  if (in_start_ == in_end_ || parser_.message_done()) return;
  auto r = parser_.feed(std::string_view(in_.data() + in_start_, in_end_ - in_start_));
  in_start_ += r.consumed;
  for (std::string_view piece : r.body) {
    if (body_pos_ == body_.size()) {
      body_.clear();
      body_pos_ = 0;
    }
    body_.append(piece);
  }
}

coro<bool> server_connection::read_head() {
  std::optional<time_point> deadline;
  for (;;) {
    parse_buffered();
    if (parser_.head_done()) co_return true;
    if (!parser_.in_message()) {
      // Nothing of a request yet: an idle keep-alive connection.
      if (st_->closing_) co_return false;
      idle_ = true;
      const fill_result got = co_await fill(get_running_loop().time() + cfg_.keepalive_timeout);
      idle_ = false;
      if (got != fill_data) co_return false;
      deadline = get_running_loop().time() + cfg_.header_timeout;
      continue;
    }
    if (!deadline) deadline = get_running_loop().time() + cfg_.header_timeout;
    const fill_result got = co_await fill(deadline);
    if (got == fill_timeout) {
      co_await send_error(408, "408: Request Timeout");
      co_return false;
    }
    if (got == fill_eof) {
      parser_.finish();  // throws: a request cut short
      co_return false;
    }
  }
}

coro<std::string> server_connection::read_body(std::size_t max) {
  for (;;) {
    if (body_pos_ < body_.size()) {
      std::size_t n = std::min(max, body_.size() - body_pos_);
      std::string piece = body_.substr(body_pos_, n);
      body_pos_ += n;
      co_return piece;
    }
    if (parser_.message_done()) co_return std::string();
    if (in_start_ < in_end_) {
      parse_buffered();
      continue;
    }
    if (expect_continue_) {
      expect_continue_ = false;
      writer_.write("HTTP/1.1 100 Continue\r\n\r\n");
      co_await flush();
    }
    const fill_result got = co_await fill(std::nullopt);
    if (got != fill_data) {
      close_after_ = true;
      throw protocol_error(400, "HTTP request body cut short by the end of the connection");
    }
  }
}

coro<void> server_connection::flush() {
  if (writer_.buffer_size() > 0) co_await writer_.drain();
}

coro<void> server_connection::write_body(std::string_view data, bool chunked) {
  if (data.empty()) co_return;
  if (chunked) {
    out_.clear();
    write_chunk(out_, data);
    writer_.write(out_);
  } else {
    writer_.write(data);
  }
  co_await writer_.drain();
}

void server_connection::append_common_headers(std::string& out, const http::headers& h, bool close,
                                              std::optional<std::uint64_t> length, bool chunked) {
  bool has_date = false, has_server = false, has_length = false;
  for (const auto& [name, value] : h) {
    if (iequals(name, "Content-Length")) {
      has_length = true;
      continue;  // ours is the true one
    }
    if (iequals(name, "Transfer-Encoding") || iequals(name, "Connection")) continue;
    if (iequals(name, "Date")) has_date = true;
    if (iequals(name, "Server")) has_server = true;
    write_header(out, name, value);
  }
  (void)has_length;
  if (length) {
    out.append("Content-Length: "sv);
    append_decimal(out, *length);
    out.append("\r\n"sv);
  } else if (chunked) {
    out.append("Transfer-Encoding: chunked\r\n"sv);
  }
  const date_lines& d = current_date_lines();
  if (!has_date && !has_server) {
    out.append(d.buf, d.all_len);
  } else if (!has_date) {
    out.append(d.buf, d.date_len);
  } else if (!has_server) {
    out.append(d.buf + d.date_len, d.all_len - d.date_len);
  }
  if (close) out.append("Connection: close\r\n"sv);
  out.append("\r\n"sv);
}

coro<void> server_connection::send_error(int status, std::string_view text) {
  out_.clear();
  out_.append("HTTP/1.1 "sv);
  append_decimal(out_, static_cast<std::uint64_t>(status));
  out_.push_back(' ');
  out_.append(reason_phrase(status));
  out_.append("\r\nContent-Type: text/plain; charset=utf-8\r\n"sv);
  append_common_headers(out_, {}, true, text.size(), false);
  out_.append(text);
  writer_.write(out_);
  close_after_ = true;
  co_await flush();
}

coro<void> server_connection::send_response(request& req, response& resp) {
  const bool head_only = req.method() == "HEAD";
  const bool no_body = head_only || resp.status == 204 || resp.status == 304 ||
                       (resp.status >= 100 && resp.status < 200);
  if (auto c = resp.headers.get("Connection"); c && iequals(*c, "close")) close_after_ = true;
  if (!req.keep_alive() || st_->closing_) close_after_ = true;

  out_.clear();
  if (resp.status < 100 || resp.status > 999) {
    throw std::invalid_argument("invalid HTTP status: " + std::to_string(resp.status));
  }
  std::string_view reason = resp.reason.empty() ? reason_phrase(resp.status) : resp.reason;
  for (char c : reason) {
    if (c == '\r' || c == '\n' || c == '\0')
      throw std::invalid_argument("HTTP reason phrase contains CR, LF or NUL");
  }
  if (resp.status == 200 && resp.reason.empty()) {
    out_.append("HTTP/1.1 200 OK\r\n"sv);
  } else {
    out_.append("HTTP/1.1 "sv);
    append_decimal(out_, static_cast<std::uint64_t>(resp.status));
    out_.push_back(' ');
    out_.append(reason);
    out_.append("\r\n"sv);
  }

  if (!resp.file_.empty()) {
    int fd = ::open(resp.file_.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      co_await send_error(404, "404: Not Found");
      co_return;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    append_common_headers(out_, resp.headers, close_after_, size, false);
    writer_.write(out_);
    // Files are read on the loop's thread in 64 KiB pieces (page-cache reads); the
    // file layer will take this off the loop.
    std::string chunk(64 * 1024, '\0');
    std::uint64_t sent = 0;
    try {
      while (!head_only && sent < size) {
        ssize_t n = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(sent));
        if (n <= 0) break;
        writer_.write(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
        sent += static_cast<std::uint64_t>(n);
        co_await writer_.drain();
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    if (!head_only && sent < size) close_after_ = true;  // the file shrank: cannot frame it
    co_await flush();
    co_return;
  }

  if (resp.stream_) {
    std::optional<std::uint64_t> length;
    if (auto cl = resp.headers.get("Content-Length")) {
      std::uint64_t v = 0;
      auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), v);
      if (ec == std::errc() && p == cl->data() + cl->size()) length = v;
    }
    const bool chunked = !length && !no_body && req.version_minor() >= 1;
    if (!length && !chunked && !no_body) close_after_ = true;  // HTTP/1.0: framed by close
    append_common_headers(out_, resp.headers, close_after_, length, chunked);
    writer_.write(out_);
    if (!no_body) {
      response_writer w(this, chunked, length);
      bool failed = false;
      try {
        co_await resp.stream_(w);
      } catch (const std::exception&) {
        // The head is sent: no 500 is possible. Report, and end the connection so
        // the client does not take a cut body for a whole one.
        get_running_loop().call_exception_handler(
            {.message =
                 "Error streaming the response to " + req.head_->method + " " + req.head_->target,
             .exception = std::current_exception()});
        failed = true;
      }
      if (failed || (length && w.bytes_written() != *length)) {
        close_after_ = true;  // a body shorter than its Content-Length cannot be framed
        co_await flush();
        co_return;
      }
      if (chunked) {
        out_.clear();
        write_last_chunk(out_);
        writer_.write(out_);
      }
    }
    co_await flush();
    co_return;
  }

  append_common_headers(out_, resp.headers, close_after_,
                        no_body && resp.status != 304 && !head_only
                            ? std::nullopt
                            : std::optional<std::uint64_t>(resp.body.size()),
                        false);
  if (!no_body) out_.append(resp.body);
  writer_.write(out_);
  co_await flush();
}

coro<void> server_connection::run() {
  in_.resize(16 * 1024);
  if (st_->conns_.size() > cfg_.max_connections) {
    co_await send_error(503, "503: Service Unavailable (too many connections)");
    co_return;
  }
  const net::address peer = writer_.peername();
  for (;;) {
    bool have = false;
    std::optional<protocol_error> bad;  // no co_await inside a handler: answer after it
    try {
      have = co_await read_head();
    } catch (const protocol_error& e) {
      bad = e;
    }
    if (bad) {
      co_await send_error(bad->status(), std::to_string(bad->status()) + ": " + bad->what());
      co_return;
    }
    if (!have) co_return;

    request req;
    req.head_ = &parser_.head();
    req.app_ = &st_->app_;
    req.conn_ = this;
    req.remote_ = &peer;
    {
      std::string_view target = req.head_->target;
      auto q = target.find('?');
      std::string_view raw_path = target.substr(0, q);
      if (q != std::string_view::npos) req.query_string_ = target.substr(q + 1);
      req.path_ = unquote(raw_path);
      if (req.path_.empty() || req.path_[0] != '/') {
        // Absolute-form or authority-form targets are for proxies.
        co_await send_error(400, "400: Bad Request (the target must be a path)");
        co_return;
      }
    }
    if (auto e = req.head_->headers.get("Expect")) {
      if (iequals(*e, "100-continue") && req.head_->version_minor >= 1) {
        expect_continue_ = !parser_.message_done();
      } else {
        co_await send_error(417, "417: Expectation Failed");
        co_return;
      }
    }

    std::optional<response> resp;
    try {
      response r = co_await st_->app_.handle(req);
      resp.emplace(std::move(r));
    } catch (const http_error& e) {
      std::string text = e.text().empty() ? std::to_string(e.status()) + ": " +
                                                std::string(reason_phrase(e.status()))
                                          : e.text();
      resp.emplace(response::text(std::move(text), e.status()));
      for (const auto& [n, v] : e.headers()) resp->headers.add(n, v);
    } catch (const protocol_error& e) {
      // The body could not be read (cut short, or too large).
      bad = e;
    } catch (const std::exception&) {
      if (client_gone_) throw;  // the client reset: nothing to answer or report
      get_running_loop().call_exception_handler(
          {.message = "Error handling HTTP request " + req.head_->method + " " + req.head_->target,
           .exception = std::current_exception()});
      resp.emplace(response::text("500: Internal Server Error", 500));
      close_after_ = true;
    }
    if (bad) {
      co_await send_error(bad->status(), std::to_string(bad->status()) + ": " + bad->what());
      co_return;
    }
    bool unwritable = false;
    try {
      co_await send_response(req, *resp);
    } catch (const std::invalid_argument&) {
      // A handler produced a response that cannot be written (a CR/LF in a header).
      get_running_loop().call_exception_handler(
          {.message = "Invalid HTTP response for " + req.head_->method + " " + req.head_->target,
           .exception = std::current_exception()});
      unwritable = true;
    }
    if (unwritable) {
      co_await send_error(500, "500: Internal Server Error");
      co_return;
    }
    expect_continue_ = false;

    for (auto& fn : req.background_) {
      try {
        co_await fn();
      } catch (const std::exception&) {
        get_running_loop().call_exception_handler(
            {.message =
                 "Error in a background task of " + req.head_->method + " " + req.head_->target,
             .exception = std::current_exception()});
      }
    }

    if (close_after_) co_return;
    // Discard what the handler left of the body (up to 1 MiB; beyond that, close).
    std::uint64_t discarded = 0;
    while (!parser_.message_done()) {
      if (body_pos_ < body_.size()) {
        discarded += body_.size() - body_pos_;
        body_.clear();
        body_pos_ = 0;
      }
      if (discarded > 1024 * 1024) co_return;
      if (in_start_ < in_end_) {
        try {
          parse_buffered();
        } catch (const protocol_error&) {
          co_return;
        }
        continue;
      }
      const fill_result got = co_await fill(std::nullopt);
      if (got != fill_data) co_return;
    }
    body_.clear();
    body_pos_ = 0;
    parser_.next_message();
  }
}

}  // namespace detail

coro<std::string> request::read() {
  std::string all;
  for (;;) {
    std::string piece = co_await conn_->read_body(256 * 1024);
    if (piece.empty()) break;
    if (all.empty()) {
      all = std::move(piece);
    } else {
      all += piece;
    }
  }
  co_return all;
}

coro<json::value> request::json() {
  std::string body = co_await read();
  try {
    co_return json::parse(body);
  } catch (const json::decode_error& e) {
    throw http_error(400, std::string("400: invalid JSON body: ") + e.what());
  }
}

coro<query_params> request::post() {
  std::string body = co_await read();
  co_return parse_query(body);
}

coro<std::string> request::read_chunk(std::size_t max) {
  if (max == 0) throw std::invalid_argument("read_chunk: max must be positive");
  return conn_->read_body(max);
}

coro<void> response_writer::write(std::string_view data) {
  if (length_ && written_ + data.size() > *length_) {
    throw std::length_error("response body longer than its Content-Length (" +
                            std::to_string(*length_) + " bytes)");
  }
  written_ += data.size();
  return c_->write_body(data, chunked_);
}

// ---- app_server ----

app_server::app_server(std::shared_ptr<detail::app_server_state> s) noexcept : s_(std::move(s)) {}
app_server::app_server(app_server&&) noexcept = default;
app_server& app_server::operator=(app_server&&) noexcept = default;
app_server::~app_server() {
  // No blocking destructor (DESIGN.md §4): stop listening and cancel the connections;
  // they end on their own. shutdown() is the graceful way.
  if (s_ && !s_->shut_down_) {
    s_->closing_ = true;
    s_->server_.close();
    s_->server_.abort_clients();
  }
}

std::uint16_t app_server::port() const {
  if (!s_) throw std::logic_error("app_server: not started");
  return s_->server_.sockets().at(0).local_address().port();
}

std::size_t app_server::active_connections() const noexcept {
  return s_ ? s_->conns_.size() : 0;
}

namespace {

coro<void> serve_connection(std::shared_ptr<detail::app_server_state> st, stream_reader r,
                            stream_writer w) {
  if (!st) co_return;  // the server is being destroyed
  detail::server_connection c(std::move(st), std::move(r), std::move(w));
  try {
    co_await c.run();
  } catch (const connection_error&) {
    // The client reset or went away: nothing to answer, nothing to report (aiohttp
    // ignores these too).
  }
}

}  // namespace

coro<app_server> start_app(application& app, server_config cfg) {
  auto st = std::make_shared<detail::app_server_state>(app, cfg);
  for (auto& hook : app.on_startup()) co_await hook(app);
  server_options opts{};
  opts.reuse_port = st->cfg_.reuse_port;
  opts.backlog = st->cfg_.backlog;
  opts.ssl = st->cfg_.ssl;
  // The handler holds the state weakly: the state owns the server, which owns the
  // handler. Running connections hold it strongly.
  // (The closure is built outside the co_await: g++ 12 destroys a temporary closure
  // with non-trivial captures twice there, docs/hazards.md.)
  client_connected_cb cb = [weak = std::weak_ptr<detail::app_server_state>(st)](stream_reader r,
                                                                                stream_writer w) {
    return serve_connection(weak.lock(), std::move(r), std::move(w));
  };
  st->server_ = co_await start_server(std::move(cb), st->host_, st->cfg_.port, opts);
  co_return app_server(std::move(st));
}

coro<void> app_server::shutdown() {
  if (!s_ || s_->shut_down_) co_return;
  auto st = s_;
  st->shut_down_ = true;
  st->closing_ = true;
  st->server_.close();
  // Idle keep-alive connections end now; busy ones close after their response.
  for (detail::server_connection* c : st->conns_) {
    if (c->idle() && c->task().valid()) c->task().cancel("server shutdown");
  }
  bool late = false;
  try {
    co_await wait_for(st->server_.wait_closed(), st->cfg_.shutdown_timeout);
  } catch (const timeout_error&) {
    late = true;
  }
  if (late) {
    st->server_.abort_clients();
    co_await st->server_.wait_closed();
  }
  for (auto& hook : st->app_.on_shutdown()) co_await hook(st->app_);
}

// ---- run_app ----

namespace {

// The workers of run_app: each registers its loop and stop event; a stop request (a
// signal on the main worker, or a failing worker) sets every event once, through
// call_soon_threadsafe, under the mutex. A worker leaves the list before its event
// dies, and nothing is posted after `stop` is set, so no post reaches a dead loop.
struct workers_shared {
  std::mutex mu;
  std::vector<std::pair<event_loop*, event*>> workers;
  bool stop = false;

  void request_stop() {
    std::lock_guard g(mu);
    if (stop) return;
    stop = true;
    for (const auto& w : workers) {
      event* ev = w.second;  // (clang 14 cannot capture a structured binding)
      w.first->call_soon_threadsafe([ev] { ev->set(); });
    }
  }
};

coro<void> serve_until_stopped(application& app, server_config cfg, workers_shared& shared,
                               bool main_worker) {
  event stop;
  event_loop& loop = get_running_loop();
  {
    std::lock_guard g(shared.mu);
    if (shared.stop) co_return;
    shared.workers.emplace_back(&loop, &stop);
  }
  auto leave = [&] {
    std::lock_guard g(shared.mu);
    std::erase_if(shared.workers, [&](const auto& w) { return w.second == &stop; });
  };
  app_server srv;
  try {
    srv = co_await start_app(app, cfg);
  } catch (...) {
    leave();
    shared.request_stop();
    throw;
  }
  if (main_worker) {
    loop.add_signal_handler(SIGINT, [&shared] { shared.request_stop(); });
    loop.add_signal_handler(SIGTERM, [&shared] { shared.request_stop(); });
    if (cfg.print_banner) {
      std::printf("======== Running on http://%s:%u ========\n(Press CTRL+C to quit)\n",
                  std::string(cfg.host).c_str(), static_cast<unsigned>(srv.port()));
      std::fflush(stdout);
    }
  }
  try {
    co_await stop.wait();
  } catch (...) {
    // Cancelled (aio::run's own SIGINT handling on a non-main caller): stop everyone.
    shared.request_stop();
  }
  if (main_worker) {
    loop.remove_signal_handler(SIGINT);
    loop.remove_signal_handler(SIGTERM);
  }
  try {
    co_await srv.shutdown();
  } catch (...) {
    leave();
    throw;
  }
  leave();
}

}  // namespace

void run_app(application& app, server_config cfg) {
  if (cfg.workers == 0) throw std::invalid_argument("run_app: workers must be at least 1");
  if (cfg.workers > 1) cfg.reuse_port = true;
  workers_shared shared;
  std::vector<std::thread> threads;
  std::exception_ptr first_error;
  std::mutex err_mu;
  auto keep_error = [&] {
    std::lock_guard g(err_mu);
    if (!first_error) first_error = std::current_exception();
  };
  server_config worker_cfg = cfg;
  worker_cfg.print_banner = false;
  for (unsigned i = 1; i < cfg.workers; ++i) {
    threads.emplace_back([&, worker_cfg] {
      try {
        aio::run(serve_until_stopped(app, worker_cfg, shared, false));
      } catch (...) {
        keep_error();
        shared.request_stop();
      }
    });
  }
  try {
    aio::run(serve_until_stopped(app, cfg, shared, true));
  } catch (...) {
    keep_error();
  }
  shared.request_stop();
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace aio::http
