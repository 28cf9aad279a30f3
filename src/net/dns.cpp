// SPDX-License-Identifier: MIT
#include "aio/net/dns.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <coroutine>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "aio/core/detail/future_base.hpp"
#include "aio/core/detail/task_base.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"

namespace aio::net {

// --- errors -----------------------------------------------------------------------------

namespace {

std::string reason(int status) {
  switch (status) {
    case ARES_ENODATA:
      return "no address of the requested family";
    case ARES_EDESTRUCTION:
      return "resolver destroyed";
    case ARES_ECANCELLED:
      return "lookup cancelled";
    default:
      break;
  }
  // "Domain name not found" -> "domain name not found"; keep acronyms ("DNS server ...").
  std::string r = ares_strerror(status);
  if (r.size() > 1 && std::isupper(static_cast<unsigned char>(r[0])) &&
      !std::isupper(static_cast<unsigned char>(r[1])))
    r[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(r[0])));
  return r;
}

}  // namespace

dns_error::dns_error(int status, const std::string& host)
    : std::runtime_error("resolve " + (host.empty() ? std::string("''") : host) + ": " +
                         reason(status)),
      status_(status) {}

// --- the resolver's state ----------------------------------------------------------------

namespace {

void init_library() {
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  if (status != ARES_SUCCESS) throw dns_error(status, "(c-ares initialisation)");
}

/// The cache and in-flight key: the family, then the host in lower case (DNS names
/// are case-insensitive, and so is c-ares's /etc/hosts lookup).
std::string make_key(std::string_view host, int family) {
  std::string key;
  key.reserve(host.size() + 1);
  key.push_back(family == AF_INET ? '4' : family == AF_INET6 ? '6' : '*');
  for (char c : host) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return key;
}

/// Copies of `addrs` (port 0) with `port`.
std::vector<address> with_port(const std::vector<address>& addrs, std::uint16_t port) {
  std::vector<address> out = addrs;
  for (address& a : out) {
    if (a.family() == AF_INET)
      reinterpret_cast<sockaddr_in*>(a.data())->sin_port = htons(port);
    else if (a.family() == AF_INET6)
      reinterpret_cast<sockaddr_in6*>(a.data())->sin6_port = htons(port);
  }
  return out;
}

struct query;

/// A task waiting for a query: the awaiter, linked into the query's list of waiters.
struct waiter : aio::detail::suspension {
  waiter* prev = nullptr;
  waiter* next = nullptr;
  aio::detail::task_base* task = nullptr;
  bool linked = false;
};

}  // namespace

/// The state behind a resolver. Shared: the resolve coroutines hold it too, so a coro
/// that outlives its resolver finds it closed instead of dangling.
///
/// Ownership of the c-ares side. Each lookup is one `query` record on the heap,
/// reference counted: c-ares holds one reference (the `arg` of ares_getaddrinfo) until
/// its callback has run, and each awaiter holds one. The awaiter lives in a coroutine
/// frame that may be destroyed or cancelled at any moment; it then unlinks itself from
/// the query's waiters and drops its reference, and the c-ares callback, whenever it
/// comes, finds a record without waiters. Nothing c-ares calls ever points into a frame.
///
/// Loop integration. c-ares tells which of its sockets it wants watched through the
/// socket-state callback; each becomes an add_reader/add_writer callback (level-
/// triggered) that calls ares_process_fd. One loop timer, re-armed after every call into
/// c-ares, is due when ares_timeout() says the next query times out; with no query
/// pending there is no timer, and c-ares closes its sockets (no ARES_FLAG_STAYOPEN), so
/// an idle resolver holds nothing of the loop's.
class resolver::impl {
 public:
  impl(event_loop& loop, resolver_options opts) : loop_(loop), opts_(std::move(opts)) {}
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  void init();
  /// Destroys the channel: pending queries fail with ARES_EDESTRUCTION, their tasks are
  /// woken, sockets are closed. With `loop_gone_` set, nothing of the loop is touched.
  void shutdown() noexcept;

