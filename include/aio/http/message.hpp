// SPDX-License-Identifier: MIT
// aio/http/message.hpp — HTTP/1.1 messages without I/O: a parser that is fed bytes and
// a serializer that appends bytes to a string. The client and the server are built on
// them; tests and the fuzz target use them with byte strings alone.
//
//   aio::http::message_parser p(aio::http::message_parser::request);
//   auto r = p.feed("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
//   // r.head_done, r.message_done; p.head().method == "GET", p.head().target == "/x"
//
// Parsing (llhttp underneath, strict mode). feed(data) parses as much of `data` as it
// can and stops right after the end of a message, so pipelined messages are taken one
// at a time: r.consumed says how much of `data` was used; the rest belongs to the next
// message (call next_message() first). Body bytes are handed out as views into `data`
// (r.body), valid until `data` changes. A message framed by neither Content-Length nor
// chunked encoding (a response read to the end of the connection) ends at finish().
//
// What is refused (protocol_error, with the status a server answers): malformed
// request lines, header names or values (400); both Content-Length and
// Transfer-Encoding, or two different Content-Length values (400: the request
// smuggling defences); bad chunk sizes or chunk framing (400); a Transfer-Encoding
// other than chunked last (501 for a request); a head larger than
// limits.max_head_size (431); a body larger than limits.max_body_size (413).
//
// Writing: write_request_head / write_response_head append a head; they refuse
// (std::invalid_argument) a method or header name that is not a token and CR, LF or NUL
// in a target, reason or header value, so no caller can split a message.
// write_chunk / write_last_chunk frame a chunked body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aio/http/errors.hpp"
#include "aio/http/headers.hpp"

namespace aio::http {

/// The head of a request or a response.
struct message_head {
  // Request line (requests).
  std::string method;  // "GET"
  std::string target;  // "/path?query" (origin form), or absolute/authority form
  // Status line (responses).
  int status = 0;
  std::string reason;
  int version_major = 1;
  int version_minor = 1;
  http::headers headers;
  /// The connection may carry another message after this one (HTTP/1.1 without
  /// "Connection: close", or HTTP/1.0 with "keep-alive").
  bool keep_alive = true;
  /// Content-Length, if the message has one.
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  /// "Connection: upgrade" with an Upgrade header (or CONNECT): after this message the
  /// connection speaks another protocol.
  bool upgrade = false;
};

struct parser_limits {
  /// Request line or status line plus all header fields (431 beyond).
  std::size_t max_head_size = 16 * 1024;
  /// Header fields in one head.
  std::size_t max_headers = 128;
  /// Body bytes of one message (413 beyond); SIZE_MAX for no limit.
  std::size_t max_body_size = SIZE_MAX;
};

class message_parser {
 public:
  enum kind { request, response };

  explicit message_parser(kind k, parser_limits limits = {});
  message_parser(message_parser&&) noexcept;
  message_parser& operator=(message_parser&&) noexcept;
  ~message_parser();

  struct result {
    std::size_t consumed = 0;
    /// The head was completed by this call (head() is ready).
    bool head_done = false;
    /// Body pieces parsed in this call, views into the fed data (chunk framing removed).
    std::vector<std::string_view> body;
    /// The message ended in this call; feed() takes nothing more until next_message().
    bool message_done = false;
  };

  /// Parses `data`; throws protocol_error on invalid input (the parser is then
  /// unusable). Returns having consumed all of `data` unless the message ended. When
  /// body bytes were parsed before the error in the same call, they are returned first
  /// and the error is thrown by the next feed() or finish().
  result feed(std::string_view data);
  /// The end of the input (the peer closed). Completes a message that is framed by the
  /// end of the connection and returns true; returns false if no message had begun;
  /// throws protocol_error if a message was cut short.
  bool finish();
  /// Readies the parser for the next message on the same connection.
  void next_message();

  /// Responses only: the request was HEAD (or CONNECT answered 2xx, or the status is
  /// 1xx/204/304), so the response has no body whatever its headers say. Call before
  /// feeding the response.
  void expect_no_body(bool v = true) noexcept { no_body_ = v; }

  const message_head& head() const noexcept { return head_; }
  message_head& head() noexcept { return head_; }
  /// Whether a message has begun (some bytes of it were parsed) and not ended.
  bool in_message() const noexcept { return started_ && !done_; }
  bool head_done() const noexcept { return head_complete_; }
  bool message_done() const noexcept { return done_; }
  /// Body bytes of the current message so far.
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  /// An error is held back behind the body bytes of the last feed() (thrown next).
  bool error_pending() const noexcept { return error_ != nullptr; }

 private:
  struct impl;
  friend struct impl;
  std::unique_ptr<impl> p_;
  message_head head_;
  parser_limits limits_;
  kind kind_;
  bool no_body_ = false;
  bool started_ = false;
  bool head_complete_ = false;
  bool done_ = false;
  std::uint64_t body_bytes_ = 0;
  std::exception_ptr error_;  // an error held back behind body bytes (feed())
};

/// Reason phrase of a status code ("Not Found"), "" for unknown codes.
std::string_view reason_phrase(int status) noexcept;

/// Whether `s` is a token (RFC 9110 §5.6.2): methods and header names.
bool is_token(std::string_view s) noexcept;

/// Appends "METHOD target HTTP/1.1\r\n" + headers + "\r\n".
void write_request_head(std::string& out, std::string_view method, std::string_view target,
                        const headers& h);
/// Appends "HTTP/1.1 status reason\r\n" + headers + "\r\n" (reason defaults to the
/// standard phrase).
void write_response_head(std::string& out, int status, std::string_view reason, const headers& h);
/// Appends one header field after validating it.
void write_header(std::string& out, std::string_view name, std::string_view value);
/// Appends a chunk of a chunked body (nothing for an empty `data`: an empty chunk
/// would end the body).
void write_chunk(std::string& out, std::string_view data);
/// Appends the last chunk "0\r\n\r\n".
void write_last_chunk(std::string& out);

}  // namespace aio::http
