// SPDX-License-Identifier: MIT
// aio::json: simdjson's DOM parser under nlohmann values and read-only views.
//
// The fast path is simdjson alone: parse the text into a tape, then either build an
// nlohmann value from the tape (parse) or keep the tape (document). simdjson reports a
// failure as an error code without a position, so only when it fails does the text get
// a second look (fail() below): nlohmann's SAX lexer, building nothing, finds where the
// text stops being JSON and says why. If nlohmann accepts the text, it is valid JSON
// that simdjson refused, and scan_refused() says which of the three known reasons it
// is: nesting deeper than simdjson's limit, an integer outside int64/uint64, or a byte
// that nlohmann skips but JSON does not allow (a NUL, which nlohmann takes for the end
// of the input, or a second byte order mark). Only the big integer is then accepted,
// by parse(), through nlohmann::json::parse (as a double). The error path costs a
// second pass over the text; valid text never pays for it.
#include "aio/json.hpp"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace aio::json {

namespace dom = simdjson::dom;

// A view or an iterator is one simdjson handle (a document pointer and a tape index),
// kept in detail::handle so that the public header needs no simdjson type.
static_assert(sizeof(dom::element) == sizeof(detail::handle));
static_assert(sizeof(dom::array::iterator) == sizeof(detail::handle));
static_assert(sizeof(dom::object::iterator) == sizeof(detail::handle));
static_assert(std::is_trivially_copyable_v<dom::element>);
static_assert(std::is_trivially_copyable_v<dom::array::iterator>);
static_assert(std::is_trivially_copyable_v<dom::object::iterator>);
static_assert(std::has_unique_object_representations_v<detail::handle>);

struct view_access {
  static dom::element element(const view& v) noexcept { return std::bit_cast<dom::element>(v.h_); }
  static view make(dom::element e) noexcept {
    view v;
    v.h_ = std::bit_cast<detail::handle>(e);
    return v;
  }
  static dom::array::iterator it(const view::iterator& i) noexcept {
    return std::bit_cast<dom::array::iterator>(i.h_);
  }
  static view::iterator make(dom::array::iterator i) noexcept {
    view::iterator r;
    r.h_ = std::bit_cast<detail::handle>(i);
    return r;
  }
  static dom::object::iterator it(const view::items_range::iterator& i) noexcept {
    return std::bit_cast<dom::object::iterator>(i.h_);
  }
  static view::items_range::iterator make(dom::object::iterator i) noexcept {
    view::items_range::iterator r;
    r.h_ = std::bit_cast<detail::handle>(i);
    return r;
  }
  static view::items_range items(dom::object o) noexcept {
    view::items_range r;
    r.begin_ = make(o.begin());
    r.end_ = make(o.end());
    return r;
  }
};

