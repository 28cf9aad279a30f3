// SPDX-License-Identifier: MIT
// aio/core/errors.hpp — the exceptions of the core runtime, named after asyncio's.
//
//   asyncio.CancelledError     -> aio::cancelled_error     (NOT a std::exception, see below)
//   asyncio.TimeoutError       -> aio::timeout_error       : std::runtime_error
//   asyncio.InvalidStateError  -> aio::invalid_state_error : std::logic_error
//   ExceptionGroup             -> aio::exception_group     : std::exception
//   KeyboardInterrupt          -> aio::keyboard_interrupt  (NOT a std::exception)
//
// `cancelled_error` deliberately does not derive from std::exception: asyncio made
// CancelledError a BaseException so that `except Exception:` cannot swallow a
// cancellation, and in the same way `catch (const std::exception&)` never eats one here.
// Catch it by name when clean-up needs it, and rethrow (C++ cannot co_await inside a
// handler, so the clean-up that awaits comes after it):
//
//   std::exception_ptr cancelled;
//   try { co_await work(); }
//   catch (const aio::cancelled_error&) { cancelled = std::current_exception(); }
//   if (cancelled) { co_await tidy_up(); std::rethrow_exception(cancelled); }
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aio {

/// Raised inside a task at the suspension point where a cancellation is delivered.
/// Not derived from std::exception (see the file comment).
class cancelled_error {
 public:
  cancelled_error() = default;
  explicit cancelled_error(std::string message) : message_(std::move(message)) {}
  /// The message given to `cancel(msg)`, or empty.
  const std::string& message() const noexcept { return message_; }
  /// For symmetry with std::exception in generic logging code.
  const char* what() const noexcept { return message_.empty() ? "cancelled" : message_.c_str(); }

 private:
  std::string message_;
};

/// Raised by a program stopped by Ctrl-C when aio::run was asked to throw instead of
/// exiting (run_options::exit_on_sigint = false). Not a std::exception, like cancelled_error.
class keyboard_interrupt {
 public:
  const char* what() const noexcept { return "keyboard interrupt (SIGINT)"; }
};

/// A deadline passed: raised by aio::timeout, timeout_at, wait_for, wait-style helpers.
class timeout_error : public std::runtime_error {
 public:
  timeout_error() : std::runtime_error("timeout") {}
  explicit timeout_error(const std::string& what) : std::runtime_error(what) {}
};

/// An operation that the object's state does not allow: the result of a pending task,
/// setting a future twice, re-entering a finished scope.
class invalid_state_error : public std::logic_error {
 public:
  explicit invalid_state_error(const std::string& what) : std::logic_error(what) {}
};

/// Several exceptions raised together, by a task group's children. Python's
/// ExceptionGroup; `split<E>()` and `subgroup<E>()` are the analogue of `except* E`.
///
///   try { co_await aio::with_task_group(body); }
///   catch (const aio::exception_group& eg) {
///     auto [timeouts, rest] = eg.split<aio::timeout_error>();
///     if (timeouts) log("{} timeouts", timeouts->exceptions().size());
///     if (rest) throw *rest;
///   }
class exception_group : public std::exception {
 public:
  exception_group(std::string message, std::vector<std::exception_ptr> exceptions);

  const char* what() const noexcept override { return what_.c_str(); }
  /// The message without the sub-exception count.
  const std::string& message() const noexcept { return message_; }
  /// The direct sub-exceptions, in the order they were raised; nested groups stay nested.
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

  /// Python's ExceptionGroup.split(E): (matching, rest), each nullopt when empty. Nested
  /// groups are split recursively and keep their structure and messages.
  template <class E>
  std::pair<std::optional<exception_group>, std::optional<exception_group>> split() const {
    return split_by([](const std::exception_ptr& e) { return matches<E>(e); });
  }
  /// Python's ExceptionGroup.subgroup(E): the matching part, nullopt when nothing matches.
  template <class E>
  std::optional<exception_group> subgroup() const {
    return split<E>().first;
  }
  /// True when at least one leaf exception (at any depth) is an E.
  template <class E>
  bool contains() const {
    return split<E>().first.has_value();
  }
  /// Every leaf exception, depth first (nested groups flattened).
  std::vector<std::exception_ptr> leaves() const;

  template <class E>
  static bool matches(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const E&) {
      return true;
    } catch (...) {
      return false;
    }
  }

 private:
  using predicate = bool (*)(const std::exception_ptr&);
  std::pair<std::optional<exception_group>, std::optional<exception_group>> split_by(
      predicate match) const;

  std::string message_;
  std::vector<std::exception_ptr> exceptions_;
  std::string what_;
};

/// A readable one-line description of an exception: "std::runtime_error: boom",
/// "aio::cancelled_error: msg". Used by the loop's default exception handler.
std::string describe(const std::exception_ptr& e);

}  // namespace aio
