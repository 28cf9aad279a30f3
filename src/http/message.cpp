// SPDX-License-Identifier: MIT
// The sans-I/O HTTP/1.1 parser (llhttp underneath) and serializer.
#include "aio/http/message.hpp"

#include <llhttp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace aio::http {

namespace {

// Why a callback stopped the parser (llhttp only knows "a callback failed").
enum class stop_reason { none, head_too_large, too_many_headers, body_too_large, bad_header };

// RFC 9110 §5.6.2 tchar, and the bytes a header value may not hold (CR, LF, NUL), as
// 256-entry tables: one load per byte.
struct char_tables {
  bool token[256] = {};
  bool bad_value[256] = {};
  constexpr char_tables() {
    for (int c = '0'; c <= '9'; ++c) token[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) token[c] = token[c - 32] = true;
    for (char c : {'!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'})
      token[static_cast<unsigned char>(c)] = true;
    bad_value[static_cast<unsigned char>('\r')] = true;
    bad_value[static_cast<unsigned char>('\n')] = true;
    bad_value[0] = true;
  }
};
constexpr char_tables tables;

bool has_crlf_nul(std::string_view s) noexcept {
  for (char c : s) {
    if (tables.bad_value[static_cast<unsigned char>(c)]) return true;
  }
  return false;
}

}  // namespace

struct message_parser::impl {
  llhttp_t parser;
  message_parser* owner = nullptr;
  std::string field;  // the header name being read
  std::string value;  // the header value being read
  std::size_t head_bytes = 0;
  bool value_started = false;        // on_header_value was called for this field
  const char* data_begin = nullptr;  // the data of the running feed()
  char prev_last = 0;                // the last byte of the previous feed()
  stop_reason stop = stop_reason::none;
  result* out = nullptr;

  static impl& of(llhttp_t* p) { return *static_cast<impl*>(p->data); }

  // Counts head bytes against the limit; false stops the parser.
  bool count(std::size_t n) {
    head_bytes += n;
    if (head_bytes > owner->limits_.max_head_size) {
      stop = stop_reason::head_too_large;
      return false;
    }
    return true;
  }

