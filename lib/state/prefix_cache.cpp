#include "state/prefix_cache.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "model/model.h"
#include "state/snapshot.h"
#include "state/state.h"
#include "state/state_file.h"

namespace rwkvrt {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTokensTag{"rwkvrt-prefix-1\0", 16}; // the metadata of a cache entry: tag, then the tokens

uint64_t mix(uint64_t h, int32_t token) { // splitmix64 of the chain so far and the next token
    uint64_t z = h + 0x9e3779b97f4a7c15ull * (uint64_t(uint32_t(token)) + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t hash_of(const int32_t *tokens, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; ++i) h = mix(h, tokens[i]);
    return h;
}

std::string encode_tokens(const std::vector<int32_t> &tokens) {
    std::string m(kTokensTag);
    for (int32_t t : tokens) {
        const uint32_t u = uint32_t(t);
        const char b[4] = {char(u & 0xff), char((u >> 8) & 0xff), char((u >> 16) & 0xff), char(u >> 24)};
        m.append(b, 4);
    }
    return m;
}

bool decode_tokens(const std::string &m, std::vector<int32_t> *tokens) {
    if (m.size() < kTokensTag.size() || m.compare(0, kTokensTag.size(), kTokensTag) != 0 || (m.size() - kTokensTag.size()) % 4)
        return false;
    tokens->clear();
    for (size_t i = kTokensTag.size(); i < m.size(); i += 4) {
        const auto b = [&](size_t k) { return uint32_t(uint8_t(m[i + k])); };
        tokens->push_back(int32_t(b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24));
    }
    return !tokens->empty();
}

std::string file_name(uint64_t hash, size_t n) {
    char name[64];
    std::snprintf(name, sizeof name, "prefix-%016llx-%zu.state", static_cast<unsigned long long>(hash), n);
    return name;
}

// The folder made absolute, so that entries stay in it after the process changes its working directory.
PrefixCacheOptions with_absolute_dir(PrefixCacheOptions options) {
    std::error_code ec;
    if (!options.dir.empty())
        if (const fs::path absolute = fs::absolute(options.dir, ec); !ec) options.dir = absolute.string();
    return options;
}

} // namespace

PrefixCache::PrefixCache(const Model &model, PrefixCacheOptions options)
    : model_(model), options_(with_absolute_dir(std::move(options))) {
    if (options_.dir.empty()) return;
    std::error_code ec;
    if (!fs::is_directory(options_.dir, ec))
        fail(RWKVRT_ERR_IO, "prefix cache folder '", options_.dir, "' is not a folder", ec ? cat(": ", ec.message()) : "");
    fs::directory_iterator it(options_.dir, ec), end;
    if (ec) fail(RWKVRT_ERR_IO, "cannot read the prefix cache folder '", options_.dir, "': ", ec.message());
    for (; it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.rfind("prefix-", 0) != 0 || name.size() < 6 || name.compare(name.size() - 6, 6, ".state") != 0) continue;
        auto e = std::make_unique<Entry>();
        e->file = it->path().string();
        try {
            std::vector<uint8_t> bytes = read_whole_file(e->file, kStateMagic);
            const Snapshot s = parse_snapshot(model_, bytes.data(), bytes.size());
            if (!decode_tokens(s.metadata, &e->tokens)) fail(RWKVRT_ERR_FORMAT, "no token list");
            e->file_bytes = bytes.size();
            e->snapshot = std::move(bytes);
        } catch (const Error &) { // damaged, foreign or unreadable: never used
            fs::remove(e->file, ec);
            continue;
        }
        e->hash = hash_of(e->tokens.data(), e->tokens.size());
        if (find(e->tokens, e->hash)) continue;
        add(std::move(e));
    }
    enforce_budgets();
}

PrefixCache::~PrefixCache() = default;

