// SPDX-License-Identifier: MIT
// aio/json.hpp — JSON for aio's HTTP layer: Python's json module (json.loads, json.dumps)
// with nlohmann::json as the value type, simdjson as the parser, and a read-only
// `document` for reading a few fields of a large body without building values.
//
//   value parse(text)  ·  std::string dump(v [, indent])  ·  dump_to(v, out)  ·  document(text)
//
//   aio::json::value v = aio::json::parse(R"({"items": [{"id": 7, "tags": ["a"]}]})");
//   std::int64_t id = v["items"][0]["id"];              // nlohmann::json, as usual
//   v["seen"] = true;
//   std::string body = aio::json::dump(v);              // {"items":[...],"seen":true}
//
//   aio::json::document doc(big_body);                  // read-only, no values built
//   for (aio::json::view item : doc["items"]) total += item["id"].get_int64();
//
// parse() runs simdjson's DOM parser and builds the nlohmann value from its tape: about
// twice as fast as nlohmann::json::parse, most of the time going into the nlohmann value
// itself. A `document` keeps simdjson's tape and lets you navigate it through `view`s,
// 13-22x faster than nlohmann::json::parse: no nlohmann value is built unless you ask for
// one (view::to_value()). docs/json.md has the measurements.
//
// What is accepted: RFC 8259 JSON, strictly (no comments, no trailing commas, no NaN),
// in UTF-8 (invalid UTF-8 is an error). A leading UTF-8 byte order mark is skipped, as
// RFC 8259 allows. Nesting is limited to 1024 levels (simdjson's limit; Python's json
// stops near the same depth): deeper text is a decode_error, never a stack overflow.
// Texts up to 4 GiB. Duplicate keys: the last one wins (as in Python and nlohmann), in
// parse() and in view lookups alike. Integers that fit neither int64 nor uint64 become
// doubles in parse() (as in nlohmann and JavaScript), and are a decode_error in a
// document, which keeps integers exact.
//
// Errors: text that is not JSON is a decode_error (Python's json.JSONDecodeError, a
// ValueError) whose message gives the byte offset: "JSON decode error at byte 5: syntax
// error while parsing object separator - unexpected number literal; expected ':'".
// Reading a document as something it is not is a type_error ("expected a string, found
// an array"), a missing key a key_error, an index past the end an index_error. All four
// derive from aio::json::error, a std::invalid_argument: catch that to answer 400 Bad
// Request. Operations on a `value` are nlohmann's, and so are their exceptions
// (nlohmann::json::type_error ...; they derive from std::exception only).
//
// Thread safety: parse() and dump() may run on any number of threads at once (each
// thread keeps its own parser, which keeps its buffers between calls for texts up to
// 1 MiB). A document and its views are read-only: any number of threads may read one.
// No function here suspends; they are plain functions, callable from coroutines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace aio::json {

/// A JSON value you can read, modify and build: nlohmann::json (objects keep their keys
/// sorted, in a std::map). See https://json.nlohmann.me for its API.
using value = nlohmann::json;

// --- Errors ----------------------------------------------------------------------------