  static int on_message_begin(llhttp_t* p) {
    impl& s = of(p);
    s.owner->started_ = true;
    return 0;
  }
  static int on_url(llhttp_t* p, const char* at, std::size_t n) {
    impl& s = of(p);
    if (!s.count(n)) return -1;
    s.owner->head_.target.append(at, n);
    return 0;
  }
  static int on_status(llhttp_t* p, const char* at, std::size_t n) {
    impl& s = of(p);
    if (!s.count(n)) return -1;
    s.owner->head_.reason.append(at, n);
    return 0;
  }
  static int on_method(llhttp_t* p, const char*, std::size_t n) { return of(p).count(n) ? 0 : -1; }
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    impl& s = of(p);
    if (!s.count(n + 4)) return -1;  // ": " and CRLF count too
    s.field.append(at, n);
    return 0;
  }
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    impl& s = of(p);
    if (!s.count(n)) return -1;
    // llhttp 8 accepts obsolete line folding ("X: a\r\n b") and hands the folded part
    // over as more value; it is recognised by the line break right before it.
    const char before = at > s.data_begin ? at[-1] : s.prev_last;
    if (s.value_started && before == '\n') {
      s.stop = stop_reason::bad_header;
      return -1;
    }
    s.value_started = true;
    s.value.append(at, n);
    return 0;
  }
  static int on_header_value_complete(llhttp_t* p) {
    impl& s = of(p);
    if (s.owner->head_complete_) {
      // A trailer field of a chunked body: checked, counted, not kept (as aiohttp).
      s.field.clear();
      s.value.clear();
      s.value_started = false;
      return 0;
    }
    headers& h = s.owner->head_.headers;
    // Stricter than llhttp 8: whitespace before the colon (RFC 9112 §5.1) and obsolete
    // line folding (§5.2) are refused, as are NULs.
    if (!is_token(s.field)) {
      s.stop = stop_reason::bad_header;
      return -1;
    }
    if (has_crlf_nul(s.value)) {
      s.stop = stop_reason::bad_header;
      return -1;
    }
    if (h.size() >= s.owner->limits_.max_headers) {
      s.stop = stop_reason::too_many_headers;
      return -1;
    }
    h.add(s.field, s.value);
    s.field.clear();
    s.value.clear();
    s.value_started = false;
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    impl& s = of(p);
    message_parser& o = *s.owner;
    if (!s.field.empty()) {  // a field with an empty value gets no value callbacks
      if (int rc = on_header_value_complete(p); rc != 0) return rc;
    }
    message_head& h = o.head_;
    if (o.kind_ == request) {
      h.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
    } else {
      h.status = p->status_code;
    }
    h.version_major = p->http_major;
    h.version_minor = p->http_minor;
    h.keep_alive = llhttp_should_keep_alive(p) != 0;
    h.chunked = (p->flags & F_CHUNKED) != 0;
    if ((p->flags & F_CONTENT_LENGTH) != 0) h.content_length = p->content_length;
    h.upgrade = p->upgrade != 0;
    o.head_complete_ = true;
    s.out->head_done = true;
    if (h.content_length && *h.content_length > o.limits_.max_body_size) {
      s.stop = stop_reason::body_too_large;
      return -1;
    }
    if (o.kind_ == response && (h.status < 200 || h.status == 204 || h.status == 304)) {
      return 1;  // never a body (RFC 9112 §6.3), whatever Content-Length says
    }
    if (o.kind_ == response && o.no_body_) {
      // HEAD, or CONNECT answered 2xx: nothing follows the head. keep_alive is what
      // the headers said (llhttp's answer for a message framed by its end is no).
      return 1;
    }
    return 0;
  }
  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    impl& s = of(p);
    message_parser& o = *s.owner;
    o.body_bytes_ += n;
    if (o.body_bytes_ > o.limits_.max_body_size) {
      s.stop = stop_reason::body_too_large;
      return -1;
    }
    s.out->body.emplace_back(at, n);
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    impl& s = of(p);
    s.owner->done_ = true;
    if (s.out != nullptr) s.out->message_done = true;
    return HPE_PAUSED;  // one message per feed(): pipelined ones wait their turn
  }

  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t st = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_message_begin = on_message_begin;
      x.on_url = on_url;
      x.on_status = on_status;
      x.on_method = on_method;
      x.on_header_field = on_header_field;
      x.on_header_value = on_header_value;
      x.on_header_value_complete = on_header_value_complete;
      x.on_headers_complete = on_headers_complete;
      x.on_body = on_body;
      x.on_message_complete = on_message_complete;
      return x;
    }();
    return &st;
  }

  [[noreturn]] void fail(llhttp_errno_t err) {
    const char* what = owner->kind_ == request ? "invalid HTTP request" : "invalid HTTP response";
    switch (stop) {
      case stop_reason::head_too_large:
        throw protocol_error(431, std::string(what) + ": the head is larger than " +
                                      std::to_string(owner->limits_.max_head_size) + " bytes");
      case stop_reason::too_many_headers:
        throw protocol_error(431, std::string(what) + ": more than " +
                                      std::to_string(owner->limits_.max_headers) +
                                      " header fields");
      case stop_reason::body_too_large:
        throw protocol_error(413, std::string(what) + ": the body is larger than " +
                                      std::to_string(owner->limits_.max_body_size) + " bytes");
      case stop_reason::bad_header:
        throw protocol_error(
            400, std::string(what) + ": invalid header field \"" + field.substr(0, 64) + "\"");
      case stop_reason::none:
        break;
    }
    const char* reason = llhttp_get_error_reason(&parser);
    std::string msg = std::string(what) + ": " + (reason != nullptr ? reason : "parse error") +
                      " (" + llhttp_errno_name(err) + ")";
    int status = 400;
    if (err == HPE_INVALID_TRANSFER_ENCODING && owner->kind_ == request) status = 501;
    throw protocol_error(status, msg);
  }
};

message_parser::message_parser(kind k, parser_limits limits)
    : p_(std::make_unique<impl>()), limits_(limits), kind_(k) {
  llhttp_init(&p_->parser, k == request ? HTTP_REQUEST : HTTP_RESPONSE, impl::settings());
  p_->parser.data = p_.get();
  p_->owner = this;
}
message_parser::message_parser(message_parser&& o) noexcept
    : p_(std::move(o.p_)),
      head_(std::move(o.head_)),
      limits_(o.limits_),
      kind_(o.kind_),
      no_body_(o.no_body_),
      started_(o.started_),
      head_complete_(o.head_complete_),
      done_(o.done_),
      body_bytes_(o.body_bytes_),
      error_(std::move(o.error_)) {
  if (p_) p_->owner = this;
}
message_parser& message_parser::operator=(message_parser&& o) noexcept {
  p_ = std::move(o.p_);
  head_ = std::move(o.head_);
  limits_ = o.limits_;
  kind_ = o.kind_;
  no_body_ = o.no_body_;
  started_ = o.started_;
  head_complete_ = o.head_complete_;
  done_ = o.done_;
  body_bytes_ = o.body_bytes_;
  error_ = std::move(o.error_);
  if (p_) p_->owner = this;
  return *this;
}
message_parser::~message_parser() = default;

