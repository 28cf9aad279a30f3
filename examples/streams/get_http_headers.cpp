// SPDX-License-Identifier: MIT
// asyncio's "Get HTTP headers" example (Python docs, asyncio-stream), in aio: a HEAD
// request written by hand over a stream, and the response headers read line by line.
//
//   get_http_headers http[s]://HOST[:PORT]/PATH   query a server (https: the
//                                                 certificate is verified)
//   get_http_headers --demo                    query a tiny server started in-process
//
// asyncio:
//   if url.scheme == 'https':
//       reader, writer = await asyncio.open_connection(url.hostname, 443, ssl=True)
//   else:
//       reader, writer = await asyncio.open_connection(url.hostname, 80)
//   query = f"HEAD {url.path or '/'} HTTP/1.0\r\nHost: {url.hostname}\r\n\r\n"
//   writer.write(query.encode('latin-1'))
//   while True:
//       line = await reader.readline()
//       if not line: break
//       line = line.decode('latin1').rstrip()
//       if line: print(f'HTTP header> {line}')
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"

namespace {

struct url_parts {
  bool https = false;
  std::string host;
  std::uint16_t port = 80;
  std::string path = "/";
};

url_parts split_url(std::string_view url) {
  url_parts u;
  if (url.substr(0, 8) == "https://") {
    u.https = true;
    u.port = 443;
    url.remove_prefix(8);
  } else if (url.substr(0, 7) == "http://") {
    url.remove_prefix(7);
  } else {
    throw std::invalid_argument("the URL must start with http:// or https://");
  }
  const auto slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(url.substr(slash));
  if (const auto colon = hostport.rfind(':');
      colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    u.port = static_cast<std::uint16_t>(std::stoi(std::string(hostport.substr(colon + 1))));
    hostport = hostport.substr(0, colon);
  }
  u.host = std::string(hostport);
  return u;
}

aio::coro<void> print_http_headers(std::string url) {
  const url_parts u = split_url(url);
  const aio::ssl_context tls = aio::ssl_context::client();  // system CAs, hostname check
  aio::connection_options opts;
  if (u.https) opts.ssl = &tls;
  auto [reader, writer] = co_await aio::open_connection(u.host, u.port, opts);
  writer.write("HEAD " + u.path + " HTTP/1.0\r\nHost: " + u.host + "\r\n\r\n");
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) std::printf("HTTP header> %s\n", line.c_str());
  }
  writer.close();
  co_await writer.wait_closed();
}

// A stand-in web server for --demo: answers any request with a fixed header block.
aio::coro<void> tiny_http(aio::stream_reader reader, aio::stream_writer writer) {
  while (true) {  // read the request head
    std::string line = co_await reader.readline();
    if (line == "\r\n" || line.empty()) break;
  }
  writer.write(
      "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n"
      "Server: aio-demo\r\n\r\n");
  co_await writer.drain();
}

aio::coro<void> demo() {
  aio::server server = co_await aio::start_server(tiny_http, "127.0.0.1", 0);
  const auto port = server.sockets()[0].local_address().port();
  co_await print_http_headers("http://127.0.0.1:" + std::to_string(port) + "/");
  server.close();
  co_await server.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: get_http_headers http[s]://HOST[:PORT]/PATH | --demo\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0)
      aio::run(demo());
    else
      aio::run(print_http_headers(argv[1]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "get_http_headers: %s\n", e.what());
    return 1;
  }
}
