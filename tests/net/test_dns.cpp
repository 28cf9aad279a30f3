// SPDX-License-Identifier: MIT
#include "aio/net/dns.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "aio/aio.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
using aio::net::address;
using aio::net::dns_error;
using aio::net::resolver;

static_assert(std::is_trivially_destructible_v<aio::net::resolve_options>);
static_assert(!std::is_copy_constructible_v<resolver>);
static_assert(std::is_base_of_v<std::runtime_error, dns_error>);
static_assert(std::is_same_v<decltype(std::declval<resolver&>().resolve("h", 1)),
                             aio::coro<std::vector<address>>>);
static_assert(std::is_same_v<decltype(aio::net::resolve("h", 1)), aio::coro<std::vector<address>>>);

namespace {

/// A tiny DNS server on 127.0.0.1 UDP (a port the kernel chose), run by the test's own
/// loop through add_reader. It answers A and AAAA queries from its table, NXDOMAIN for
/// names it does not know, NOERROR without answers for a known name without records of
/// the type asked, never for "silent" names; and it counts the queries per name.
class fake_dns {
 public:
  explicit fake_dns(aio::event_loop& loop) : loop_(loop) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      int err = errno;
      ::close(fd_);
      throw std::system_error(err, std::generic_category(), "bind");
    }
    port_ = ntohs(sa.sin_port);
    loop_.add_reader(fd_, [this] { on_readable(); });
  }
  fake_dns(const fake_dns&) = delete;
  fake_dns& operator=(const fake_dns&) = delete;
  ~fake_dns() {
    loop_.remove_reader(fd_);
    ::close(fd_);
  }

  /// "127.0.0.1:<port>", for resolver_options::servers.
  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }

  /// Adds an A or AAAA record (by the form of `ip`) with `ttl` seconds.
  void add(const std::string& name, const std::string& ip, std::uint32_t ttl = 300) {
    entry& e = table_[name];
    e.ttl = ttl;
    std::array<unsigned char, 16> buf{};
    if (::inet_pton(AF_INET, ip.c_str(), buf.data()) == 1)
      e.a.emplace_back(buf.begin(), buf.begin() + 4);
    else if (::inet_pton(AF_INET6, ip.c_str(), buf.data()) == 1)
      e.aaaa.emplace_back(buf.begin(), buf.end());
    else
      throw std::invalid_argument("fake_dns: bad address " + ip);
  }
  /// A name the server receives queries for and never answers.
  void add_silent(const std::string& name) { table_[name].silent = true; }

  /// Queries received for `name` (any type).
  int queries(const std::string& name) const {
    auto it = counts_.find(name);
    return it == counts_.end() ? 0 : it->second;
  }
  int total_queries() const { return total_; }

 private:
  struct entry {
    std::vector<std::vector<unsigned char>> a, aaaa;
    std::uint32_t ttl = 300;
    bool silent = false;
  };

  static void put16(std::vector<unsigned char>& out, unsigned v) {
    out.push_back(static_cast<unsigned char>(v >> 8));
    out.push_back(static_cast<unsigned char>(v));
  }

  void on_readable() {
    for (;;) {
      unsigned char buf[1500];
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (n < 0) return;  // EAGAIN: drained
      answer(buf, static_cast<std::size_t>(n), peer, plen);
    }
  }

  void answer(const unsigned char* q, std::size_t n, const sockaddr_storage& peer, socklen_t plen) {
    if (n < 12 || ((q[4] << 8) | q[5]) != 1) return;  // one question, or ignore
    // The question: labels, then QTYPE and QCLASS.
    std::size_t off = 12;
    std::string name;
    while (off < n && q[off] != 0) {
      const std::size_t len = q[off];
      if (len > 63 || off + 1 + len > n) return;
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < len; ++i)
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(q[off + 1 + i])));
      off += 1 + len;
    }
    if (off + 5 > n) return;
    const unsigned qtype = (q[off + 1] << 8) | q[off + 2];
    const std::size_t question_end = off + 5;
    ++counts_[name];
    ++total_;

    auto it = table_.find(name);
    if (it != table_.end() && it->second.silent) return;
    const std::vector<std::vector<unsigned char>>* records = nullptr;
    if (it != table_.end())
      records = qtype == 1 ? &it->second.a : qtype == 28 ? &it->second.aaaa : nullptr;
    const unsigned ancount = records ? static_cast<unsigned>(records->size()) : 0;
    const unsigned rcode = it == table_.end() ? 3 : 0;  // NXDOMAIN : NOERROR

    std::vector<unsigned char> r(q, q + 2);                // ID
    put16(r, 0x8000 | (q[2] & 0x01) << 8 | 0x80 | rcode);  // QR, RD copied, RA, RCODE
    put16(r, 1);
    put16(r, ancount);
    put16(r, 0);
    put16(r, 0);
    r.insert(r.end(), q + 12, q + question_end);
    for (unsigned i = 0; i < ancount; ++i) {
      const std::vector<unsigned char>& rdata = (*records)[i];
      put16(r, 0xc00c);  // the name: a pointer to the question's
      put16(r, qtype);
      put16(r, 1);  // IN
      put16(r, it->second.ttl >> 16);
      put16(r, it->second.ttl & 0xffff);
      put16(r, static_cast<unsigned>(rdata.size()));
      r.insert(r.end(), rdata.begin(), rdata.end());
    }
    ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&peer), plen);
  }

  aio::event_loop& loop_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::map<std::string, entry> table_;
  std::map<std::string, int> counts_;
  int total_ = 0;
};

