// SPDX-License-Identifier: MIT
// Content-Encoding for the HTTP client: streaming gzip/deflate (zlib) and br (brotli)
// decoders, a one-shot compressor (for tests and servers), and base64.
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>

#include <cstring>
#include <stdexcept>

#include "aio/http/client.hpp"

namespace aio::http::detail {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return http::iequals(a, b);
}

// gzip ("gzip", "x-gzip") and deflate. For "deflate", RFC 9110 means the zlib format,
// but some servers send a raw deflate stream: if the first bytes are not a zlib header,
// the decoder starts again in raw mode (as browsers, curl and aiohttp do).
class zlib_decoder final : public content_decoder {
 public:
  explicit zlib_decoder(bool gzip) : gzip_(gzip) { init(gzip ? 16 + MAX_WBITS : MAX_WBITS); }
  ~zlib_decoder() override { inflateEnd(&z_); }

  void feed(std::string_view in, std::string& out) override {
    if (in.empty()) return;
    if (!gzip_ && !decided_) {
      head_.append(in);
      if (head_.size() < 2) return;
      decided_ = true;
      const auto b0 = static_cast<unsigned char>(head_[0]);
      const auto b1 = static_cast<unsigned char>(head_[1]);
      const bool zlib_header = (b0 & 0x0f) == 8 && ((b0 << 8) | b1) % 31 == 0;
      if (!zlib_header) {
        inflateEnd(&z_);
        init(-MAX_WBITS);
      }
      std::string h = std::move(head_);
      run(h, out);
      return;
    }
    run(in, out);
  }

  void finish(std::string& out) override {
    if (!gzip_ && !decided_ && !head_.empty()) {
      decided_ = true;  // one byte of body: not a valid stream either way
      throw client_payload_error("Can not decode content-encoding: deflate (truncated data)");
    }
    (void)out;
    if (any_input_ && !ended_) {
      throw client_payload_error(std::string("Can not decode content-encoding: ") +
                                 (gzip_ ? "gzip" : "deflate") + " (truncated data)");
    }
  }

 private:
  void init(int wbits) {
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, wbits) != Z_OK) throw std::bad_alloc();
  }

  void run(std::string_view in, std::string& out) {
    any_input_ = true;
    if (ended_) return;  // bytes after the end of the stream are ignored (as aiohttp)
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    char buf[16384];
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      out.append(buf, sizeof buf - z_.avail_out);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        return;
      }
      if (rc == Z_BUF_ERROR) return;  // no progress possible: needs more input
      if (rc != Z_OK) bad();
      if (z_.avail_in == 0 && z_.avail_out != 0) return;
    }
  }

  [[noreturn]] void bad() {
    throw client_payload_error(std::string("Can not decode content-encoding: ") +
                               (gzip_ ? "gzip" : "deflate") + " (" +
                               (z_.msg != nullptr ? z_.msg : "invalid data") + ")");
  }

  z_stream z_{};
  bool gzip_;
  bool decided_ = false;
  bool ended_ = false;
  bool any_input_ = false;
  std::string head_;
};

class brotli_decoder final : public content_decoder {
 public:
  brotli_decoder() : s_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (s_ == nullptr) throw std::bad_alloc();
  }
  ~brotli_decoder() override { BrotliDecoderDestroyInstance(s_); }

  void feed(std::string_view in, std::string& out) override {
    if (in.empty()) return;
    any_input_ = true;
    if (ended_) return;  // trailing bytes after the end: ignored
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    for (;;) {
      std::uint8_t buf[16384];
      std::size_t avail_out = sizeof buf;
      std::uint8_t* next_out = buf;
      const BrotliDecoderResult r =
          BrotliDecoderDecompressStream(s_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out.append(reinterpret_cast<const char*>(buf), sizeof buf - avail_out);
      if (r == BROTLI_DECODER_RESULT_SUCCESS) {
        ended_ = true;
        return;
      }
      if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) return;
      if (r == BROTLI_DECODER_RESULT_ERROR) {
        throw client_payload_error(std::string("Can not decode content-encoding: br (") +
                                   BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s_)) + ")");
      }
      // NEEDS_MORE_OUTPUT: loop
    }
  }

  void finish(std::string& out) override {
    (void)out;
    if (any_input_ && !ended_)
      throw client_payload_error("Can not decode content-encoding: br (truncated data)");
  }

 private:
  BrotliDecoderState* s_;
  bool ended_ = false;
  bool any_input_ = false;
};

std::string zlib_compress(std::string_view data, int wbits) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::bad_alloc();
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("compress: deflate failed");
  return out;
}

}  // namespace

std::unique_ptr<content_decoder> content_decoder::make(std::string_view encoding) {
  // Trim spaces around the token.
  while (!encoding.empty() && (encoding.front() == ' ' || encoding.front() == '\t'))
    encoding.remove_prefix(1);
  while (!encoding.empty() && (encoding.back() == ' ' || encoding.back() == '\t'))
    encoding.remove_suffix(1);
  if (iequal(encoding, "gzip") || iequal(encoding, "x-gzip"))
    return std::make_unique<zlib_decoder>(true);
  if (iequal(encoding, "deflate")) return std::make_unique<zlib_decoder>(false);
  if (iequal(encoding, "br")) return std::make_unique<brotli_decoder>();
  return nullptr;
}

std::string compress(std::string_view data, std::string_view encoding) {
  if (iequal(encoding, "gzip")) return zlib_compress(data, 16 + MAX_WBITS);
  if (iequal(encoding, "deflate")) return zlib_compress(data, MAX_WBITS);
  if (iequal(encoding, "raw-deflate")) return zlib_compress(data, -MAX_WBITS);
  if (iequal(encoding, "br")) {
    std::string out;
    std::size_t n = BrotliEncoderMaxCompressedSize(data.size());
    if (n == 0) n = data.size() + 1024;
    out.resize(n);
    if (!BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                               data.size(), reinterpret_cast<const std::uint8_t*>(data.data()), &n,
                               reinterpret_cast<std::uint8_t*>(out.data())))
      throw std::runtime_error("compress: brotli failed");
    out.resize(n);
    return out;
  }
  throw std::invalid_argument("compress: unknown encoding \"" + std::string(encoding) + "\"");
}

std::string base64_encode(std::string_view data) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(table[(v >> 6) & 63]);
    out.push_back(table[v & 63]);
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    const bool two = i + 1 < data.size();
    if (two) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(two ? table[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace aio::http::detail
