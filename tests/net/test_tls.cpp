// SPDX-License-Identifier: MIT
// TLS streams (aio/net/tls.hpp) on loopback, with certificates made at test time: a CA,
// a server certificate it signs for "localhost" and 127.0.0.1, and an unrelated
// self-signed certificate.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/net/streams.hpp"
#include "aio/net/tls.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;

namespace {

struct pem_pair {
  std::string cert, key;
};

std::string to_pem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

std::string to_pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ex = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
}

/// A certificate for `cn` with `san`, signed by (issuer, issuer_key), or self-signed
/// when issuer is null. Returns the certificate and its key (the caller frees them).
std::pair<X509*, EVP_PKEY*> make_cert(const char* cn, const char* san, X509* issuer,
                                      EVP_PKEY* issuer_key, bool ca) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : x;
  if (ca) {
    add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (san) add_ext(x, signer, NID_subject_alt_name, san);
  X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
  return {x, key};
}

struct test_pki {
  std::string ca_pem;
  pem_pair server;
  pem_pair stranger;  // self-signed, trusted by nobody
  pem_pair client;    // signed by the CA, for mutual TLS
  test_pki() {
    auto [ca, ca_key] = make_cert("aio test CA", nullptr, nullptr, nullptr, true);
    auto [srv, srv_key] = make_cert("localhost", "DNS:localhost,IP:127.0.0.1", ca, ca_key, false);
    auto [str, str_key] =
        make_cert("localhost", "DNS:localhost,IP:127.0.0.1", nullptr, nullptr, false);
    auto [cli, cli_key] = make_cert("aio client", nullptr, ca, ca_key, false);
    ca_pem = to_pem(ca);
    server = {to_pem(srv), to_pem(srv_key)};
    stranger = {to_pem(str), to_pem(str_key)};
    client = {to_pem(cli), to_pem(cli_key)};
    for (X509* x : {ca, srv, str, cli}) X509_free(x);
    for (EVP_PKEY* k : {ca_key, srv_key, str_key, cli_key}) EVP_PKEY_free(k);
  }
};

const test_pki& pki() {
  static const test_pki p;
  return p;
}

aio::ssl_context server_ctx(const pem_pair& id) {
  aio::ssl_context c = aio::ssl_context::server();
  c.load_cert_chain_pem(id.cert, id.key);
  return c;
}

aio::ssl_context client_ctx() {
  aio::ssl_context c = aio::ssl_context::client();
  c.load_verify_pem(pki().ca_pem);
  return c;
}

aio::coro<void> echo(aio::stream_reader r, aio::stream_writer w) {
  for (;;) {
    std::string data = co_await r.read(65536);
    if (data.empty()) break;
    w.write(data);
    co_await w.drain();
  }
}

std::uint16_t port_of(const aio::server& s) {
  return s.sockets().at(0).local_address().port();
}

aio::coro<void> stop(aio::server& srv) {
  srv.close();
  srv.abort_clients();
  co_await srv.wait_closed();
}

AIO_TEST(tls, echo_over_tls_with_verification_by_name_and_by_ip) {
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);  // IP SAN
    w.write("hello tls\n");
    EXPECT_EQ(co_await r.readline(), "hello tls\n");
    EXPECT_FALSE(w.tls_version().empty());
    EXPECT_FALSE(w.can_write_eof());
    w.close();
    co_await w.wait_closed();
  }
  {
    co.server_hostname = "localhost";  // DNS SAN, sent as SNI
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
    w.write("by name\n");
    EXPECT_EQ(co_await r.readline(), "by name\n");
  }
  co_await stop(srv);
}

AIO_TEST(tls, large_transfers_both_ways) {
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
  std::string big;
  for (int i = 0; i < 200000; ++i) big += static_cast<char>('a' + i % 26);
  auto reader = aio::create_task(r.readexactly(big.size() * 5));
  for (int i = 0; i < 5; ++i) {
    w.write(big);
    co_await w.drain();
  }
  const std::string back = co_await reader;
  EXPECT_EQ(back.size(), big.size() * 5);
  EXPECT_EQ(back.substr(0, big.size()), big);
  w.close();
  co_await w.wait_closed();
  co_await stop(srv);
}