/// The usual table of the tests.
void fill(fake_dns& dns) {
  dns.add("a.test", "10.0.0.1");
  dns.add("a.test", "10.0.0.2");
  dns.add("v6.test", "2001:db8::1");
  dns.add("both.test", "10.0.0.3");
  dns.add("both.test", "2001:db8::3");
  dns.add("ttl0.test", "10.0.0.4", 0);
  dns.add("ttl1.test", "10.0.0.5", 1);
  dns.add_silent("slow.test");
}

std::set<std::string> strings(const std::vector<address>& v) {
  std::set<std::string> s;
  for (const address& a : v) s.insert(a.to_string());
  return s;
}

/// Lets the loop run until the server has seen a query for `name` (real time; the
/// query is sent as soon as the resolving task runs).
aio::coro<void> query_seen(const fake_dns& dns, std::string name) {
  for (int i = 0; i < 5000 && dns.queries(name) == 0; ++i) co_await aio::sleep(1ms);
  if (dns.queries(name) == 0) ADD_FAILURE() << "no query for " << name << " reached the server";
}

/// A name of /etc/hosts other than localhost that has an IPv4 address, if any.
std::optional<std::string> ipv4_name_in_hosts_file() {
  std::ifstream in("/etc/hosts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line.substr(0, line.find('#')));
    std::string ip, name;
    in_addr a{};
    if (!(words >> ip) || ::inet_pton(AF_INET, ip.c_str(), &a) != 1) continue;
    while (words >> name) {
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (name.rfind("localhost", 0) != 0) return name;
    }
  }
  return std::nullopt;
}

aio::net::resolver_options make_options(const fake_dns& dns) {
  aio::net::resolver_options o;
  o.servers = dns.servers();
  return o;
}

}  // namespace

// --- answers -----------------------------------------------------------------------------

AIO_TEST(dns, numeric_host_makes_no_query) {
  fake_dns dns(aio::get_running_loop());
  resolver r(aio::get_running_loop(), make_options(dns));
  auto v4 = co_await r.resolve("127.0.0.1", 80);
  CO_ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].to_string(), "127.0.0.1:80");
  auto v6 = co_await r.resolve("::1", 443);
  CO_ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].to_string(), "[::1]:443");
  auto free = co_await aio::net::resolve("10.1.2.3", 5432);
  CO_ASSERT_EQ(free.size(), 1u);
  EXPECT_EQ(free[0].to_string(), "10.1.2.3:5432");
  EXPECT_EQ(dns.total_queries(), 0);
}

