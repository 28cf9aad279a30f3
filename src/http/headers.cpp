// SPDX-License-Identifier: MIT
#include "aio/http/headers.hpp"

#include <algorithm>
#include <stdexcept>

#include "aio/http/errors.hpp"

namespace aio::http {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if (x >= 'A' && x <= 'Z') x |= 0x20;
    if (y >= 'A' && y <= 'Z') y |= 0x20;
    if (x != y) return false;
  }
  return true;
}

headers::headers(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  fields_.reserve(fields.size());
  for (const auto& [n, v] : fields) add(n, v);
}

void headers::add(std::string_view name, std::string_view value) {
  fields_.emplace_back(std::string(name), std::string(value));
}

void headers::set(std::string_view name, std::string_view value) {
  auto it = std::find_if(fields_.begin(), fields_.end(),
                         [&](const value_type& f) { return iequals(f.first, name); });
  if (it == fields_.end()) {
    add(name, value);
    return;
  }
  it->second.assign(value);
  auto rest = std::remove_if(std::next(it), fields_.end(),
                             [&](const value_type& f) { return iequals(f.first, name); });
  fields_.erase(rest, fields_.end());
}

std::string_view headers::set_default(std::string_view name, std::string_view value) {
  for (const auto& f : fields_) {
    if (iequals(f.first, name)) return f.second;
  }
  add(name, value);
  return fields_.back().second;
}

std::size_t headers::erase(std::string_view name) {
  const std::size_t before = fields_.size();
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [&](const value_type& f) { return iequals(f.first, name); }),
                fields_.end());
  return before - fields_.size();
}

bool headers::contains(std::string_view name) const noexcept {
  return get(name).has_value();
}

std::optional<std::string_view> headers::get(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (iequals(f.first, name)) return std::string_view(f.second);
  }
  return std::nullopt;
}

std::string_view headers::get(std::string_view name, std::string_view fallback) const noexcept {
  auto v = get(name);
  return v ? *v : fallback;
}

std::string_view headers::at(std::string_view name) const {
  auto v = get(name);
  if (!v) throw std::out_of_range("no HTTP header \"" + std::string(name) + "\"");
  return *v;
}

std::vector<std::string_view> headers::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (iequals(f.first, name)) out.emplace_back(f.second);
  }
  return out;
}

bool operator==(const headers& a, const headers& b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!iequals(a.fields_[i].first, b.fields_[i].first) ||
        a.fields_[i].second != b.fields_[i].second)
      return false;
  }
  return true;
}

client_response_error::client_response_error(int status, std::string reason, std::string url)
    : client_response_error(
          status, reason, url,
          std::to_string(status) + ", message='" + reason + "', url='" + url + "'") {}

client_response_error::client_response_error(int status, std::string reason, std::string url,
                                             const std::string& what)
    : client_error(what), status_(status), reason_(std::move(reason)), url_(std::move(url)) {}

}  // namespace aio::http
