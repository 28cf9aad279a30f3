// SPDX-License-Identifier: MIT
#include "aio/core/detail/debug.hpp"

#include <cxxabi.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "aio/core/detail/loop_base.hpp"

#if AIO_HAVE_LIBBACKTRACE
#include <backtrace.h>
#endif

namespace aio::detail {
std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> s(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                           std::free);
  return status == 0 && s ? std::string(s.get()) : std::string(name);
}

namespace {

// The coroutine's resume function is a compiler-made clone of the coroutine
// function: "f(int) (.resume)" (clang), and with g++ an "actor" that takes the frame:
// "ns::f(ns::f(int)::_ZN2ns1fEi.Frame*) [clone .actor]". Both become "ns::f(int)".
std::string strip_clone_suffix(std::string s) {
  for (const char* suffix :
       {" [clone .actor]", " [clone .resume]", " (.resume)", " [clone .destroy]", " (.destroy)"}) {
    const std::size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) s.resize(s.size() - n);
  }
  const std::size_t frame = s.rfind("::_Z");
  if (frame != std::string::npos && s.size() > 8 && s.compare(s.size() - 8, 8, ".Frame*)") == 0) {
    // The actor's parameter is the original function's own qualified signature.
    for (std::size_t open = s.find('('); open != std::string::npos && open < frame;
         open = s.find('(', open + 1)) {
      if (open > 0 && s.compare(open + 1, open, s, 0, open) == 0)
        return s.substr(open + 1, frame - open - 1);
    }
  }
  return s;
}

#if AIO_HAVE_LIBBACKTRACE
backtrace_state* bt_state() {
  static backtrace_state* st = backtrace_create_state(nullptr, /*threaded=*/1, nullptr, nullptr);
  return st;
}
struct pc_info {
  std::string function;
  std::string file;
  int line = 0;
};
#endif

}  // namespace

std::string symbolize(const void* pc) {
  if (!pc) return "?";
  const auto t0 = std::chrono::steady_clock::now();
  struct account {  // time spent here is not the task's (see symbolize_time)
    std::chrono::steady_clock::time_point t0;
    ~account() { tls_symbolize_time += std::chrono::steady_clock::now() - t0; }
  } acc{t0};
  std::string function, where;
#if AIO_HAVE_LIBBACKTRACE
  if (backtrace_state* st = bt_state()) {
    // The symbol table gives the full name ("ns::f(int)") with both compilers; the
    // debug information gives the file and line.
    backtrace_syminfo(
        st, reinterpret_cast<std::uintptr_t>(pc),
        [](void* data, std::uintptr_t, const char* sym, std::uintptr_t, std::uintptr_t) {
          if (sym) *static_cast<std::string*>(data) = sym;
        },
        [](void*, const char*, int) {}, &function);
    if (!function.empty()) function = demangle(function.c_str());
    pc_info info;
    backtrace_pcinfo(
        st, reinterpret_cast<std::uintptr_t>(pc),
        [](void* data, std::uintptr_t, const char* file, int line, const char* fn) -> int {
          auto* i = static_cast<pc_info*>(data);
          if (fn && i->function.empty()) i->function = fn;
          if (file && i->file.empty()) {
            i->file = file;
            i->line = line;
          }
          return 1;  // the innermost frame is enough
        },
        [](void*, const char*, int) {}, &info);
    if (function.empty() && !info.function.empty()) function = demangle(info.function.c_str());
    if (!info.file.empty()) {
      // DWARF 5 (clang 14) can make libbacktrace join the compile directory with an
      // already absolute name: "/build//src/f.cpp" means "/src/f.cpp".
      if (auto twice = info.file.rfind("//"); twice != std::string::npos)
        info.file.erase(0, twice + 1);
      where = info.file + ":" + std::to_string(info.line);
    }
  }
#endif
  if (function.empty()) {
    Dl_info dl{};
    if (dladdr(pc, &dl) && dl.dli_sname) function = demangle(dl.dli_sname);
  }
  if (function.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", pc);
    function = buf;
  }
  function = strip_clone_suffix(std::move(function));
  return where.empty() ? function : function + " (" + where + ")";
}

std::string coroutine_name(std::coroutine_handle<> h) {
  if (!h) return "<no coroutine>";
  void* const* frame = static_cast<void* const*>(h.address());
  const void* resume = frame[0];
  if (!resume || h.done()) return "<finished coroutine>";
  return symbolize(resume);
}

bool debug_from_environment() noexcept {
  const char* v = std::getenv("AIO_DEBUG");
  return v && *v && std::strcmp(v, "0") != 0;
}

bool debug_active() noexcept {
  if (loop_base* l = tls_context.loop) return l->debug();
  static const bool env = debug_from_environment();
  return env;
}

}  // namespace aio::detail
