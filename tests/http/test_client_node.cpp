// SPDX-License-Identifier: MIT
// The HTTP client against Node's http module (a server written in JavaScript, run as a
// process): keep-alive reuse, chunked and gzip bodies, a redirect, a cookie, a POSTed
// JSON body echoed back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

constexpr const char* server_js = R"(
const http = require('http');
const zlib = require('zlib');
const seen = new Set();
const server = http.createServer((req, res) => {
  seen.add(req.socket.remotePort);
  if (req.url === '/chunked') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    for (let i = 0; i < 5; i++) res.write('piece ' + i + '\n');
    return res.end();
  }
  if (req.url === '/gzip') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    return res.end(zlib.gzipSync('compressed by node\n'.repeat(100)));
  }
  if (req.url === '/redirect') {
    res.writeHead(303, { location: '/cookie' });
    return res.end();
  }
  if (req.url === '/cookie') {
    res.writeHead(200, { 'set-cookie': 'session=abc; Path=/' });
    return res.end('cookie set');
  }
  if (req.url === '/whoami') {
    return res.end('cookie=' + (req.headers.cookie || '') + ' connections=' + seen.size);
  }
  if (req.url === '/echo' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => body += c);
    return req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ got: JSON.parse(body), type: req.headers['content-type'] }));
    });
  }
  res.writeHead(404);
  res.end();
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
)";

AIO_TEST(http_client_node, a_node_http_server) {
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  std::vector<std::string> args = {"-e", server_js};
  aio::process node = co_await aio::create_subprocess_exec("/usr/bin/node", std::move(args), o);
  std::string port_line = co_await node.out.readline();
  const std::string base = "http://127.0.0.1:" + port_line.substr(0, port_line.size() - 1);
  {
    http::client_session s({.cookies_unsafe = true});  // cookies from 127.0.0.1
    http::client_response c = co_await s.get(base + "/chunked");
    EXPECT_EQ(c.headers().get("Transfer-Encoding"), "chunked");
    EXPECT_EQ(co_await c.text(), "piece 0\npiece 1\npiece 2\npiece 3\npiece 4\n");
    http::client_response z = co_await s.get(base + "/gzip");
    std::string unzipped = co_await z.text();
    EXPECT_EQ(unzipped.size(), 1900u);
    EXPECT_TRUE(unzipped.starts_with("compressed by node\n"));
    http::client_response r = co_await s.get(base + "/redirect");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.url().path(), "/cookie");
    EXPECT_EQ(co_await r.text(), "cookie set");
    aio::json::value payload = {{"numbers", {1, 2, 3}}};
    http::client_response e =
        co_await s.post(base + "/echo", http::request_options().json(payload));
    EXPECT_EQ(e.status(), 201);
    aio::json::value got = co_await e.json();
    EXPECT_EQ(got["got"], payload);
    EXPECT_EQ(got["type"], "application/json");
    // The cookie came back, and every request used the one kept-alive connection.
    http::client_response w = co_await s.get(base + "/whoami");
    EXPECT_EQ(co_await w.text(), "cookie=session=abc connections=1");
    co_await s.close();
  }
  node.terminate();
  EXPECT_EQ(co_await node.wait(), 0);
}

}  // namespace
