// Key groups and partitions (ARCHITECTURE.md invariant 3).
// A user id hashes once; the hash picks both the log partition (so all of a user's
// records land in one partition) and the key group (the unit of state ownership).
// These functions are part of the on-disk contract: never change them.
#pragma once

#include <cstdint>
#include <string_view>

namespace segflow {

constexpr uint32_t kDefaultMaxParallelism = 128;

// 64-bit FNV-1a finished with the splitmix64 mixer: stable across platforms.
inline uint64_t HashUser(std::string_view user) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : user) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

inline uint32_t PartitionFor(uint64_t user_hash, uint32_t partitions) {
  return static_cast<uint32_t>(user_hash % partitions);
}

inline uint32_t KeyGroupFor(uint64_t user_hash, uint32_t max_parallelism) {
  return static_cast<uint32_t>((user_hash >> 32) % max_parallelism);
}

// Flink's assignment: contiguous key-group ranges per subtask.
inline uint32_t SubtaskForKeyGroup(uint32_t key_group, uint32_t max_parallelism, uint32_t parallelism) {
  return static_cast<uint32_t>(static_cast<uint64_t>(key_group) * parallelism / max_parallelism);
}

// The key groups [first, last] owned by `subtask`.
struct KeyGroupRange {
  uint32_t first = 0;
  uint32_t last = 0;  // inclusive
  bool Contains(uint32_t kg) const { return kg >= first && kg <= last; }
  static KeyGroupRange ForSubtask(uint32_t subtask, uint32_t max_parallelism, uint32_t parallelism) {
    // Smallest kg with kg*p/max == subtask, through the largest.
    uint32_t first = static_cast<uint32_t>((static_cast<uint64_t>(subtask) * max_parallelism + parallelism - 1) / parallelism);
    uint32_t last = static_cast<uint32_t>((static_cast<uint64_t>(subtask + 1) * max_parallelism + parallelism - 1) / parallelism) - 1;
    return {first, last};
  }
};

}  // namespace segflow
