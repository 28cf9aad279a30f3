// SPDX-License-Identifier: MIT
// The io_uring backend, readiness half: the backend interface of
// aio/core/detail/backend.hpp on an io_uring ring, with poll requests in place of
// epoll registrations, and one io_uring_enter per loop iteration that submits what the
// iteration queued and waits for completions (docs/design/io_uring.md).
//
// - An edge-triggered registration (io_edge: the net layer's sockets) is a multishot
//   POLL_ADD: the kernel posts a completion each time the fd's wait queue is woken
//   with a matching event, as edge-triggered epoll reports every arrival. A multishot
//   poll that the kernel ends (a completion without IORING_CQE_F_MORE) is armed again.
// - A level-triggered registration (add_reader/add_writer) is a one-shot POLL_ADD,
//   armed again before the next wait once its event was handed to the loop: if the fd
//   is still ready, the new poll completes at once, as level-triggered epoll reports it
//   again.
// - remove() cancels the poll by its user_data (POLL_REMOVE); completions of a
//   cancelled or replaced poll are recognised by their sequence number and dropped.
// - Wake-ups from other threads and signal handlers write an eventfd that a multishot
//   poll watches, as in the epoll backend.
//
// One difference from epoll: a poll request holds a reference to the file, so an fd
// that is closed while registered stays open in the kernel until remove() (or the
// registration of another fd with the same number) cancels its poll; remove() submits
// the cancellation at once for this reason. The loop removes every fd before closing
// it (socket_state::close, remove_reader/remove_writer); user code must too, as
// asyncio asks (docs/design/io_uring.md).
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "aio/core/detail/backend.hpp"

namespace aio::detail {
namespace {

// user_data of the requests that are not an fd's poll.
constexpr std::uint64_t wakeup_tag = ~std::uint64_t{0};
constexpr std::uint64_t ignore_tag = ~std::uint64_t{0} - 1;  // POLL_REMOVE's own completion

constexpr unsigned sq_entries = 1024;
constexpr unsigned cq_entries = 8192;

std::uint32_t to_poll(std::uint32_t ev) noexcept {
  std::uint32_t r = 0;
  if (ev & io_readable) r |= POLLIN;
  if (ev & io_writable) r |= POLLOUT;
  if (ev & io_edge) r |= POLLRDHUP;
  return r;
}

std::uint32_t from_poll(std::uint32_t ev) noexcept {
  std::uint32_t r = 0;
  if (ev & (POLLIN | POLLRDHUP | POLLPRI)) r |= io_readable;
  if (ev & POLLRDHUP) r |= io_peer_closed;
  if (ev & POLLOUT) r |= io_writable;
  if (ev & (POLLERR | POLLHUP | POLLNVAL)) r |= io_error;
  return r;
}

std::system_error uring_error(int neg_errno, const char* what) {
  return std::system_error(-neg_errno, std::generic_category(), what);
}

class io_uring_backend final : public backend {
 public:
  io_uring_backend() {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = cq_entries;
    // COOP_TASKRUN: completions are run when the loop enters the kernel, not by
    // interrupting it. (SINGLE_ISSUER | DEFER_TASKRUN would tie the ring to the thread
    // that created it; a loop may be built on one thread and run on another.)
    p.flags |= IORING_SETUP_COOP_TASKRUN;
    int r = io_uring_queue_init_params(sq_entries, &ring_, &p);
    if (r == -EINVAL) {  // a kernel older than 5.19: no COOP_TASKRUN
      p = io_uring_params{};
      p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
      p.cq_entries = cq_entries;
      r = io_uring_queue_init_params(sq_entries, &ring_, &p);
    }
    if (r < 0) throw uring_error(r, "io_uring_setup");
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
      io_uring_queue_exit(&ring_);
      throw std::system_error(
          ENOSYS, std::generic_category(),
          "io_uring: the kernel lacks EXT_ARG or NODROP (5.11 or later needed)");
    }
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_ < 0) {
      const int e = errno;
      io_uring_queue_exit(&ring_);
      throw std::system_error(e, std::generic_category(), "eventfd");
    }
    arm_wakeup();
  }
  ~io_uring_backend() override {
    io_uring_queue_exit(&ring_);  // cancels every poll still armed
    ::close(wake_);
  }

  const char* name() const noexcept override { return "io_uring"; }

  void add(int fd, std::uint32_t events, std::uint64_t data) override {
    // epoll refuses what cannot block (regular files, directories) with EPERM, and
    // callers rely on that (asyncio's add_reader raises PermissionError): do the same.
    // (Edge-triggered watches come from the net layer, on sockets and pipes it made:
    // no system call for them.)
    if (!(events & io_edge)) {
      struct stat st {};
      if (::fstat(fd, &st) < 0)
        throw std::system_error(errno, std::generic_category(),
                                "fstat(" + std::to_string(fd) + ")");
      if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        throw std::system_error(EPERM, std::generic_category(),
                                "poll(" + std::to_string(fd) + "): a regular file is always ready");
    }
    watch(fd, events, data);
  }

  void modify(int fd, std::uint32_t events, std::uint64_t data) override {
    // Cancel and arm afresh: a new sequence number makes the old poll's completions
    // stale, whatever they report.
    watch(fd, events, data);
  }

  void remove(int fd) noexcept override {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    entry& e = fds_[fd];
    if (e.seq == 0) return;
    const bool armed = e.armed;
    cancel(fd, e);
    // Submit now: the poll holds a reference to the file, and the caller is about to
    // close the fd — a listening socket must free its port, a connection must send its
    // FIN, at close() as with epoll. (One system call, as epoll_ctl(DEL) is.)
    if (armed) io_uring_submit(&ring_);
  }