PrefixCache::Entry *PrefixCache::find(const std::vector<int32_t> &tokens, uint64_t hash) const {
    auto [b, e] = entries_.equal_range(hash);
    for (auto it = b; it != e; ++it)
        if (it->second->tokens == tokens) return it->second.get();
    return nullptr;
}

void PrefixCache::add(std::unique_ptr<Entry> e) {
    Entry *p = e.get();
    recent_.push_front(p);
    p->recent = recent_.begin();
    ++lengths_[p->tokens.size()];
    stats_.bytes_used += p->snapshot.size();
    stats_.disk_bytes += p->file_bytes;
    entries_.emplace(p->hash, std::move(e));
}

void PrefixCache::remove(Entry *p) {
    std::error_code ec;
    if (!p->file.empty()) fs::remove(p->file, ec);
    stats_.bytes_used -= p->snapshot.size();
    stats_.disk_bytes -= p->file_bytes;
    recent_.erase(p->recent);
    if (--lengths_[p->tokens.size()] == 0) lengths_.erase(p->tokens.size());
    auto [b, e] = entries_.equal_range(p->hash);
    for (auto it = b; it != e; ++it)
        if (it->second.get() == p) {
            entries_.erase(it);
            return;
        }
}

void PrefixCache::touch(Entry *p) { recent_.splice(recent_.begin(), recent_, p->recent); }

// Least recently used first: RAM copies are dropped (entries without a file go entirely) until the
// RAM budget holds, then files are deleted until the disk budget holds.
void PrefixCache::enforce_budgets() {
    for (auto it = recent_.end(); stats_.bytes_used > options_.max_bytes && it != recent_.begin();) {
        Entry *p = *--it;
        if (p->snapshot.empty()) continue;
        if (p->file.empty()) {
            it = std::next(it);
            remove(p);
            continue;
        }
        stats_.bytes_used -= p->snapshot.size();
        std::vector<uint8_t>().swap(p->snapshot);
    }
    if (options_.max_disk_bytes == 0) return;
    for (auto it = recent_.end(); stats_.disk_bytes > options_.max_disk_bytes && it != recent_.begin();) {
        Entry *p = *--it;
        if (p->file.empty()) continue;
        if (p->snapshot.empty()) {
            it = std::next(it);
            remove(p);
            continue;
        }
        std::error_code ec;
        fs::remove(p->file, ec);
        stats_.disk_bytes -= p->file_bytes;
        p->file.clear();
        p->file_bytes = 0;
    }
}

bool PrefixCache::restore(Entry *p, State &state) {
    try {
        std::vector<uint8_t> from_disk;
        const std::vector<uint8_t> *bytes = &p->snapshot;
        if (p->snapshot.empty()) {
            from_disk = read_whole_file(p->file, kStateMagic);
            bytes = &from_disk;
        }
        Snapshot s = parse_snapshot(model_, bytes->data(), bytes->size());
        std::vector<int32_t> tokens;
        if (!decode_tokens(s.metadata, &tokens) || tokens != p->tokens) fail(RWKVRT_ERR_CORRUPT, "token list changed");
        state.assign(std::move(s.values), s.n_tokens, state.metadata());
        return true;
    } catch (const Error &) {
        remove(p);
        return false;
    }
}