  /// A cached answer of `key`, or nullptr (an expired entry is dropped).
  const std::vector<address>* cached(const std::string& key);
  /// The query in flight for `key`, or a new one. The caller gets a reference.
  query* start_or_join(const std::string& key, const std::string& host, int family);
  /// Called by a query's c-ares callback while the resolver is alive.
  void finished(query* q, int ttl) noexcept;
  /// A waiter left (cancelled): if no task waits for any lookup any more, cancel them all.
  void waiter_cancelled() noexcept;

  void clear_cache() noexcept { cache_.clear(); }
  void check_loop() const;

  event_loop& loop_;
  const resolver_options opts_;
  bool closed_ = false;
  /// Set when the loop is being destroyed before the resolver: its fd table and timer
  /// heap are gone (it already dropped our callbacks), so shutdown() must not call it.
  bool loop_gone_ = false;
  /// Tasks suspended in a lookup of this resolver (all queries together).
  std::size_t waiting_ = 0;

 private:
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  void process(ares_socket_t read_fd, ares_socket_t write_fd) noexcept;
  void update_timer() noexcept;
  bool loop_usable() const noexcept { return !loop_gone_ && !loop_.is_closed(); }
  void report(const char* what) noexcept;

  struct watched_fd {
    ares_socket_t fd;
    bool reading;
    bool writing;
  };
  struct cache_entry {
    std::vector<address> addrs;
    time_point expires;
  };

  ares_channel channel_ = nullptr;
  timer_handle timer_;
  std::vector<watched_fd> fds_;  // c-ares uses one or two sockets per server
  std::unordered_map<std::string, query*> inflight_;
  std::unordered_map<std::string, cache_entry> cache_;
  std::size_t purge_at_ = 64;  // purge expired entries when the cache reaches this size
};

namespace {

/// One lookup (see resolver::impl). Its fields are written by the c-ares callback and
/// read by the awaiters after they are woken, all on the loop's thread.
struct query {
  std::uint32_t refs = 1;           // c-ares's, until its callback ran; + one per awaiter
  resolver::impl* owner = nullptr;  // null once finished or the resolver was destroyed
  std::string key;
  waiter* head = nullptr;  // the waiters, in the order they came (woken in that order)
  waiter* tail = nullptr;
  std::size_t waiters = 0;
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<address> addrs;  // with port 0

  void add_ref() noexcept { ++refs; }
  void release() noexcept {
    if (--refs == 0) delete this;
  }
  void link(waiter* w) noexcept {
    w->prev = tail;
    w->next = nullptr;
    (tail ? tail->next : head) = w;
    tail = w;
    w->linked = true;
    ++waiters;
  }
  void unlink(waiter* w) noexcept {
    (w->prev ? w->prev->next : head) = w->next;
    (w->next ? w->next->prev : tail) = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
    --waiters;
  }

  // The c-ares callback: runs inside ares_getaddrinfo (an /etc/hosts answer, a bad
  // name), ares_process_fd, ares_cancel or ares_destroy. It wakes tasks (which only
  // schedules them) and runs no user code, so nothing it does can re-enter c-ares.
  static void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* ai) noexcept {
    auto* q = static_cast<query*>(arg);
    int ttl = INT_MAX;
    if (status == ARES_SUCCESS) {
      try {
        for (ares_addrinfo_node* n = ai->nodes; n; n = n->ai_next) {
          if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
          q->addrs.push_back(address::from_sockaddr(n->ai_addr, n->ai_addrlen));
          ttl = std::min(ttl, n->ai_ttl);
        }
        for (ares_addrinfo_cname* c = ai->cnames; c; c = c->next) ttl = std::min(ttl, c->ttl);
        if (q->addrs.empty()) status = ARES_ENODATA;
      } catch (...) {
        q->addrs.clear();
        status = ARES_ENOMEM;
      }
    }
    if (ai) ares_freeaddrinfo(ai);
    q->status = status;
    q->done = true;
    if (resolver::impl* o = std::exchange(q->owner, nullptr)) o->finished(q, ttl);
    while (waiter* w = q->head) {
      q->unlink(w);
      w->task->wake();
    }
    q->release();  // c-ares's reference
  }
};

