// SPDX-License-Identifier: MIT
// aio/core/generator.hpp — aio::generator<T>: a coroutine that both co_awaits and
// co_yields (Python's async generator, `async def f(): ... yield x`).
//
//   aio::generator<Page> pages(std::string url) {
//     while (!url.empty()) {
//       Page p = co_await fetch(url);   // awaits
//       url = p.next;
//       co_yield std::move(p);          // hands a value to the consumer
//     }
//   }
//   auto gen = pages("/items");
//   while (auto page = co_await gen.next()) use(*page);            // std::optional<T>
//   for (auto it = co_await gen.begin(); it != gen.end(); co_await ++it) use(*it);
//
// Lazy: nothing runs until the first next(). The generator runs inside the consumer's
// task, between the consumer's awaits (like a coro), so current_task() is the
// consumer's and cancelling that task cancels what the generator awaits.
//
// Clean-up (asyncio's aclose): destroying a generator that has not finished destroys its
// frame, so the destructors of its locals run — the RAII way, synchronous. For clean-up
// that must await, `co_await gen.aclose()` resumes the generator with
// aio::generator_exit thrown at its co_yield (Python's GeneratorExit): the body catches
// it, awaits what it must (after the handler: C++ cannot co_await inside one) and ends.
//
// Errors: an exception thrown by the body is rethrown by the next() that was running it;
// the generator is finished afterwards. A generator that yields after aclose() raises
// std::runtime_error in aclose().
// Cancellation: as for a coro — the consumer's task is cancelled where the generator is
// suspended, and cancelled_error propagates out of the body into next().
// Thread safety: the consumer's loop thread.
#pragma once

#include <coroutine>
#include <exception>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "aio/core/coro.hpp"
#include "aio/core/detail/loop_base.hpp"
#include "aio/core/errors.hpp"

namespace aio {

/// Thrown into a generator at its co_yield by aclose() (Python's GeneratorExit). Not a
/// std::exception, so that `catch (const std::exception&)` does not swallow it.
class generator_exit {
 public:
  const char* what() const noexcept { return "generator closed"; }
};

template <class T>
class [[nodiscard]] generator {
  static_assert(!std::is_reference_v<T>, "aio::generator<T&> is not supported: yield values");

 public:
  struct promise_type : detail::promise_base {
    std::optional<T> value;
    bool started = false;  // resumed at least once
    bool closing = false;  // aclose() in progress: the yield point throws

    generator get_return_object() noexcept {
      return generator(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    void return_void() const noexcept {}

    // Hands the value to the consumer and resumes it (through the task's driver).
    struct yield_awaiter {
      promise_type* p;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<>) noexcept {
        std::coroutine_handle<> next = p->continuation;
        detail::thread_context& ctx = detail::tls_context;
        if (ctx.driving)
          ctx.next = next;
        else
          next.resume();
      }
      void await_resume() const {
        if (p->closing) throw generator_exit();
      }
    };
    template <class U>
    requires std::is_constructible_v<T, U&&> yield_awaiter yield_value(U&& v) {
      if (closing) throw std::runtime_error("aio::generator yielded after aclose()");
      value.emplace(std::forward<U>(v));
      return yield_awaiter{this};
    }
  };
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  generator() noexcept = default;
  generator(generator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  generator& operator=(generator&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;
  ~generator() { reset(); }

  /// True once the body has returned (or thrown).
  bool done() const noexcept { return !h_ || h_.done(); }

  /// Resumes the body until its next co_yield (the value) or its end (nullopt).
  class next_awaiter {
   public:
    explicit next_awaiter(handle_type h) noexcept : h_(h) {}
    bool await_ready() const noexcept { return !h_ || h_.done(); }
    bool await_suspend(std::coroutine_handle<> consumer) noexcept {
      h_.promise().continuation = consumer;
      h_.promise().started = true;
      h_.promise().value.reset();
      detail::thread_context& ctx = detail::tls_context;
      if (ctx.driving) {
        ctx.next = h_;
        return true;
      }
      return detail::drive_inline(h_, consumer);
    }
    std::optional<T> await_resume() {
      if (detail::tls_coro_exception) [[unlikely]]
        detail::rethrow_coro_exception();
      if (!h_ || h_.done()) return std::nullopt;
      return std::move(h_.promise().value);
    }

   private:
    handle_type h_;
  };
  class next_awaitable {
   public:
    using aio_awaitable = void;
    explicit next_awaitable(handle_type h) noexcept : h_(h) {}
    next_awaiter operator co_await() const noexcept { return next_awaiter(h_); }

   private:
    handle_type h_;
  };
  next_awaitable next() noexcept { return next_awaitable(h_); }

  /// Throws aio::generator_exit into the body at its co_yield and runs it to its end,
  /// so that its clean-up can await. A no-op for a finished or unstarted generator
  /// (an unstarted one is simply destroyed).
  coro<void> aclose() {
    if (!h_ || h_.done()) co_return;
    if (!h_.promise().started) {  // nothing ran: nothing to clean up
      std::exchange(h_, {}).destroy();
      co_return;
    }
    h_.promise().closing = true;
    std::exception_ptr error;
    try {
      // Resuming makes the pending co_yield throw generator_exit.
      while (co_await next()) {
      }
    } catch (const generator_exit&) {
      // The body let generator_exit propagate: that is a clean close.
    } catch (...) {
      error = std::current_exception();
    }
    reset();
    if (error) std::rethrow_exception(error);
  }

  /// Single-pass iterator: `for (auto it = co_await g.begin(); it != g.end(); co_await ++it)`.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() noexcept = default;
    explicit iterator(generator* g) noexcept : g_(g) {}
    T& operator*() const noexcept { return *g_->current_; }
    T* operator->() const noexcept { return &*g_->current_; }
    bool operator==(std::default_sentinel_t) const noexcept { return !g_ || !g_->current_; }
    /// Advances: an awaitable yielding this iterator.
    class advance_awaiter : public next_awaiter {
     public:
      advance_awaiter(iterator* it) noexcept : next_awaiter(it->g_->h_), it_(it) {}
      iterator& await_resume() {
        it_->g_->current_ = next_awaiter::await_resume();
        return *it_;
      }

     private:
      iterator* it_;
    };
    class advance_awaitable {
     public:
      using aio_awaitable = void;
      explicit advance_awaitable(iterator* it) noexcept : it_(it) {}
      advance_awaiter operator co_await() const noexcept { return advance_awaiter(it_); }

     private:
      iterator* it_;
    };
    advance_awaitable operator++() noexcept { return advance_awaitable(this); }

   private:
    friend class generator;
    generator* g_ = nullptr;
  };
  /// Runs the body to its first value; the iterator refers to this generator.
  typename iterator::advance_awaitable begin() noexcept {
    begin_it_ = iterator(this);
    return typename iterator::advance_awaitable(&begin_it_);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  explicit generator(handle_type h) noexcept : h_(h) {}
  void reset() noexcept {
    if (!h_) return;
    // A generator never resumed is reported like a never-awaited coro (debug mode);
    // one suspended at a co_yield just has its frame destroyed (locals' destructors).
    if (!h_.promise().started) {
      detail::discard_unstarted(std::exchange(h_, {}));
      return;
    }
    std::exchange(h_, {}).destroy();
  }

  handle_type h_{};
  std::optional<T> current_;  // the iterator's current element
  iterator begin_it_;
};

}  // namespace aio
