#include "operators/sink/record_json.h"

#include "engine/value/value.h"

namespace segflow {

// One record as a JSON line, with the topic's field names (spec §1 and §6).
void AppendRecordJsonLine(const log::TopicMeta& meta, const log::LogRecord& r, std::string* out) {
  const Event& e = r.event;
  out->push_back('{');
  if (meta.format == log::TopicFormat::kChangelog) {
    const Value* segment = e.props.Find("segment");
    out->append("\"segment\":");
    if (segment != nullptr) {
      segment->AppendJson(out);
    } else {
      out->append("null");
    }
    out->append(",\"user_id\":");
    AppendJsonString(e.user, out);
    out->append(",\"change\":");
    AppendJsonString(e.type, out);
    out->append(",\"at\":");
    out->append(std::to_string(e.ts));
    for (const auto& [k, v] : e.props.as_object()) {
      if (k == "segment") continue;
      out->push_back(',');
      AppendJsonString(k, out);
      out->push_back(':');
      v.AppendJson(out);
    }
  } else {
    AppendJsonString(meta.fields.user, out);
    out->push_back(':');
    AppendJsonString(e.user, out);
    out->push_back(',');
    AppendJsonString(meta.fields.event, out);
    out->push_back(':');
    AppendJsonString(e.type, out);
    out->push_back(',');
    AppendJsonString(meta.fields.time, out);
    out->push_back(':');
    out->append(std::to_string(e.ts));
    for (const auto& [k, v] : e.props.as_object()) {
      out->push_back(',');
      AppendJsonString(k, out);
      out->push_back(':');
      v.AppendJson(out);
    }
  }
  out->append("}\n");
}

}  // namespace segflow
