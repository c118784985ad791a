// Authentication of every connection between Segflow processes: a mutual
// challenge-response handshake (engine/schema/cluster.capnp, AuthMessage) on a shared
// secret read from `--secret-file` / SEGFLOW_SECRET_FILE. HMAC-SHA256 through OpenSSL; the
// secret never crosses the wire; nonces come from RAND_bytes, proofs are compared in
// constant time, and a replayed response fails (the accepting side's nonce is fresh).
#pragma once

#include <memory>
#include <string>

#include "engine/common/status.h"

namespace segflow::net {

class Connection;

struct Credentials {
  std::string secret;  // empty: none (only loopback peers; see RequireSecretFor)
  bool has_secret() const { return !secret.empty(); }
};

// Reads a secret file: its bytes less trailing whitespace, at least 16 of them (e.g.
// `head -c 32 /dev/urandom | base64 > secret; chmod 600 secret`).
Result<Credentials> LoadSecretFile(const std::string& path);
// Writes `bytes` random bytes, base64, to a new file readable by its owner only.
Status WriteRandomSecretFile(const std::string& path);

// The process's credentials, used by every connect and every server that is not given
// others (set once at start from --secret-file or SEGFLOW_SECRET_FILE; none by default).
std::shared_ptr<const Credentials> DefaultCredentials();
void SetDefaultCredentials(Credentials credentials);

// A listener without a secret may only bind loopback addresses (127.0.0.0/8, ::1,
// localhost): anyone who can reach the port would own the cluster. The error says what to
// do. `what` names the flag, e.g. "coordinator --listen".
Status RequireSecretFor(const std::string& host, const Credentials& credentials,
                        const std::string& what);

// The handshake, as the side that connected. On success the connection's limits are the
// authenticated ones (kMaxFrameBytes, kFrameTimeout). FailedPrecondition when a proof fails
// on either side (not worth retrying); IOError/NotFound when the connection breaks.
Status AuthenticateAsClient(Connection& conn, const Credentials& credentials);
// The handshake, as the side that accepted, under the handshake frame limit and deadline.
// A failure is returned (the caller logs it once with the peer and closes).
Status AuthenticateAsServer(Connection& conn, const Credentials& credentials);

}  // namespace segflow::net
