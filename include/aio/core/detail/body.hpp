// SPDX-License-Identifier: MIT
// aio/core/detail/body.hpp — the "body" argument of scopes (timeout, with_task_group):
// an awaitable, or a callable returning one that may take the scope object.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

namespace aio::detail {

/// Awaits a body given to timeout/with_task_group-style helpers: an awaitable, or a
/// callable returning a coro (taking `Arg&` or nothing).
template <class Body, class Arg>
decltype(auto) invoke_body(Body& body, Arg& arg) {
  if constexpr (std::is_invocable_v<Body&, Arg&>)
    return std::invoke(body, arg);
  else if constexpr (std::is_invocable_v<Body&>)
    return std::invoke(body);
  else
    return std::move(body);
}

template <class Body, class Arg>
using body_awaitable_t =
    std::remove_cvref_t<decltype(invoke_body(std::declval<Body&>(), std::declval<Arg&>()))>;

/// The awaiter that `co_await std::declval<Aw>()` uses (member operator co_await, or
/// the awaitable itself).
template <class Aw>
decltype(auto) get_awaiter(Aw&& aw) {
  if constexpr (requires { std::forward<Aw>(aw).operator co_await(); })
    return std::forward<Aw>(aw).operator co_await();
  else
    return std::forward<Aw>(aw);
}

/// The type `co_await` on an rvalue Aw yields, without references.
template <class Aw>
using awaited_t = std::remove_cvref_t<decltype(get_awaiter(std::declval<Aw>()).await_resume())>;

template <class Body, class Arg>
using body_result_t = awaited_t<body_awaitable_t<Body, Arg>>;

}  // namespace aio::detail
