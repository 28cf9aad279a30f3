// SPDX-License-Identifier: MIT
// aio/core/coro.hpp — aio::coro<T>, the coroutine type: Python's `async def f() -> T`.
//
//   aio::coro<T> f(args...);   // calling f creates a suspended coroutine; nothing runs
//   T v = co_await f(args...); // runs it to completion inside the awaiting task
//
// A coro is lazy, move-only and awaited once, as an rvalue (`co_await f()` or
// `co_await std::move(c)`). To run it concurrently, wrap it in a task
// (aio::create_task, gather, a task group). T may be void or any movable type that is
// not a reference.
//
// Errors: an exception thrown in the body is rethrown by `co_await`.
// Cancellation: a coro runs inside its awaiting task; cancelling that task delivers
// aio::cancelled_error at the innermost suspension point, and it unwinds the chain.
// Thread safety: none; a coro runs on the thread of the loop that runs its task.
// Debug mode: a coro destroyed without having been awaited is reported (the run-time
// twin of [[nodiscard]]: asyncio's "coroutine ... was never awaited").
//
// Example:
//   aio::coro<int> add(int a, int b) { co_await aio::sleep(10ms); co_return a + b; }
//   aio::coro<void> main_() { int x = co_await add(1, 2); }
//
// How awaiting works, and why it does not rely on the compiler. A textbook coroutine
// task resumes its child from await_suspend by symmetric transfer (returning the
// child's handle) and expects the compiler to turn that into a tail call. g++ 12 does
// not guarantee it (stack overflow at -O0/-O1 and under ASan/TSan after ~65k
// awaits). aio uses a trampoline instead: while a task step runs, a "driver" loop in
// that step resumes one coroutine handle after another. Awaiting a coro stores the
// parent as the child's continuation, names the child as the driver's next handle and
// suspends the parent; when the child finishes, its final awaiter names the parent as
// next. Every resume returns to the driver, so the stack depth is constant however
// long or deep the await chain is (1,000,000 sequential and 100,000 nested awaits are
// tested under every preset). When no driver is active (a coroutine resumed by hand),
// the awaiter drives the child in place and returns false from await_suspend if the
// child finished before suspending.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "aio/core/detail/loop_base.hpp"
#include "aio/core/detail/pool.hpp"

namespace aio {

template <class T = void>
class coro;

namespace detail {

template <class T>
struct is_coro : std::false_type {};
template <class T>
struct is_coro<coro<T>> : std::true_type {};

/// Types that may be co_awaited inside aio::coro carry `using aio_awaitable = void;`.
/// Foreign awaitables would resume the coroutine outside of its task (no cancellation,
/// no current_task), so they are rejected at compile time.
template <class A>
concept aio_awaitable = requires {
  typename std::remove_cvref_t<A>::aio_awaitable;
};

/// Runs `child` on this stack until it finishes or suspends (no driver was active).
/// Returns true if the parent must stay suspended.
bool drive_inline(std::coroutine_handle<> child, std::coroutine_handle<> parent) noexcept;

[[noreturn]] void throw_empty_coro();

/// Destroys the frame of a coroutine that never ran; reports it in debug mode.
void discard_unstarted(std::coroutine_handle<> h) noexcept;

/// A coroutine's exception does not stay in its frame: unhandled_exception() parks it
/// in tls_coro_exception, and the awaiter that the finished coroutine resumes next —
/// at once, nothing runs in between — takes it (await_resume) or, for the top of a
/// task, the task does. This keeps every frame 8 bytes smaller.
void park_coro_exception() noexcept;
/// Takes the parked exception (nullptr if none).
std::exception_ptr take_parked_exception() noexcept;
inline std::exception_ptr take_coro_exception() noexcept {
  if (!tls_coro_exception) [[likely]]
    return nullptr;
  return take_parked_exception();
}
[[noreturn]] void rethrow_coro_exception();

struct final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> self) noexcept {
    std::coroutine_handle<> next = self.promise().continuation;
    thread_context& ctx = tls_context;
    if (ctx.driving)
      ctx.next = next;  // may be null: the top of a task's chain finished
    else if (next)
      next.resume();
  }
  void await_resume() const noexcept {}
};