AIO_TEST(dns, numeric_host_of_another_family_is_an_error) {
  try {
    co_await aio::net::resolve("127.0.0.1", 80, {.family = AF_INET6});
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    EXPECT_EQ(e.status(), ARES_ENODATA);
    EXPECT_EQ(std::string(e.what()), "resolve 127.0.0.1: no address of the requested family");
  }
}

AIO_TEST(dns, bad_family_is_invalid_argument) {
  EXPECT_THROW(co_await aio::net::resolve("a.test", 80, {.family = AF_UNIX}),
               std::invalid_argument);
}

AIO_TEST(dns, resolves_a_records) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto addrs = co_await r.resolve("a.test", 8080, {.family = AF_INET});
  EXPECT_EQ(strings(addrs), (std::set<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
  EXPECT_EQ(dns.queries("a.test"), 1);
}

AIO_TEST(dns, resolves_aaaa_records) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto addrs = co_await r.resolve("v6.test", 443, {.family = AF_INET6});
  EXPECT_EQ(strings(addrs), (std::set<std::string>{"[2001:db8::1]:443"}));
}

AIO_TEST(dns, names_are_case_insensitive) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto addrs = co_await r.resolve("A.Test", 1, {.family = AF_INET});
  EXPECT_EQ(addrs.size(), 2u);
  auto again = co_await r.resolve("a.TEST", 1, {.family = AF_INET});  // from the cache
  EXPECT_EQ(strings(again), strings(addrs));
  EXPECT_EQ(dns.queries("a.test"), 1);
}

AIO_TEST(dns, family_filter) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto any = co_await r.resolve("both.test", 80);
  EXPECT_EQ(strings(any), (std::set<std::string>{"10.0.0.3:80", "[2001:db8::3]:80"}));
  auto v4 = co_await r.resolve("both.test", 80, {.family = AF_INET});
  EXPECT_EQ(strings(v4), (std::set<std::string>{"10.0.0.3:80"}));
  auto v6 = co_await r.resolve("both.test", 80, {.family = AF_INET6});
  EXPECT_EQ(strings(v6), (std::set<std::string>{"[2001:db8::3]:80"}));
  // AF_UNSPEC asks A and AAAA; each family alone asks one more.
  EXPECT_EQ(dns.queries("both.test"), 4);

  // A name with IPv4 addresses only, asked for IPv6.
  try {
    co_await r.resolve("a.test", 80, {.family = AF_INET6});
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    EXPECT_NE(std::string(e.what()).find("resolve a.test: "), std::string::npos) << e.what();
  }
}

AIO_TEST(dns, unknown_name_is_dns_error_naming_the_host) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  try {
    co_await r.resolve("missing.test", 80);
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    EXPECT_EQ(e.status(), ARES_ENOTFOUND);
    EXPECT_EQ(std::string(e.what()), "resolve missing.test: domain name not found");
  }
  // Failures are not cached.
  EXPECT_THROW(co_await r.resolve("missing.test", 80), dns_error);
  EXPECT_GE(dns.queries("missing.test"), 2);
}

AIO_TEST(dns, silent_server_times_out) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  auto opts = make_options(dns);
  opts.timeout = 50ms;
  opts.tries = 1;
  resolver r(aio::get_running_loop(), std::move(opts));
  try {
    co_await r.resolve("slow.test", 80, {.family = AF_INET});
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    EXPECT_EQ(e.status(), ARES_ETIMEOUT);
    EXPECT_EQ(std::string(e.what()), "resolve slow.test: timeout while contacting DNS servers");
  }
  EXPECT_EQ(aio::get_running_loop().armed_timers(), 0u);
}

