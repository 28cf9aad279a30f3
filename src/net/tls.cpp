// SPDX-License-Identifier: MIT
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "aio/net/address.hpp"
#include "aio/net/detail/tls_session.hpp"
#include "aio/net/tls.hpp"

namespace aio {

struct ssl_context::impl {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool verify = true;
  std::string alpn_wire;  // the server's protocols, in ALPN wire format
  // Client session cache for resumption: the newest session per "host|peer" (tickets
  // arrive after the handshake in TLS 1.3; OpenSSL hands them to new_session()).
  std::mutex sessions_m;
  std::unordered_map<std::string, SSL_SESSION*> sessions;
  ~impl() {
    for (auto& [k, s] : sessions) SSL_SESSION_free(s);
    SSL_CTX_free(ctx);
  }
};

namespace {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed" -> the reason part.
    std::string s = buf;
    if (auto p = s.rfind(':'); p != std::string::npos) s = s.substr(p + 1);
    if (!out.empty()) out += "; ";
    out += s;
  }
  return out.empty() ? std::string("unknown TLS error") : out;
}

std::shared_ptr<ssl_context::impl> make(bool server) {
  auto p = std::make_shared<ssl_context::impl>();
  p->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!p->ctx) throw ssl_error("SSL_CTX_new: " + openssl_errors());
  p->server = server;
  SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
  // A peer that closes without close_notify ends the stream (as most servers do);
  // truncation attacks matter to protocols without their own framing, which then
  // check lengths themselves.
  SSL_CTX_set_options(p->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(p->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return p;
}

BIO* pem_bio(std::string_view pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!b) throw std::bad_alloc();
  return b;
}

}  // namespace

ssl_context ssl_context::client() {
  auto p = make(false);
  SSL_CTX_set_session_cache_mode(p->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(p->ctx, [](SSL* ssl, SSL_SESSION* sess) -> int {
    auto* ts = static_cast<detail::tls_session*>(SSL_get_app_data(ssl));
    return ts ? ts->store_session(sess) : 0;
  });
  SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_default_verify_paths(p->ctx);
  return ssl_context(std::move(p));
}

ssl_context ssl_context::server() {
  auto p = make(true);
  p->verify = false;
  SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, nullptr);
  return ssl_context(std::move(p));
}

void ssl_context::load_verify_locations(const std::string& cafile) {
  if (SSL_CTX_load_verify_locations(p_->ctx, cafile.c_str(), nullptr) != 1)
    throw std::invalid_argument("load_verify_locations " + cafile + ": " + openssl_errors());
}

void ssl_context::load_verify_pem(std::string_view pem) {
  BIO* b = pem_bio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(p_->ctx);
  int n = 0;
  while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, x);
    X509_free(x);
    ++n;
  }
  BIO_free(b);
  ERR_clear_error();  // the loop ends on "no start line"
  if (n == 0) throw std::invalid_argument("load_verify_pem: no certificate in the PEM text");
}

