// SPDX-License-Identifier: MIT
// The epoll backend: epoll (level-triggered, or edge-triggered for io_watch
// registrations), an eventfd for wake-ups.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "aio/core/detail/backend.hpp"

namespace aio::detail {
namespace {

constexpr std::uint64_t wakeup_tag = ~std::uint64_t{0};
constexpr std::size_t max_batch = 256;

std::uint32_t to_epoll(std::uint32_t ev) noexcept {
  std::uint32_t r = 0;
  if (ev & io_readable) r |= EPOLLIN;
  if (ev & io_writable) r |= EPOLLOUT;
  if (ev & io_edge) r |= EPOLLET | EPOLLRDHUP;
  return r;
}

std::uint32_t from_epoll(std::uint32_t ev) noexcept {
  std::uint32_t r = 0;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) r |= io_readable;
  if (ev & EPOLLRDHUP) r |= io_peer_closed;
  if (ev & EPOLLOUT) r |= io_writable;
  if (ev & (EPOLLERR | EPOLLHUP)) r |= io_error;
  return r;
}

class epoll_backend final : public backend {
 public:
  epoll_backend() {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_ < 0) {
      const int e = errno;
      ::close(ep_);
      throw std::system_error(e, std::generic_category(), "eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wakeup_tag;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev) < 0) {
      const int e = errno;
      ::close(wake_);
      ::close(ep_);
      throw std::system_error(e, std::generic_category(), "epoll_ctl(eventfd)");
    }
  }
  ~epoll_backend() override {
    ::close(wake_);
    ::close(ep_);
  }

  const char* name() const noexcept override { return "epoll"; }

  void add(int fd, std::uint32_t events, std::uint64_t data) override {
    ctl(EPOLL_CTL_ADD, fd, events, data);
  }
  void modify(int fd, std::uint32_t events, std::uint64_t data) override {
    epoll_event ev{};
    ev.events = to_epoll(events);
    ev.data.u64 = data;
    if (::epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev) == 0) return;
    // The fd was closed and its number reused without remove(): register it afresh.
    if (errno == ENOENT) return ctl(EPOLL_CTL_ADD, fd, events, data);
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(MOD)");
  }
  void remove(int fd) noexcept override { ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr); }

  std::size_t poll(std::optional<duration> timeout, io_event* out, std::size_t max) override {
    epoll_event evs[max_batch];
    const int cap = static_cast<int>(max < max_batch ? max : max_batch);
    int n;
    if (!timeout) {
      n = ::epoll_wait(ep_, evs, cap, -1);
    } else if (timeout->count() <= 0) {
      n = ::epoll_wait(ep_, evs, cap, 0);
    } else {
      // epoll_pwait2 takes a timespec: timers fire on time, not rounded to ms.
      timespec ts{};
      ts.tv_sec = static_cast<time_t>(timeout->count() / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(timeout->count() % 1'000'000'000);
      n = have_pwait2_ ? ::epoll_pwait2(ep_, evs, cap, &ts, nullptr) : -1;
      if (n < 0 && errno == ENOSYS) {
        have_pwait2_ = false;
      }
      if (!have_pwait2_) {
        const auto ms = (timeout->count() + 999'999) / 1'000'000;  // round up
        n = ::epoll_wait(ep_, evs, cap, ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms));
      }
    }
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    std::size_t k = 0;
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == wakeup_tag) {
        std::uint64_t v;
        while (::read(wake_, &v, sizeof v) > 0) {
        }
        continue;
      }
      out[k++] = io_event{evs[i].data.u64, from_epoll(evs[i].events)};
    }
    return k;
  }

  void wakeup() noexcept override {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: a wake-up is pending anyway.
    [[maybe_unused]] auto r = ::write(wake_, &one, sizeof one);
  }

 private:
  void ctl(int op, int fd, std::uint32_t events, std::uint64_t data) {
    epoll_event ev{};
    ev.events = to_epoll(events);
    ev.data.u64 = data;
    if (::epoll_ctl(ep_, op, fd, &ev) < 0)
      throw std::system_error(errno, std::generic_category(),
                              "epoll_ctl(" + std::to_string(fd) + ")");
  }

  int ep_ = -1;
  int wake_ = -1;
  bool have_pwait2_ = true;
};

}  // namespace

std::unique_ptr<backend> make_epoll_backend() {
  return std::make_unique<epoll_backend>();
}

}  // namespace aio::detail