AIO_TEST(dns, no_server_listening_is_dns_error) {
  // A port nobody listens on: bind one, note it, close it.
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  CO_ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  CO_ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  ::close(fd);
  aio::net::resolver_options opts;
  opts.servers = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  opts.timeout = 200ms;
  opts.tries = 1;
  resolver r(aio::get_running_loop(), std::move(opts));
  try {
    co_await r.resolve("a.test", 80, {.family = AF_INET});
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    // ICMP port unreachable arrives as ECONNREFUSED; a timeout is acceptable too.
    EXPECT_TRUE(e.status() == ARES_ECONNREFUSED || e.status() == ARES_ETIMEOUT) << e.what();
  }
}

AIO_TEST(dns, localhost_comes_from_the_hosts_file) {
  fake_dns dns(aio::get_running_loop());
  resolver r(aio::get_running_loop(), make_options(dns));
  auto addrs = co_await r.resolve("localhost", 80, {.family = AF_INET});
  CO_ASSERT_FALSE(addrs.empty());
  for (const address& a : addrs) EXPECT_EQ(a.to_string(), "127.0.0.1:80");
  EXPECT_EQ(dns.total_queries(), 0);
}

// c-ares never sends "localhost" to DNS (RFC 6761), so this test takes another name
// of /etc/hosts with an IPv4 address.
AIO_TEST(dns, hosts_file_can_be_skipped) {
  const std::optional<std::string> name = ipv4_name_in_hosts_file();
  if (!name) {
    std::cout << "[ SKIPPED  ] /etc/hosts has no name but localhost with an IPv4 address\n";
    co_return;
  }
  fake_dns dns(aio::get_running_loop());
  dns.add(*name, "10.9.9.9");
  resolver with_file(aio::get_running_loop(), make_options(dns));
  auto from_file = co_await with_file.resolve(*name, 80, {.family = AF_INET});
  EXPECT_EQ(strings(from_file).count("10.9.9.9:80"), 0u);
  EXPECT_EQ(dns.total_queries(), 0);

  auto opts = make_options(dns);
  opts.use_hosts_file = false;
  resolver without(aio::get_running_loop(), std::move(opts));
  auto from_dns = co_await without.resolve(*name, 80, {.family = AF_INET});
  EXPECT_EQ(strings(from_dns), (std::set<std::string>{"10.9.9.9:80"}));
  EXPECT_EQ(dns.queries(*name), 1);
}

// --- the cache ---------------------------------------------------------------------------

AIO_TEST(dns, cache_hit_makes_no_query) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto first = co_await r.resolve("a.test", 80, {.family = AF_INET});
  auto second = co_await r.resolve("a.test", 8443, {.family = AF_INET});
  EXPECT_EQ(dns.queries("a.test"), 1);
  EXPECT_EQ(strings(second), (std::set<std::string>{"10.0.0.1:8443", "10.0.0.2:8443"}));
  // Another family is another entry.
  co_await r.resolve("a.test", 80);
  EXPECT_EQ(dns.queries("a.test"), 3);  // A and AAAA
  r.clear_cache();
  co_await r.resolve("a.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("a.test"), 4);
}

AIO_TEST(dns, zero_cache_ttl_disables_the_cache) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  auto opts = make_options(dns);
  opts.cache_ttl = 0s;
  resolver r(aio::get_running_loop(), std::move(opts));
  co_await r.resolve("a.test", 80, {.family = AF_INET});
  co_await r.resolve("a.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("a.test"), 2);
}

AIO_TEST(dns, record_with_zero_ttl_is_not_cached) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  co_await r.resolve("ttl0.test", 80, {.family = AF_INET});
  co_await r.resolve("ttl0.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("ttl0.test"), 2);
}

