// Credit-based flow control for one channel across one TCP connection (Flink's network
// stack in miniature). The receiver grants `credits` frames up front and returns one
// credit each time a frame has been pushed into the receiving task's bounded input; the
// sender sends a frame only against a credit. So at most `credits` frames are in flight
// per connection, and a slow receiving task stops its senders instead of growing memory.
//
// Each connection multiplexes `producers` local tasks' streams into one receiving task;
// the stream is complete once every producer's end marker went through. A connection that
// closes before that is an error (the peer died), never a silent end.
#pragma once

#include <capnp/message.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "engine/common/status.h"
#include "engine/net/connection.h"
#include "engine/runtime/cancellation_token.h"
#include "engine/runtime/channel.h"
#include "engine/schema/cluster.capnp.h"

namespace segflow::net {

// Sender: pops `outbox` until `producers` end markers went out, one frame per credit.
// `encode(const T&, wire::DataFrame::Builder)`, `is_end(const T&) -> bool`.
template <typename T, typename Encode, typename IsEnd>
Status SendStream(BoundedChannel<T>* outbox, Connection* conn, uint32_t initial_credits, uint32_t producers,
                  Encode encode, IsEnd is_end, CancellationToken& cancel) {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t credits = initial_credits;
  Status reader_status;
  bool reader_done = false;
  // Credits come back on the same socket; a thread of their own keeps the sender from
  // ever blocking on a full receive buffer while the receiver blocks on credits.
  std::thread credit_reader([&] {
    for (;;) {
      auto msg = conn->Receive();
      std::lock_guard<std::mutex> lock(mu);
      if (!msg.ok()) {
        reader_status = msg.status();
        reader_done = true;
        cv.notify_all();
        return;
      }
      try {
        credits += (*msg)->Root<wire::Credit>().getFrames();
      } catch (const kj::Exception& e) {
        reader_status = Status::Corruption("bad credit frame from " + conn->peer());
        reader_done = true;
        cv.notify_all();
        return;
      }
      cv.notify_all();
    }
  });
  auto finish = [&](Status s) {
    conn->Close();
    credit_reader.join();
    return s;
  };
  uint32_t ends = 0;
  while (ends < producers) {
    auto item = outbox->Pop();
    if (!item) return finish(Status::Cancelled("outbox to " + conn->peer() + " closed"));
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return credits > 0 || reader_done || cancel.cancelled(); });
      if (credits == 0) {
        if (cancel.cancelled()) return finish(Status::Cancelled("canceled"));
        lock.unlock();
        return finish(Status::IOError("data connection to " + conn->peer() + " lost: " + reader_status.message()));
      }
      --credits;
    }
    if (is_end(*item)) ++ends;
    capnp::MallocMessageBuilder message;
    encode(*item, message.initRoot<wire::DataFrame>());
    Status s = conn->Send(message);
    if (!s.ok()) return finish(s.Annotate("data connection"));
  }
  // Every end went out; the receiver closes once it has taken them all in.
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return reader_done || cancel.cancelled(); });
  }
  return finish(Status::OK());
}

// Receiver: pushes each frame into `inbox` and returns its credit once it is in.
// `decode(wire::DataFrame::Reader, T*) -> Status`.
template <typename T, typename Decode, typename IsEnd>
Status ReceiveStream(Connection* conn, BoundedChannel<T>* inbox, uint32_t producers, Decode decode, IsEnd is_end) {
  uint32_t ends = 0;
  while (ends < producers) {
    auto msg = conn->Receive();
    if (!msg.ok()) {
      return Status::IOError("data connection from " + conn->peer() + " lost after " + std::to_string(ends) +
                             " of " + std::to_string(producers) + " streams ended: " + msg.status().message());
    }
    T value;
    try {
      SEGFLOW_RETURN_IF_ERROR(decode((*msg)->Root<wire::DataFrame>(), &value));
    } catch (const kj::Exception& e) {
      return Status::Corruption("undecodable data frame from " + conn->peer() + ": " + e.getDescription().cStr());
    }
    if (is_end(value)) ++ends;
    SEGFLOW_RETURN_IF_ERROR(inbox->Push(std::move(value)));
    capnp::MallocMessageBuilder credit;
    credit.initRoot<wire::Credit>().setFrames(1);
    SEGFLOW_RETURN_IF_ERROR(conn->Send(credit));
  }
  conn->Close();
  return Status::OK();
}

}  // namespace segflow::net
