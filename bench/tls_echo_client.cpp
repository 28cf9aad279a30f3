// SPDX-License-Identifier: MIT
// bench_tls_echo_client — the closed-loop load generator of the `tls` suite of
// bench/run: N TLS connections (no certificate verification: the benchmark's
// self-signed certificate), each sending an S-byte message and waiting for the whole
// echo before the next, for D seconds. Prints one JSON line: requests and seconds.
//
//   bench_tls_echo_client --port P [--conns 100] [--size 1024] [--dur 4]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/tls.hpp"

namespace {

struct options {
  std::uint16_t port = 0;
  int conns = 100;
  std::size_t size = 1024;
  double dur = 4;
};

aio::coro<long> one_connection(const options& o, const aio::ssl_context& ctx, const bool& stop) {
  aio::connection_options co;
  co.ssl = &ctx;
  auto [r, w] = co_await aio::open_connection("127.0.0.1", o.port, co);
  const std::string msg(o.size, 'x');
  long n = 0;
  while (!stop) {
    w.write(msg);
    co_await w.drain();
    (void)co_await r.readexactly(o.size);
    ++n;
  }
  w.close();
  co_return n;
}

aio::coro<void> main_async(options o) {
  aio::ssl_context ctx = aio::ssl_context::client();
  ctx.set_verify(false);
  bool stop = false;
  std::vector<aio::coro<long>> cs;
  for (int i = 0; i < o.conns; ++i) cs.push_back(one_connection(o, ctx, stop));
  const auto t0 = std::chrono::steady_clock::now();
  auto all = aio::create_task(aio::gather(std::move(cs)));
  co_await aio::sleep(std::chrono::duration<double>(o.dur));
  stop = true;
  std::vector<long> counts = co_await all;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long total = 0;
  for (long c : counts) total += c;
  std::printf("{\"requests\": %ld, \"seconds\": %.3f}\n", total, secs);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port")) o.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--conns")) o.conns = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--size")) o.size = std::strtoul(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--dur")) o.dur = std::atof(argv[i + 1]);
  }
  if (o.port == 0 || o.conns <= 0 || o.size == 0) {
    std::fprintf(stderr, "usage: bench_tls_echo_client --port P [--conns N] [--size S] [--dur D]\n");
    return 2;
  }
  aio::run(main_async(o));
}
