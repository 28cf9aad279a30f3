// SPDX-License-Identifier: MIT
// aio/core/function_ref.hpp — aio::function_ref<R(Args...)>: a non-owning reference to a
// callable (C++26's std::function_ref). Trivially copyable and destructible, so it can
// sit in an options struct (docs/hazards.md: g++ 12 and aggregate temporaries).
//
//   aio::retry(fetch, {.retry_if = [](const std::exception_ptr& e) { return transient(e); }});
//
// The callable must outlive the function_ref: a lambda written in the call's arguments
// lives until the end of that full expression, which covers a co_await of the call.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace aio {

template <class Sig>
class function_ref;

template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  function_ref() noexcept = default;

  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref> &&
           !std::is_function_v<std::remove_reference_t<F>> && std::is_invocable_r_v<R, F&, Args...>)
      function_ref(F&& f)
  noexcept  // NOLINT: implicit, like std::function_ref
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, Args... a) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(o),
                             std::forward<Args>(a)...);
        }) {}

  /// A plain function (`{.retry_if = is_transient}`): kept as a function pointer (a
  /// function outlives everything).
  template <class F>
  requires(std::is_function_v<F>&& std::is_invocable_r_v<R, F&, Args...>) function_ref(F& f)
  noexcept  // NOLINT: implicit, like std::function_ref
      : obj_(reinterpret_cast<void*>(&f)), call_([](void* o, Args... a) -> R {
          return std::invoke(*reinterpret_cast<F*>(o), std::forward<Args>(a)...);
        }) {}

  explicit operator bool() const noexcept { return call_ != nullptr; }
  R operator()(Args... a) const { return call_(obj_, std::forward<Args>(a)...); }

 private:
  void* obj_ = nullptr;
  R (*call_)(void*, Args...) = nullptr;
};

}  // namespace aio
