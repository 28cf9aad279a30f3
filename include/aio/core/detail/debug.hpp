// SPDX-License-Identifier: MIT
// aio/core/detail/debug.hpp — names for debug-mode reports: symbolised code addresses
// and coroutine names.
#pragma once

#include <chrono>
#include <coroutine>
#include <string>

namespace aio::detail {

/// The demangled form of a C++ symbol or type name (the input if it is not mangled).
std::string demangle(const char* name);

/// "function (file:line)" for a code address, as far as the symbols allow. The first
/// call reads the debug information (can take ~100 ms).
std::string symbolize(const void* pc);

/// Time this thread spent in symbolize(): debug mode subtracts it from a step's
/// duration, so that reporting a problem does not make the step look slow.
inline thread_local std::chrono::nanoseconds tls_symbolize_time{};

/// The name of the coroutine function whose frame `h` is ("fetch(std::string)").
/// Works for suspended frames (the frame's first word is its resume function on both
/// g++ and clang); "<finished coroutine>" for a frame at its final suspend point.
std::string coroutine_name(std::coroutine_handle<> h);

/// True when AIO_DEBUG is set to a non-empty value other than "0".
bool debug_from_environment() noexcept;

/// Debug mode of the running loop, or AIO_DEBUG outside of one.
bool debug_active() noexcept;

}  // namespace aio::detail
