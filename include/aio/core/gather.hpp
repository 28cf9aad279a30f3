// SPDX-License-Identifier: MIT
// aio/core/gather.hpp — aio::gather: run awaitables concurrently and collect their
// results (asyncio.gather).
//
//   auto [user, posts] = co_await aio::gather(get_user(id), get_posts(id));   // tuple
//   std::vector<Page> pages = co_await aio::gather(std::move(page_coros));    // vector
//   auto outcomes = co_await aio::gather(aio::return_exceptions, a(), b());   // outcomes
//
// Arguments: coros (each becomes a task when the gather is awaited), tasks and
// futures; the range forms take a std::vector of one of them. Results are in argument
// order; a void child gives std::monostate (or outcome<void>).
//
// Errors — and the one difference from asyncio: without return_exceptions, the first
// child to fail makes gather cancel the other children, WAIT for them to finish, and
// then rethrow that first exception. asyncio lets the others run on, which in C++
// would leave them using the caller's stack after gather has returned (coroutines
// borrow their caller's locals). A child that ends cancelled counts as failed (its
// cancelled_error is rethrown). With return_exceptions, nothing is cancelled and each
// child's value or exception comes back as an aio::outcome.
//
// Cancellation: cancelling the task that awaits gather cancels every child and waits
// for them; then gather throws cancelled_error (also with return_exceptions).
// Thread safety: the awaiting task's loop thread.
// Laziness: children are started when the gather is awaited, not when gather() is
// called (it is a coro like any other).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "aio/core/coro.hpp"
#include "aio/core/detail/multi_wait.hpp"
#include "aio/core/future.hpp"
#include "aio/core/outcome.hpp"
#include "aio/core/task.hpp"

