// Fuzzes the reading of control-plane frames (engine/schema/cluster.capnp): the frame body
// as a connection's Receive hands it over (OwnedMessage, the default traversal limit),
// read as the message type the first byte selects, every field visited as a receiver
// could (fuzz_util.h VisitAllFields: each field, list element and union member, bounded), and a
// submission's job text given to the job parser as the coordinator does.
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/common/owned_message.h"
#include "engine/schema/cluster.capnp.h"
#include "fuzz_util.h"
#include "jobs/job_parser.h"

namespace {

template <typename T>
void VisitAll(segflow::OwnedMessage& message) {
  segflow::fuzz::VisitAllFields(message.Root<T>());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t kind = data[0];
  std::vector<capnp::word> words((size - 1) / sizeof(capnp::word));
  if (!words.empty()) std::memcpy(words.data(), data + 1, words.size() * sizeof(capnp::word));
  try {
    segflow::OwnedMessage message(std::move(words));
    switch (kind % 7) {
      case 0: {
        VisitAll<segflow::wire::ControlMessage>(message);
        auto root = message.Root<segflow::wire::ControlMessage>();
        if (root.isSubmit() && root.getSubmit().hasJobText()) {
          auto submit = root.getSubmit();
          (void)segflow::ParseJobText(submit.getJobText().cStr(), submit.getJobFile().cStr());
        }
        break;
      }
      case 1:
        VisitAll<segflow::wire::DataHello>(message);
        break;
      case 2:
        VisitAll<segflow::wire::DataHelloReply>(message);
        break;
      case 3:
        VisitAll<segflow::wire::Credit>(message);
        break;
      case 4:
        VisitAll<segflow::wire::PersistedJob>(message);
        break;
      case 5:
        VisitAll<segflow::wire::PersistedUpgrade>(message);
        break;
      default:
        VisitAll<segflow::wire::DataFrame>(message);
        break;
    }
  } catch (const kj::Exception&) {
    // Malformed: every receiver catches this and drops the connection or the file.
  }
  return 0;
}