/// Suspends the awaiting task until its query finishes, then gives the answer with the
/// caller's port or throws its dns_error.
class query_awaiter : waiter {
 public:
  query_awaiter(query* q, std::uint16_t port, const std::string* host) noexcept
      : q_(q), host_(host), port_(port) {}  // adopts a reference to q
  query_awaiter(const query_awaiter&) = delete;
  query_awaiter& operator=(const query_awaiter&) = delete;
  ~query_awaiter() {
    // The frame is destroyed while the task waits (the loop is closing): leave quietly.
    // The query goes on; the resolver's destruction ends it.
    if (linked) detach();
    q_->release();
  }

  bool await_ready() const noexcept { return q_->done; }
  void await_suspend(std::coroutine_handle<> h) {
    task = &aio::detail::require_task();
    q_->link(this);
    if (q_->owner) ++q_->owner->waiting_;
    ops = &ops_;
    task->suspend_on(h, this);
  }
  std::vector<address> await_resume() {
    if (cancelled_) throw cancelled_error(task->cancel_message());
    if (task) task->throw_if_cancel_requested();
    if (q_->status != ARES_SUCCESS) throw dns_error(q_->status, *host_);
    return with_port(q_->addrs, port_);
  }

 private:
  void detach() noexcept {
    q_->unlink(this);
    if (q_->owner) --q_->owner->waiting_;
  }

  // Scenario: the task awaiting a lookup is cancelled. The awaiter leaves the query's
  // waiters and wakes its task at once; await_resume throws cancelled_error. c-ares
  // cannot drop one query, so the query goes on, for the other waiters or for nobody.
  // If this was the last task waiting on the resolver, every pending query is
  // cancelled in c-ares (ares_cancel), which disarms the timer and closes the sockets:
  // a cancelled lookup leaves nothing behind in the loop. Always accepted (true).
  static bool on_cancel(aio::detail::suspension* s, aio::detail::task_base*) {
    auto* self = static_cast<query_awaiter*>(static_cast<waiter*>(s));
    if (!self->linked) return false;
    resolver::impl* owner = self->q_->owner;
    self->detach();
    self->cancelled_ = true;
    self->task->wake();
    if (owner) owner->waiter_cancelled();
    return true;
  }
  static constexpr aio::detail::wait_ops ops_{nullptr, &on_cancel};

  query* q_;
  const std::string* host_;  // the resolving coroutine's parameter
  std::uint16_t port_;
  bool cancelled_ = false;
};

/// What run_resolve co_awaits (aio's awaitables are handed over as prvalues).
class query_awaitable {
 public:
  using aio_awaitable = void;
  query_awaitable(query* q, std::uint16_t port, const std::string* host) noexcept
      : q_(q), host_(host), port_(port) {}  // adopts a reference to q
  query_awaitable(query_awaitable&& o) noexcept
      : q_(std::exchange(o.q_, nullptr)), host_(o.host_), port_(o.port_) {}
  query_awaitable& operator=(query_awaitable&&) = delete;
  ~query_awaitable() {
    if (q_) q_->release();
  }
  query_awaiter operator co_await() && noexcept {
    return query_awaiter(std::exchange(q_, nullptr), port_, host_);
  }

 private:
  query* q_;
  const std::string* host_;
  std::uint16_t port_;
};

}  // namespace

