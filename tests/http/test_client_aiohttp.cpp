// SPDX-License-Identifier: MIT
// The HTTP client against another implementation: an aiohttp server (Debian's
// python3-aiohttp) started as a subprocess — its compression, chunked streams, cookies
// and redirects, as aiohttp writes them.
#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

constexpr const char* server_script = R"PY(
import asyncio
from aiohttp import web

async def text(req):
    return web.Response(text="hello from aiohttp")

async def compressed(req):
    r = web.Response(text="compressible " * 1000)
    r.enable_compression()
    return r

async def chunked(req):
    r = web.StreamResponse()
    r.enable_chunked_encoding()
    await r.prepare(req)
    for i in range(5):
        await r.write(("chunk%d;" % i).encode())
        await asyncio.sleep(0.001)
    await r.write_eof()
    return r

async def cookie(req):
    r = web.Response(text="ok")
    r.set_cookie("py", "thon", max_age=60)
    return r

async def echo(req):
    body = await req.read()
    return web.json_response({"method": req.method, "body": body.decode(),
                              "cookie": req.headers.get("Cookie", ""),
                              "query": dict(req.query)})

async def found(req):
    raise web.HTTPFound("/echo")

async def main():
    app = web.Application()
    app.router.add_get("/text", text)
    app.router.add_get("/compressed", compressed)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/cookie", cookie)
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/found", found)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
)PY";

}  // namespace

AIO_TEST(http_client_aiohttp, an_aiohttp_server_is_a_peer) {
  aio::subprocess_options so;
  so.output = aio::stdio::pipe;
  std::vector<std::string> args = {"-c", server_script};
  aio::process py = co_await aio::create_subprocess_exec("/usr/bin/python3", std::move(args), so);
  const std::string port_line = co_await aio::timeout(30s, py.out.readline());
  CO_ASSERT_FALSE(port_line.empty());
  const std::string base = "http://127.0.0.1:" + port_line.substr(0, port_line.find('\n'));

  http::session_options o;
  o.cookies_unsafe = true;
  http::client_session session(std::move(o));
  http::client_response r = co_await session.get(base + "/text");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.content_type(), "text/plain");
  EXPECT_EQ(co_await r.text(), "hello from aiohttp");

  r = co_await session.get(base + "/compressed");
  EXPECT_TRUE(r.headers().contains("Content-Encoding"));  // gzip or deflate, aiohttp's pick
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += "compressible ";
  EXPECT_EQ(co_await r.text(), expected);
  EXPECT_LT(r.bytes_read(), expected.size() / 4);

  r = co_await session.get(base + "/chunked");
  EXPECT_EQ(r.headers().get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(co_await r.text(), "chunk0;chunk1;chunk2;chunk3;chunk4;");

  r = co_await session.get(base + "/cookie");
  (void)co_await r.read();
  r = co_await session.post(base + "/found", http::request_options().data("gone on 302"));
  CO_ASSERT_EQ(r.history().size(), 1u);
  EXPECT_EQ(r.history()[0].status, 302);
  aio::json::value e = co_await r.json();
  EXPECT_EQ(e["method"], "GET");
  EXPECT_EQ(e["body"], "");
  EXPECT_EQ(e["cookie"], "py=thon");

  r = co_await session.put(base + "/echo",
                           http::request_options().param("a", "1 2").form("f", "v&w"));
  e = co_await r.json();
  EXPECT_EQ(e["method"], "PUT");
  EXPECT_EQ(e["body"], "f=v%26w");
  EXPECT_EQ(e["query"]["a"], "1 2");

  co_await session.close();
  py.kill();
  (void)co_await py.wait();
}
