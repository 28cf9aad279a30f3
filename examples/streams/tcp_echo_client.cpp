// SPDX-License-Identifier: MIT
// asyncio's "TCP echo client using streams" (Python docs, asyncio-stream), in aio.
//
//   tcp_echo_client [HOST PORT [MESSAGE]]   talk to an echo server (127.0.0.1 8888)
//   tcp_echo_client --demo                  start an echo server in-process first
//
// asyncio:
//   async def tcp_echo_client(message):
//       reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
//       print(f'Send: {message!r}')
//       writer.write(message.encode())
//       await writer.drain()
//       data = await reader.read(100)
//       print(f'Received: {data.decode()!r}')
//       print('Close the connection')
//       writer.close()
//       await writer.wait_closed()
#include <cstdio>
#include <cstring>
#include <string>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"

namespace {

aio::coro<void> tcp_echo_client(std::string host, std::uint16_t port, std::string message) {
  auto [reader, writer] = co_await aio::open_connection(host, port);
  std::printf("Send: '%s'\n", message.c_str());
  writer.write(message);
  co_await writer.drain();
  std::string data = co_await reader.read(100);
  std::printf("Received: '%s'\n", data.c_str());
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

aio::coro<void> echo_once(aio::stream_reader reader, aio::stream_writer writer) {
  writer.write(co_await reader.read(100));
  co_await writer.drain();
}

aio::coro<void> demo() {
  aio::server server = co_await aio::start_server(echo_once, "127.0.0.1", 0);
  co_await tcp_echo_client("127.0.0.1", server.sockets()[0].local_address().port(), "Hello World!");
  server.close();
  co_await server.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--demo") == 0) return aio::run(demo()), 0;
  const std::string host = argc > 2 ? argv[1] : "127.0.0.1";
  const int port = argc > 2 ? std::atoi(argv[2]) : 8888;
  const std::string message = argc > 3 ? argv[3] : "Hello World!";
  try {
    aio::run(tcp_echo_client(host, static_cast<std::uint16_t>(port), message));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tcp_echo_client: %s\n", e.what());
    return 1;
  }
}