AIO_TEST(tls, an_untrusted_certificate_is_refused_with_the_reason) {
  const aio::ssl_context sctx = server_ctx(pki().stranger);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  try {
    (void)co_await aio::open_connection("127.0.0.1", port_of(srv), co);
    ADD_FAILURE() << "connected";
  } catch (const aio::ssl_cert_verification_error& e) {
    EXPECT_NE(std::string(e.what()).find("certificate verify failed: self-signed certificate"),
              std::string::npos)
        << e.what();
  }
  co_await stop(srv);
}

// Tries one echo over a TLS connection with `cctx`; "" if the server would not talk.
aio::coro<std::string> try_echo(std::uint16_t port, const aio::ssl_context& cctx) {
  aio::connection_options co;
  co.ssl = &cctx;
  std::string got;
  try {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port, co);
    w.write("ping");
    co_await w.drain();
    got = co_await r.read(4);
  } catch (const aio::ssl_error&) {  // TLS 1.2 fails in the handshake, 1.3 at the read
  } catch (const aio::connection_error&) {
  }
  co_return got;
}

AIO_TEST(tls, mutual_tls_requires_a_client_certificate_from_the_trusted_ca) {
  aio::ssl_context sctx = server_ctx(pki().server);
  sctx.load_verify_pem(pki().ca_pem);
  sctx.set_verify(true);
  std::vector<std::string> subjects;
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(
      [&](aio::stream_reader r, aio::stream_writer w) -> aio::coro<void> {
        subjects.push_back(w.tls_peer_subject());
        co_await echo(std::move(r), std::move(w));
      },
      "127.0.0.1", 0, so);
  const aio::ssl_context anonymous = client_ctx();
  EXPECT_EQ(co_await try_echo(port_of(srv), anonymous), "");
  aio::ssl_context wrong = client_ctx();
  wrong.load_cert_chain_pem(pki().stranger.cert, pki().stranger.key);
  EXPECT_EQ(co_await try_echo(port_of(srv), wrong), "");
  aio::ssl_context good = client_ctx();
  good.load_cert_chain_pem(pki().client.cert, pki().client.key);
  EXPECT_EQ(co_await try_echo(port_of(srv), good), "ping");
  EXPECT_EQ(subjects, std::vector<std::string>{"CN=aio client"});
  co_await stop(srv);
}

AIO_TEST(tls, a_hostname_mismatch_is_refused_unless_verification_is_off) {
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
  aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  co.server_hostname = "example.com";
  try {
    (void)co_await aio::open_connection("127.0.0.1", port_of(srv), co);
    ADD_FAILURE() << "connected";
  } catch (const aio::ssl_cert_verification_error& e) {
    EXPECT_NE(std::string(e.what()).find("hostname mismatch"), std::string::npos) << e.what();
  }
  cctx.set_verify(false);
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
  w.write("ok\n");
  EXPECT_EQ(co_await r.readline(), "ok\n");
  co_await stop(srv);
}

AIO_TEST(tls, alpn_is_negotiated) {
  aio::ssl_context sctx = server_ctx(pki().server);
  std::vector<std::string> server_protocols{"h2", "http/1.1"};
  sctx.set_alpn_protocols(server_protocols);
  std::string seen;
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(
      [&seen](aio::stream_reader r, aio::stream_writer w) -> aio::coro<void> {
        seen = w.tls_alpn();
        co_await echo(std::move(r), std::move(w));
      },
      "127.0.0.1", 0, so);
  aio::ssl_context cctx = client_ctx();
  std::vector<std::string> client_protocols{"http/1.1"};
  cctx.set_alpn_protocols(client_protocols);
  aio::connection_options co;
  co.ssl = &cctx;
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
  EXPECT_EQ(w.tls_alpn(), "http/1.1");
  w.write("x\n");
  (void)co_await r.readline();
  EXPECT_EQ(seen, "http/1.1");
  co_await stop(srv);
}

AIO_TEST(tls, a_plain_text_client_on_a_tls_port_is_dropped_and_others_go_on) {
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
  {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));  // no TLS
    w.write("GET / HTTP/1.0\r\n\r\n");
    std::string reply = co_await r.read();  // the server closes (maybe after an alert)
    EXPECT_EQ(reply.find("HTTP"), std::string::npos);
  }
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
  w.write("still fine\n");
  EXPECT_EQ(co_await r.readline(), "still fine\n");
  co_await stop(srv);
}

