// SPDX-License-Identifier: MIT
// aio/core/with.hpp — aio::with(cm, body): Python's `async with cm as v: body`.
//
//   co_await aio::with(lock, [&]() -> aio::coro<void> { co_await critical_section(); });
//   auto rows = co_await aio::with(pool, [&](connection& c) -> aio::coro<rows_t> {
//     co_return co_await c.fetch("select 1");
//   });
//
// An *async context manager* is any type with
//   - `aenter()`: an awaitable; its value (if any) is passed to the body and, being an
//     object, releases what it holds when destroyed (an RAII guard: lock::guard, …);
//   - optionally `aexit(std::exception_ptr)`: clean-up that may await (an awaitable of
//     void or bool, or a plain call), run after the body however it ended — value,
//     exception or cancellation — with the body's exception (nullptr on success). If it
//     yields true the exception is suppressed (Python's __aexit__ returning True; only
//     for bodies that return void).
//
// Why this shape: C++ cannot co_await in a destructor or in a catch handler, so clean-up
// that must await cannot live in a destructor. `with` captures the body's exception,
// awaits aexit, and rethrows — on every path, cancellation included. docs/hazards.md
// shows the pattern for writing your own.
//
// Cancellation: a cancelled body's cancelled_error reaches aexit like any exception and
// is rethrown after it; aexit can await (the cancellation was delivered already).
// Errors: an exception from aenter propagates (the body and aexit do not run); an
// exception from aexit replaces the body's.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/body.hpp"

namespace aio {

namespace detail {

template <class CM>
concept has_aexit = requires(CM& cm, std::exception_ptr e) {
  cm.aexit(e);
};

/// Runs cm.aexit(e) — awaiting it if it is awaitable — and says whether to suppress.
template <class CM>
coro<bool> run_aexit(CM& cm, std::exception_ptr e) {
  if constexpr (!has_aexit<CM>) {
    co_return false;
  } else {
    using R = decltype(cm.aexit(e));
    if constexpr (std::is_void_v<R>) {
      cm.aexit(e);
      co_return false;
    } else if constexpr (std::is_same_v<R, bool>) {
      co_return cm.aexit(e);
    } else {
      using V = awaited_t<R>;
      if constexpr (std::is_void_v<V>) {
        co_await cm.aexit(e);
        co_return false;
      } else {
        co_return static_cast<bool>(co_await cm.aexit(e));
      }
    }
  }
}

template <class CM, class Body>
auto with_impl(CM& cm, Body body) {
  using E = awaited_t<decltype(cm.aenter())>;
  // The body's awaitable type, given the entered value (or nothing).
  auto invoke = [](Body& b, auto&... v) -> decltype(auto) {
    if constexpr (std::is_invocable_v<Body&, decltype(v)...>)
      return std::invoke(b, v...);
    else if constexpr (std::is_invocable_v<Body&>)
      return std::invoke(b);
    else
      return std::move(b);
  };
  if constexpr (std::is_void_v<E>) {
    using R = awaited_t<decltype(invoke(std::declval<Body&>()))>;
    return [](CM& cm, Body body, auto invoke) -> coro<R> {
      co_await cm.aenter();
      std::exception_ptr e;
      std::optional<std::conditional_t<std::is_void_v<R>, char, R>> r;
      try {
        if constexpr (std::is_void_v<R>)
          co_await invoke(body);
        else
          r.emplace(co_await invoke(body));
      } catch (...) {
        e = std::current_exception();
      }
      const bool suppress = co_await run_aexit(cm, e);
      if (e && !(suppress && std::is_void_v<R>)) std::rethrow_exception(e);
      if constexpr (!std::is_void_v<R>) co_return std::move(*r);
    }(cm, std::move(body), invoke);
  } else {
    using R = awaited_t<decltype(invoke(std::declval<Body&>(), std::declval<E&>()))>;
    return [](CM& cm, Body body, auto invoke) -> coro<R> {
      E v = co_await cm.aenter();
      std::exception_ptr e;
      std::optional<std::conditional_t<std::is_void_v<R>, char, R>> r;
      try {
        if constexpr (std::is_void_v<R>)
          co_await invoke(body, v);
        else
          r.emplace(co_await invoke(body, v));
      } catch (...) {
        e = std::current_exception();
      }
      const bool suppress = co_await run_aexit(cm, e);
      if (e && !(suppress && std::is_void_v<R>)) std::rethrow_exception(e);
      if constexpr (!std::is_void_v<R>) co_return std::move(*r);
    }(cm, std::move(body), invoke);
  }
}

}  // namespace detail

/// Python's `async with cm: body` (see the file comment). `cm` must outlive the await.
template <class CM, class Body>
auto with(CM& cm, Body&& body) {
  return detail::with_impl(cm, std::decay_t<Body>(std::forward<Body>(body)));
}

}  // namespace aio