// The cache runs on the loop's clock: virtual time moves it exactly.
AIO_TEST_VIRTUAL_TIME(dns, cache_entry_expires_with_the_record_ttl) {
  auto& loop = aio::get_running_loop();
  fake_dns dns(loop);
  fill(dns);
  resolver r(loop, make_options(dns));
  co_await r.resolve("ttl1.test", 80, {.family = AF_INET});
  co_await r.resolve("ttl1.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("ttl1.test"), 1);
  loop.advance_time(1100ms);
  co_await r.resolve("ttl1.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("ttl1.test"), 2);
}

AIO_TEST_VIRTUAL_TIME(dns, cache_ttl_caps_the_record_ttl) {
  auto& loop = aio::get_running_loop();
  fake_dns dns(loop);
  fill(dns);  // a.test: TTL 300 s
  auto opts = make_options(dns);
  opts.cache_ttl = 2s;
  resolver r(loop, std::move(opts));
  co_await r.resolve("a.test", 80, {.family = AF_INET});
  loop.advance_time(1s);
  co_await r.resolve("a.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("a.test"), 1);
  loop.advance_time(1500ms);
  co_await r.resolve("a.test", 80, {.family = AF_INET});
  EXPECT_EQ(dns.queries("a.test"), 2);
}

AIO_TEST(dns, concurrent_resolves_share_one_query) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto [x, y, z] = co_await aio::gather(r.resolve("a.test", 1, {.family = AF_INET}),
                                        r.resolve("A.test", 2, {.family = AF_INET}),
                                        r.resolve("a.test", 3, {.family = AF_INET}));
  EXPECT_EQ(dns.queries("a.test"), 1);
  EXPECT_EQ(strings(x), (std::set<std::string>{"10.0.0.1:1", "10.0.0.2:1"}));
  EXPECT_EQ(strings(y), (std::set<std::string>{"10.0.0.1:2", "10.0.0.2:2"}));
  EXPECT_EQ(strings(z), (std::set<std::string>{"10.0.0.1:3", "10.0.0.2:3"}));
}

// --- cancellation ------------------------------------------------------------------------

AIO_TEST(dns, cancelled_resolve_returns_at_once_and_leaves_nothing) {
  auto& loop = aio::get_running_loop();
  fake_dns dns(loop);
  fill(dns);
  resolver r(loop, make_options(dns));  // 5 s timeout: the query outlives the test
  const std::size_t fds = aio::testing::open_fd_count();
  auto t = aio::create_task(r.resolve("slow.test", 80));
  co_await query_seen(dns, "slow.test");
  EXPECT_GE(loop.armed_timers(), 1u);  // c-ares's timeout
  t.cancel("enough");
  try {
    co_await t;
    ADD_FAILURE() << "not cancelled";
  } catch (const aio::cancelled_error& e) {
    EXPECT_EQ(e.message(), "enough");
  }
  // No task waits on the resolver any more: its queries were cancelled in c-ares,
  // which disarmed the timer and closed the socket.
  EXPECT_EQ(loop.armed_timers(), 0u);
  EXPECT_EQ(aio::testing::open_fd_count(), fds);
}

AIO_TEST(dns, wait_for_and_timeout_cancel_a_pending_resolve) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  EXPECT_THROW(co_await aio::wait_for(r.resolve("slow.test", 80), 20ms), aio::timeout_error);
  EXPECT_THROW(co_await aio::timeout(20ms, r.resolve("slow.test", 80)), aio::timeout_error);
  EXPECT_EQ(aio::get_running_loop().armed_timers(), 0u);
  // The resolver still works afterwards.
  auto addrs = co_await r.resolve("a.test", 80, {.family = AF_INET});
  EXPECT_EQ(addrs.size(), 2u);
}

AIO_TEST(dns, cancelling_one_sharer_leaves_the_others_their_answer) {
  auto& loop = aio::get_running_loop();
  fake_dns dns(loop);
  fill(dns);
  auto opts = make_options(dns);
  opts.timeout = 100ms;
  opts.tries = 1;
  resolver r(loop, std::move(opts));
  auto a = aio::create_task(r.resolve("slow.test", 80));
  auto b = aio::create_task(r.resolve("slow.test", 80));
  co_await query_seen(dns, "slow.test");
  a.cancel();
  EXPECT_THROW(co_await a, aio::cancelled_error);
  // b still waits on the query, which goes on and fails on its own timeout.
  try {
    co_await b;
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    EXPECT_EQ(e.status(), ARES_ETIMEOUT);
  }
}

AIO_TEST(dns, cancelled_before_it_suspends) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  resolver r(aio::get_running_loop(), make_options(dns));
  auto body = [&]() -> aio::coro<void> {
    aio::current_task()->cancel();
    co_await r.resolve("slow.test", 80);  // the cancel is delivered here
  };
  auto t = aio::create_task(body);
  EXPECT_THROW(co_await t, aio::cancelled_error);
  EXPECT_EQ(aio::get_running_loop().armed_timers(), 0u);
}

