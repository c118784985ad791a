#include "engine/net/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include "engine/net/connection.h"
#include "engine/schema/cluster.capnp.h"

namespace segflow::net {
namespace {

constexpr size_t kNonceBytes = 32;
constexpr size_t kMinSecretBytes = 16;
constexpr char kConnectLabel[] = "segflow-connect";
constexpr char kAcceptLabel[] = "segflow-accept";

std::mutex& DefaultMu() {
  static std::mutex mu;
  return mu;
}
std::shared_ptr<const Credentials>& DefaultSlot() {
  static std::shared_ptr<const Credentials> slot = std::make_shared<const Credentials>();
  return slot;
}

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::Internal("RAND_bytes failed: no random source for the handshake nonce");
  }
  return out;
}

// HMAC-SHA256(secret, label | first | second).
std::string Proof(const std::string& secret, const char* label, kj::ArrayPtr<const kj::byte> first,
                  kj::ArrayPtr<const kj::byte> second) {
  std::string data(label);
  data.append(reinterpret_cast<const char*>(first.begin()), first.size());
  data.append(reinterpret_cast<const char*>(second.begin()), second.size());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool SameProof(const std::string& expected, capnp::Data::Reader got) {
  return got.size() == expected.size() && !expected.empty() &&
         CRYPTO_memcmp(expected.data(), got.begin(), expected.size()) == 0;
}

kj::ArrayPtr<const kj::byte> Bytes(const std::string& s) {
  return kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

Result<wire::AuthMessage::Reader> ReceiveAuth(Connection& conn, std::unique_ptr<InMessage>* holder,
                                              wire::AuthMessage::Which want) {
  auto msg = conn.Receive();
  if (!msg.ok()) return msg.status();
  *holder = std::move(msg).value();
  auto root = (*holder)->Root<wire::AuthMessage>();
  if (root.which() != want) {
    return Status::Corruption("unexpected handshake message from " + conn.peer() +
                              " (not a Segflow peer of this version, or a different protocol)");
  }
  return root;
}

}  // namespace

Result<Credentials> LoadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno("--secret-file " + path + ": cannot read", errno);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string secret = buf.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())))
    secret.pop_back();
  if (secret.size() < kMinSecretBytes) {
    return Status::InvalidArgument(
        "--secret-file " + path + " holds " + std::to_string(secret.size()) +
        " bytes; a secret needs at least " + std::to_string(kMinSecretBytes) +
        " (e.g. head -c 32 /dev/urandom | base64 > " + path + "; chmod 600 " + path + ")");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    std::fprintf(stderr,
                 "segflow: warning: --secret-file %s is readable by others (chmod 600 %s)\n",
                 path.c_str(), path.c_str());
  }
  return Credentials{std::move(secret)};
}

Status WriteRandomSecretFile(const std::string& path) {
  auto raw = RandomBytes(32);
  if (!raw.ok()) return raw.status();
  unsigned char text[64];
  const int n = EVP_EncodeBlock(text, reinterpret_cast<const unsigned char*>(raw->data()),
                                static_cast<int>(raw->size()));
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create secret file " + path, errno);
  const bool ok = ::write(fd, text, static_cast<size_t>(n)) == n;
  ::close(fd);
  if (!ok) return Status::IOError("write secret file " + path);
  return Status::OK();
}

std::shared_ptr<const Credentials> DefaultCredentials() {
  std::lock_guard<std::mutex> lock(DefaultMu());
  return DefaultSlot();
}

void SetDefaultCredentials(Credentials credentials) {
  std::lock_guard<std::mutex> lock(DefaultMu());
  DefaultSlot() = std::make_shared<const Credentials>(std::move(credentials));
}

Status RequireSecretFor(const std::string& host, const Credentials& credentials,
                        const std::string& what) {
  if (credentials.has_secret()) return Status::OK();
  if (host == "localhost") return Status::OK();
  asio::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec && address.is_loopback()) return Status::OK();
  return Status::InvalidArgument(
      what + " " + host +
      " is not a loopback address and no secret is set: anyone who can reach it would "
      "control the cluster. Give every process the same --secret-file (or "
      "SEGFLOW_SECRET_FILE), or listen on 127.0.0.1");
}

