#include "cli/cluster_client.h"

namespace segflow::cli {

Result<std::unique_ptr<ClusterClient>> ClusterClient::Connect(const std::string& host_port, int attempts) {
  auto to = net::ParseHostPort(host_port);
  if (!to.ok()) return to.status().Annotate("--coordinator");
  net::ConnectOptions options;
  options.attempts = attempts;
  auto conn = net::Connection::Connect(*to, options);
  if (!conn.ok() && conn.status().code() == Status::Code::kFailedPrecondition) {
    return Status::FailedPrecondition("coordinator " + to->ToString() + ": " + conn.status().message());
  }
  if (!conn.ok()) {
    return Status::IOError("coordinator unreachable: " + conn.status().message() +
                           " (is `segflow coordinator --listen " + to->ToString() + "` running?)");
  }
  std::unique_ptr<ClusterClient> client(new ClusterClient(std::move(conn).value()));
  capnp::MallocMessageBuilder hello;
  auto h = hello.initRoot<wire::ControlMessage>().initHello();
  h.setVersion(wire::PROTOCOL_VERSION);
  h.setRole(wire::Role::CLIENT);
  SEGFLOW_RETURN_IF_ERROR(client->conn_->Send(hello));
  auto reply = client->conn_->Receive();
  if (!reply.ok()) return reply.status().Annotate("handshake with coordinator " + to->ToString());
  auto root = (*reply)->Root<wire::ControlMessage>();
  if (root.which() != wire::ControlMessage::HELLO_REPLY) return Status::Corruption("coordinator sent no hello reply");
  if (!root.getHelloReply().getOk()) {
    return Status::FailedPrecondition("coordinator " + to->ToString() +
                                      " refused this client: " + root.getHelloReply().getError().cStr());
  }
  return client;
}

Result<std::unique_ptr<net::InMessage>> ClusterClient::Call(capnp::MallocMessageBuilder& request) {
  SEGFLOW_RETURN_IF_ERROR(conn_->Send(request));
  auto reply = conn_->Receive();
  if (!reply.ok()) return reply.status().Annotate("coordinator");
  return reply;
}

Result<std::unique_ptr<net::InMessage>> ClusterClient::Status(const std::string& job_id) {
  capnp::MallocMessageBuilder req;
  req.initRoot<wire::ControlMessage>().initStatus().setJobId(job_id);
  return Call(req);
}

const char* JobStateName(wire::JobState state) {
  switch (state) {
    case wire::JobState::SCHEDULING: return "scheduling";
    case wire::JobState::RUNNING: return "running";
    case wire::JobState::RESTARTING: return "restarting";
    case wire::JobState::FINISHED: return "finished";
    case wire::JobState::FAILED: return "failed";
    case wire::JobState::CANCELED: return "canceled";
    case wire::JobState::CANCELING: return "canceling";
  }
  return "?";
}

bool IsTerminal(wire::JobState state) {
  return state == wire::JobState::FINISHED || state == wire::JobState::FAILED || state == wire::JobState::CANCELED;
}

}  // namespace segflow::cli