namespace {

// --- The per-thread parser ------------------------------------------------------------

// A parser keeps buffers sized for the largest text it has parsed (about 15 bytes per
// byte of text: the padded copy, the structural index, the tape and the string buffer).
// They are kept for the next call up to this size; after a larger text they are freed,
// so that one big body does not pin tens of megabytes to a thread for good.
constexpr std::size_t keep_capacity = std::size_t{1} << 20;

dom::parser& thread_parser() {
  thread_local dom::parser parser;
  return parser;
}

void release_if_large(dom::parser& parser) noexcept {
  if (parser.capacity() > keep_capacity) parser = dom::parser{};
}

/// Frees the thread parser's large buffers when the scope ends, however it ends.
struct release_guard {
  dom::parser& parser;
  ~release_guard() { release_if_large(parser); }
};

// simdjson's limit on nesting (the top-level value is at level 1); deeper is a DEPTH_ERROR.
constexpr std::size_t max_depth = simdjson::DEFAULT_MAX_DEPTH;

/// The text without a leading UTF-8 byte order mark, and the number of bytes dropped.
std::pair<std::string_view, std::size_t> skip_bom(std::string_view text) noexcept {
  if (text.starts_with("\xEF\xBB\xBF")) return {text.substr(3), 3};
  return {text, 0};
}

// --- Text for messages ---------------------------------------------------------------

/// The length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates)
/// that starts s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) noexcept {
  auto at = [&](std::size_t k) {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  auto cont = [&](std::size_t k) { return (at(k) & 0xC0u) == 0x80u; };
  unsigned c = at(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/// `s` made safe for a message (which a server may send on, in JSON): valid UTF-8 is
/// kept, control characters and bytes that are not UTF-8 are written as \xNN.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_length(s, i);
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

/// The first `keep` bytes of `s`, cut at a UTF-8 character boundary.
std::string_view head(std::string_view s, std::size_t keep) noexcept {
  if (s.size() <= keep) return s;
  while (keep > 0 && (static_cast<unsigned char>(s[keep]) & 0xC0) == 0x80) --keep;
  return s.substr(0, keep);
}

// --- The error path -------------------------------------------------------------------

/// A SAX handler for nlohmann's parser that builds nothing and records the first error.
struct locate_sax {
  std::optional<std::size_t> position;
  std::string reason;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(value::number_integer_t) { return true; }
  bool number_unsigned(value::number_unsigned_t) { return true; }
  bool number_float(value::number_float_t, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(value::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(std::string&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t chars_read, const std::string& token,
                   const nlohmann::detail::exception& e) {
    std::string_view what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 6: syntax error ..."
    if (auto close = what.find("] "); what.starts_with("[json.exception.") && close != what.npos)
      what.remove_prefix(close + 2);
    if (what.starts_with("parse error at line "))
      if (auto colon = what.find(": "); colon != what.npos) what.remove_prefix(colon + 2);
    reason = what;
    // A long token ("last read: '<a whole string>'") is cut to its last 40 bytes, where
    // the error is.
    constexpr std::size_t keep = 40;
    if (token.size() > keep + 8) {
      std::string quoted = "last read: '" + token + "'";
      if (auto at = reason.find(quoted); at != reason.npos) {
        std::size_t from = token.size() - keep;
        while (from < token.size() && (static_cast<unsigned char>(token[from]) & 0xC0) == 0x80)
          ++from;  // start at a UTF-8 character boundary
        reason.replace(at, quoted.size(), "last read: '..." + token.substr(from) + "'");
      }
    }
    reason = printable(reason);  // nlohmann copies bytes of the text that may not be UTF-8
    // nlohmann counts the characters read, the failing one included (the end of the
    // input counts as one); an overflowing number is reported after its last digit.
    std::size_t pos = chars_read == 0 ? 0 : chars_read - 1;
    if (e.id == 406 && chars_read >= token.size()) pos = chars_read - token.size();
    position = pos;
    return false;
  }
};

/// Where nlohmann's parser finds `text` not to be JSON, and why; nullopt if it accepts it.
std::optional<locate_sax> locate(std::string_view text) {
  locate_sax sax;
  if (value::sax_parse(text.begin(), text.end(), &sax)) return std::nullopt;
  return sax;
}

struct refusal {
  std::size_t position;
  std::string reason;
  bool big_integer;
};

bool is_integer_token(std::string_view t) noexcept {
  if (t.starts_with('-')) t.remove_prefix(1);
  if (t.empty()) return false;
  for (char c : t)
    if (c < '0' || c > '9') return false;
  return true;
}

/// Whether an integer token (as JSON writes it: no leading zeros) fits int64 or uint64.
bool integer_fits(std::string_view t) noexcept {
  bool negative = t.starts_with('-');
  if (negative) t.remove_prefix(1);
  std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
  return t.size() < limit.size() || (t.size() == limit.size() && t <= limit);
}

struct refusals {
  std::optional<refusal> first;          // the first one in the text
  std::optional<refusal> first_not_big;  // the first one that is not a big integer
};

/// For a text that nlohmann accepts and simdjson refuses: the reasons (see the file
/// comment). Depth counts as simdjson does: the top-level value is at level 1, and no
/// value (scalar, key or container) may lie deeper than max_depth.
refusals scan_refused(std::string_view text) {
  refusals found;
  auto add = [&](refusal r) {
    if (!found.first) found.first = r;
    if (!r.big_integer && !found.first_not_big) found.first_not_big = std::move(r);
  };
  std::size_t depth = 0;  // containers open
  std::size_t i = 0;
  while (i < text.size() && !found.first_not_big) {
    char c = text[i];
    bool starts_value = c == '"' || c == '[' || c == '{' || c == '-' || (c >= '0' && c <= '9') ||
                        c == 't' || c == 'f' || c == 'n';
    if (starts_value && depth >= max_depth) {
      add({i, "nesting deeper than " + std::to_string(max_depth) + " levels", false});
      break;
    }
    if (c == '"') {  // skip a string (nlohmann has validated its content)
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
      ++i;
    } else if (c == '[' || c == '{') {
      ++depth;
      ++i;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
      ++i;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t start = i;
      while (i < text.size() &&
             std::string_view("0123456789+-.eE").find(text[i]) != std::string_view::npos)
        ++i;
      std::string_view token = text.substr(start, i - start);
      if (!found.first && is_integer_token(token) && !integer_fits(token)) {
        std::string shown(token.substr(0, 40));
        if (token.size() > 40) shown += "...";
        add({start, "integer " + shown + " is outside the int64 and uint64 ranges", true});
      }
    } else if (std::string_view(" \t\n\r,:truefalsn").find(c) != std::string_view::npos) {
      ++i;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(c));
      add({i, std::string("unexpected byte ") + hex + " outside a string", false});
    }
  }
  return found;
}

/// Turns a simdjson failure on `text` into a decode_error with a position (see the file
/// comment). `skipped` bytes (a byte order mark) were dropped before `text` and count in
/// positions. With `allow_big_integers` (parse()), a text whose only fault is a big
/// integer is parsed by nlohmann instead, and its value returned.
value fail(simdjson::error_code code, std::string_view original, std::size_t skipped,
           bool allow_big_integers) {
  if (code == simdjson::MEMALLOC) throw std::bad_alloc();
  std::string_view text = original.substr(skipped);
  if (code == simdjson::CAPACITY)
    throw decode_error("the text is " + std::to_string(text.size()) +
                           " bytes; the limit is 4 GiB (4294967295 bytes)",
                       std::nullopt);
  if (auto found = locate(text))
    throw decode_error(found->reason, *found->position + skipped, original);
  refusals refused = scan_refused(text);
  if (allow_big_integers && refused.first && !refused.first_not_big) return value::parse(text);
  if (auto& r = allow_big_integers ? refused.first_not_big : refused.first) {
    if (r->big_integer)
      r->reason += " (a document keeps integers exact; json::parse reads them as doubles)";
    throw decode_error(r->reason, r->position + skipped, original);
  }
  throw decode_error(simdjson::error_message(code), std::nullopt);
}

// --- Building nlohmann values ---------------------------------------------------------

std::size_t count(dom::array a) noexcept {
  std::size_t n = a.size();
  if (n < 0xFFFFFF) return n;  // simdjson's count saturates at 0xFFFFFF
  n = 0;
  for ([[maybe_unused]] dom::element e : a) ++n;
  return n;
}

std::size_t count(dom::object o) noexcept {
  std::size_t n = o.size();
  if (n < 0xFFFFFF) return n;
  n = 0;
  for ([[maybe_unused]] dom::key_value_pair kv : o) ++n;
  return n;
}

/// Stores the value of `e` into `out`. Recursion is bounded by simdjson's depth limit.
void build(dom::element e, value& out) {
  switch (e.type()) {
    case dom::element_type::ARRAY: {
      dom::array a = e.get_array().value_unsafe();
      out = value::array();
      auto& elements = out.get_ref<value::array_t&>();
      elements.reserve(count(a));
      for (dom::element x : a) build(x, elements.emplace_back());
      return;
    }
    case dom::element_type::OBJECT: {
      dom::object o = e.get_object().value_unsafe();
      out = value::object();
      auto& members = out.get_ref<value::object_t&>();
      // A repeated key overwrites the earlier value: the last one wins.
      for (dom::key_value_pair kv : o) build(kv.value, members[std::string(kv.key)]);
      return;
    }
    case dom::element_type::STRING:
      out = std::string(e.get_string().value_unsafe());
      return;
    case dom::element_type::INT64: {
      // As nlohmann::json::parse: a non-negative integer is number_unsigned.
      std::int64_t i = e.get_int64().value_unsafe();
      if (i >= 0)
        out = static_cast<std::uint64_t>(i);
      else
        out = i;
      return;
    }
    case dom::element_type::UINT64:
      out = e.get_uint64().value_unsafe();
      return;
    case dom::element_type::DOUBLE:
      out = e.get_double().value_unsafe();
      return;
    case dom::element_type::BOOL:
      out = e.get_bool().value_unsafe();
      return;
    case dom::element_type::NULL_VALUE:
      out = nullptr;
      return;
  }
}

// --- Messages for views ---------------------------------------------------------------

std::string_view type_name(dom::element e) noexcept {
  switch (e.type()) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a floating-point number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

/// "an integer (-5)", "a floating-point number (1.5)", "a boolean (true)", "an array" ...
std::string describe(dom::element e) {
  std::string s(type_name(e));
  char buf[32];
  std::to_chars_result r{buf, {}};
  switch (e.type()) {
    case dom::element_type::INT64:
      r = std::to_chars(buf, buf + sizeof buf, e.get_int64().value_unsafe());
      break;
    case dom::element_type::UINT64:
      r = std::to_chars(buf, buf + sizeof buf, e.get_uint64().value_unsafe());
      break;
    case dom::element_type::DOUBLE:
      r = std::to_chars(buf, buf + sizeof buf, e.get_double().value_unsafe());
      break;
    case dom::element_type::BOOL:
      return s + (e.get_bool().value_unsafe() ? " (true)" : " (false)");
    default:
      return s;
  }
  return s + " (" + std::string(buf, r.ptr) + ")";
}

[[noreturn]] void wrong_type(std::string_view expected, dom::element e,
                             std::string_view context = {}) {
  std::string msg(context);
  msg += "expected ";
  msg += expected;
  msg += ", found ";
  msg += describe(e);
  throw type_error(msg);
}

dom::object as_object(dom::element e, std::string_view key) {
  if (e.type() != dom::element_type::OBJECT) {
    std::string context = "cannot look up key \"" + printable(head(key, 40)) + "\": ";
    wrong_type("an object", e, context);
  }
  return e.get_object().value_unsafe();
}

/// The value of the last member named `key`, or an unset optional.
std::optional<dom::element> lookup(dom::object o, std::string_view key) noexcept {
  std::optional<dom::element> found;
  for (auto it = o.begin(), end = o.end(); it != end; ++it)
    if (it.key_equals(key)) found = it.value();
  return found;
}

std::string quoted_excerpt(std::string_view s) {
  std::string_view shown = head(s, 40);
  return "\"" + printable(shown) + (shown.size() < s.size() ? "...\"" : "\"");
}

[[noreturn]] void missing_key(dom::object o, std::string_view key) {
  std::string detail;
  std::size_t n = count(o);
  if (n == 0) {
    detail = " in an empty object";
  } else {
    detail = " in an object with keys ";
    std::size_t shown = 0;
    for (dom::key_value_pair kv : o) {
      if (shown == 5) {
        detail += ", ...";
        break;
      }
      if (shown++ > 0) detail += ", ";
      detail += quoted_excerpt(kv.key);
    }
  }
  throw key_error(key, detail);
}

}  // namespace

// --- Errors ---------------------------------------------------------------------------

decode_error::decode_error(std::string_view reason, std::optional<std::size_t> position,
                           std::string_view text)
    : error([&] {
        std::string msg = "JSON decode error";
        if (!position) {
          msg += " (position unknown): ";
          return msg;
        }
        msg += " at byte " + std::to_string(*position);
        std::string_view before = text.substr(0, std::min(*position, text.size()));
        if (auto newline = before.rfind('\n'); newline != before.npos) {
          std::size_t line =
              1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
          msg += " (line " + std::to_string(line) + ", column " +
                 std::to_string(before.size() - newline) + ")";
        }
        msg += ": ";
        return msg;
      }() + std::string(reason)),
      position_(position),
      reason_at_(std::string_view(what()).size() - reason.size()) {}

key_error::key_error(std::string_view key, std::string_view detail)
    : error("key " + quoted_excerpt(key) + " not found" + std::string(detail)),
      key_(std::make_shared<const std::string>(key)) {}

// --- Parsing and serializing values ---------------------------------------------------

value parse(std::string_view text) {
  auto [body, skipped] = skip_bom(text);
  dom::parser& parser = thread_parser();
  release_guard guard{parser};
  auto root = parser.parse(body.data(), body.size(), /*realloc_if_needed=*/true);
  if (root.error()) return fail(root.error(), text, skipped, /*allow_big_integers=*/true);
  value v;
  build(root.value_unsafe(), v);
  return v;
}

std::string dump(const value& v) {
  return v.dump();
}

std::string dump(const value& v, int indent) {
  return v.dump(indent);
}

void dump_to(const value& v, std::string& out) {
  nlohmann::detail::serializer<value> s(nlohmann::detail::output_adapter<char>(out), ' ');
  s.dump(v, /*pretty_print=*/false, /*ensure_ascii=*/false, /*indent_step=*/0);
}

// --- document -------------------------------------------------------------------------

struct document::impl {
  dom::document doc;
};

document::document(std::string_view text) : impl_(std::make_unique<impl>()) {
  auto [body, skipped] = skip_bom(text);
  dom::parser& parser = thread_parser();
  release_guard guard{parser};
  auto root = parser.parse_into_document(impl_->doc, body.data(), body.size(), true);
  if (root.error()) fail(root.error(), text, skipped, /*allow_big_integers=*/false);
}

document::document(document&&) noexcept = default;
document& document::operator=(document&&) noexcept = default;
document::~document() = default;

view document::root() const& {
  if (!impl_) throw std::logic_error("aio::json::document used after it was moved from");
  return view_access::make(impl_->doc.root());
}

// --- view -----------------------------------------------------------------------------

bool view::is_object() const noexcept {
  return view_access::element(*this).is_object();
}
bool view::is_array() const noexcept {
  return view_access::element(*this).is_array();
}
bool view::is_string() const noexcept {
  return view_access::element(*this).is_string();
}
bool view::is_number() const noexcept {
  return view_access::element(*this).is_number();
}
bool view::is_int64() const noexcept {
  return view_access::element(*this).is_int64();
}
bool view::is_uint64() const noexcept {
  return view_access::element(*this).is_uint64();
}
bool view::is_bool() const noexcept {
  return view_access::element(*this).is_bool();
}
bool view::is_null() const noexcept {
  return view_access::element(*this).is_null();
}

std::string_view view::type_name() const noexcept {
  return json::type_name(view_access::element(*this));
}

view view::operator[](std::string_view key) const {
  dom::object o = as_object(view_access::element(*this), key);
  if (auto found = lookup(o, key)) return view_access::make(*found);
  missing_key(o, key);
}

std::optional<view> view::find(std::string_view key) const {
  dom::object o = as_object(view_access::element(*this), key);
  if (auto found = lookup(o, key)) return view_access::make(*found);
  return std::nullopt;
}

view view::operator[](std::size_t index) const {
  dom::element e = view_access::element(*this);
  if (e.type() != dom::element_type::ARRAY)
    wrong_type("an array", e, "cannot take element " + std::to_string(index) + ": ");
  dom::array a = e.get_array().value_unsafe();
  std::size_t i = 0;
  for (dom::element x : a)
    if (i++ == index) return view_access::make(x);
  throw index_error("index " + std::to_string(index) + " out of range for an array of " +
                    std::to_string(i) + (i == 1 ? " element" : " elements"));
}

std::size_t view::size() const {
  dom::element e = view_access::element(*this);
  if (e.type() == dom::element_type::ARRAY) return count(e.get_array().value_unsafe());
  if (e.type() == dom::element_type::OBJECT) return count(e.get_object().value_unsafe());
  wrong_type("an array or an object", e);
}

std::string_view view::get_string() const {
  dom::element e = view_access::element(*this);
  if (e.type() != dom::element_type::STRING) wrong_type("a string", e);
  return e.get_string().value_unsafe();
}

std::int64_t view::get_int64() const {
  dom::element e = view_access::element(*this);
  if (e.type() == dom::element_type::UINT64) wrong_type("an integer in the int64 range", e);
  if (e.type() != dom::element_type::INT64) wrong_type("an integer", e);
  return e.get_int64().value_unsafe();
}

std::uint64_t view::get_uint64() const {
  dom::element e = view_access::element(*this);
  if (e.type() == dom::element_type::UINT64) return e.get_uint64().value_unsafe();
  if (e.type() != dom::element_type::INT64) wrong_type("a non-negative integer", e);
  std::int64_t i = e.get_int64().value_unsafe();
  if (i < 0) wrong_type("a non-negative integer", e);
  return static_cast<std::uint64_t>(i);
}

double view::get_double() const {
  dom::element e = view_access::element(*this);
  if (!e.is_number()) wrong_type("a number", e);
  return e.get_double().value_unsafe();
}

bool view::get_bool() const {
  dom::element e = view_access::element(*this);
  if (e.type() != dom::element_type::BOOL) wrong_type("a boolean", e);
  return e.get_bool().value_unsafe();
}

view::iterator view::begin() const {
  dom::element e = view_access::element(*this);
  if (e.type() != dom::element_type::ARRAY) wrong_type("an array", e, "cannot iterate: ");
  return view_access::make(e.get_array().value_unsafe().begin());
}

view::iterator view::end() const {
  dom::element e = view_access::element(*this);
  if (e.type() != dom::element_type::ARRAY) wrong_type("an array", e, "cannot iterate: ");
  return view_access::make(e.get_array().value_unsafe().end());
}

view::items_range view::items() const {
  dom::element e = view_access::element(*this);
  if (e.type() != dom::element_type::OBJECT) wrong_type("an object", e, "cannot list items: ");
  return view_access::items(e.get_object().value_unsafe());
}

value view::to_value() const {
  value v;
  build(view_access::element(*this), v);
  return v;
}

view view::iterator::operator*() const noexcept {
  return view_access::make(*view_access::it(*this));
}

view::iterator& view::iterator::operator++() noexcept {
  auto it = view_access::it(*this);
  ++it;
  *this = view_access::make(it);
  return *this;
}

bool operator==(const view::iterator& a, const view::iterator& b) noexcept {
  return std::memcmp(a.h_.bytes, b.h_.bytes, sizeof a.h_.bytes) == 0;
}

member view::items_range::iterator::operator*() const noexcept {
  auto it = view_access::it(*this);
  return member{it.key(), view_access::make(it.value())};
}

view::items_range::iterator& view::items_range::iterator::operator++() noexcept {
  auto it = view_access::it(*this);
  ++it;
  *this = view_access::make(it);
  return *this;
}

bool operator==(const view::items_range::iterator& a,
                const view::items_range::iterator& b) noexcept {
  return std::memcmp(a.h_.bytes, b.h_.bytes, sizeof a.h_.bytes) == 0;
}

}  // namespace aio::json
