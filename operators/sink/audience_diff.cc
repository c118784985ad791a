#include "operators/sink/audience_diff.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "engine/common/owned_dir.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {
namespace {

bool IsJobFile(const std::string& arg) {
  for (const char* ext : {".yaml", ".yml"}) {
    const std::string e(ext);
    if (arg.size() > e.size() && arg.compare(arg.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

std::string TimeText(const std::optional<int64_t>& t) {
  if (!t) return "nothing yet";
  return FormatRfc3339Millis(*t) + " (" + std::to_string(*t) + ")";
}

}  // namespace

SegmentDiff DiffMembers(const std::string& segment, const std::vector<std::string>& a,
                        const std::vector<std::string>& b) {
  SegmentDiff d;
  d.segment = segment;
  d.a = a.size();
  d.b = b.size();
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(d.only_a));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(d.only_b));
  d.union_size = d.a + d.only_b.size();
  if (d.union_size > 0) {
    d.divergence_pct = 100.0 * static_cast<double>(d.only_a.size() + d.only_b.size()) /
                       static_cast<double>(d.union_size);
  }
  return d;
}

Result<AudienceSide> OpenAudienceSide(const std::string& arg, bool shared) {
  AudienceSide side;
  side.label = arg;
  std::string writer;
  if (IsJobFile(arg)) {
    JobParseResult parsed = ParseJobFile(arg);
    if (!parsed.ok())
      return Status::InvalidArgument(parsed.ErrorText() + arg + ": fix the job file");
    const JobSpec& job = parsed.job;
    if (shared && job.output.shared_audience_dir.empty()) {
      return Status::InvalidArgument(
          arg + ": job " + job.name +
          " has no output.shared_audience; drop --shared to compare its own audience");
    }
    side.store_dir = shared ? job.output.shared_audience_dir : job.output.audience_dir;
    for (const auto& s : job.segments) side.segments.push_back(s.id);
    side.defines_segments = true;
    side.ledger = LedgerPath(job);
    if (shared) writer = job.name;
  } else {
    side.store_dir = arg;
    // A store under <dir of log>/audience/ (where forget looks for stores).
    const std::filesystem::path dir = std::filesystem::absolute(arg).lexically_normal();
    const auto base = dir.has_filename() ? dir.parent_path() : dir.parent_path().parent_path();
    if (base.filename() == "audience") {
      side.ledger = (base.parent_path() / "governance" / "ledger.jsonl").string();
    }
  }
  auto store = AudienceStore::OpenForRead(side.store_dir);
  if (!store.ok()) return store.status().Annotate(arg);
  if (side.segments.empty()) {
    auto segments = (*store)->Segments();
    if (!segments.ok()) return segments.status();
    side.segments = *segments;
  }
  auto writers = (*store)->Writers();
  if (!writers.ok()) return writers.status();
  if (IsJobFile(arg)) {
    auto t = (*store)->EvaluatedThrough(writer);
    if (!t.ok()) return t.status();
    side.evaluated = "evaluated through " + TimeText(*t);
  } else {
    for (const auto& w : *writers) {
      auto t = (*store)->EvaluatedThrough(w);
      if (!t.ok()) return t.status();
      side.evaluated += (side.evaluated.empty() ? "" : "; ") +
                        (w.empty() ? std::string("own job") : w) + " evaluated through " +
                        TimeText(*t);
    }
    if (side.evaluated.empty()) side.evaluated = "no writer yet";
  }
  return side;
}

}  // namespace segflow

namespace segflow {

Status RecordLastDiff(const std::string& store_dir, const std::string& json) {
  namespace fs = std::filesystem;
  if (!IsOwnedDir(store_dir) || !fs::exists(fs::path(store_dir) / "CURRENT")) {
    return Status::FailedPrecondition(store_dir +
                                      " is not an audience store Segflow created: the diff's "
                                      "result is not recorded there");
  }
  const std::string path = (fs::path(store_dir) / kLastDiffFile).string();
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < json.size()) {
    const ssize_t n = ::write(fd, json.data() + done, json.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::IOError("cannot write " + tmp + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::IOError("cannot replace " + path + ": " + std::strerror(errno));
  return Status::OK();
}

Result<std::optional<std::string>> ReadLastDiff(const std::string& store_dir) {
  const std::string path = (std::filesystem::path(store_dir) / kLastDiffFile).string();
  // A diff's record is a few hundred bytes per segment; the file is read whole and sent to
  // the coordinator in an answer, so its size is bounded before it is read.
  constexpr uintmax_t kMaxLastDiffBytes = 1u << 20;
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return std::optional<std::string>();
    return Status::IOError("cannot read " + path + ": " + ec.message());
  }
  if (size > kMaxLastDiffBytes) {
    return Status::Corruption(path + " is " + std::to_string(size) +
                              " bytes, more than a diff's record can be (1 MiB): not written by "
                              "segflow diff; remove it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path + ": " + std::strerror(errno));
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  return std::optional<std::string>(std::move(text));
}

}  // namespace segflow