/// Base of the exceptions of aio::json: the JSON text or its shape is not what the code
/// expected. A std::invalid_argument (Python's ValueError), so that a server can answer
/// 400 to any of them.
class error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The text is not JSON (Python's json.JSONDecodeError). what() is
/// "JSON decode error at byte N: <reason>" ("... at byte N (line L, column C): ..." when
/// the text has several lines), or "JSON decode error (position unknown): <reason>" in
/// the rare case where the position cannot be found (see docs/json.md).
class decode_error : public error {
 public:
  /// `reason` says what is wrong; `position` is a byte offset into `text`, whose lines
  /// are counted for the message.
  decode_error(std::string_view reason, std::optional<std::size_t> position,
               std::string_view text = {});
  /// The byte offset (from 0) in the text where parsing stopped, if known. For a text
  /// that ends too early it is the text's size.
  std::optional<std::size_t> position() const noexcept { return position_; }
  /// What is wrong, without the position ("unexpected end of input; expected ']'").
  std::string_view reason() const noexcept { return std::string_view(what()).substr(reason_at_); }

 private:
  std::optional<std::size_t> position_;
  std::size_t reason_at_ = 0;
};

/// A document value read as the wrong type (Python's TypeError): "expected a string,
/// found an array"; also a key looked up in a non-object, an index in a non-array.
class type_error : public error {
 public:
  using error::error;
};

/// A key missing from an object (Python's KeyError): `key "id" not found in an object
/// with keys "name", "price"`. Use view::find() for keys that may be absent.
class key_error : public error {
 public:
  /// what() is `key "<key>" not found<detail>` (a long key is shortened there).
  explicit key_error(std::string_view key, std::string_view detail = {});
  /// The key that was looked up.
  const std::string& key() const noexcept { return *key_; }

 private:
  std::shared_ptr<const std::string> key_;  // shared: copying an exception must not throw
};

/// An array index past the end (Python's IndexError): "index 5 out of range for an
/// array of 3 elements".
class index_error : public error {
 public:
  using error::error;
};

// --- Parsing and serializing values ----------------------------------------------------

/// Parses JSON text into a value (Python's json.loads). Numbers: an integer becomes
/// number_unsigned when it is >= 0 and fits uint64, number_integer when negative and fits
/// int64, otherwise a double (exactly as nlohmann::json::parse). Throws decode_error.
value parse(std::string_view text);

/// Serializes a value compactly, in UTF-8 (Python's json.dumps(v, separators=(",", ":"),
/// ensure_ascii=False)): `{"a":[1,2.5,"é"]}`. Object keys come out sorted. NaN and
/// infinities are written as null. A string that is not valid UTF-8 makes it throw
/// nlohmann::json::type_error (code 316): that is a bug in the program, not bad input.
std::string dump(const value& v);

/// Serializes a value over several lines, indenting each level by `indent` spaces
/// (Python's json.dumps(v, indent=indent, ensure_ascii=False); indent 0 gives newlines
/// without indentation, as in Python).
std::string dump(const value& v, int indent);

/// Appends the compact serialization of `v` to `out` (no temporary string): for writing
/// straight into a response buffer. On an exception, `out` may hold a partial value.
void dump_to(const value& v, std::string& out);

// --- The read-only document ------------------------------------------------------------

class view;
class document;

namespace detail {
/// Opaque storage for one simdjson handle (an element or an iterator: a document pointer
/// and a tape index). The layout is simdjson's; only src/json reads it.
struct handle {
  alignas(std::uintptr_t) unsigned char bytes[2 * sizeof(std::uintptr_t)] = {};
};
}  // namespace detail

/// One member of an object: `for (auto [key, value] : doc["headers"].items())`.
struct member;

/// A reference to one value inside a document (as std::string_view is to a string): cheap
/// to copy, valid as long as the document lives (moving the document keeps it valid).
/// Every accessor checks the type and throws type_error when it does not match.
class view {
 public:
  class iterator;
  class items_range;

  /// Type tests (never throw).
  bool is_object() const noexcept;
  bool is_array() const noexcept;
  bool is_string() const noexcept;
  /// Any number: integer or floating-point.
  bool is_number() const noexcept;
  /// An integer that get_int64() can return.
  bool is_int64() const noexcept;
  /// A non-negative integer that get_uint64() can return.
  bool is_uint64() const noexcept;
  bool is_bool() const noexcept;
  bool is_null() const noexcept;
  /// "an object", "an array", "a string", "an integer", "a floating-point number",
  /// "a boolean" or "null", as in the messages of type_error.
  std::string_view type_name() const noexcept;

  /// The value of `key` in this object (Python's `d[key]`). If the key appears more than
  /// once, the last one wins. Linear in the object's size. Throws key_error when absent,
  /// type_error when this is not an object.
  view operator[](std::string_view key) const;
  /// The value of `key`, or nullopt when absent (Python's `d.get(key)`). Throws
  /// type_error when this is not an object.
  std::optional<view> find(std::string_view key) const;
  /// Element `index` of this array (Python's `a[index]`, without negative indices).
  /// Linear in `index`: to visit every element, iterate instead. Throws index_error past
  /// the end, type_error when this is not an array.
  view operator[](std::size_t index) const;
  /// Number of elements of an array or members of an object (duplicate keys counted as
  /// written). Throws type_error for anything else.
  std::size_t size() const;

  /// The string, unescaped; it points into the document. Throws type_error.
  std::string_view get_string() const;
  /// An integer in the int64 range. Throws type_error for anything else (1.0 included),
  /// including integers above INT64_MAX.
  std::int64_t get_int64() const;
  /// A non-negative integer. Throws type_error for anything else.
  std::uint64_t get_uint64() const;
  /// Any number, as a double (integers are converted). Throws type_error.
  double get_double() const;
  /// true or false. Throws type_error.
  bool get_bool() const;

  /// Iterates over an array's elements: `for (json::view x : doc["items"])`. Throws
  /// type_error when this is not an array (iterate an object with items()).
  iterator begin() const;
  iterator end() const;
  /// The members of an object, in the document's order (Python's `d.items()`). Throws
  /// type_error when this is not an object.
  items_range items() const;

  /// Builds an nlohmann value with the content of this view (numbers as parse() makes
  /// them).
  value to_value() const;

 private:
  friend struct view_access;
  view() = default;  // views come from a document
  detail::handle h_;
};

struct member {
  std::string_view key;
  view value;
};

/// Forward iterator over the elements of an array; yields views.
class view::iterator {
 public:
  using iterator_concept = std::forward_iterator_tag;
  using iterator_category = std::input_iterator_tag;
  using value_type = view;
  using reference = view;
  using difference_type = std::ptrdiff_t;

  iterator() = default;
  view operator*() const noexcept;
  iterator& operator++() noexcept;
  iterator operator++(int) noexcept {
    iterator old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const iterator& a, const iterator& b) noexcept;

 private:
  friend struct view_access;
  detail::handle h_;
};

/// The members of an object (view::items()); a forward range of `member`s.
class view::items_range {
 public:
  class iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = member;
    using reference = member;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    member operator*() const noexcept;
    iterator& operator++() noexcept;
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept;

   private:
    friend struct view_access;
    detail::handle h_;
  };

  iterator begin() const noexcept { return begin_; }
  iterator end() const noexcept { return end_; }

 private:
  friend struct view_access;
  iterator begin_, end_;
};

/// A parsed, read-only JSON text, navigated through views: the fast path for reading a
/// few fields of a large body. It holds simdjson's tape (about 8 bytes per value) and the
/// unescaped strings; it keeps no reference to the text it was parsed from.
///
///   aio::json::document doc(body);
///   std::string_view name = doc["user"]["name"].get_string();
///   if (auto next = doc.find("next")) fetch(next->get_string());
///
/// Views must not outlive their document: the functions that return views refuse a
/// temporary document (`document(text)["id"]` does not compile). Move-only.
class document {
 public:
  /// Parses `text`; throws decode_error.
  explicit document(std::string_view text);
  document(document&&) noexcept;
  document& operator=(document&&) noexcept;
  ~document();

  /// The top-level value. Throws std::logic_error on a moved-from document.
  view root() const&;
  view root() && = delete;
  /// root()[key], root()[index], root().find(key).
  view operator[](std::string_view key) const& { return root()[key]; }
  view operator[](std::string_view key) && = delete;
  view operator[](std::size_t index) const& { return root()[index]; }
  view operator[](std::size_t index) && = delete;
  std::optional<view> find(std::string_view key) const& { return root().find(key); }
  std::optional<view> find(std::string_view key) && = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aio::json