namespace aio {

/// Tag: gather returns each child's outcome instead of failing fast.
struct return_exceptions_t {
  explicit constexpr return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

namespace detail {

template <class T>
using gather_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// How gather adopts each kind of argument.
template <class A>
struct gather_child;
template <class T>
struct gather_child<coro<T>> {
  using value = T;
  using handle = task<T>;
  static constexpr bool owned = true;  // gather made the task: it may move the value out
  static handle make(coro<T>&& c) { return create_task(std::move(c)); }
};
template <class T>
struct gather_child<task<T>> {
  using value = T;
  using handle = task<T>;
  static constexpr bool owned = false;
  static handle make(task<T>&& t) { return std::move(t); }
};
template <class T>
struct gather_child<future<T>> {
  using value = T;
  using handle = future<T>;
  static constexpr bool owned = false;
  static handle make(future<T>&& f) { return std::move(f); }
};

template <class T>
auto& slot_of(const task<T>& t) {
  return static_cast<task_state<T>*>(t.state())->value_;
}
template <class T>
auto& slot_of(const future<T>& f) {
  return f.state()->value_;
}

/// The value of a finished child, moved out when gather owns it, else copied (or moved
/// when the type cannot be copied).
template <class T, bool Owned, class H>
gather_value_t<T> take_child(H& h) {
  if constexpr (std::is_void_v<T>) {
    return {};
  } else if constexpr (Owned || !std::is_copy_constructible_v<T>) {
    return slot_of(h).take();
  } else {
    return slot_of(h).get();
  }
}

template <class T, bool Owned, class H>
outcome<T> take_outcome(H& h) {
  future_base* st = h.state();
  if (st->failed()) return outcome<T>(st->exception_for_result());
  if constexpr (std::is_void_v<T>)
    return outcome<void>();
  else
    return outcome<T>(take_child<T, Owned>(h));
}

template <bool ReturnExceptions, class T>
using gather_result_t = std::conditional_t<ReturnExceptions, outcome<T>, gather_value_t<T>>;

template <bool ReturnExceptions, class Child, class H>
auto take_result_of(H& h) {
  using C = gather_child<Child>;
  if constexpr (ReturnExceptions)
    return take_outcome<typename C::value, C::owned>(h);
  else
    return take_child<typename C::value, C::owned>(h);
}

inline multi_wait_options gather_options(bool return_exceptions) {
  return {.until = wait_until::all_done,
          .cancel_others_on_failure = !return_exceptions,
          .cancel_children_on_cancel = true,
          .deadline = std::nullopt};
}

/// After the wait: mark every outcome seen, and rethrow the first failure (fail-fast).
inline void gather_settle(std::span<future_base* const> states, std::size_t first_failure,
                          bool return_exceptions) {
  for (future_base* s : states) s->mark_retrieved();
  if (!return_exceptions && first_failure != multi_wait::npos)
    std::rethrow_exception(states[first_failure]->exception_for_result());
}

/// Tasks and futures given to gather must belong to the running loop (asyncio raises
/// ValueError for futures of different loops). Checked before any task is started.
template <class A>
void check_same_loop(const A& a) {
  if constexpr (!is_coro<A>::value) {
    if (a.state()->loop() != &require_loop())
      throw std::invalid_argument("gather: a task or future belongs to a different event loop");
  }
}

/// Waits for the children; on cancellation, marks their outcomes seen (they were
/// awaited, and the cancellation is what propagates) before rethrowing.
inline coro<std::size_t> gather_wait(std::span<future_base* const> states, bool return_exceptions) {
  try {
    co_return co_await multi_wait(states, gather_options(return_exceptions));
  } catch (const cancelled_error&) {
    for (future_base* s : states) s->mark_retrieved();
    throw;
  }
}

template <bool ReturnExceptions, class... Aws>
coro<std::tuple<gather_result_t<ReturnExceptions, typename gather_child<Aws>::value>...>>
gather_variadic(Aws... aws) {
  (check_same_loop(aws), ...);
  std::tuple<typename gather_child<Aws>::handle...> handles{
      gather_child<Aws>::make(std::move(aws))...};
  std::array<future_base*, sizeof...(Aws)> states = std::apply(
      [](auto&... h) { return std::array<future_base*, sizeof...(Aws)>{h.state()...}; }, handles);
  const std::size_t first_failure = co_await gather_wait(states, ReturnExceptions);
  gather_settle(states, first_failure, ReturnExceptions);
  co_return std::apply(
      [](auto&... h) {
        return std::tuple<gather_result_t<ReturnExceptions, typename gather_child<Aws>::value>...>{
            take_result_of<ReturnExceptions, Aws>(h)...};
      },
      handles);
}

/// The value slot of a child's state (a task's or a future's), typed.
template <class C>
auto& child_value(future_base* st) {
  using T = typename C::value;
  if constexpr (std::is_same_v<typename C::handle, future<T>>)
    return static_cast<future_state<T>*>(st)->value_;
  else
    return static_cast<task_state<T>*>(st)->value_;
}

template <bool ReturnExceptions, class C>
gather_result_t<ReturnExceptions, typename C::value> take_from_state(future_base* st) {
  using T = typename C::value;
  auto take = [&]() -> gather_value_t<T> {
    if constexpr (std::is_void_v<T>)
      return {};
    else if constexpr (C::owned || !std::is_copy_constructible_v<T>)
      return child_value<C>(st).take();
    else
      return child_value<C>(st).get();
  };
  if constexpr (ReturnExceptions) {
    if (st->failed()) return outcome<T>(st->exception_for_result());
    if constexpr (std::is_void_v<T>)
      return outcome<void>();
    else
      return outcome<T>(take());
  } else {
    return take();
  }
}

// The range form keeps one slot per child — the child's state (one reference held)
// and the node multi_wait registers — in a single array: one allocation for all the
// bookkeeping of a large gather.
template <bool ReturnExceptions, class A>
coro<std::vector<gather_result_t<ReturnExceptions, typename gather_child<A>::value>>> gather_range(
    std::vector<A> aws) {
  using C = gather_child<A>;
  for (const A& a : aws) check_same_loop(a);
  std::vector<wait_slot> slots(aws.size());
  struct references {
    std::vector<wait_slot>& slots;
    ~references() {
      for (wait_slot& s : slots)
        if (s.child) s.child->release();
    }
  } refs{slots};
  for (std::size_t i = 0; i < aws.size(); ++i) {
    auto h = C::make(std::move(aws[i]));
    slots[i].child = h.state();
    slots[i].child->add_ref();
  }
  std::vector<A>().swap(aws);
  std::size_t first_failure;
  try {
    first_failure =
        co_await multi_wait(std::span<wait_slot>(slots), gather_options(ReturnExceptions));
  } catch (const cancelled_error&) {
    for (wait_slot& s : slots) s.child->mark_retrieved();
    throw;
  }
  for (wait_slot& s : slots) s.child->mark_retrieved();
  if (!ReturnExceptions && first_failure != multi_wait::npos)
    std::rethrow_exception(slots[first_failure].child->exception_for_result());
  std::vector<gather_result_t<ReturnExceptions, typename C::value>> out;
  out.reserve(slots.size());
  for (wait_slot& s : slots) out.push_back(take_from_state<ReturnExceptions, C>(s.child));
  co_return out;
}

template <class A>
concept gatherable = requires {
  typename gather_child<std::remove_cvref_t<A>>::handle;
};

}  // namespace detail

/// Runs the awaitables concurrently; a tuple of their results (see the file comment).
template <class... Aws>
requires(detail::gatherable<Aws>&&...) auto gather(Aws&&... aws) {
  return detail::gather_variadic<false>(std::remove_cvref_t<Aws>(std::forward<Aws>(aws))...);
}

/// The same, with each child's outcome instead of failing fast.
template <class... Aws>
requires(detail::gatherable<Aws>&&...) auto gather(return_exceptions_t, Aws&&... aws) {
  return detail::gather_variadic<true>(std::remove_cvref_t<Aws>(std::forward<Aws>(aws))...);
}

/// Range form: a vector of results in the vector's order.
template <class A>
requires detail::gatherable<A>
auto gather(std::vector<A> aws) {
  return detail::gather_range<false>(std::move(aws));
}

/// Range form with outcomes.
template <class A>
requires detail::gatherable<A>
auto gather(return_exceptions_t, std::vector<A> aws) {
  return detail::gather_range<true>(std::move(aws));
}

}  // namespace aio
