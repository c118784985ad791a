// Optional mutual TLS on every connection (`--tls-cert --tls-key --tls-ca`): both sides
// present a certificate signed by the cluster's CA and verify the other's. TLS runs under
// the authentication handshake (auth.h), which still proves the shared secret.
#pragma once

#include <memory>
#include <string>

#include "engine/common/status.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace segflow::net {

class TlsContext {
 public:
  // Loads the certificate (chain), its key and the CA bundle; errors name the file.
  static Result<std::shared_ptr<TlsContext>> Create(const std::string& cert, const std::string& key,
                                                    const std::string& ca);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* ctx() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

// The process's TLS context (null: plain TCP), used by every connect and every server.
std::shared_ptr<TlsContext> DefaultTls();
void SetDefaultTls(std::shared_ptr<TlsContext> tls);

}  // namespace segflow::net