  std::size_t poll(std::optional<duration> timeout, io_event* out, std::size_t max) override {
    rearm_level();
    int r;
    if (io_uring_cq_ready(&ring_) != 0 || (timeout && timeout->count() <= 0)) {
      // Something is there already, or we must not wait: submit only.
      r = io_uring_submit(&ring_);
    } else if (!timeout) {
      r = io_uring_submit_and_wait(&ring_, 1);
    } else {
      __kernel_timespec ts{};
      ts.tv_sec = timeout->count() / 1'000'000'000;
      ts.tv_nsec = timeout->count() % 1'000'000'000;
      io_uring_cqe* cqe = nullptr;
      r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      if (r == -ETIME) r = 0;
    }
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) throw uring_error(r, "io_uring_enter");
    return reap(out, max);
  }

  void wakeup() noexcept override {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: a wake-up is pending anyway.
    [[maybe_unused]] auto r = ::write(wake_, &one, sizeof one);
  }

 private:
  struct entry {
    std::uint64_t data = 0;
    std::uint32_t events = 0;
    std::uint32_t seq = 0;  // 0: not registered
    bool armed = false;     // a poll request is in the kernel for this registration
  };

  static std::uint64_t user_data(int fd, std::uint32_t seq) noexcept {
    return (std::uint64_t{seq} << 32) | static_cast<std::uint32_t>(fd);
  }

  std::uint32_t next_seq() noexcept {
    if (++seq_ == 0 || seq_ >= 0xfffffffeu) seq_ = 1;  // 0 and the tags' values are reserved
    return seq_;
  }

  entry& slot(int fd) {
    if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
    return fds_[fd];
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    while (!s) {  // the submission queue is full: hand it to the kernel and go on
      const int r = io_uring_submit(&ring_);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        throw uring_error(r, "io_uring_enter");
      s = io_uring_get_sqe(&ring_);
    }
    return s;
  }

  void watch(int fd, std::uint32_t events, std::uint64_t data) {
    entry& e = slot(fd);
    if (e.seq != 0) cancel(fd, e);  // modify(), or the number was reused without remove()
    e.data = data;
    e.events = events;
    e.seq = next_seq();
    arm(fd, e);
  }

  void arm(int fd, entry& e) {
    io_uring_sqe* s = sqe();
    if (e.events & io_edge)
      io_uring_prep_poll_multishot(s, fd, to_poll(e.events));
    else
      io_uring_prep_poll_add(s, fd, to_poll(e.events));
    io_uring_sqe_set_data64(s, user_data(fd, e.seq));
    e.armed = true;
  }

  void arm_wakeup() {
    io_uring_sqe* s = sqe();
    io_uring_prep_poll_multishot(s, wake_, POLLIN);
    io_uring_sqe_set_data64(s, wakeup_tag);
  }

  void cancel(int fd, entry& e) noexcept {
    if (e.armed) {
      // Not sqe(): remove() is noexcept. A full queue is submitted first; if even that
      // fails, the poll stays until its fd is registered again or the ring closes.
      io_uring_sqe* s = io_uring_get_sqe(&ring_);
      if (!s && io_uring_submit(&ring_) >= 0) s = io_uring_get_sqe(&ring_);
      if (s) {
        io_uring_prep_poll_remove(s, user_data(fd, e.seq));
        io_uring_sqe_set_data64(s, ignore_tag);
      }
    }
    e = entry{};
  }

  void rearm_level() {
    for (const int fd : rearm_) {
      entry& e = fds_[fd];
      if (e.seq != 0 && !e.armed) arm(fd, e);
    }
    rearm_.clear();
  }

  std::size_t reap(io_event* out, std::size_t max) {
    std::size_t k = 0;
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (k == max) break;
      ++seen;
      const std::uint64_t ud = cqe->user_data;
      const bool more = cqe->flags & IORING_CQE_F_MORE;
      if (ud == ignore_tag) continue;
      if (ud == wakeup_tag) {
        std::uint64_t v;
        while (::read(wake_, &v, sizeof v) > 0) {
        }
        if (!more) arm_wakeup();
        continue;
      }
      const int fd = static_cast<int>(ud & 0xffffffffu);
      const auto seq = static_cast<std::uint32_t>(ud >> 32);
      if (static_cast<std::size_t>(fd) >= fds_.size()) continue;
      entry& e = fds_[fd];
      if (e.seq != seq) continue;  // a cancelled or replaced poll
      if (cqe->res < 0) {
        // The poll ended in error: the fd is bad (closed without remove(): EBADF), or
        // the kernel refused the request. Report an error so that the owner looks at
        // the fd, and do not poll it again: a new add() or modify() will.
        e.armed = false;
        if (cqe->res != -ECANCELED) out[k++] = io_event{e.data, io_error};
        continue;
      }
      if (!more) {
        e.armed = false;
        // A level-triggered poll is armed again before the next wait; an edge-triggered
        // one that the kernel ended (CQ overflow, ...) at once.
        if (e.events & io_edge)
          arm(fd, e);
        else
          rearm_.push_back(fd);
      }
      const std::uint32_t ev = from_poll(static_cast<std::uint32_t>(cqe->res));
      if (ev != 0) out[k++] = io_event{e.data, ev};
    }
    io_uring_cq_advance(&ring_, seen);
    return k;
  }

  io_uring ring_{};
  int wake_ = -1;
  std::uint32_t seq_ = 0;
  std::vector<entry> fds_;
  std::vector<int> rearm_;
};

}  // namespace

std::unique_ptr<backend> make_io_uring_backend() {
  return std::make_unique<io_uring_backend>();
}

}  // namespace aio::detail
