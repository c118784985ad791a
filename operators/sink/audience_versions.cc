#include "operators/sink/audience_versions.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "engine/common/owned_dir.h"
#include "engine/log/file_util.h"
#include "engine/schema/audience_version.capnp.h"
#include "engine/state/message_file.h"
#include "operators/sink/audience_store.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;

// Segment ids are [A-Za-z0-9_.-] (validated by the job parser) and versions hex digits,
// so "<segment>@<version>" is a file name and splits at its last '@'.
Status CheckName(const std::string& segment, const std::string& version) {
  auto ok_segment = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  };
  if (segment.empty() || segment == "." || segment == ".." ||
      !std::all_of(segment.begin(), segment.end(), ok_segment)) {
    return Status::InvalidArgument("segment id \"" + segment +
                                   "\" cannot name a frozen version file");
  }
  if (version.empty() || !std::all_of(version.begin(), version.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c));
      })) {
    return Status::InvalidArgument("version \"" + version + "\" of segment " + segment +
                                   " is not hex digits (a segment version is 16 of them)");
  }
  return Status::OK();
}

Status Damaged(const std::string& path, const std::string& why) {
  return Status::Corruption(
      "frozen audience version " + path + " is damaged (" + why +
      "); its members cannot be read: restore the file from a backup or remove it "
      "with segflow drop-version");
}

}  // namespace

std::string FrozenVersionsDir(const std::string& audience_dir) {
  return audience_dir + ".versions";
}

std::string FrozenVersionPath(const std::string& audience_dir, const std::string& segment,
                              const std::string& version) {
  return FrozenVersionsDir(audience_dir) + "/" + segment + "@" + version;
}

Status WriteFrozenVersion(const std::string& audience_dir, const FrozenVersion& v) {
  SEGFLOW_RETURN_IF_ERROR(CheckName(v.segment, v.version));
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<schema::FrozenAudienceVersion>();
  root.setFormatVersion(schema::AUDIENCE_VERSION_FORMAT_VERSION);
  root.setJob(v.job);
  root.setSegment(v.segment);
  root.setVersion(v.version);
  root.setHasEvaluated(v.evaluated_through.has_value());
  root.setEvaluatedThrough(v.evaluated_through.value_or(0));
  root.setFrozenAtMs(v.frozen_at_ms);
  root.setMemberCount(v.members.size());
  auto members = root.initMembers(static_cast<unsigned>(v.members.size()));
  for (unsigned i = 0; i < v.members.size(); ++i) {
    const std::string& m = v.members[i];
    members.set(i, kj::arrayPtr(reinterpret_cast<const kj::byte*>(m.data()), m.size()));
  }
  SEGFLOW_RETURN_IF_ERROR(CreateOwnedDir(FrozenVersionsDir(audience_dir), "frozen audience versions folder"));
  return WriteMessageFile(FrozenVersionPath(audience_dir, v.segment, v.version), msg);
}

Result<FrozenVersion> ReadFrozenVersion(const std::string& audience_dir, const std::string& segment,
                                        const std::string& version) {
  SEGFLOW_RETURN_IF_ERROR(CheckName(segment, version));
  const std::string path = FrozenVersionPath(audience_dir, segment, version);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status::NotFound("segment " + segment + " has no frozen version " + version +
                            " (no file " + path + ")");
  }
  auto file = MessageFile::Read(path, 0);
  if (!file.ok()) {
    if (file.status().code() == Status::Code::kCorruption)
      return Damaged(path, "bad size, magic or checksum");
    return file.status();
  }
  FrozenVersion v;
  try {
    auto root = (*file)->Root<schema::FrozenAudienceVersion>();
    if (root.getFormatVersion() != schema::AUDIENCE_VERSION_FORMAT_VERSION) {
      return Status::Corruption(path + ": frozen version format " +
                                std::to_string(root.getFormatVersion()) + ", this build reads " +
                                std::to_string(schema::AUDIENCE_VERSION_FORMAT_VERSION));
    }
    v.job = root.getJob().cStr();
    v.segment = root.getSegment().cStr();
    v.version = root.getVersion().cStr();
    if (root.getHasEvaluated()) v.evaluated_through = root.getEvaluatedThrough();
    v.frozen_at_ms = root.getFrozenAtMs();
    v.member_count = root.getMemberCount();
    auto members = root.getMembers();
    v.members.reserve(members.size());
    for (auto m : members)
      v.members.emplace_back(reinterpret_cast<const char*>(m.begin()), m.size());
  } catch (const kj::Exception& e) {
    return Damaged(path, e.getDescription().cStr());
  }
  if (v.segment != segment || v.version != version) {
    return Damaged(path, "it holds " + v.segment + "@" + v.version);
  }
  if (v.member_count != v.members.size()) {
    return Damaged(path, "it counts " + std::to_string(v.member_count) + " members and holds " +
                             std::to_string(v.members.size()));
  }
  return v;
}

