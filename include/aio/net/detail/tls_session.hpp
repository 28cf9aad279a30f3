// SPDX-License-Identifier: MIT
// aio/net/detail/tls_session.hpp — one TLS connection as a pure state machine over
// memory buffers (OpenSSL memory BIOs): ciphertext in with feed(), plaintext out with
// read(), plaintext in with write(), ciphertext out with take_output(). No I/O: the
// stream transport (src/net/streams.cpp) moves the bytes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "aio/net/tls.hpp"

namespace aio::detail {

class tls_session {
 public:
  /// `peer` names the other side in error messages; `hostname` (client) is sent as
  /// SNI and checked against the certificate when the context verifies.
  tls_session(const ssl_context& ctx, const std::string& hostname, std::string peer);
  ~tls_session();
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  /// Advances the handshake: true when it is complete, false if it needs more input
  /// (take the output first). Throws ssl_error / ssl_cert_verification_error.
  bool handshake();
  /// Ciphertext received from the peer.
  void feed(const char* p, std::size_t n);
  /// The peer closed the transport without close_notify.
  void feed_eof() noexcept { eof_ = true; }
  /// Plaintext: > 0 bytes read; 0 at the end (close_notify, or EOF after it);
  /// -1 if more input is needed. Throws ssl_error.
  long read(char* buf, std::size_t n);
  /// Encrypts `n` bytes (memory BIOs never refuse). Throws ssl_error.
  void write(const char* p, std::size_t n);
  /// Queues close_notify.
  void shutdown() noexcept;
  std::size_t pending_output() const noexcept;
  std::size_t take_output(char* buf, std::size_t n) noexcept;
  /// The negotiated ALPN protocol ("" if none).
  std::string alpn() const;
  /// "TLSv1.3" etc.
  std::string version() const;
  /// The peer certificate's subject, RFC 2253 ("CN=client,O=aio"); "" without one.
  std::string peer_subject() const;
  /// The handshake resumed an earlier session (client: from the context's cache).
  bool session_reused() const noexcept;
  /// For the context's new-session callback: keeps `session` (an SSL_SESSION*) as the
  /// one to resume next time for this host and peer. Returns 1 if it took it.
  int store_session(void* session) noexcept;

 private:
  [[noreturn]] void fail(const char* what, int ret);
  void* ssl_ = nullptr;
  void* rbio_ = nullptr;  // ciphertext from the peer
  void* wbio_ = nullptr;  // ciphertext to the peer
  std::string peer_;
  std::string cache_key_;
  std::shared_ptr<ssl_context::impl> ctx_;
  bool eof_ = false;
};

}  // namespace aio::detail
