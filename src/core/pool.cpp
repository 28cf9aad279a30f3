// SPDX-License-Identifier: MIT
#include "aio/core/detail/pool.hpp"

#include <cstdlib>
#include <mutex>

namespace aio::detail {
namespace {

constexpr std::size_t chunk_bytes = 64 * 1024;

// Free lists of threads that exited, for new threads to reuse. Chunks themselves are
// never freed (see pool.hpp); the depot keeps their blocks reachable.
struct depot {
  std::mutex mutex;
  pool_block* bins[pool_bins] = {};
};
depot& the_depot() {
  static depot* d = new depot;  // outlives every thread, never destroyed
  return *d;
}

struct thread_pool_state {
  char* cursor = nullptr;  // bump pointer in the current chunk
  char* end = nullptr;
  bool registered = false;
  ~thread_pool_state() {
    depot& d = the_depot();
    std::lock_guard lk(d.mutex);
    for (std::size_t c = 0; c < pool_bins; ++c) {
      pool_block* head = tls_pool_bins[c];
      if (!head) continue;
      pool_block* tail = head;
      while (tail->next) tail = tail->next;
      tail->next = d.bins[c];
      d.bins[c] = head;
      tls_pool_bins[c] = nullptr;
    }
  }
};
thread_local thread_pool_state tls_state;

bool take_from_depot(std::size_t cls) {
  depot& d = the_depot();
  std::lock_guard lk(d.mutex);
  if (!d.bins[cls]) return false;
  tls_pool_bins[cls] = d.bins[cls];
  d.bins[cls] = nullptr;
  return true;
}

}  // namespace

void* pool_refill(std::size_t cls) {
  thread_pool_state& st = tls_state;  // first use registers the exit hand-over
  if (!st.registered) {
    st.registered = true;
    if (take_from_depot(cls)) {
      pool_block* b = tls_pool_bins[cls];
      tls_pool_bins[cls] = b->next;
      return b;
    }
  }
  const std::size_t size = cls * pool_granule;
  if (static_cast<std::size_t>(st.end - st.cursor) < size) {
    // The tail of the old chunk (smaller than this block) is left unused.
    void* chunk = std::aligned_alloc(pool_granule, chunk_bytes);
    if (!chunk) throw std::bad_alloc();
    st.cursor = static_cast<char*>(chunk);
    st.end = st.cursor + chunk_bytes;
  }
  void* p = st.cursor;
  st.cursor += size;
  return p;
}

}  // namespace aio::detail
