// SPDX-License-Identifier: MIT
// aio/net/tls.hpp — aio::ssl_context (Python's ssl.SSLContext) for TLS streams, on
// OpenSSL 3.
//
//   aio::ssl_context ctx = aio::ssl_context::client();     // verification on: system CAs,
//   aio::connection_options o;                              // hostname check, SNI
//   o.ssl = &ctx;
//   auto [r, w] = co_await aio::open_connection("example.com", 443, o);
//
//   aio::ssl_context srv = aio::ssl_context::server();
//   srv.load_cert_chain("cert.pem", "key.pem");
//   aio::server_options so;
//   so.ssl = &srv;
//   auto server = co_await aio::start_server(handler, "0.0.0.0", 8443, so);
//
// A client context verifies the peer by default (as ssl.create_default_context()):
// the system's CA store, the host name given to open_connection (or
// connection_options::server_hostname) checked against the certificate, SNI sent.
// set_verify(false) turns both checks off (tests, private networks). Mutual TLS: a
// server context with set_verify(true) and load_verify_pem(client CA) requires client
// certificates; a client presents one loaded with load_cert_chain. Certificates and
// keys load from PEM files or PEM text in memory. ALPN: set_alpn_protocols({"h2",
// "http/1.1"}); the negotiated one is writer.tls_alpn(). TLS 1.2 is the minimum.
// Session resumption: a client context keeps the newest session per host and address
// and offers it on the next connection there (writer.tls_session_reused() tells);
// server contexts issue session tickets (OpenSSL's default).
//
// The context is a cheap, copyable handle on shared OpenSSL state; a connection keeps
// what it needs alive, so a context may be destroyed while its connections run.
// Errors: aio::ssl_error (with the library's reason, "TLS handshake with
// 127.0.0.1:4433: ..."), aio::ssl_cert_verification_error for a certificate the
// client rejects (the message names the reason: "certificate verify failed:
// self-signed certificate"), std::invalid_argument for unreadable files or PEM.
// Thread safety: a context may be shared by connections on any loops and threads once
// it is configured; configure it before use.
#pragma once

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace aio {

class ssl_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ssl_cert_verification_error : public ssl_error {
 public:
  using ssl_error::ssl_error;
};

class ssl_context {
 public:
  /// A client context: peer verification and hostname check on, system CAs loaded.
  static ssl_context client();
  /// A server context (load_cert_chain before use); clients are not asked for
  /// certificates unless set_verify(true) (mutual TLS).
  static ssl_context server();

  /// Trust the CAs of a PEM file, or of PEM text in memory.
  void load_verify_locations(const std::string& cafile);
  void load_verify_pem(std::string_view pem);
  /// The certificate chain and private key, from PEM files or PEM text.
  void load_cert_chain(const std::string& certfile, const std::string& keyfile);
  void load_cert_chain_pem(std::string_view cert_pem, std::string_view key_pem);
  /// Client: verify the peer's certificate and host name (default true).
  /// Server: require a client certificate signed by a CA given to
  /// load_verify_locations / load_verify_pem (mutual TLS, Python's CERT_REQUIRED;
  /// default false). A client without one, or with an untrusted one, fails the
  /// handshake; writer.tls_peer_subject() names the one that was accepted.
  void set_verify(bool on);
  bool verify() const noexcept;
  /// ALPN protocols, most preferred first.
  void set_alpn_protocols(const std::vector<std::string>& protocols);

  bool is_server() const noexcept;
  /// The SSL_CTX* (for settings this class does not cover).
  void* native_handle() const noexcept;

  struct impl;
  const std::shared_ptr<impl>& state() const noexcept { return p_; }

 private:
  explicit ssl_context(std::shared_ptr<impl> p) noexcept : p_(std::move(p)) {}
  std::shared_ptr<impl> p_;
};

}  // namespace aio
