// SPDX-License-Identifier: MIT
// aio/core/detail/pool.hpp — the per-thread recycling allocator for coroutine frames,
// task states and callback nodes (DESIGN.md §8).
//
// Blocks are rounded up to 16-byte size classes. A freed block goes onto its class's
// free list in the *freeing* thread; an empty list falls back to ::operator new. Each
// block is an ordinary heap block, so freeing it on another thread than the one that
// allocated it is fine (it simply joins that thread's list), and a thread's lists are
// returned to the heap when the thread exits. A list holds at most `bin_capacity`
// blocks; beyond that, blocks go back to the heap, so a burst of a million tasks does
// not pin their memory forever.
//
// With AIO_POOL=0 (the sanitizer presets) every call goes straight to the heap so that
// ASan sees each use-after-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#ifndef AIO_POOL
#if defined(__SANITIZE_ADDRESS__)
#define AIO_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIO_POOL 0
#endif
#endif
#endif
#ifndef AIO_POOL
#define AIO_POOL 1
#endif

namespace aio::detail {

inline constexpr std::size_t pool_granule = 16;
inline constexpr std::size_t pool_bins = 64;  // classes up to 1008 bytes
inline constexpr std::uint32_t bin_capacity = 1u << 16;

struct pool_bin {
  void* head;
  std::uint32_t count;
};

// Trivially constructible and destructible, so access needs no TLS init wrapper.
inline thread_local pool_bin tls_pool_bins[pool_bins];

void* pool_refill(std::size_t cls);                    // slow path: heap + registers thread cleanup
void pool_release(void* p, std::size_t cls) noexcept;  // slow path: list full

inline void* pool_alloc(std::size_t n) {
#if AIO_POOL
  const std::size_t cls = (n + pool_granule - 1) / pool_granule;
  if (cls < pool_bins) {
    pool_bin& b = tls_pool_bins[cls];
    if (void* p = b.head) {
      b.head = *static_cast<void**>(p);
      --b.count;
      return p;
    }
    return pool_refill(cls);
  }
#endif
  return ::operator new(n);
}

inline void pool_free(void* p, [[maybe_unused]] std::size_t n) noexcept {
#if AIO_POOL
  const std::size_t cls = (n + pool_granule - 1) / pool_granule;
  if (cls < pool_bins) {
    pool_bin& b = tls_pool_bins[cls];
    if (b.count < bin_capacity) {
      *static_cast<void**>(p) = b.head;
      b.head = p;
      ++b.count;
      return;
    }
    pool_release(p, cls);
    return;
  }
#endif
  ::operator delete(p);
}

/// Base for objects that come from the pool: `new T` / `delete t` use it.
struct pooled {
  static void* operator new(std::size_t n) { return pool_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { pool_free(p, n); }
};

}  // namespace aio::detail