void resolver::impl::init() {
  init_library();
  if (opts_.tries < 1) throw std::invalid_argument("resolver: tries must be at least 1");
  if (opts_.timeout.count() <= 0 || opts_.timeout.count() > INT_MAX)
    throw std::invalid_argument("resolver: timeout must be positive (and under 24 days)");
  if (opts_.cache_ttl.count() < 0) throw std::invalid_argument("resolver: negative cache_ttl");

  ares_options o{};
  o.timeout = static_cast<int>(opts_.timeout.count());
  o.tries = opts_.tries;
  char lookups_fb[] = "fb";
  char lookups_b[] = "b";
  o.lookups = opts_.use_hosts_file ? lookups_fb : lookups_b;
  o.sock_state_cb = &on_sock_state;
  o.sock_state_cb_data = this;
  const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
  if (int status = ares_init_options(&channel_, &o, mask); status != ARES_SUCCESS) {
    channel_ = nullptr;
    throw dns_error(status, "(c-ares initialisation)");
  }
  if (!opts_.servers.empty()) {
    if (ares_set_servers_ports_csv(channel_, opts_.servers.c_str()) != ARES_SUCCESS) {
      ares_destroy(channel_);
      channel_ = nullptr;
      throw std::invalid_argument("resolver: bad servers list '" + opts_.servers + "'");
    }
  }
}

void resolver::impl::shutdown() noexcept {
  if (closed_) return;
  closed_ = true;
  // ares_destroy calls every pending query's callback with ARES_EDESTRUCTION (waking
  // their tasks, which get dns_error), and the socket-state callback for each socket it
  // closes (which removes our readers).
  if (channel_) ares_destroy(std::exchange(channel_, nullptr));
  if (loop_usable()) {
    for (const watched_fd& w : fds_) {
      if (w.reading) loop_.remove_reader(w.fd);
      if (w.writing) loop_.remove_writer(w.fd);
    }
  }
  fds_.clear();
  // Safe even when the loop is gone: a timer the loop discarded is no longer armed, and
  // cancelling it only drops our function.
  timer_.cancel();
  timer_ = timer_handle();
  for (auto& [key, q] : inflight_) q->owner = nullptr;  // none left after ares_destroy
  inflight_.clear();
  cache_.clear();
  waiting_ = 0;
}

void resolver::impl::check_loop() const {
  if (aio::detail::running_loop_base() != &loop_)
    throw std::logic_error("aio::net::resolver used outside of the loop it belongs to");
}

const std::vector<address>* resolver::impl::cached(const std::string& key) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return nullptr;
  if (loop_.time() >= it->second.expires) {
    cache_.erase(it);
    return nullptr;
  }
  return &it->second.addrs;
}

query* resolver::impl::start_or_join(const std::string& key, const std::string& host, int family) {
  if (auto it = inflight_.find(key); it != inflight_.end()) {
    it->second->add_ref();
    return it->second;
  }
  auto* q = new query;
  q->owner = this;
  q->key = key;
  q->add_ref();  // the caller's
  try {
    inflight_.emplace(key, q);
  } catch (...) {
    delete q;
    throw;
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  // May call on_addrinfo before it returns (an /etc/hosts answer, a bad name).
  ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &query::on_addrinfo, q);
  update_timer();
  return q;
}

void resolver::impl::finished(query* q, int ttl) noexcept {
  waiting_ -= q->waiters;
  if (auto it = inflight_.find(q->key); it != inflight_.end() && it->second == q)
    inflight_.erase(it);
  if (closed_ || q->status != ARES_SUCCESS || ttl <= 0 || opts_.cache_ttl.count() <= 0) return;
  const duration keep = std::min<duration>(std::chrono::seconds(ttl),
                                           std::chrono::duration_cast<duration>(opts_.cache_ttl));
  try {
    if (cache_.size() >= purge_at_) {
      const time_point now = loop_.time();
      std::erase_if(cache_, [now](const auto& kv) { return now >= kv.second.expires; });
      purge_at_ = std::max<std::size_t>(64, 2 * cache_.size());
    }
    cache_.insert_or_assign(q->key, cache_entry{q->addrs, loop_.time() + keep});
  } catch (...) {
    // Out of memory: the answer is just not cached.
  }
}

void resolver::impl::waiter_cancelled() noexcept {
  if (waiting_ != 0 || inflight_.empty() || !channel_) return;
  // Every pending query is orphaned: stop them all (their callbacks run now, with
  // ARES_ECANCELLED, and find no waiter).
  ares_cancel(channel_);
  update_timer();
}

