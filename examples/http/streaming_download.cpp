// SPDX-License-Identifier: MIT
// The guides' streaming download: a large body read in chunks with iter_chunked and
// written to a file as it arrives (never held whole in memory), with progress computed
// from Content-Length, and the file's size checked at the end.
//
//   streaming_download --demo             4 MiB from a server started in-process (port 0),
//                                         which streams it in 64 KiB pieces
//   streaming_download URL [OUTPUT]       download URL to OUTPUT (/tmp/test_download.bin)
//                                         (e.g. https://httpbin.org/bytes/1048576)
//
// aiohttp (guide 001, "Streaming Large Downloads"):
//   async def download_file(url: str, output_path: Path, chunk_size: int = 1 << 16):
//       output_path.parent.mkdir(parents=True, exist_ok=True)
//       async with aiohttp.ClientSession() as session:
//           async with session.get(url) as response:
//               response.raise_for_status()
//               total = int(response.headers.get("Content-Length", 0))
//               with open(output_path, "wb") as f:
//                   downloaded = 0
//                   async for chunk in response.content.iter_chunked(chunk_size):
//                       f.write(chunk)
//                       downloaded += len(chunk)
//                       if total:
//                           pct = downloaded / total * 100
//                           print(f"\rProgress: {pct:.1f}% "
//                                 f"({downloaded // 1024}KB / {total // 1024}KB)",
//                                 end="", flush=True)
//               print()  # Newline after progress
//
// C++ has no `async for`: iter_chunked() is an aio::generator, read with
// `co_await chunks.next()` until it gives std::nullopt (response.read_chunk(n) is the
// same without the generator). The generator borrows the response: do not move the
// response while iterating. response.bytes_read() counts the body bytes received, to
// compare with content_length(). The file is written with blocking writes, as the guide
// does (page-cache writes; aio has no file layer yet — aio::to_thread would move them off
// the loop).
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"

namespace http = aio::http;

namespace {

struct download_result {
  std::uint64_t bytes = 0;
  std::optional<std::uint64_t> content_length;
  std::size_t chunks = 0;
  double seconds = 0;
};

aio::coro<download_result> download_file(std::string url, std::filesystem::path output_path,
                                         std::size_t chunk_size = 1 << 16) {
  if (output_path.has_parent_path()) std::filesystem::create_directories(output_path.parent_path());
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  download_result result;

  http::client_session session;
  http::client_response response = co_await session.get(url);
  response.raise_for_status();
  result.content_length = response.content_length();  // Content-Length, if sent
  const std::uint64_t total = result.content_length.value_or(0);

  std::ofstream f(output_path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot open " + output_path.string());
  int shown = 0;  // the last quarter printed, when stdout is not a terminal
  auto chunks = response.iter_chunked(chunk_size);
  for (;;) {
    std::optional<std::string> chunk = co_await chunks.next();  // std::nullopt at the end
    if (!chunk) break;
    f.write(chunk->data(), static_cast<std::streamsize>(chunk->size()));
    result.bytes += chunk->size();
    ++result.chunks;
    if (total) {
      const std::uint64_t downloaded = response.bytes_read();
      const double pct = static_cast<double>(downloaded) / static_cast<double>(total) * 100;
      // On a terminal, the guide's "\r" line after each chunk; in a log, each quarter.
      const int quarter = static_cast<int>(downloaded * 4 / total);
      if (tty || quarter > shown) {
        std::printf("%sProgress: %.1f%% (%lluKB / %lluKB)%s", tty ? "\r" : "", pct,
                    static_cast<unsigned long long>(downloaded / 1024),
                    static_cast<unsigned long long>(total / 1024), tty ? "" : "\n");
        std::fflush(stdout);
        shown = quarter;
      }
    }
  }
  if (tty && total) std::printf("\n");  // newline after progress
  f.close();
  if (!f) throw std::runtime_error("cannot write " + output_path.string());
  co_await session.close();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  co_return result;
}

void report(const download_result& r, const std::filesystem::path& path) {
  const std::uintmax_t size = std::filesystem::file_size(path);
  std::printf("Downloaded %llu bytes in %zu chunks, %.1f MB/s, to %s\n",
              static_cast<unsigned long long>(r.bytes), r.chunks,
              r.seconds > 0 ? static_cast<double>(r.bytes) / r.seconds / 1e6 : 0.0, path.c_str());
  if (r.content_length)
    std::printf("file size %ju, Content-Length %llu: %s\n", size,
                static_cast<unsigned long long>(*r.content_length),
                size == *r.content_length ? "match" : "MISMATCH");
  else
    std::printf("file size %ju (no Content-Length)\n", size);
}

// --- The demo server: /bytes/{n} streams n bytes of a known pattern -----------------------

char pattern_byte(std::uint64_t i) {
  return static_cast<char>((i * 131 + i / 4093) & 0xff);
}

aio::coro<http::response> stream_bytes(http::request& req) {
  const std::uint64_t n = std::stoull(std::string(req.match_info("n")));
  if (n > (std::uint64_t{1} << 30)) throw http::http_error(400, "at most 1 GiB");
  http::response r = http::response::stream([n](http::response_writer& w) -> aio::coro<void> {
    std::string piece;
    for (std::uint64_t sent = 0; sent < n; sent += piece.size()) {
      piece.resize(static_cast<std::size_t>(std::min<std::uint64_t>(64 * 1024, n - sent)));
      for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = pattern_byte(sent + i);
      co_await w.write(piece);  // waits while the client is slow (backpressure)
    }
  });
  // With a Content-Length the body is sent as is rather than chunked, and the client
  // can show progress.
  r.headers.set("Content-Length", std::to_string(n));
  co_return r;
}

bool content_is_pattern(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string buf(1 << 16, '\0');
  std::uint64_t offset = 0;
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    const auto got = static_cast<std::size_t>(in.gcount());
    for (std::size_t i = 0; i < got; ++i)
      if (buf[i] != pattern_byte(offset + i)) return false;
    offset += got;
  }
  return true;
}

aio::coro<void> demo() {
  http::application app;
  app.router().add_get("/bytes/{n}", stream_bytes);
  http::app_server server =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server.port()) + "/bytes/" + std::to_string(4 << 20);
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("aio_download_" + std::to_string(::getpid()) + ".bin");
  download_result r = co_await download_file(url, path);
  report(r, path);
  std::printf("content: %s\n", content_is_pattern(path) ? "verified" : "CORRUPT");
  std::filesystem::remove(path);
  co_await server.shutdown();
}

aio::coro<void> download(std::string url, std::filesystem::path path) {
  download_result r = co_await download_file(url, path);
  report(r, path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: streaming_download --demo | URL [OUTPUT]\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0)
      aio::run(demo());
    else
      aio::run(download(argv[1], argc > 2 ? argv[2] : "/tmp/test_download.bin"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "streaming_download: %s\n", e.what());
    return 1;
  }
}
