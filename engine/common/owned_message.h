// OwnedMessage: a Cap'n Proto message in flat form that owns its words (a received frame,
// a file read back); Root<T>() reads it in place. Decoding is lazy: field access on a
// damaged message throws kj::Exception, which callers turn into Corruption.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace segflow {

class OwnedMessage {
 public:
  // Throws kj::Exception when the segment table does not check.
  explicit OwnedMessage(std::vector<capnp::word> words, uint64_t traversal_limit_words = 8u << 20)
      : words_(std::move(words)) {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = traversal_limit_words;
    reader_ = std::make_unique<capnp::FlatArrayMessageReader>(
        kj::ArrayPtr<const capnp::word>(words_.data(), words_.size()), options);
  }
  template <typename T>
  typename T::Reader Root() {
    return reader_->getRoot<T>();
  }

 private:
  std::vector<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

}  // namespace segflow