// --- destruction -------------------------------------------------------------------------

AIO_TEST(dns, destroying_the_resolver_fails_pending_resolves) {
  auto& loop = aio::get_running_loop();
  fake_dns dns(loop);
  fill(dns);
  const std::size_t fds = aio::testing::open_fd_count();
  std::optional<resolver> r(std::in_place, loop, make_options(dns));
  auto t = aio::create_task(r->resolve("slow.test", 80));
  auto late = r->resolve("a.test", 80);  // a coro not started yet
  co_await query_seen(dns, "slow.test");
  r.reset();
  try {
    co_await t;
    ADD_FAILURE() << "no dns_error";
  } catch (const dns_error& e) {
    EXPECT_EQ(e.status(), ARES_EDESTRUCTION);
    EXPECT_EQ(std::string(e.what()), "resolve slow.test: resolver destroyed");
  }
  EXPECT_THROW(co_await std::move(late), dns_error);
  EXPECT_EQ(loop.armed_timers(), 0u);
  EXPECT_EQ(aio::testing::open_fd_count(), fds);
}

// --- the default resolver ----------------------------------------------------------------

namespace {
/// Points the default resolvers made during a test at a fake server.
struct default_servers {
  explicit default_servers(const fake_dns& dns) {
    aio::net::resolver_options o;
    o.servers = dns.servers();
    aio::net::set_default_resolver_options(std::move(o));
  }
  ~default_servers() { aio::net::set_default_resolver_options(std::nullopt); }
};
}  // namespace

AIO_TEST(dns, default_resolver_is_one_per_loop) {
  auto& loop = aio::get_running_loop();
  fake_dns dns(loop);
  fill(dns);
  default_servers use(dns);
  resolver& r = aio::net::default_resolver(loop);
  EXPECT_EQ(&r, &aio::net::default_resolver(loop));
  EXPECT_EQ(r.options().servers, dns.servers());
  auto addrs = co_await aio::net::resolve("a.test", 80, {.family = AF_INET});
  EXPECT_EQ(addrs.size(), 2u);
  co_await aio::net::resolve("a.test", 80, {.family = AF_INET});  // cached
  EXPECT_EQ(dns.queries("a.test"), 1);
  // The default resolver outlives the test body: it is idle (no timer, no socket), and
  // the loop's destruction destroys it.
}

TEST(dns_default, environment_variable_names_the_servers) {
  ::setenv("AIO_DNS_SERVERS", "127.0.0.1:5300", 1);
  EXPECT_EQ(aio::net::default_resolver_options().servers, "127.0.0.1:5300");
  aio::net::resolver_options o;
  o.servers = "127.0.0.1:5301";
  aio::net::set_default_resolver_options(o);  // overrides the environment
  EXPECT_EQ(aio::net::default_resolver_options().servers, "127.0.0.1:5301");
  aio::net::set_default_resolver_options(std::nullopt);
  EXPECT_EQ(aio::net::default_resolver_options().servers, "127.0.0.1:5300");
  ::unsetenv("AIO_DNS_SERVERS");
  EXPECT_EQ(aio::net::default_resolver_options().servers, "");
  EXPECT_EQ(aio::net::default_resolver_options().timeout, 5s);
}

// aio::run shuts the default resolver down through its loop shutdown hook.
TEST(dns_default, aio_run_shuts_the_default_resolver_down) {
  const std::size_t fds = aio::testing::open_fd_count();
  aio::run([]() -> aio::coro<void> {
    fake_dns dns(aio::get_running_loop());
    fill(dns);
    default_servers use(dns);
    auto addrs = co_await aio::net::resolve("v6.test", 80, {.family = AF_INET6});
    EXPECT_EQ(addrs.size(), 1u);
  });
  EXPECT_EQ(aio::testing::open_fd_count(), fds);
}

