// SPDX-License-Identifier: MIT
// aio/core/outcome.hpp — aio::outcome<T> (a value or an exception) and
// aio::as_result(aw), the one adapter for callers who want values instead of
// exceptions (STYLE.md: no throwing/non-throwing pairs of every function).
//
//   aio::outcome<Response> r = co_await aio::as_result(fetch(url));
//   if (r) use(*r);
//   else if (r.holds<aio::timeout_error>()) retry();
//   else log(aio::describe(r.error()));
//
// gather(aio::return_exceptions, ...) yields one outcome per child.
//
// Cancellation: as_result does NOT capture aio::cancelled_error: a cancellation of the
// awaiting task still propagates (like `except Exception` in Python). An outcome in a
// gather(return_exceptions) result may hold a cancelled_error, for a child that was
// cancelled on its own.
// Thread safety: a plain value type.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "aio/core/coro.hpp"
#include "aio/core/detail/body.hpp"
#include "aio/core/errors.hpp"

namespace aio {

template <class T = void>
class outcome {
 public:
  using value_type = T;

  template <class U = T>
  requires std::is_constructible_v<T, U&&> outcome(U&& v)
      : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; rethrows the exception if there is none.
  T& value() & {
    rethrow_if_error();
    return std::get<0>(v_);
  }
  const T& value() const& {
    rethrow_if_error();
    return std::get<0>(v_);
  }
  T&& value() && {
    rethrow_if_error();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The exception, or nullptr when there is a value.
  std::exception_ptr error() const noexcept { return has_value() ? nullptr : std::get<1>(v_); }
  /// True when the exception is an E (or derives from it).
  template <class E>
  bool holds() const noexcept {
    return !has_value() && exception_group::matches<E>(std::get<1>(v_));
  }
  /// True when the exception is aio::cancelled_error.
  bool cancelled() const noexcept { return holds<cancelled_error>(); }

 private:
  void rethrow_if_error() const {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
  }
  std::variant<T, std::exception_ptr> v_;
};

template <>
class outcome<void> {
 public:
  using value_type = void;
  outcome() noexcept = default;
  outcome(std::exception_ptr e) noexcept : e_(std::move(e)) {}
  bool has_value() const noexcept { return !e_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_) std::rethrow_exception(e_);
  }
  std::exception_ptr error() const noexcept { return e_; }
  template <class E>
  bool holds() const noexcept {
    return e_ && exception_group::matches<E>(e_);
  }
  bool cancelled() const noexcept { return holds<cancelled_error>(); }

 private:
  std::exception_ptr e_;
};

/// Awaits `aw` (a coro, task or future) and returns its value or its exception as an
/// outcome. cancelled_error is not captured (see the file comment).
template <class Aw>
auto as_result(Aw aw) -> coro<outcome<detail::awaited_t<Aw>>> {
  using T = detail::awaited_t<Aw>;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(aw);
      co_return outcome<void>();
    } else {
      co_return outcome<T>(co_await std::move(aw));
    }
  } catch (const cancelled_error&) {
    throw;
  } catch (...) {
    co_return outcome<T>(std::current_exception());
  }
}

}  // namespace aio
