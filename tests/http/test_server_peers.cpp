// SPDX-License-Identifier: MIT
// The HTTP server against other implementations' clients: wrk and h2load (--h1) for
// keep-alive load, Python's aiohttp client, Node's http module and fetch (undici), and
// the fuzz corpus replayed from a raw socket. Each peer runs as a real process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/server.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"
#include "aio/time/timeout.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

struct ran {
  int rc;
  std::string out, err;
};

aio::coro<ran> run(std::string program, std::vector<std::string> args) {
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  o.error = aio::stdio::pipe;
  aio::process p = co_await aio::create_subprocess_exec(std::move(program), std::move(args), o);
  auto [out, err] = co_await p.communicate();
  const int rc = co_await p.wait();
  co_return ran{rc, std::move(out), std::move(err)};
}

http::application make_app() {
  http::application app;
  app.router().add_get("/", [](http::request&) -> aio::coro<http::response> {
    co_return http::response::text("Hello, World!");
  });
  app.router().add_post("/json", [](http::request& req) -> aio::coro<http::response> {
    aio::json::value v = co_await req.json();
    v["seen"] = true;
    co_return http::json_response(v);
  });
  return app;
}

AIO_TEST(http_server_peers, wrk_keep_alive_load) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  std::vector<std::string> args = {"-t1", "-c50", "-d1s",
                                   "http://127.0.0.1:" + std::to_string(srv.port()) + "/"};
  ran r = co_await run("/usr/bin/wrk", std::move(args));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
  std::smatch m;
  CO_ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"((\d+) requests in)")));
  EXPECT_GT(std::stoll(m[1]), 100);
  co_await srv.shutdown();
}

AIO_TEST(http_server_peers, h2load_http1) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  std::vector<std::string> args = {
      "--h1", "-n", "2000", "-c",
      "20",   "-m", "4",    "http://127.0.0.1:" + std::to_string(srv.port()) + "/"};
  ran r = co_await run("/usr/bin/h2load", std::move(args));
  EXPECT_EQ(r.rc, 0) << r.err;
  // -m 4: four requests in flight per connection (pipelined on HTTP/1.1).
  EXPECT_NE(r.out.find("2000 succeeded, 0 failed, 0 errored"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status codes: 2000 2xx"), std::string::npos) << r.out;
  co_await srv.shutdown();
}

AIO_TEST(http_server_peers, python_aiohttp_client) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  const std::string script = R"(
import asyncio, sys, aiohttp
async def main(base):
    async with aiohttp.ClientSession() as s:
        for _ in range(3):  # one pooled connection, reused
            async with s.get(base + "/") as r:
                assert r.status == 200, r.status
                print(await r.text())
        async with s.post(base + "/json", json={"a": [1, 2]}) as r:
            print(r.status, await r.json())
        async with s.get(base + "/missing") as r:
            print(r.status)
asyncio.run(main(sys.argv[1]))
)";
  std::vector<std::string> args = {"-c", script, "http://127.0.0.1:" + std::to_string(srv.port())};
  ran r = co_await run("/usr/bin/python3", std::move(args));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "Hello, World!\nHello, World!\nHello, World!\n"
            "200 {'a': [1, 2], 'seen': True}\n404\n");
  co_await srv.shutdown();
}

AIO_TEST(http_server_peers, node_http_and_fetch) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(app, {.host = "127.0.0.1", .port = 0});
  const std::string script = R"(
const http = require('http');
const base = process.argv[1];  // node -e: no script path in argv
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(path) {
  return new Promise((ok, fail) => {
    http.get(base + path, { agent }, (res) => {
      let body = '';
      res.on('data', (c) => body += c);
      res.on('end', () => ok(res.statusCode + ' ' + body));
    }).on('error', fail);
  });
}
(async () => {
  console.log(await get('/'));
  console.log(await get('/'));
  const r = await fetch(base + '/json', { method: 'POST', headers: { 'content-type': 'application/json' },
                                          body: JSON.stringify({ n: 1 }) });
  console.log(r.status, JSON.stringify(await r.json()));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
)";
  std::vector<std::string> args = {"-e", script, "http://127.0.0.1:" + std::to_string(srv.port())};
  ran r = co_await run("/usr/bin/node", std::move(args));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "200 Hello, World!\n200 Hello, World!\n200 {\"n\":1,\"seen\":true}\n");
  co_await srv.shutdown();
}

// Every request-parser input of the fuzz corpus (mode byte 0), sent raw: the server
// answers or closes, never hangs or crashes, and serves the next client.
AIO_TEST(http_server_peers, fuzz_corpus_replayed_from_a_raw_socket) {
  http::application app = make_app();
  http::app_server srv = co_await http::start_app(
      app, {.host = "127.0.0.1", .port = 0, .header_timeout = 200ms, .keepalive_timeout = 200ms});
  int sent = 0;
  for (const auto& e : std::filesystem::directory_iterator(AIO_FUZZ_CORPUS_HTTP)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (data.size() < 2 || data[0] % 4 != 0) continue;
    ++sent;
    auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
    w.write(std::string_view(data).substr(2));
    co_await w.drain();
    w.write_eof();
    // Read until the server closes (it does: end of input, error, or idle timeout).
    std::string all = co_await aio::timeout(10s, r.read());
    EXPECT_TRUE(all.empty() || all.starts_with("HTTP/1.1 ")) << e.path() << ": " << all;
    w.close();
  }
  EXPECT_GT(sent, 5);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", srv.port());
  w.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string reply = co_await r.read();
  EXPECT_TRUE(reply.ends_with("Hello, World!")) << reply;
  co_await srv.shutdown();
}

}  // namespace