/// The base of every aio coroutine promise (coro, and later generators): the frames
/// of a task's chain are linked through `continuation`.
struct promise_base {
  std::coroutine_handle<> continuation{};

  static void* operator new(std::size_t n) { return pool_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { pool_free(p, n); }

  std::suspend_always initial_suspend() const noexcept { return {}; }
  final_awaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { park_coro_exception(); }

  // Returns by value for an rvalue awaitable: g++ 12 copies an awaiter that it is
  // handed by reference, so aio's awaiters are movable and handed over as prvalues.
  template <class A>
  A await_transform(A&& a) const noexcept(std::is_nothrow_constructible_v<A, A&&>) {
    static_assert(aio_awaitable<A>,
                  "aio::coro can only co_await aio awaitables (coro, task, future, sleep, "
                  "gather, wait_for, ...). A foreign awaitable would resume the coroutine "
                  "outside of its task.");
    return std::forward<A>(a);
  }
};

template <class T>
struct coro_promise : promise_base {
  std::optional<T> value;

  coro<T> get_return_object() noexcept;
  void return_value(T&& v) noexcept(std::is_nothrow_move_constructible_v<T>) {
    value.emplace(std::move(v));
  }
  void return_value(const T& v) { value.emplace(v); }
  template <class U>
  requires(!std::is_same_v<std::remove_cvref_t<U>, T> &&
           std::is_constructible_v<T, U&&>) void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() { return std::move(*value); }
};

template <>
struct coro_promise<void> : promise_base {
  coro<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const noexcept {}
};

}  // namespace detail

template <class T>
class [[nodiscard]] coro {
  static_assert(!std::is_reference_v<T>, "aio::coro<T&> is not supported: return a value");

 public:
  using promise_type = detail::coro_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;
  using aio_awaitable = void;

  coro() noexcept = default;
  explicit coro(handle_type h) noexcept : h_(h) {}
  coro(coro&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  coro& operator=(coro&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  coro(const coro&) = delete;
  coro& operator=(const coro&) = delete;
  ~coro() { reset(); }

  /// True when this object holds a coroutine that has not been awaited or handed over.
  bool valid() const noexcept { return static_cast<bool>(h_); }
  explicit operator bool() const noexcept { return valid(); }

  class awaiter {
   public:
    explicit awaiter(handle_type h) noexcept : h_(h) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      if (h_) h_.destroy();
    }
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> parent) noexcept {
      h_.promise().continuation = parent;
      detail::thread_context& ctx = detail::tls_context;
      if (ctx.driving) {
        ctx.next = h_;
        return true;
      }
      return detail::drive_inline(h_, parent);
    }
    T await_resume() {
      if (detail::tls_coro_exception) [[unlikely]]
        detail::rethrow_coro_exception();
      return h_.promise().take();
    }

   private:
    handle_type h_;
  };

  /// Awaiting runs the coroutine; it is consumed (await an rvalue). Awaiting an empty
  /// coro (moved from, or awaited already) throws aio::invalid_state_error.
  awaiter operator co_await() && {
    if (!h_) [[unlikely]]
      detail::throw_empty_coro();
    return awaiter{std::exchange(h_, {})};
  }
  /// A coro is awaited once: write `co_await std::move(c)` (or `co_await f()`).
  awaiter operator co_await() & = delete;

  /// Hands the coroutine over (to a task). The caller owns the frame.
  handle_type release() noexcept { return std::exchange(h_, {}); }

 private:
  void reset() noexcept {
    if (h_) detail::discard_unstarted(std::exchange(h_, {}));
  }
  handle_type h_{};
};

namespace detail {
template <class T>
coro<T> coro_promise<T>::get_return_object() noexcept {
  return coro<T>{std::coroutine_handle<coro_promise<T>>::from_promise(*this)};
}
inline coro<void> coro_promise<void>::get_return_object() noexcept {
  return coro<void>{std::coroutine_handle<coro_promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace aio
