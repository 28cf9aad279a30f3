// SPDX-License-Identifier: MIT
// A chat server: every line a client sends goes to every other client. The guides'
// "thousands of idle connections" case: one task per client, no thread.
//
//   chat_server [PORT]   serve on 127.0.0.1:PORT (8889) until Ctrl-C; try it with
//                        `nc 127.0.0.1 8889` in two terminals
//   chat_server --demo   three clients chat through a server on a free port, then exit
//
// A slow client must not hold up the others: each broadcast write goes to the
// client's buffer, and a client whose buffer passes a limit is disconnected instead of
// letting memory grow (what drain() would otherwise make everyone wait for).
#include <cstdio>
#include <cstring>
#include <list>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"
#include "aio/sync.hpp"

namespace {

class chat_room {
 public:
  aio::coro<void> handle(aio::stream_reader reader, aio::stream_writer writer) {
    const std::string who = writer.peername().to_string();
    auto me = members_.insert(members_.end(), &writer);
    broadcast(*me, who + " joined\n");
    try {
      for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty()) break;  // the client left
        broadcast(*me, who + ": " + line);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", who.c_str(), e.what());
    }
    members_.erase(me);
    broadcast(nullptr, who + " left\n");
  }

 private:
  void broadcast(aio::stream_writer* from, const std::string& text) {
    for (aio::stream_writer* w : members_) {
      if (w == from || w->is_closing()) continue;
      if (w->buffer_size() > 1 << 20) {
        w->close();  // too slow: disconnect rather than buffer without bound
        continue;
      }
      try {
        w->write(text);
      } catch (const std::exception&) {
        // that client's connection failed; its handler cleans up
      }
    }
  }

  std::list<aio::stream_writer*> members_;
};

aio::coro<std::vector<std::string>> client(std::uint16_t port, std::string name, int lines,
                                           aio::event& all_joined, int& joined) {
  auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
  if (++joined == 3) all_joined.set();
  co_await all_joined.wait();
  co_await aio::sleep(std::chrono::milliseconds(20));  // let every join notice go out
  for (int i = 0; i < lines; ++i) writer.write(name + " says " + std::to_string(i) + "\n");
  std::vector<std::string> heard;
  // Each client hears the other two clients' lines.
  while (static_cast<int>(heard.size()) < 2 * lines) {
    std::string line = co_await reader.readline();
    if (line.find(" says ") != std::string::npos) heard.push_back(line);
  }
  co_return heard;
}

aio::coro<void> demo() {
  chat_room room;
  aio::server server = co_await aio::start_server(
      [&room](aio::stream_reader r, aio::stream_writer w) {
        return room.handle(std::move(r), std::move(w));
      },
      "127.0.0.1", 0);
  const auto port = server.sockets()[0].local_address().port();
  aio::event all_joined;
  int joined = 0;
  auto [a, b, c] = co_await aio::gather(client(port, "alice", 3, all_joined, joined),
                                        client(port, "bob", 3, all_joined, joined),
                                        client(port, "carol", 3, all_joined, joined));
  std::printf("alice heard %zu lines, bob %zu, carol %zu\n", a.size(), b.size(), c.size());
  server.close();
  co_await server.wait_closed();
  std::printf("chat over\n");
}

aio::coro<void> serve(std::uint16_t port) {
  chat_room room;
  aio::server server = co_await aio::start_server(
      [&room](aio::stream_reader r, aio::stream_writer w) {
        return room.handle(std::move(r), std::move(w));
      },
      "127.0.0.1", port);
  std::printf("Chat on %s\n", server.sockets()[0].local_address().to_string().c_str());
  std::fflush(stdout);
  // The handlers use `room`, which lives in this frame: on Ctrl-C (cancellation), stop
  // them and wait for them before the frame goes (docs/hazards.md, "References into
  // suspended frames").
  std::exception_ptr cancelled;
  try {
    co_await server.serve_forever();
  } catch (const aio::cancelled_error&) {
    cancelled = std::current_exception();
  }
  server.abort_clients();
  co_await server.wait_closed();
  if (cancelled) std::rethrow_exception(cancelled);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--demo") == 0) return aio::run(demo()), 0;
  aio::run(serve(static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8889)));
}
