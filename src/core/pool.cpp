// SPDX-License-Identifier: MIT
#include "aio/core/detail/pool.hpp"

namespace aio::detail {
namespace {

// Returns a thread's cached blocks to the heap when the thread exits. Touched on the
// first slow-path allocation, so threads that never allocate pay nothing.
struct pool_reaper {
  bool armed = false;
  ~pool_reaper() {
    for (pool_bin& b : tls_pool_bins) {
      while (void* p = b.head) {
        b.head = *static_cast<void**>(p);
        ::operator delete(p);
      }
      b.count = 0;
    }
  }
};
thread_local pool_reaper tls_reaper;

}  // namespace

void* pool_refill(std::size_t cls) {
  tls_reaper.armed = true;
  return ::operator new(cls* pool_granule);
}

void pool_release(void* p, std::size_t) noexcept {
  ::operator delete(p);
}

}  // namespace aio::detail
