// SPDX-License-Identifier: MIT
// aio/http/headers.hpp — HTTP header fields: case-insensitive names, several values per
// name, order kept (aiohttp's CIMultiDict).
//
//   aio::http::headers h{{"Content-Type", "text/plain"}, {"Set-Cookie", "a=1"}};
//   h.add("Set-Cookie", "b=2");                     // a second value
//   h.get("content-type");                          // "text/plain" (std::optional)
//   h.get_all("set-cookie");                        // {"a=1", "b=2"}
//   h.set("Content-Type", "application/json");      // replaces every value
//   h.at("X-Missing");                              // throws std::out_of_range (KeyError)
//   for (const auto& [name, value] : h) ...         // in the order they were added
//
// Names keep the spelling they were given; lookups ignore ASCII case. Values are not
// checked here: the serializer refuses CR, LF and NUL in names and values when a
// message is written (aio/http/message.hpp), so no header can split a message.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aio::http {

/// ASCII case-insensitive equality (header names, methods, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

class headers {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  headers() = default;
  headers(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

  /// Appends a field (a name may occur several times).
  void add(std::string_view name, std::string_view value);
  /// Replaces every field named `name` by one with `value` (in the first one's place).
  void set(std::string_view name, std::string_view value);
  /// Sets `name` only if it is absent; returns the value now in place.
  std::string_view set_default(std::string_view name, std::string_view value);
  /// Removes every field named `name`; returns how many there were.
  std::size_t erase(std::string_view name);
  void clear() noexcept { fields_.clear(); }

  bool contains(std::string_view name) const noexcept;
  /// The first value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  /// The first value of `name`, or `fallback`.
  std::string_view get(std::string_view name, std::string_view fallback) const noexcept;
  /// The first value of `name`; std::out_of_range naming the header if absent.
  std::string_view at(std::string_view name) const;
  /// Every value of `name`, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  void reserve(std::size_t n) { fields_.reserve(n); }

  /// Field-by-field equality (names compared without case, order and values exact).
  friend bool operator==(const headers& a, const headers& b) noexcept;

 private:
  std::vector<value_type> fields_;
};

}  // namespace aio::http