// A loop driven by hand and destroyed while a task waits on its default resolver: the
// task's frame is destroyed by close(), then the resolver, without touching the loop.
TEST(dns_default, loop_destroyed_with_a_lookup_pending) {
  const std::size_t fds = aio::testing::open_fd_count();
  {
    aio::event_loop loop;
    loop.set_exception_handler([](aio::event_loop&, const aio::exception_context&) {});
    fake_dns dns(loop);
    fill(dns);
    default_servers use(dns);
    auto t = loop.create_task(aio::net::resolve("slow.test", 80));
    loop.run_until_complete(query_seen(dns, "slow.test"));
    EXPECT_GE(aio::testing::open_fd_count(), fds + 3);  // epoll, the server, c-ares
  }
  EXPECT_EQ(aio::testing::open_fd_count(), fds);
}

// --- options and misuse --------------------------------------------------------------------

AIO_TEST(dns, bad_options_are_invalid_argument) {
  auto& loop = aio::get_running_loop();
  aio::net::resolver_options bad_servers;
  bad_servers.servers = "not an address";
  EXPECT_THROW(resolver(loop, bad_servers), std::invalid_argument);
  aio::net::resolver_options no_tries;
  no_tries.tries = 0;
  EXPECT_THROW(resolver(loop, no_tries), std::invalid_argument);
  aio::net::resolver_options no_timeout;
  no_timeout.timeout = 0ms;
  EXPECT_THROW(resolver(loop, no_timeout), std::invalid_argument);
  co_return;
}

TEST(dns_misuse, resolver_used_from_another_loop) {
  aio::event_loop a;
  aio::event_loop b;
  resolver r(a);
  EXPECT_THROW(b.run_until_complete(r.resolve("a.test", 80)), std::logic_error);
}

// Brute-force cancellation (STYLE.md): the scenario is cancelled after each of its steps
// in turn; every run must end cleanly and leave nothing behind.
TEST(dns_stress, cancelled_at_every_step) {
  auto stats = aio::testing::cancel_at_every_step(
      []() -> aio::coro<void> {
        fake_dns dns(aio::get_running_loop());
        fill(dns);
        resolver r(aio::get_running_loop(), make_options(dns));
        auto first = co_await r.resolve("both.test", 80);
        EXPECT_EQ(first.size(), 2u);
        auto [x, y] = co_await aio::gather(r.resolve("a.test", 1), r.resolve("a.test", 2));
        EXPECT_EQ(x.size(), 2u);
        EXPECT_EQ(y.size(), 2u);
        auto cached = co_await r.resolve("both.test", 81);
        EXPECT_EQ(cached.size(), 2u);
      },
      {.virtual_clock = false});
  RecordProperty("steps", static_cast<int>(stats.steps));
  RecordProperty("cancelled", static_cast<int>(stats.cancelled));
  EXPECT_GT(stats.steps, 3u);
  EXPECT_GT(stats.cancelled, 0u);
}

// The example of dns.hpp and docs/dns.md, writing to a string stream.
namespace {
aio::coro<void> print_addresses(std::string host, std::ostream& out) {
  try {
    for (const aio::net::address& a : co_await aio::net::resolve(host, 443))
      out << a.to_string() << '\n';
  } catch (const aio::net::dns_error& e) {
    out << e.what() << '\n';  // "resolve nope.invalid: domain name not found"
  }
}
}  // namespace

AIO_TEST(dns, documented_example) {
  fake_dns dns(aio::get_running_loop());
  fill(dns);
  default_servers use(dns);
  std::ostringstream out;
  co_await print_addresses("v6.test", out);
  co_await print_addresses("nope.invalid", out);
  EXPECT_EQ(out.str(), "[2001:db8::1]:443\nresolve nope.invalid: domain name not found\n");
}