void ssl_context::load_cert_chain(const std::string& certfile, const std::string& keyfile) {
  if (SSL_CTX_use_certificate_chain_file(p_->ctx, certfile.c_str()) != 1)
    throw std::invalid_argument("load_cert_chain " + certfile + ": " + openssl_errors());
  if (SSL_CTX_use_PrivateKey_file(p_->ctx, keyfile.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::invalid_argument("load_cert_chain " + keyfile + ": " + openssl_errors());
  if (SSL_CTX_check_private_key(p_->ctx) != 1)
    throw std::invalid_argument("load_cert_chain: the key does not match the certificate");
}

void ssl_context::load_cert_chain_pem(std::string_view cert_pem, std::string_view key_pem) {
  BIO* b = pem_bio(cert_pem);
  X509* leaf = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  if (!leaf) {
    BIO_free(b);
    throw std::invalid_argument("load_cert_chain_pem: no certificate: " + openssl_errors());
  }
  const int ok = SSL_CTX_use_certificate(p_->ctx, leaf);
  X509_free(leaf);
  SSL_CTX_clear_chain_certs(p_->ctx);
  while (X509* extra = PEM_read_bio_X509(b, nullptr, nullptr, nullptr))
    SSL_CTX_add0_chain_cert(p_->ctx, extra);  // takes ownership
  BIO_free(b);
  ERR_clear_error();
  if (ok != 1) throw std::invalid_argument("load_cert_chain_pem: " + openssl_errors());
  BIO* k = pem_bio(key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(k, nullptr, nullptr, nullptr);
  BIO_free(k);
  if (!key) throw std::invalid_argument("load_cert_chain_pem: no private key: " + openssl_errors());
  const int kok = SSL_CTX_use_PrivateKey(p_->ctx, key);
  EVP_PKEY_free(key);
  if (kok != 1 || SSL_CTX_check_private_key(p_->ctx) != 1)
    throw std::invalid_argument("load_cert_chain_pem: the key does not match the certificate");
}

void ssl_context::set_verify(bool on) {
  p_->verify = on;
  // A server that verifies requires a certificate (Python's CERT_REQUIRED): without
  // FAIL_IF_NO_PEER_CERT, OpenSSL would let a client without one in.
  const int mode = !on          ? SSL_VERIFY_NONE
                   : p_->server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                : SSL_VERIFY_PEER;
  SSL_CTX_set_verify(p_->ctx, mode, nullptr);
}
bool ssl_context::verify() const noexcept {
  return p_->verify;
}

void ssl_context::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255)
      throw std::invalid_argument("ALPN protocol names have 1 to 255 bytes");
    wire += static_cast<char>(p.size());
    wire += p;
  }
  if (p_->server) {
    // The server picks the first of its protocols that the client offers.
    p_->alpn_wire = wire;
    SSL_CTX_set_alpn_select_cb(
        p_->ctx,
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
           unsigned inlen, void* arg) -> int {
          const std::string& mine = static_cast<ssl_context::impl*>(arg)->alpn_wire;
          unsigned char* o = nullptr;
          if (SSL_select_next_proto(&o, outlen, reinterpret_cast<const unsigned char*>(mine.data()),
                                    static_cast<unsigned>(mine.size()), in,
                                    inlen) != OPENSSL_NPN_NEGOTIATED)
            return SSL_TLSEXT_ERR_NOACK;
          *out = o;
          return SSL_TLSEXT_ERR_OK;
        },
        p_.get());
  } else if (SSL_CTX_set_alpn_protos(p_->ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                     static_cast<unsigned>(wire.size())) != 0) {
    throw ssl_error("set_alpn_protocols: " + openssl_errors());
  }
}

bool ssl_context::is_server() const noexcept {
  return p_->server;
}
void* ssl_context::native_handle() const noexcept {
  return p_->ctx;
}

// --- tls_session ---------------------------------------------------------------------------

namespace detail {

tls_session::tls_session(const ssl_context& ctx, const std::string& hostname, std::string peer)
    : peer_(std::move(peer)), ctx_(ctx.state()) {
  SSL* ssl = SSL_new(ctx_->ctx);
  if (!ssl) throw ssl_error("SSL_new: " + openssl_errors());
  ssl_ = ssl;
  BIO* r = BIO_new(BIO_s_mem());
  BIO* w = BIO_new(BIO_s_mem());
  if (!r || !w) {
    BIO_free(r);
    BIO_free(w);
    throw std::bad_alloc();
  }
  BIO_set_mem_eof_return(r, -1);  // empty: "retry", not EOF
  SSL_set_bio(ssl, r, w);         // the SSL owns them now
  rbio_ = r;
  wbio_ = w;
  if (ctx_->server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, this);
    cache_key_ = hostname + "|" + peer_;
    {
      std::lock_guard lk(ctx_->sessions_m);
      if (auto it = ctx_->sessions.find(cache_key_); it != ctx_->sessions.end())
        SSL_set_session(ssl, it->second);  // resumption, if the server agrees
    }
    if (!hostname.empty()) {
      const bool is_ip = net::address::parse(hostname, 0).has_value();
      if (!is_ip) SSL_set_tlsext_host_name(ssl, hostname.c_str());
      if (ctx_->verify) {
        X509_VERIFY_PARAM* vp = SSL_get0_param(ssl);
        if (is_ip)
          X509_VERIFY_PARAM_set1_ip_asc(vp, hostname.c_str());
        else
          SSL_set1_host(ssl, hostname.c_str());
      }
    }
  }
}

