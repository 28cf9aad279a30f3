// SPDX-License-Identifier: MIT
#include "aio/core/errors.hpp"

#include "aio/core/detail/debug.hpp"

#include <cxxabi.h>

#include <typeinfo>

namespace aio {
namespace {

std::string group_what(const std::string& message, std::size_t n) {
  return message + " (" + std::to_string(n) + " sub-exception" + (n == 1 ? "" : "s") + ")";
}

}  // namespace

exception_group::exception_group(std::string message, std::vector<std::exception_ptr> exceptions)
    : message_(std::move(message)),
      exceptions_(std::move(exceptions)),
      what_(group_what(message_, exceptions_.size())) {}

std::pair<std::optional<exception_group>, std::optional<exception_group>> exception_group::split_by(
    predicate match) const {
  std::vector<std::exception_ptr> yes, no;
  for (const auto& e : exceptions_) {
    bool nested = false;
    try {
      std::rethrow_exception(e);
    } catch (const exception_group& g) {
      nested = true;
      auto [m, r] = g.split_by(match);
      if (m) yes.push_back(std::make_exception_ptr(std::move(*m)));
      if (r) no.push_back(std::make_exception_ptr(std::move(*r)));
    } catch (...) {
    }
    if (nested) continue;
    if (match(e))
      yes.push_back(e);
    else
      no.push_back(e);
  }
  std::optional<exception_group> a, b;
  if (!yes.empty()) {
    if (no.empty() && yes.size() == exceptions_.size())
      a = *this;  // everything matched: the group itself (Python returns self)
    else
      a.emplace(message_, std::move(yes));
  }
  if (!no.empty()) {
    if (yes.empty())
      b = *this;
    else
      b.emplace(message_, std::move(no));
  }
  return {std::move(a), std::move(b)};
}

std::vector<std::exception_ptr> exception_group::leaves() const {
  std::vector<std::exception_ptr> out;
  for (const auto& e : exceptions_) {
    try {
      std::rethrow_exception(e);
    } catch (const exception_group& g) {
      auto sub = g.leaves();
      out.insert(out.end(), sub.begin(), sub.end());
    } catch (...) {
      out.push_back(e);
    }
  }
  return out;
}

std::string describe(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const cancelled_error& c) {
    return c.message().empty() ? "aio::cancelled_error" : "aio::cancelled_error: " + c.message();
  } catch (const std::exception& x) {
    return detail::demangle(typeid(x).name()) + ": " + x.what();
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return t ? detail::demangle(t->name()) : std::string("unknown exception");
  }
}

}  // namespace aio
