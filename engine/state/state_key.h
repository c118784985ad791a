// Byte layout of keyed-state keys (ARCHITECTURE.md invariant 3): `[key group: 2 bytes
// big-endian][user bytes]`, so one subtask's state is a set of contiguous key ranges and
// rescaling moves whole ranges. Part of the snapshot format: never change it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace segflow {

// Key groups must fit the 2-byte prefix with room for an exclusive end bound.
constexpr uint32_t kMaxStateMaxParallelism = 1u << 15;
constexpr size_t kKeyGroupBytes = 2;

inline void AppendBigEndian16(uint32_t v, std::string* out) {
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}
inline void AppendBigEndian32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}
inline void AppendBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}
inline uint64_t ReadBigEndian(std::string_view bytes) {  // up to 8 bytes
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return v;
}

// Orders signed times correctly as unsigned big-endian bytes.
inline uint64_t FlipSign(int64_t t) { return static_cast<uint64_t>(t) ^ (uint64_t{1} << 63); }
inline int64_t UnflipSign(uint64_t v) { return static_cast<int64_t>(v ^ (uint64_t{1} << 63)); }

// Replaces `out` with the state key of (key_group, user).
inline void EncodeStateKey(uint32_t key_group, std::string_view user, std::string* out) {
  out->clear();
  AppendBigEndian16(key_group, out);
  out->append(user);
}

// The smallest key of `key_group` (its users sort after it).
inline std::string KeyGroupPrefix(uint32_t key_group) {
  std::string s;
  AppendBigEndian16(key_group, &s);
  return s;
}

// Key group stored at byte `offset` of `key`; false if the key is too short.
inline bool KeyGroupAt(std::string_view key, size_t offset, uint32_t* key_group) {
  if (key.size() < offset + kKeyGroupBytes) return false;
  *key_group = static_cast<uint32_t>(ReadBigEndian(key.substr(offset, kKeyGroupBytes)));
  return true;
}

inline bool DecodeStateKey(std::string_view key, uint32_t* key_group, std::string_view* user) {
  if (!KeyGroupAt(key, 0, key_group)) return false;
  *user = key.substr(kKeyGroupBytes);
  return true;
}

}  // namespace segflow