void resolver::impl::process(ares_socket_t read_fd, ares_socket_t write_fd) noexcept {
  if (!channel_) return;
  ares_process_fd(channel_, read_fd, write_fd);
  update_timer();
}

void resolver::impl::update_timer() noexcept {
  timer_.cancel();
  timer_ = timer_handle();
  if (!channel_ || !loop_usable()) return;
  timeval tv{};
  if (!ares_timeout(channel_, nullptr, &tv)) return;  // no query pending
  try {
    const auto delay = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    timer_ = loop_.call_later(delay, [this] {
      timer_ = timer_handle();  // it fired
      process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
  } catch (...) {
    report("c-ares timer could not be armed");
  }
}

void resolver::impl::on_sock_state(void* data, ares_socket_t fd, int readable,
                                   int writable) noexcept {
  auto* self = static_cast<impl*>(data);
  auto it = std::find_if(self->fds_.begin(), self->fds_.end(),
                         [fd](const watched_fd& w) { return w.fd == fd; });
  if (it == self->fds_.end()) {
    if (!readable && !writable) return;
    try {
      self->fds_.push_back({fd, false, false});
    } catch (...) {
      self->report("c-ares socket could not be watched");
      return;
    }
    it = self->fds_.end() - 1;
  }
  if (self->loop_usable()) {
    try {
      if (readable && !it->reading) {
        self->loop_.add_reader(fd, [self, fd] { self->process(fd, ARES_SOCKET_BAD); });
      } else if (!readable && it->reading) {
        self->loop_.remove_reader(fd);
      }
      it->reading = readable;
      if (writable && !it->writing) {
        self->loop_.add_writer(fd, [self, fd] { self->process(ARES_SOCKET_BAD, fd); });
      } else if (!writable && it->writing) {
        self->loop_.remove_writer(fd);
      }
      it->writing = writable;
    } catch (...) {
      // The query on this socket will time out (the timer still runs).
      self->report("c-ares socket could not be watched");
    }
  } else {
    it->reading = it->writing = false;
  }
  if (!it->reading && !it->writing) self->fds_.erase(it);
}

void resolver::impl::report(const char* what) noexcept {
  if (!loop_usable()) return;
  try {
    loop_.call_exception_handler(
        exception_context{.message = std::string("aio::net::resolver: ") + what,
                          .exception = std::current_exception()});
  } catch (...) {
  }
}

// --- resolving ----------------------------------------------------------------------------

namespace {

void check_family(int family) {
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    throw std::invalid_argument("resolve: family must be AF_UNSPEC, AF_INET or AF_INET6, not " +
                                std::to_string(family));
}

/// A numeric host's answer without c-ares; nullopt for a name.
std::optional<std::vector<address>> numeric(const std::string& host, std::uint16_t port,
                                            int family) {
  std::optional<address> a = address::parse(host, port);
  if (!a) return std::nullopt;
  if (family != AF_UNSPEC && a->family() != family) throw dns_error(ARES_ENODATA, host);
  return std::vector<address>{*a};
}

coro<std::vector<address>> run_resolve(std::shared_ptr<resolver::impl> self, std::string host,
                                       std::uint16_t port, resolve_options opts) {
  check_family(opts.family);
  if (auto n = numeric(host, port, opts.family)) co_return std::move(*n);
  self->check_loop();
  if (self->closed_) throw dns_error(ARES_EDESTRUCTION, host);
  if (host.empty()) throw dns_error(ARES_EBADNAME, host);
  const std::string key = make_key(host, opts.family);
  if (const std::vector<address>* hit = self->cached(key)) co_return with_port(*hit, port);

  // The resolver may be destroyed while we wait: the awaiter uses only the query.
  std::vector<address> out =
      co_await query_awaitable(self->start_or_join(key, host, opts.family), port, &host);
  co_return out;
}

}  // namespace

resolver::resolver(event_loop& loop, resolver_options opts)
    : impl_(std::make_shared<impl>(loop, std::move(opts))) {
  impl_->init();
}

resolver::~resolver() {
  impl_->shutdown();
}

coro<std::vector<address>> resolver::resolve(std::string host, std::uint16_t port,
                                             resolve_options opts) {
  return run_resolve(impl_, std::move(host), port, opts);
}

void resolver::clear_cache() noexcept {
  impl_->clear_cache();
}

event_loop& resolver::loop() const noexcept {
  return impl_->loop_;
}

const resolver_options& resolver::options() const noexcept {
  return impl_->opts_;
}

// --- the default resolver of each loop ------------------------------------------------------

namespace detail {
struct dns_access {
  static resolver::impl& impl_of(resolver& r) noexcept { return *r.impl_; }
};
}  // namespace detail

namespace {

std::mutex default_options_mutex;
std::optional<resolver_options> default_options;  // guarded by default_options_mutex

// Where a loop's default resolver lives. The core layer has no slot for it (the loop's
// default_executor slot belongs to the executors), so each loop gets a `default_slot`
// owned by a shutdown hook of that loop, and found through a per-thread list:
//  - aio::run runs the hook before it closes the loop: the resolver is destroyed while
//    the loop is alive, as the default executor is shut down.
//  - A loop driven by hand that never runs its hooks destroys the hook, and with it the
//    slot, in its own destructor — after close(), when its fd table and timers are gone:
//    the slot then marks the resolver `loop_gone_` before destroying it, so that it
//    closes its sockets without calling the loop.
// The list head is a plain thread_local pointer (trivially destructible), so a loop
// that outlives its thread's thread_local objects still finds a valid head.
struct default_slot {
  event_loop* loop = nullptr;
  std::unique_ptr<resolver> r;
  default_slot* next = nullptr;
  ~default_slot();
};

thread_local default_slot* tls_default_slots = nullptr;

default_slot::~default_slot() {
  for (default_slot** p = &tls_default_slots; *p; p = &(*p)->next) {
    if (*p == this) {
      *p = next;
      break;
    }
  }
  if (r) {
    detail::dns_access::impl_of(*r).loop_gone_ = true;
    r.reset();
  }
}

coro<void> shut_down_default(std::shared_ptr<default_slot> slot) {
  slot->r.reset();
  co_return;
}

}  // namespace

resolver& default_resolver(event_loop& loop) {
  default_slot* slot = nullptr;
  for (default_slot* s = tls_default_slots; s; s = s->next) {
    if (s->loop != &loop) continue;
    if (s->r) return *s->r;
    slot = s;
    break;
  }
  std::shared_ptr<default_slot> owner;
  if (!slot) {
    owner = std::make_shared<default_slot>();
    owner->loop = &loop;
    owner->next = tls_default_slots;
    tls_default_slots = owner.get();
    slot = owner.get();
  }
  // A slot is alive only while its hook is (the hook owns it), so a slot found without a
  // resolver (making one failed) still has its hook; a new slot needs one.
  if (owner) loop.add_shutdown_hook([owner] { return shut_down_default(owner); });
  slot->r = std::make_unique<resolver>(loop, default_resolver_options());
  return *slot->r;
}

void set_default_resolver_options(std::optional<resolver_options> opts) {
  std::lock_guard lk(default_options_mutex);
  default_options = std::move(opts);
}

resolver_options default_resolver_options() {
  {
    std::lock_guard lk(default_options_mutex);
    if (default_options) return *default_options;
  }
  resolver_options o;
  if (const char* servers = std::getenv("AIO_DNS_SERVERS")) o.servers = servers;
  return o;
}

coro<std::vector<address>> resolve(std::string host, std::uint16_t port, resolve_options opts) {
  check_family(opts.family);
  if (auto n = numeric(host, port, opts.family)) co_return std::move(*n);
  resolver& r = default_resolver(get_running_loop());
  std::vector<address> out = co_await r.resolve(std::move(host), port, opts);
  co_return out;
}

}  // namespace aio::net
