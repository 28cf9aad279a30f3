// SPDX-License-Identifier: MIT
// asyncio's "TCP echo server using streams" (Python docs, asyncio-stream), in aio.
//
//   tcp_echo_server [PORT]   serve on 127.0.0.1:PORT (8888) until Ctrl-C
//   tcp_echo_server --demo   serve on a free port, talk to it once, and exit
//
// asyncio:
//   async def handle_echo(reader, writer):
//       data = await reader.read(100)
//       message = data.decode()
//       addr = writer.get_extra_info('peername')
//       print(f"Received {message!r} from {addr!r}")
//       writer.write(data)
//       await writer.drain()
//       writer.close()
//       await writer.wait_closed()
//
//   server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//   async with server:
//       await server.serve_forever()
#include <cstdio>
#include <cstring>
#include <string>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"

namespace {

aio::coro<void> handle_echo(aio::stream_reader reader, aio::stream_writer writer) {
  std::string data = co_await reader.read(100);
  std::printf("Received '%s' from %s\n", data.c_str(), writer.peername().to_string().c_str());
  std::printf("Send: '%s'\n", data.c_str());
  writer.write(data);
  co_await writer.drain();
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

aio::coro<void> serve(std::uint16_t port, bool demo) {
  aio::server server = co_await aio::start_server(handle_echo, "127.0.0.1", port);
  std::printf("Serving on %s\n", server.sockets()[0].local_address().to_string().c_str());
  std::fflush(stdout);
  if (!demo) {
    co_await server.serve_forever();
    co_return;
  }
  // The demo: one client, then a graceful stop.
  auto [reader, writer] =
      co_await aio::open_connection("127.0.0.1", server.sockets()[0].local_address().port());
  writer.write("Hello World!");
  std::string reply = co_await reader.read(100);
  std::printf("Client received: '%s'\n", reply.c_str());
  writer.close();
  server.close();
  co_await server.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  const bool demo = argc > 1 && std::strcmp(argv[1], "--demo") == 0;
  const int port = argc > 1 && !demo ? std::atoi(argv[1]) : (demo ? 0 : 8888);
  aio::run(serve(static_cast<std::uint16_t>(port), demo));
}