AIO_TEST(tls, a_server_that_never_answers_the_handshake_times_out) {
  // A plain TCP server that accepts and says nothing.
  aio::server srv = co_await aio::start_server(
      [](aio::stream_reader r, aio::stream_writer) -> aio::coro<void> { (void)co_await r.read(); },
      "127.0.0.1", 0);
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  co.ssl_handshake_timeout = 50ms;
  EXPECT_THROW(co_await aio::open_connection("127.0.0.1", port_of(srv), co), aio::timeout_error);
  co_await stop(srv);
}

AIO_TEST(tls, close_sends_close_notify_and_the_peer_sees_the_end) {
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(
      [](aio::stream_reader, aio::stream_writer w) -> aio::coro<void> {
        w.write("bye\n");
        w.close();
        co_await w.wait_closed();
      },
      "127.0.0.1", 0, so);
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
  EXPECT_EQ(co_await r.read(), "bye\n");
  EXPECT_TRUE(r.at_eof());
  co_await stop(srv);
}

AIO_TEST(tls, start_tls_upgrades_a_plain_connection) {
  // A STARTTLS dialogue: plain text first, then both sides upgrade.
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server srv = co_await aio::start_server(
      [&sctx](aio::stream_reader r, aio::stream_writer w) -> aio::coro<void> {
        if (co_await r.readline() != "STARTTLS\n") co_return;
        w.write("GO AHEAD\n");
        co_await w.drain();
        co_await w.start_tls(sctx);
        std::string line = co_await r.readline();
        w.write("secret:" + line);
        co_await w.drain();
      },
      "127.0.0.1", 0);
  const aio::ssl_context cctx = client_ctx();
  auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv));
  w.write("STARTTLS\n");
  EXPECT_EQ(co_await r.readline(), "GO AHEAD\n");
  co_await w.start_tls(cctx, "localhost");
  EXPECT_FALSE(w.tls_version().empty());
  w.write("hello\n");
  EXPECT_EQ(co_await r.readline(), "secret:hello\n");
  EXPECT_THROW(co_await w.start_tls(cctx, "localhost"), std::logic_error);  // already TLS
  co_await stop(srv);
}

AIO_TEST(tls, a_second_connection_resumes_the_session) {
  const aio::ssl_context sctx = server_ctx(pki().server);
  aio::server_options so;
  so.ssl = &sctx;
  aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
  const aio::ssl_context cctx = client_ctx();
  aio::connection_options co;
  co.ssl = &cctx;
  for (int i = 0; i < 2; ++i) {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
    w.write("x\n");
    (void)co_await r.readline();  // TLS 1.3 tickets arrive with the first data
    EXPECT_EQ(w.tls_session_reused(), i == 1) << "connection " << i;
    w.close();
    co_await w.wait_closed();
  }
  co_await stop(srv);
}

TEST(tls, cancellation_at_every_step_of_a_tls_exchange) {
  aio::testing::cancel_at_every_step([]() -> aio::coro<void> {
    const aio::ssl_context sctx = server_ctx(pki().server);
    aio::server_options so;
    so.ssl = &sctx;
    aio::server srv = co_await aio::start_server(echo, "127.0.0.1", 0, so);
    std::exception_ptr cancelled;
    try {
      const aio::ssl_context cctx = client_ctx();
      aio::connection_options co;
      co.ssl = &cctx;
      auto [r, w] = co_await aio::open_connection("127.0.0.1", port_of(srv), co);
      w.write("ping\n");
      (void)co_await r.readline();
      w.close();
      co_await w.wait_closed();
    } catch (const aio::cancelled_error&) {
      cancelled = std::current_exception();
    }
    co_await stop(srv);
    if (cancelled) std::rethrow_exception(cancelled);
  });
}

TEST(tls, bad_pem_is_a_clear_error) {
  aio::ssl_context c = aio::ssl_context::server();
  EXPECT_THROW(c.load_cert_chain_pem("not a certificate", "nor a key"), std::invalid_argument);
  EXPECT_THROW(c.load_cert_chain_pem(pki().server.cert, pki().stranger.key), std::invalid_argument);
  EXPECT_THROW(aio::ssl_context::client().load_verify_pem("nothing"), std::invalid_argument);
}

}  // namespace