Status AuthenticateAsClient(Connection& conn, const Credentials& credentials) {
  conn.SetReceiveDeadline(std::chrono::steady_clock::now() + kHandshakeTimeout);
  try {
    std::unique_ptr<InMessage> in;
    auto challenge_or = ReceiveAuth(conn, &in, wire::AuthMessage::CHALLENGE);
    if (!challenge_or.ok()) {
      // A peer that stays silent is no Segflow peer of this setup (one that is full closes
      // at once): most likely a TLS cluster reached without TLS. Not worth retrying.
      if (challenge_or.status().message().find("timed out") != std::string::npos) {
        return Status::FailedPrecondition(
            "no handshake from " + conn.peer() + " within " +
            std::to_string(kHandshakeTimeout.count() / 1000) +
            " s: is it a TLS cluster (give --tls-cert, --tls-key, --tls-ca) or "
            "not a Segflow process?");
      }
      return challenge_or.status().Annotate("handshake with " + conn.peer());
    }
    auto challenge = challenge_or->getChallenge();
    if (challenge.getVersion() != wire::PROTOCOL_VERSION) {
      return Status::FailedPrecondition("peer " + conn.peer() + " speaks protocol version " +
                                        std::to_string(challenge.getVersion()) + ", this process " +
                                        std::to_string(wire::PROTOCOL_VERSION) +
                                        ": run the same segflow build on every machine");
    }
    if (challenge.getNonce().size() != kNonceBytes)
      return Status::Corruption("bad handshake nonce from " + conn.peer());
    if (challenge.getSecretRequired() && !credentials.has_secret()) {
      // Answer without a proof, so that the peer logs why it refuses us.
      capnp::MallocMessageBuilder out;
      auto response = out.initRoot<wire::AuthMessage>().initResponse();
      response.setVersion(wire::PROTOCOL_VERSION);
      auto nonce = RandomBytes(kNonceBytes);
      if (nonce.ok()) response.setNonce(Bytes(*nonce));
      (void)conn.Send(out);
      std::unique_ptr<InMessage> ignored;
      (void)ReceiveAuth(conn, &ignored, wire::AuthMessage::RESULT);
      return Status::FailedPrecondition(
          "peer " + conn.peer() +
          " requires a shared secret: give this command --secret-file F (or set "
          "SEGFLOW_SECRET_FILE) with the cluster's secret");
    }
    if (!challenge.getSecretRequired() && credentials.has_secret()) {
      return Status::FailedPrecondition(
          "peer " + conn.peer() +
          " has no secret and cannot prove it is this cluster's; start it with the "
          "same --secret-file, or run this command without one");
    }
    auto nonce = RandomBytes(kNonceBytes);
    if (!nonce.ok()) return nonce.status();
    const std::string server_nonce(reinterpret_cast<const char*>(challenge.getNonce().begin()),
                                   kNonceBytes);
    capnp::MallocMessageBuilder out;
    auto response = out.initRoot<wire::AuthMessage>().initResponse();
    response.setVersion(wire::PROTOCOL_VERSION);
    response.setNonce(Bytes(*nonce));
    if (credentials.has_secret()) {
      response.setProof(
          Bytes(Proof(credentials.secret, kConnectLabel, Bytes(server_nonce), Bytes(*nonce))));
    }
    SEGFLOW_RETURN_IF_ERROR(conn.Send(out));
    std::unique_ptr<InMessage> in2;
    auto result_or = ReceiveAuth(conn, &in2, wire::AuthMessage::RESULT);
    if (!result_or.ok()) return result_or.status().Annotate("handshake with " + conn.peer());
    auto result = result_or->getResult();
    if (!result.getOk()) {
      return Status::FailedPrecondition("peer " + conn.peer() +
                                        " refused the handshake: " + result.getError().cStr());
    }
    if (credentials.has_secret() &&
        !SameProof(Proof(credentials.secret, kAcceptLabel, Bytes(*nonce), Bytes(server_nonce)),
                   result.getProof())) {
      return Status::FailedPrecondition(
          "peer " + conn.peer() +
          " failed to prove it holds the cluster's secret (another secret, or not a "
          "Segflow peer)");
    }
  } catch (const kj::Exception& e) {
    return Status::Corruption("undecodable handshake from " + conn.peer() + ": " +
                              e.getDescription().cStr());
  }
  conn.SetReceiveLimits(kMaxFrameBytes, kFrameTimeout);
  return Status::OK();
}

Status AuthenticateAsServer(Connection& conn, const Credentials& credentials) {
  conn.SetReceiveLimits(kHandshakeFrameBytes, std::chrono::milliseconds(0));
  conn.SetReceiveDeadline(std::chrono::steady_clock::now() + kHandshakeTimeout);
  auto nonce = RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.status();
  {
    capnp::MallocMessageBuilder out;
    auto challenge = out.initRoot<wire::AuthMessage>().initChallenge();
    challenge.setVersion(wire::PROTOCOL_VERSION);
    challenge.setNonce(Bytes(*nonce));
    challenge.setSecretRequired(credentials.has_secret());
    SEGFLOW_RETURN_IF_ERROR(conn.Send(out));
  }
  capnp::MallocMessageBuilder out;
  auto result = out.initRoot<wire::AuthMessage>().initResult();
  std::string refusal;
  try {
    std::unique_ptr<InMessage> in;
    auto response_or = ReceiveAuth(conn, &in, wire::AuthMessage::RESPONSE);
    if (!response_or.ok()) return response_or.status();
    auto response = response_or->getResponse();
    if (response.getVersion() != wire::PROTOCOL_VERSION) {
      refusal = "protocol version " + std::to_string(response.getVersion()) +
                " does not match this process's " + std::to_string(wire::PROTOCOL_VERSION) +
                ": run the same segflow build on every machine";
    } else if (response.getNonce().size() != kNonceBytes) {
      refusal = "bad handshake nonce";
    } else if (credentials.has_secret()) {
      if (!SameProof(Proof(credentials.secret, kConnectLabel, Bytes(*nonce), response.getNonce()),
                     response.getProof())) {
        refusal = response.getProof().size() == 0
                      ? "no secret given (this cluster requires --secret-file)"
                      : "wrong secret (the proof does not match this cluster's secret)";
      } else {
        result.setProof(
            Bytes(Proof(credentials.secret, kAcceptLabel, response.getNonce(), Bytes(*nonce))));
      }
    }
  } catch (const kj::Exception& e) {
    return Status::Corruption("undecodable handshake: " + std::string(e.getDescription().cStr()));
  }
  result.setOk(refusal.empty());
  if (!refusal.empty()) result.setError(refusal);
  Status sent = conn.Send(out);
  if (!refusal.empty()) return Status::FailedPrecondition(refusal);
  SEGFLOW_RETURN_IF_ERROR(sent);
  conn.SetReceiveLimits(kMaxFrameBytes, kFrameTimeout);
  return Status::OK();
}

}  // namespace segflow::net
