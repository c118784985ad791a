#include "engine/net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <mutex>

namespace segflow::net {
namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

std::mutex& TlsMu() {
  static std::mutex mu;
  return mu;
}
std::shared_ptr<TlsContext>& TlsSlot() {
  static std::shared_ptr<TlsContext> slot;
  return slot;
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::Create(const std::string& cert,
                                                       const std::string& key,
                                                       const std::string& ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return Status::Internal("TLS: cannot create a context: " + OpenSslError());
  std::shared_ptr<TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_num_tickets(ctx, 0);  // no resumption: nothing arrives after the handshake but frames
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return Status::InvalidArgument("--tls-cert " + cert + ": " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument("--tls-key " + key + ": " + OpenSslError());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("--tls-key " + key + " does not match --tls-cert " + cert);
  }
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    return Status::InvalidArgument("--tls-ca " + ca + ": " + OpenSslError());
  }
  // Mutual: each side requires and verifies the other's certificate against the CA.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return out;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

std::shared_ptr<TlsContext> DefaultTls() {
  std::lock_guard<std::mutex> lock(TlsMu());
  return TlsSlot();
}

void SetDefaultTls(std::shared_ptr<TlsContext> tls) {
  std::lock_guard<std::mutex> lock(TlsMu());
  TlsSlot() = std::move(tls);
}

}  // namespace segflow::net
