// SPDX-License-Identifier: MIT
// aio/core/detail/backend.hpp — the interface between the event loop and the OS
// poller (DESIGN.md §2). One implementation per file in src/core/backend/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "aio/core/detail/loop_base.hpp"

namespace aio::detail {

/// Readiness bits, independent of the poller's own constants.
enum : std::uint32_t {
  io_readable = 1u << 0,
  io_writable = 1u << 1,
  io_error = 1u << 2,        // error or hang-up: wakes readers and writers alike
  io_edge = 1u << 3,         // add/modify: edge-triggered, peer half-close reported as readable
  io_loop_closed = 1u << 4,  // to an io_watch: the loop closed; it forgets the watch
  io_peer_closed = 1u << 5,  // (with io_readable) the peer closed its side (EPOLLRDHUP)
};

/// An fd registered once, edge-triggered, for both directions (DESIGN.md §8): the
/// sockets of the net layer. The loop calls on_event(w, io_* bits) on its thread each
/// time readiness arrives; the owner keeps its own "ready" flags and pending operations.
/// When the loop closes with the watch still registered, it calls on_event once with
/// io_loop_closed (after destroying its pending tasks): the owner must then stop using
/// the loop; it may destroy itself (the loop does not touch `w` afterwards).
struct io_watch {
  void (*on_event)(io_watch*, std::uint32_t events) noexcept = nullptr;
};

struct io_event {
  std::uint64_t data;    // what was registered with the fd
  std::uint32_t events;  // io_* bits
};

class backend {
 public:
  virtual ~backend() = default;
  virtual const char* name() const noexcept = 0;

  /// Starts watching `fd` for `events` (io_readable | io_writable), level-triggered
  /// unless io_edge is given.
  /// Throws std::system_error (EPERM for regular files, EBADF, ...).
  virtual void add(int fd, std::uint32_t events, std::uint64_t data) = 0;
  virtual void modify(int fd, std::uint32_t events, std::uint64_t data) = 0;
  /// Stops watching `fd`; an fd that was already closed is fine.
  virtual void remove(int fd) noexcept = 0;

  /// Waits for events for at most `timeout` (nullopt: no limit; zero: just check),
  /// stores up to `max` of them, returns how many. Wake-ups are consumed here and not
  /// reported. EINTR returns 0.
  virtual std::size_t poll(std::optional<duration> timeout, io_event* out, std::size_t max) = 0;

  /// Makes a poll in progress, or the next one, return. Thread-safe and
  /// async-signal-safe.
  virtual void wakeup() noexcept = 0;
};

std::unique_ptr<backend> make_epoll_backend();
/// Throws std::system_error when the kernel refuses io_uring.
std::unique_ptr<backend> make_io_uring_backend();

}  // namespace aio::detail
