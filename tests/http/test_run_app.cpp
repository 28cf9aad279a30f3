// SPDX-License-Identifier: MIT
// run_app in a real process (examples/http/hello_server): the banner, requests from
// curl, several workers with SO_REUSEPORT, and a clean exit on SIGTERM and SIGINT with
// the on_shutdown hooks run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <set>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

// A free port: bind port 0, read it, close (the server binds it right after).
std::uint16_t free_port() {
  aio::net::socket s = aio::net::socket::create(AF_INET, SOCK_STREAM);
  s.bind(*aio::net::address::parse("127.0.0.1", 0));
  return s.local_address().port();
}

// GET url with curl -s (a string parameter: g++ 12 rejects braced lists in co_await).
aio::coro<std::string> curl(std::string url) {
  std::vector<std::string> args = {"-s", std::move(url)};
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  aio::process p = co_await aio::create_subprocess_exec("/usr/bin/curl", std::move(args), o);
  auto [out, err] = co_await p.communicate();
  const int rc = co_await p.wait();
  if (rc != 0) throw std::runtime_error("curl failed: " + std::to_string(rc));
  co_return out;
}

aio::coro<void> run_and_stop(unsigned workers, int sig) {
  const std::uint16_t port = free_port();
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  std::vector<std::string> args = {"--port", std::to_string(port), "--workers",
                                   std::to_string(workers)};
  aio::process p = co_await aio::create_subprocess_exec(AIO_HELLO_SERVER, std::move(args), o);
  std::string banner = co_await p.out.readline();
  EXPECT_EQ(banner, "======== Running on http://127.0.0.1:" + std::to_string(port) + " ========\n");
  EXPECT_EQ(co_await p.out.readline(), "(Press CTRL+C to quit)\n");
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(co_await curl(base + "/"), "Hello, World!");
  // Many short connections: with two workers, both serve some (the kernel spreads them).
  std::set<std::string> threads;
  for (int i = 0; i < 40 && threads.size() < workers; ++i) {
    threads.insert(co_await curl(base + "/who"));
  }
  EXPECT_EQ(threads.size(), workers);
  p.send_signal(sig);
  std::string rest = co_await p.out.read();
  EXPECT_EQ(co_await p.wait(), 0);
  // One on_shutdown run per worker, then main returns.
  std::string expected;
  for (unsigned i = 0; i < workers; ++i) expected += "shutting down\n";
  EXPECT_EQ(rest, expected + "bye\n");
}

AIO_TEST(http_run_app, one_worker_stops_on_sigterm) {
  co_await run_and_stop(1, SIGTERM);
}

AIO_TEST(http_run_app, two_workers_stop_on_sigint) {
  co_await run_and_stop(2, SIGINT);
}

}  // namespace
