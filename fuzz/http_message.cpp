// SPDX-License-Identifier: MIT
// Fuzz target for the sans-I/O HTTP layer: the request and response parsers (fed in
// pieces, pipelined messages one after another, then the end of the input) and the URL
// parser. Built with libFuzzer under clang (fuzz/CMakeLists.txt) and, with any
// compiler, as a replay program that runs the seed corpus as a test.
//
// Input: byte 0 chooses what is fuzzed (0: request parser, 1: response parser, 2:
// response to HEAD, 3: URL parse and join), byte 1 is the piece size (1..256) in which the
// rest is fed. Invariants checked: the parser never consumes more than it was given,
// never returns body bytes outside the input, stops after message_done, and a parse
// error is a protocol_error (anything else escapes and crashes the fuzzer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "aio/http/message.hpp"
#include "aio/http/url.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_parser(aio::http::message_parser::kind k, bool head, std::string_view data,
                 std::size_t step) {
  aio::http::message_parser p(
      k,
      aio::http::parser_limits{.max_head_size = 4096, .max_headers = 32, .max_body_size = 1 << 20});
  p.expect_no_body(head);
  try {
    std::size_t messages = 0;
    while (!data.empty() && messages < 64) {
      std::string_view piece = data.substr(0, step);
      auto r = p.feed(piece);
      check(r.consumed <= piece.size());
      for (std::string_view b : r.body) {
        check(b.data() >= piece.data() && b.data() + b.size() <= piece.data() + piece.size());
      }
      if (r.message_done) {
        check(p.head_done());
        if (k == aio::http::message_parser::request) check(!p.head().method.empty());
        // What we parsed, we can write again (or refuse cleanly).
        std::string out;
        try {
          if (k == aio::http::message_parser::request) {
            aio::http::write_request_head(out, p.head().method, p.head().target, p.head().headers);
          } else {
            aio::http::write_response_head(out, p.head().status, p.head().reason, p.head().headers);
          }
        } catch (const std::invalid_argument&) {
        }
        ++messages;
        if (p.head().upgrade) return;
        p.next_message();
        p.expect_no_body(head);
      } else {
        check(r.consumed == piece.size() || p.error_pending());
      }
      data.remove_prefix(r.consumed);
    }
    (void)p.finish();
  } catch (const aio::http::protocol_error& e) {
    check(e.status() >= 400 && e.status() < 600);
  }
}

void fuzz_url(std::string_view data) {
  auto nl = data.find('\n');
  std::string_view base = data.substr(0, nl);
  std::string_view ref = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
  try {
    aio::http::url u(base);
    std::string s = u.str();
    aio::http::url again(s);  // what str() gives parses again, to the same URL
    check(again.str() == s);
    check(!u.path().empty() && u.path()[0] == '/');
    (void)u.query();
    try {
      aio::http::url j = u.join(ref);
      check(!j.path().empty());
    } catch (const aio::http::invalid_url&) {
    }
  } catch (const aio::http::invalid_url&) {
  }
  (void)aio::http::parse_query(data);
  (void)aio::http::unquote(data, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 2) return 0;
  const int mode = bytes[0] % 4;
  const std::size_t step = 1 + bytes[1];
  std::string_view data(reinterpret_cast<const char*>(bytes) + 2, size - 2);
  switch (mode) {
    case 0:
      fuzz_parser(aio::http::message_parser::request, false, data, step);
      break;
    case 1:
      fuzz_parser(aio::http::message_parser::response, false, data, step);
      break;
    case 2:
      fuzz_parser(aio::http::message_parser::response, true, data, step);
      break;
    default:
      fuzz_url(data);
      break;
  }
  return 0;
}