Result<std::vector<FrozenVersionName>> ListFrozenVersions(const std::string& audience_dir) {
  std::vector<FrozenVersionName> out;
  const std::string dir = FrozenVersionsDir(audience_dir);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind('@');
    if (at == std::string::npos || name.find(".tmp") != std::string::npos)
      continue;  // not a version file
    FrozenVersionName n{name.substr(0, at), name.substr(at + 1)};
    if (!CheckName(n.segment, n.version).ok()) continue;
    out.push_back(std::move(n));
  }
  if (ec) return Status::IOError("list frozen versions in " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Status DropFrozenVersion(const std::string& audience_dir, const std::string& segment,
                         const std::string& version) {
  SEGFLOW_RETURN_IF_ERROR(CheckName(segment, version));
  const std::string path = FrozenVersionPath(audience_dir, segment, version);
  std::error_code ec;
  if (!fs::remove(path, ec)) {
    if (ec) return Status::IOError("remove " + path + ": " + ec.message());
    return Status::NotFound("segment " + segment + " has no frozen version " + version);
  }
  return log::SyncDir(FrozenVersionsDir(audience_dir));
}

Status DestroyFrozenVersions(const std::string& audience_dir) {
  return RemoveOwnedDir(FrozenVersionsDir(audience_dir), "frozen audience versions folder");
}

Result<bool> FreezeVersion(const AudienceStore& store, const std::string& audience_dir,
                           const std::string& job, const std::string& segment,
                           const std::string& version, int64_t now_ms) {
  auto evaluated = store.EvaluatedThrough();
  if (!evaluated.ok()) return evaluated.status();
  auto existing = ReadFrozenVersion(audience_dir, segment, version);
  if (existing.ok() && existing->evaluated_through == *evaluated) return false;
  if (!existing.ok() && existing.status().code() != Status::Code::kNotFound &&
      existing.status().code() != Status::Code::kCorruption) {
    return existing.status();  // a damaged file is replaced below; other errors stop
  }
  auto members = store.Members(segment);
  if (!members.ok()) return members.status();
  FrozenVersion v;
  v.job = job;
  v.segment = segment;
  v.version = version;
  v.evaluated_through = *evaluated;
  v.frozen_at_ms = now_ms;
  v.members = std::move(*members);
  SEGFLOW_RETURN_IF_ERROR(WriteFrozenVersion(audience_dir, v));
  return true;
}

std::string BackfillAudienceDir(const std::string& audience_dir) {
  return audience_dir + "--backfill";
}

std::string SegmentVersionSet::Describe() const {
  std::string out;
  auto add = [&](const std::string& what, const std::string& v) {
    out += (out.empty() ? "" : ", ") + what + " " + v;
  };
  if (serving) add("serving", *serving);
  for (const auto& v : frozen) {
    if (v != serving) add("frozen", v);
  }
  if (backfill) add("backfill", *backfill);
  return out.empty() ? "none" : out;
}

Result<SegmentVersionSet> FindSegmentVersions(const AudienceStore* store,
                                              const std::string& audience_dir,
                                              const std::string& segment) {
  SegmentVersionSet out;
  if (store != nullptr) {
    auto recorded = store->Versions();
    if (!recorded.ok()) return recorded.status();
    if (auto it = recorded->find(segment); it != recorded->end()) out.serving = it->second;
  }
  auto names = ListFrozenVersions(audience_dir);
  if (!names.ok()) return names.status();
  for (const auto& n : *names) {
    if (n.segment == segment) out.frozen.push_back(n.version);
  }
  const std::string backfill_dir = BackfillAudienceDir(audience_dir);
  std::error_code ec;
  if (fs::exists(fs::path(backfill_dir) / "CURRENT", ec)) {
    auto backfill = AudienceStore::OpenForRead(backfill_dir);
    if (!backfill.ok()) return backfill.status();
    auto recorded = (*backfill)->Versions();
    if (!recorded.ok()) return recorded.status();
    if (auto it = recorded->find(segment); it != recorded->end()) out.backfill = it->second;
  }
  return out;
}

Result<std::string> ResolveVersion(const SegmentVersionSet& versions, const std::string& segment,
                                   const std::string& wanted) {
  std::string v = wanted;
  std::transform(v.begin(), v.end(), v.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  if (v.size() < 4 || v.size() > 16 || !std::all_of(v.begin(), v.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c));
      })) {
    return Status::InvalidArgument(
        "version \"" + wanted +
        "\": expected the 16 hex digits of a segment version or a unique prefix of "
        "at least 4 of them (see segflow audience JOB.yaml --versions)");
  }
  std::set<std::string> all(versions.frozen.begin(), versions.frozen.end());
  if (versions.serving) all.insert(*versions.serving);
  if (versions.backfill) all.insert(*versions.backfill);
  std::vector<std::string> matches;
  for (const auto& known : all) {
    if (known.compare(0, v.size(), v) == 0) matches.push_back(known);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    return Status::NotFound("segment " + segment + " has no version " + wanted +
                            " (versions: " + versions.Describe() + ")");
  }
  std::string list;
  for (const auto& m : matches) list += (list.empty() ? "" : ", ") + m;
  return Status::InvalidArgument("version prefix " + wanted + " of segment " + segment +
                                 " is ambiguous (" + list + "): give more digits");
}

