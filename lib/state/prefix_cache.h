// The prefix-state cache: states keyed by the exact tokens that produced them, so a prompt that starts
// with a cached prefix (a shared system prompt, an earlier turn) feeds only the rest.
//
// Each entry is a snapshot (state/snapshot.h) whose metadata holds its tokens, kept in RAM under a byte
// budget and, with a folder, also as a state file there, so entries survive the process and every
// read is verified by checksum and model fingerprint. Lookup hashes every prefix length that some
// entry has (a hash chain over the tokens), longest first, and compares the stored tokens: a hash
// collision can cost a comparison, never a wrong state.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace rwkvrt {

class Model;
class State;

struct PrefixCacheOptions {
    size_t max_bytes = size_t(256) << 20;
    std::string dir; // empty: memory only
    size_t max_disk_bytes = 0; // 0: unlimited
};

struct PrefixCacheStats {
    uint64_t hits = 0, misses = 0, tokens_saved = 0, entries = 0, bytes_used = 0, disk_bytes = 0;
};

class PrefixCache {
public:
    // Indexes the state files already in options.dir (reading and verifying each; damaged or foreign
    // ones are deleted). Throws Error(IO) if the folder cannot be read.
    PrefixCache(const Model &model, PrefixCacheOptions options);
    ~PrefixCache();

    // Restores the longest cached prefix of tokens into state (keeping its metadata); returns its
    // length, 0 if none (state unchanged).
    size_t lookup(const int32_t *tokens, size_t n, State &state);
    // Stores state as the state after tokens[0, n), n ≥ 1.
    void insert(const int32_t *tokens, size_t n, const State &state);
    PrefixCacheStats stats() const;

private:
    struct Entry {
        std::vector<int32_t> tokens;
        uint64_t hash;
        std::vector<uint8_t> snapshot; // empty when only on disk
        std::string file;              // empty when only in RAM
        size_t file_bytes = 0;
        std::list<Entry *>::iterator recent; // position in recent_
    };

    Entry *find(const std::vector<int32_t> &tokens, uint64_t hash) const;
    void add(std::unique_ptr<Entry> e);
    void remove(Entry *e);
    void touch(Entry *e);
    void enforce_budgets();
    bool restore(Entry *e, State &state); // false (and the entry dropped) if its file is damaged

    const Model &model_;
    const PrefixCacheOptions options_;
    mutable std::mutex mutex_;
    std::unordered_multimap<uint64_t, std::unique_ptr<Entry>> entries_; // by the hash of their tokens
    std::map<size_t, size_t> lengths_;                                   // entry length → count
    std::list<Entry *> recent_;                                          // most recently used first
    PrefixCacheStats stats_;
};

} // namespace rwkvrt