message_parser::result message_parser::feed(std::string_view data) {
  if (error_) std::rethrow_exception(error_);
  result r;
  if (done_ || data.empty()) return r;
  impl& s = *p_;
  s.out = &r;
  s.data_begin = data.data();
  const llhttp_errno_t err = llhttp_execute(&s.parser, data.data(), data.size());
  s.out = nullptr;
  s.prev_last = data.back();
  switch (err) {
    case HPE_OK:
      r.consumed = data.size();
      return r;
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE:
      r.consumed = static_cast<std::size_t>(llhttp_get_error_pos(&s.parser) - data.data());
      if (err == HPE_PAUSED_UPGRADE) head_.upgrade = true;
      return r;
    default:
      if (r.body.empty()) s.fail(err);
      // Body bytes parsed before the error are handed out first (a client reading a
      // chunked body gets what came before a bad chunk); the error comes with the next
      // call, which consumes nothing more.
      try {
        s.fail(err);
      } catch (const protocol_error&) {
        error_ = std::current_exception();
      }
      r.consumed = static_cast<std::size_t>(llhttp_get_error_pos(&s.parser) - data.data());
      r.message_done = false;
      return r;
  }
}

bool message_parser::finish() {
  if (error_) std::rethrow_exception(error_);
  if (done_) return true;
  if (!started_) return false;
  impl& s = *p_;
  result r;
  s.out = &r;
  const llhttp_errno_t err = llhttp_finish(&s.parser);
  s.out = nullptr;
  if (err == HPE_OK || err == HPE_PAUSED) {
    if (done_) return true;
  } else if (err != HPE_INVALID_EOF_STATE) {
    s.fail(err);
  }
  throw protocol_error(400, std::string(kind_ == request ? "HTTP request" : "HTTP response") +
                                " cut short by the end of the connection" +
                                (head_complete_ ? " (in the body)" : " (in the head)"));
}

void message_parser::next_message() {
  impl& s = *p_;
  const bool paused = done_;
  // Cleared in place: the strings and the header vector keep their capacity.
  head_.method.clear();
  head_.target.clear();
  head_.status = 0;
  head_.reason.clear();
  head_.version_major = head_.version_minor = 1;
  head_.headers.clear();
  head_.keep_alive = true;
  head_.content_length.reset();
  head_.chunked = head_.upgrade = false;
  s.field.clear();
  s.value.clear();
  s.value_started = false;
  s.head_bytes = 0;
  s.stop = stop_reason::none;
  started_ = head_complete_ = done_ = false;
  body_bytes_ = 0;
  no_body_ = false;
  if (paused) {
    if (llhttp_get_errno(&s.parser) == HPE_PAUSED_UPGRADE) {
      llhttp_resume_after_upgrade(&s.parser);
    } else if (llhttp_get_errno(&s.parser) == HPE_PAUSED) {
      llhttp_resume(&s.parser);
    }
  }
}

// ---- writing ----

namespace {

void check_field(std::string_view name, std::string_view value) {
  if (!is_token(name)) {
    throw std::invalid_argument("invalid HTTP header name: \"" + std::string(name) + "\"");
  }
  if (has_crlf_nul(value)) {
    throw std::invalid_argument("HTTP header value for \"" + std::string(name) +
                                "\" contains CR, LF or NUL");
  }
}

void append_uint(std::string& out, unsigned v) {
  char buf[16];
  char* e = buf + sizeof buf;
  char* p = e;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, e);
}

void append_fields(std::string& out, const headers& h) {
  for (const auto& [name, value] : h) {
    check_field(name, value);
    out.append(name);
    out.append(": ", 2);
    out.append(value);
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

}  // namespace

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!tables.token[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

void write_header(std::string& out, std::string_view name, std::string_view value) {
  check_field(name, value);
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

void write_request_head(std::string& out, std::string_view method, std::string_view target,
                        const headers& h) {
  if (!is_token(method)) {
    throw std::invalid_argument("invalid HTTP method: \"" + std::string(method) + "\"");
  }
  if (target.empty() || has_crlf_nul(target) || target.find(' ') != std::string_view::npos) {
    throw std::invalid_argument("invalid HTTP request target: \"" + std::string(target) + "\"");
  }
  out.append(method);
  out.push_back(' ');
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);
  append_fields(out, h);
}

void write_response_head(std::string& out, int status, std::string_view reason, const headers& h) {
  if (status < 100 || status > 999) {
    throw std::invalid_argument("invalid HTTP status: " + std::to_string(status));
  }
  if (reason.empty()) reason = reason_phrase(status);
  if (has_crlf_nul(reason)) {
    throw std::invalid_argument("HTTP reason phrase contains CR, LF or NUL");
  }
  out.append("HTTP/1.1 ", 9);
  append_uint(out, static_cast<unsigned>(status));
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n", 2);
  append_fields(out, h);
}

void write_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%zx\r\n", data.size());
  out.append(buf, static_cast<std::size_t>(n));
  out.append(data);
  out.append("\r\n", 2);
}

void write_last_chunk(std::string& out) {
  out.append("0\r\n\r\n", 5);
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Entity";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "";
  }
}

}  // namespace aio::http