tls_session::~tls_session() {
  SSL_free(static_cast<SSL*>(ssl_));
}

void tls_session::fail(const char* what, int ret) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  const int e = SSL_get_error(ssl, ret);
  const long verify = SSL_get_verify_result(ssl);
  std::string errs = openssl_errors();
  std::string msg = std::string(what) + " with " + peer_ + ": ";
  if (verify != X509_V_OK && !ctx_->server && ctx_->verify) {
    throw ssl_cert_verification_error(
        msg + "certificate verify failed: " + X509_verify_cert_error_string(verify));
  }
  if (e == SSL_ERROR_SYSCALL && errs == "unknown TLS error")
    errs = "the peer closed the connection";
  throw ssl_error(msg + errs);
}

bool tls_session::handshake() {
  SSL* ssl = static_cast<SSL*>(ssl_);
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl);
  if (r == 1) return true;
  const int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ && !eof_) return false;
  if (e == SSL_ERROR_WANT_READ)
    throw ssl_error("TLS handshake with " + peer_ + ": the peer closed the connection");
  fail("TLS handshake", r);
}

void tls_session::feed(const char* p, std::size_t n) {
  if (BIO_write(static_cast<BIO*>(rbio_), p, static_cast<int>(n)) != static_cast<int>(n))
    throw std::bad_alloc();
}

long tls_session::read(char* buf, std::size_t n) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  ERR_clear_error();
  const int r = SSL_read(ssl, buf, static_cast<int>(n > 1 << 30 ? 1 << 30 : n));
  if (r > 0) return r;
  const int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  if (e == SSL_ERROR_WANT_READ) return eof_ ? 0 : -1;
  fail("TLS read", r);
}

void tls_session::write(const char* p, std::size_t n) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  while (n > 0) {
    ERR_clear_error();
    const int chunk = static_cast<int>(n > 1 << 30 ? 1 << 30 : n);
    const int r = SSL_write(ssl, p, chunk);
    if (r <= 0) fail("TLS write", r);
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

void tls_session::shutdown() noexcept {
  ERR_clear_error();
  SSL_shutdown(static_cast<SSL*>(ssl_));
  ERR_clear_error();
}

std::size_t tls_session::pending_output() const noexcept {
  return BIO_ctrl_pending(static_cast<BIO*>(wbio_));
}

std::size_t tls_session::take_output(char* buf, std::size_t n) noexcept {
  const int r =
      BIO_read(static_cast<BIO*>(wbio_), buf, static_cast<int>(n > 1 << 30 ? 1 << 30 : n));
  return r > 0 ? static_cast<std::size_t>(r) : 0;
}

int tls_session::store_session(void* session) noexcept {
  auto* sess = static_cast<SSL_SESSION*>(session);
  if (!SSL_SESSION_is_resumable(sess)) return 0;
  std::lock_guard lk(ctx_->sessions_m);
  SSL_SESSION*& slot = ctx_->sessions[cache_key_];
  if (slot) SSL_SESSION_free(slot);
  slot = sess;
  return 1;  // we keep the reference
}

bool tls_session::session_reused() const noexcept {
  return SSL_session_reused(static_cast<SSL*>(ssl_)) == 1;
}

std::string tls_session::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(static_cast<SSL*>(ssl_), &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string tls_session::version() const {
  return SSL_get_version(static_cast<SSL*>(ssl_));
}

std::string tls_session::peer_subject() const {
  X509* cert = SSL_get0_peer_certificate(static_cast<SSL*>(ssl_));
  if (cert == nullptr) return {};
  BIO* b = BIO_new(BIO_s_mem());
  if (b == nullptr) return {};
  X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
  BIO_free(b);
  return out;
}

}  // namespace detail
}  // namespace aio
