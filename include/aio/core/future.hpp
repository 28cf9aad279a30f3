// SPDX-License-Identifier: MIT
// aio/core/future.hpp — aio::future<T>, asyncio's Future: a value that will be set
// later, by a callback, on the loop's thread. The bridge from callback code to
// coroutines.
//
//   aio::future<int> f;                       // on the running loop
//   loop.call_later(1s, [f]() mutable { f.set_result(42); });
//   int v = co_await f;                       // any number of awaiters
//
// Errors: set_result/set_exception on a done future throw invalid_state_error;
// result() of a pending one too; result() and co_await rethrow a set exception.
// Cancellation: f.cancel(msg) completes it cancelled, and its awaiters get
// cancelled_error(msg). As in asyncio, cancelling a task that awaits a future cancels
// the future (wrap it in aio::shield to wait without that).
// Thread safety: a future belongs to its loop's thread. From another thread, set it
// through loop.call_soon_threadsafe.
#pragma once

#include <exception>
#include <functional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "aio/core/detail/future_awaiter.hpp"
#include "aio/core/detail/future_base.hpp"

namespace aio {

namespace detail {
template <class T>
class future_state final : public plain_future_base {
 public:
  explicit future_state(loop_base* loop) noexcept : plain_future_base(loop, &ops_) {}
  [[no_unique_address]] value_slot<T> value_;

 private:
  static void destroy(future_base* f) noexcept { delete static_cast<future_state*>(f); }
  static constexpr future_ops ops_{{nullptr}, &destroy};
};
}  // namespace detail

template <class T = void>
class future {
 public:
  using aio_awaitable = void;
  using value_type = T;

  /// A pending future on the running loop (std::runtime_error outside of one).
  future() : future(&detail::require_loop()) {}
  /// A pending future on `loop` (event_loop::create_future).
  explicit future(detail::loop_base* loop) : state_(new detail::future_state<T>(loop)) {}

  bool done() const noexcept { return state_->done(); }
  bool cancelled() const noexcept { return state_->is_cancelled(); }

  template <class U = T>
  requires(!std::is_void_v<U>) void set_result(U&& v) {
    check_pending();
    state_->value_.set(std::forward<U>(v));
    state_->complete(detail::future_base::status::finished, nullptr);
  }
  void set_result() requires std::is_void_v<T> {
    check_pending();
    state_->complete(detail::future_base::status::finished, nullptr);
  }
  void set_exception(std::exception_ptr e) {
    check_pending();
    state_->complete(detail::future_base::status::finished, std::move(e));
  }
  /// Cancels the future; false if it was already done.
  bool cancel(std::string_view msg = {}) noexcept { return state_->cancel_future(msg); }

  decltype(auto) result() const {
    state_->check_result();
    if constexpr (!std::is_void_v<T>) return state_->value_.get();
  }
  std::exception_ptr exception() const { return state_->exception(); }

  /// Calls `fn(const future<T>&)` on the loop (via call_soon) once the future is done.
  template <class F>
  void add_done_callback(F fn) {
    auto wrapped = [fn = std::move(fn)](detail::future_base* st) mutable {
      st->add_ref();
      const future h(static_cast<detail::future_state<T>*>(st));
      std::invoke(fn, h);
    };
    detail::done_callback<decltype(wrapped)>::add(state_.get(), std::move(wrapped));
  }

  template <bool Move>
  class awaiter : public detail::future_awaiter<detail::future_state<T>> {
   public:
    using detail::future_awaiter<detail::future_state<T>>::future_awaiter;
    T await_resume() {
      this->check();
      return detail::take_value<T, Move>(this->state()->value_);
    }
  };
  awaiter<false> operator co_await() const& noexcept { return awaiter<false>{state_.get()}; }
  awaiter<true> operator co_await() && noexcept { return awaiter<true>{state_.get()}; }

  /// The underlying state (for the library's combinators).
  detail::future_state<T>* state() const noexcept { return state_.get(); }

  friend bool operator==(const future& a, const future& b) noexcept {
    return a.state_.get() == b.state_.get();
  }

 private:
  explicit future(detail::future_state<T>* st) noexcept : state_(st) {}
  void check_pending() const {
    if (state_->done()) throw invalid_state_error("invalid state: the future is already done");
  }
  detail::state_ptr<detail::future_state<T>> state_;
};

}  // namespace aio
