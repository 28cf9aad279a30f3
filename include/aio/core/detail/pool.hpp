// SPDX-License-Identifier: MIT
// aio/core/detail/pool.hpp — the per-thread recycling allocator for coroutine frames,
// task states and callback nodes (DESIGN.md §8).
//
// Blocks come in 16-byte size classes up to 1008 bytes (larger ones go to the heap).
// A class's free list is per thread: allocating and freeing is a pointer pop/push,
// with no lock and no header. An empty list is refilled by carving blocks from a
// 64 KiB chunk (slab) of the thread. A block freed on another thread joins that
// thread's list; a thread's lists are handed to a process-wide depot when it exits,
// and new threads take from the depot first.
//
// Trade-off: chunks are never returned to the operating system. Memory freed by
// tasks is reused by later tasks (a burst of a million tasks costs its peak once),
// like pymalloc's arenas or a malloc's thread cache, but not given back.
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

struct pool_block {
  pool_block* next;
};

// Trivially constructible and destructible, so access needs no TLS init wrapper.
inline thread_local pool_block* tls_pool_bins[pool_bins];

void* pool_refill(std::size_t cls);  // slow path: depot or a fresh chunk

inline void* pool_alloc(std::size_t n) {
#if AIO_POOL
  const std::size_t cls = (n + pool_granule - 1) / pool_granule;
  if (cls < pool_bins) {
    if (pool_block* b = tls_pool_bins[cls]) {
      tls_pool_bins[cls] = b->next;
      return b;
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
    auto* b = static_cast<pool_block*>(p);
    b->next = tls_pool_bins[cls];
    tls_pool_bins[cls] = b;
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