size_t PrefixCache::lookup(const int32_t *tokens, size_t n, State &state) {
    if (&state.model() != &model_) fail(RWKVRT_ERR_MISMATCH, "the state belongs to another model than the cache");
    if (n > 0 && !tokens) fail(RWKVRT_ERR_ARGUMENT, "tokens is NULL");
    if (!state.try_claim()) fail(RWKVRT_ERR_ARGUMENT, "the state is in use by another call");
    struct Release {
        State &s;
        ~Release() { s.release(); }
    } release{state};

    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<uint64_t> chain(n + 1, 0); // chain[i]: the hash of the first i tokens
    const size_t longest = lengths_.empty() ? 0 : std::min(n, lengths_.rbegin()->first);
    for (size_t i = 0; i < longest; ++i) chain[i + 1] = mix(chain[i], tokens[i]);
    std::vector<size_t> candidates; // entry lengths that fit, longest first
    for (auto len = lengths_.rbegin(); len != lengths_.rend(); ++len)
        if (len->first <= n) candidates.push_back(len->first);
    for (size_t L : candidates) {
        for (;;) { // a damaged entry is dropped, and another of this length may still match
            auto [b, e] = entries_.equal_range(chain[L]);
            Entry *match = nullptr;
            for (auto it = b; it != e && !match; ++it)
                if (it->second->tokens.size() == L && std::equal(tokens, tokens + L, it->second->tokens.begin()))
                    match = it->second.get();
            if (!match) break;
            if (!restore(match, state)) continue;
            touch(match);
            ++stats_.hits;
            stats_.tokens_saved += L;
            return L;
        }
    }
    ++stats_.misses;
    return 0;
}

void PrefixCache::insert(const int32_t *tokens, size_t n, const State &state) {
    if (&state.model() != &model_) fail(RWKVRT_ERR_MISMATCH, "the state belongs to another model than the cache");
    if (n == 0) fail(RWKVRT_ERR_ARGUMENT, "n_tokens is 0");
    if (!tokens) fail(RWKVRT_ERR_ARGUMENT, "tokens is NULL");
    const int64_t vocab = model_.hparams().n_vocab;
    for (size_t t = 0; t < n; ++t) // as a feed refuses them: no state can follow such a prefix
        if (tokens[t] < 0 || tokens[t] >= vocab)
            fail(RWKVRT_ERR_TOKEN, "token ", tokens[t], " at position ", t, " is outside the vocabulary [0, ", vocab, ")");
    // An entry is the state after exactly its tokens: a lookup hands it out for any prompt they begin.
    if (state.n_tokens() != n)
        fail(RWKVRT_ERR_ARGUMENT, "the state has fed ", state.n_tokens(), " tokens, not the ", n,
             " given: an entry must be the state after exactly its tokens, fed to a new state");
    auto e = std::make_unique<Entry>();
    e->tokens.assign(tokens, tokens + n);
    e->hash = hash_of(tokens, n);
    { // the entry's snapshot: the state's values and count, with the tokens as its metadata
        State &claimed = const_cast<State &>(state); // claiming does not change the state's content
        if (!claimed.try_claim()) fail(RWKVRT_ERR_ARGUMENT, "the state is in use by another call");
        struct Release {
            State &s;
            ~Release() { s.release(); }
        } release{claimed};
        State copy(model_);
        copy.assign(StateValues(state.data(), state.data() + state.floats()), state.n_tokens(), encode_tokens(e->tokens));
        e->snapshot.resize(snapshot_size(copy));
        write_snapshot(copy, e->snapshot.data());
    }
    std::string disk_error; // a file that could not be written (a full disk): the entry stays in memory
    if (!options_.dir.empty()) {
        e->file = (fs::path(options_.dir) / file_name(e->hash, n)).string();
        try {
            write_file_atomically(e->file, e->snapshot.data(), e->snapshot.size());
            e->file_bytes = e->snapshot.size();
        } catch (const Error &error) {
            disk_error = error.what();
            e->file.clear();
        }
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (Entry *old = find(e->tokens, e->hash)) {
            if (old->file == e->file) old->file.clear(); // the new file replaced it; keep it on disk
            stats_.disk_bytes -= old->file_bytes;
            old->file_bytes = 0;
            remove(old);
        }
        add(std::move(e));
        enforce_budgets();
    }
    if (!disk_error.empty()) fail(RWKVRT_ERR_IO, "the entry is kept in memory only: ", disk_error);
}

PrefixCacheStats PrefixCache::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    PrefixCacheStats s = stats_;
    s.entries = entries_.size();
    return s;
}

} // namespace rwkvrt
