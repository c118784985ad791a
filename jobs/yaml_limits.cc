#include "jobs/yaml_limits.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace segflow {
namespace {

// Thrown from the event handler to stop the parse at the first exceeded limit.
struct Exceeded {
  YamlLimitError error;
};

// What an anchored node amounts to once complete: an alias to it adds this much.
struct Extent {
  uint64_t nodes = 0;
  uint64_t bytes = 0;
  int height = 0;  // 1 for a scalar, 1 + the deepest child for a collection
};

class LimitCounter : public YAML::EventHandler {
 public:
  explicit LimitCounter(const YamlLimits& limits) : limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {
    anchors_.clear();
    names_.clear();
  }
  void OnDocumentEnd() override {}
  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { Leaf(mark, anchor, 0); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Leaf(mark, anchor, value.size());
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      Fail(mark, "alias " + Name(anchor) +
                     " names a node that contains it: a cycle, which a job file cannot hold");
    }
    Add(mark, it->second, "alias " + Name(anchor) + " expands the document to ");
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    YAML::anchor_t anchor;
    uint64_t nodes_at_start;
    uint64_t bytes_at_start;
    int depth;    // of the collection itself, 1 at the top
    int deepest;  // the deepest node below it so far (absolute)
  };

  // "*name", built without `"literal" + std::string` (GCC 12's false -Wstringop-overflow).
  std::string Name(YAML::anchor_t anchor) const {
    auto it = names_.find(anchor);
    std::string out(1, '*');
    out += it == names_.end() ? std::to_string(anchor) : it->second;
    return out;
  }
  void NameAnchor(YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) names_[anchor] = pending_name_;
    pending_name_.clear();
  }
  [[noreturn]] void Fail(const YAML::Mark& mark, std::string message) {
    throw Exceeded{YamlLimitError{mark, std::move(message)}};
  }
  int Depth() const { return static_cast<int>(stack_.size()) + 1; }

  // Adds `e` at the current position; `what` starts the message when a limit is exceeded.
  void Add(const YAML::Mark& mark, const Extent& e, const std::string& what) {
    // yaml-cpp 0.7 never ends on a document that starts with a comma: it emits null nodes
    // at the same position forever (found by fuzz_job_yaml). Real text moves on.
    if (mark.pos == last_pos_ && ++same_pos_ >= kMaxNodesAtOnePosition) {
      Fail(mark,
           "YAML syntax error: the parser does not advance here (a ',' at the start of "
           "the document?)");
    } else if (mark.pos != last_pos_) {
      last_pos_ = mark.pos;
      same_pos_ = 0;
    }
    nodes_ += e.nodes;
    bytes_ += e.bytes;
    const int deepest = Depth() + e.height - 1;
    if (!stack_.empty()) stack_.back().deepest = std::max(stack_.back().deepest, deepest);
    if (nodes_ > limits_.max_nodes) {
      Fail(mark, what + "more than " + std::to_string(limits_.max_nodes) +
                     " nodes (aliases count as copies of what they name); job files are far "
                     "smaller: write the repeated parts out or drop the aliases");
    }
    if (bytes_ > limits_.max_scalar_bytes) {
      Fail(mark, what + "more than " + std::to_string(limits_.max_scalar_bytes >> 20) +
                     " MiB of text (aliases count as copies of what they name)");
    }
    if (deepest > limits_.max_depth) {
      Fail(mark, "YAML nested more than " + std::to_string(limits_.max_depth) +
                     " levels deep (aliases count as copies of what they name)");
    }
  }
  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, size_t bytes) {
    NameAnchor(anchor);
    Extent e{1, bytes, 1};
    Add(mark, e, "the document has ");
    if (anchor != YAML::NullAnchor) anchors_[anchor] = e;
  }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    NameAnchor(anchor);
    Add(mark, Extent{1, 0, 1}, "the document has ");
    stack_.push_back(Frame{anchor, nodes_ - 1, bytes_, Depth(), Depth()});
  }
  void Close() {
    Frame f = stack_.back();
    stack_.pop_back();
    if (!stack_.empty()) stack_.back().deepest = std::max(stack_.back().deepest, f.deepest);
    if (f.anchor != YAML::NullAnchor) {
      anchors_[f.anchor] =
          Extent{nodes_ - f.nodes_at_start, bytes_ - f.bytes_at_start, f.deepest - f.depth + 1};
    }
  }

  static constexpr int kMaxNodesAtOnePosition = 1000;
  const YamlLimits& limits_;
  int last_pos_ = -1;
  int same_pos_ = 0;
  uint64_t nodes_ = 0;  // over every document
  uint64_t bytes_ = 0;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Extent> anchors_;  // complete anchored nodes of this document
  std::map<YAML::anchor_t, std::string> names_;
  std::string pending_name_;
};

}  // namespace

std::optional<YamlLimitError> CheckYamlLimits(const std::string& text, const YamlLimits& limits) {
  if (text.size() > limits.max_file_bytes) {
    return YamlLimitError{YAML::Mark::null_mark(), "the file is " + std::to_string(text.size()) +
                                                       " bytes, more than the " +
                                                       std::to_string(limits.max_file_bytes >> 20) +
                                                       " MiB a job file may have"};
  }
  std::istringstream in(text);
  YAML::Parser parser(in);
  LimitCounter counter(limits);
  try {
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const Exceeded& e) {
    return e.error;
  }
  return std::nullopt;
}

Result<std::vector<YAML::Node>> LoadBoundedYaml(const std::string& text, const std::string& file) {
  auto at = [&](const YAML::Mark& mark, const std::string& what) {
    if (mark.is_null() || mark.line < 0) return Status::InvalidArgument(file + ": " + what);
    return Status::InvalidArgument(file + ":" + std::to_string(mark.line + 1) + ":" +
                                   std::to_string(mark.column + 1) + ": " + what);
  };
  try {
    if (auto exceeded = CheckYamlLimits(text)) return at(exceeded->mark, exceeded->message);
    return YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return at(e.mark, "YAML syntax error: " + e.msg);
  }
}

}  // namespace segflow