Result<uint64_t> EraseFromFrozenVersions(const std::string& audience_dir, const std::string& user) {
  auto names = ListFrozenVersions(audience_dir);
  if (!names.ok()) return names.status();
  uint64_t removed = 0;
  for (const auto& n : *names) {
    auto v = ReadFrozenVersion(audience_dir, n.segment, n.version);
    if (!v.ok()) return v.status();
    auto it = std::lower_bound(v->members.begin(), v->members.end(), user);
    if (it == v->members.end() || *it != user) continue;
    v->members.erase(it);
    SEGFLOW_RETURN_IF_ERROR(WriteFrozenVersion(audience_dir, *v));
    ++removed;
  }
  return removed;
}

Result<std::vector<std::string>> VersionMembers(const std::string& audience_dir, const std::string& segment,
                                                const std::string& wanted, std::string* resolved) {
  auto store = AudienceStore::OpenForRead(audience_dir);
  if (!store.ok()) return store.status();
  auto versions = FindSegmentVersions(store->get(), audience_dir, segment);
  if (!versions.ok()) return versions.status();
  auto version = ResolveVersion(*versions, segment, wanted);
  if (!version.ok()) return version.status();
  *resolved = *version;
  if (*version == versions->serving) return (*store)->Members(segment);
  return NonServingMembers(*versions, audience_dir, segment, *version);
}

Result<std::vector<std::string>> NonServingMembers(const SegmentVersionSet& versions, const std::string& audience_dir,
                                                   const std::string& segment, const std::string& version) {
  if (std::find(versions.frozen.begin(), versions.frozen.end(), version) != versions.frozen.end()) {
    auto frozen = ReadFrozenVersion(audience_dir, segment, version);
    if (!frozen.ok()) return frozen.status();
    return std::move(frozen->members);
  }
  auto backfill = AudienceStore::OpenForRead(BackfillAudienceDir(audience_dir));
  if (!backfill.ok()) return backfill.status();
  return (*backfill)->Members(segment);
}

}  // namespace segflow
