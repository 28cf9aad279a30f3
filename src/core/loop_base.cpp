// SPDX-License-Identifier: MIT
#include "aio/core/detail/loop_base.hpp"

#include <stdexcept>

#include "aio/core/detail/task_base.hpp"

namespace aio::detail {

// --- timer_heap: a 4-ary heap (shallower than binary: fewer cache misses per sift) ---

void timer_heap::push(timer_entry* t) {
  assert(!t->armed());
  t->seq = next_seq_++;
  heap_.push_back(t);
  const auto i = static_cast<std::uint32_t>(heap_.size() - 1);
  t->heap_index = i;
  sift_up(i);
}

timer_entry* timer_heap::pop() noexcept {
  timer_entry* top = heap_.front();
  remove(top);
  return top;
}

void timer_heap::remove(timer_entry* t) noexcept {
  const std::uint32_t i = t->heap_index;
  assert(i < heap_.size() && heap_[i] == t);
  t->heap_index = timer_entry::npos;
  timer_entry* last = heap_.back();
  heap_.pop_back();
  if (last == t) return;
  place(i, last);
  if (i > 0 && less(last, heap_[(i - 1) / 4]))
    sift_up(i);
  else
    sift_down(i);
}

void timer_heap::sift_up(std::uint32_t i) noexcept {
  timer_entry* t = heap_[i];
  while (i > 0) {
    const std::uint32_t parent = (i - 1) / 4;
    if (!less(t, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void timer_heap::sift_down(std::uint32_t i) noexcept {
  timer_entry* t = heap_[i];
  const auto n = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    const std::uint32_t first = 4 * i + 1;
    if (first >= n) break;
    std::uint32_t best = first;
    const std::uint32_t end = first + 4 < n ? first + 4 : n;
    for (std::uint32_t c = first + 1; c < end; ++c)
      if (less(heap_[c], heap_[best])) best = c;
    if (!less(heap_[best], t)) break;
    place(i, heap_[best]);
    i = best;
  }
  place(i, t);
}

void timer_heap::shrink() noexcept {
  if (heap_.capacity() > 4096 && heap_.size() < heap_.capacity() / 8) {
    try {
      heap_.shrink_to_fit();
    } catch (...) {
    }
  }
}

void throw_no_loop() {
  throw std::runtime_error("no running event loop");
}

}  // namespace aio::detail
