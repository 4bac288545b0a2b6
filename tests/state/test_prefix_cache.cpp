// The prefix-state cache: longest-prefix lookups that restore exact states, LRU eviction under the
// byte budget, entries persisted to a folder, and damaged or foreign files dropped, never used.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "api/model_helpers.h"
#include "arch/arch_checks.h"

namespace {

using CachePtr = std::unique_ptr<rwkvrt_prefix_cache, decltype(&rwkvrt_prefix_cache_free)>;

CachePtr new_cache(const rwkvrt_model *m, size_t max_bytes, const std::string &dir = "") {
    rwkvrt_prefix_cache_options o = rwkvrt_prefix_cache_options_default();
    o.max_bytes = max_bytes;
    o.dir = dir.empty() ? nullptr : dir.c_str();
    rwkvrt_prefix_cache *c = nullptr;
    REQUIRE_MESSAGE(rwkvrt_prefix_cache_new(m, &o, &c) == RWKVRT_OK, rwkvrt_last_error());
    return CachePtr(c, rwkvrt_prefix_cache_free);
}

rwkvrt_prefix_cache_stats stats(const rwkvrt_prefix_cache *c) {
    rwkvrt_prefix_cache_stats s{};
    s.struct_size = sizeof s;
    REQUIRE(rwkvrt_prefix_cache_get_stats(c, &s) == RWKVRT_OK);
    return s;
}

std::vector<int32_t> seq(int32_t from, int32_t n) {
    std::vector<int32_t> t;
    for (int32_t i = 0; i < n; ++i) t.push_back((from + i * 7) % 256);
    return t;
}

th::StatePtr fed(const rwkvrt_model *m, const std::vector<int32_t> &tokens) {
    th::StatePtr s = th::new_state(m);
    REQUIRE(rwkvrt_feed(m, s.get(), tokens.data(), tokens.size(), nullptr) == RWKVRT_OK);
    return s;
}

std::string fresh_dir(const std::string &name) {
    const std::string d = testdata::scratch_dir() + "/" + name;
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

} // namespace

TEST_CASE("prefix cache: the longest cached prefix is restored exactly") {
    rwkvrt_tools::RandomModelSpec spec;
    th::ModelPtr m = th::load(ac::write_random(spec, "cache-longest"));
    CachePtr cache = new_cache(m.get(), size_t(64) << 20);
    const std::vector<int32_t> all = seq(3, 50);
    const std::vector<int32_t> p10(all.begin(), all.begin() + 10), p30(all.begin(), all.begin() + 30);
    REQUIRE(rwkvrt_prefix_cache_insert(cache.get(), p10.data(), p10.size(), fed(m.get(), p10).get()) == RWKVRT_OK);
    REQUIRE(rwkvrt_prefix_cache_insert(cache.get(), p30.data(), p30.size(), fed(m.get(), p30).get()) == RWKVRT_OK);

    th::StatePtr s = th::new_state(m.get());
    REQUIRE(rwkvrt_state_set_metadata(s.get(), "mine", 4) == RWKVRT_OK);
    size_t matched = 99;
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), all.data(), 40, s.get(), &matched) == RWKVRT_OK);
    CHECK(matched == 30);
    CHECK(rwkvrt_state_n_tokens(s.get()) == 30);
    const void *meta = nullptr;
    size_t len = 0;
    REQUIRE(rwkvrt_state_get_metadata(s.get(), &meta, &len) == RWKVRT_OK);
    CHECK(std::string(static_cast<const char *>(meta), len) == "mine"); // kept
    // Feeding the rest gives exactly what feeding everything gives.
    std::vector<float> a(256), b(256);
    REQUIRE(rwkvrt_feed(m.get(), s.get(), all.data() + 30, 20, a.data()) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(m.get(), fed(m.get(), p30).get(), all.data() + 30, 20, b.data()) == RWKVRT_OK);
    CHECK(a == b);

    // A prefix that only shares 9 tokens, or differs in its first, matches nothing.
    std::vector<int32_t> other = p10;
    other[9] ^= 1;
    th::StatePtr t = th::new_state(m.get());
    const std::vector<uint8_t> before = ac::snapshot(t.get());
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), other.data(), other.size(), t.get(), &matched) == RWKVRT_OK);
    CHECK(matched == 0);
    CHECK(ac::snapshot(t.get()) == before);
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), all.data(), 29, t.get(), &matched) == RWKVRT_OK);
    CHECK(matched == 10);

    const rwkvrt_prefix_cache_stats st = stats(cache.get());
    CHECK(st.hits == 2);
    CHECK(st.misses == 1);
    CHECK(st.tokens_saved == 40);
    CHECK(st.entries == 2);
    CHECK(st.bytes_used > 0);
}

TEST_CASE("prefix cache: the byte budget evicts the least recently used") {
    rwkvrt_tools::RandomModelSpec spec;
    th::ModelPtr m = th::load(ac::write_random(spec, "cache-lru"));
    th::StatePtr probe = th::new_state(m.get());
    const size_t entry = rwkvrt_state_snapshot_size(probe.get()) + 64; // a snapshot and its token list
    CachePtr cache = new_cache(m.get(), 2 * entry + entry / 2);      // room for two
    const std::vector<int32_t> a = seq(1, 8), b = seq(2, 8), c = seq(3, 8);
    for (const auto *t : {&a, &b}) REQUIRE(rwkvrt_prefix_cache_insert(cache.get(), t->data(), t->size(), fed(m.get(), *t).get()) == RWKVRT_OK);
    size_t matched = 0;
    th::StatePtr s = th::new_state(m.get());
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), a.data(), a.size(), s.get(), &matched) == RWKVRT_OK); // a is now recent
    CHECK(matched == a.size());
    REQUIRE(rwkvrt_prefix_cache_insert(cache.get(), c.data(), c.size(), fed(m.get(), c).get()) == RWKVRT_OK);
    CHECK(stats(cache.get()).entries == 2);
    CHECK(stats(cache.get()).bytes_used <= 2 * entry + entry / 2);
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), b.data(), b.size(), s.get(), &matched) == RWKVRT_OK);
    CHECK(matched == 0); // b was the least recently used
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), a.data(), a.size(), s.get(), &matched) == RWKVRT_OK);
    CHECK(matched == a.size());
}

TEST_CASE("prefix cache: entries persist in a folder; damaged and foreign files are dropped") {
    rwkvrt_tools::RandomModelSpec spec;
    const std::string path = ac::write_random(spec, "cache-disk");
    spec.seed = 2;
    th::ModelPtr m = th::load(path), other = th::load(ac::write_random(spec, "cache-disk-other"));
    const std::string dir = fresh_dir("prefix-cache");
    const std::vector<int32_t> a = seq(1, 12), b = seq(5, 12);
    {
        CachePtr cache = new_cache(m.get(), size_t(64) << 20, dir);
        for (const auto *t : {&a, &b}) REQUIRE(rwkvrt_prefix_cache_insert(cache.get(), t->data(), t->size(), fed(m.get(), *t).get()) == RWKVRT_OK);
        CHECK(stats(cache.get()).disk_bytes > 0);
    }
    std::vector<std::string> files;
    for (const auto &e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().string());
    REQUIRE(files.size() == 2);

    SUBCASE("a new cache on the folder serves them, even when they do not fit in RAM") {
        CachePtr cache = new_cache(m.get(), 1, dir);
        CHECK(stats(cache.get()).entries == 2);
        th::StatePtr s = th::new_state(m.get());
        size_t matched = 0;
        REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), b.data(), b.size(), s.get(), &matched) == RWKVRT_OK);
        CHECK(matched == b.size());
        CHECK(ac::snapshot(s.get()) == ac::snapshot(fed(m.get(), b).get()));
    }
    SUBCASE("a file damaged on disk is deleted and never restored") {
        CachePtr cache = new_cache(m.get(), 1, dir); // nothing held in RAM: every lookup reads the file
        for (const std::string &f : files) {
            std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
            io.seekp(200);
            io.put('\x5a');
        }
        th::StatePtr s = th::new_state(m.get());
        const std::vector<uint8_t> before = ac::snapshot(s.get());
        size_t matched = 1;
        REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), a.data(), a.size(), s.get(), &matched) == RWKVRT_OK);
        CHECK(matched == 0);
        CHECK(ac::snapshot(s.get()) == before);
        CHECK(!std::filesystem::exists(files[0]));
    }
    SUBCASE("the files of another model are dropped at start") {
        CachePtr cache = new_cache(other.get(), size_t(64) << 20, dir);
        CHECK(stats(cache.get()).entries == 0);
        CHECK(std::filesystem::is_empty(dir));
    }
}

TEST_CASE("prefix cache: a folder that cannot take a file keeps the entry in memory, and says so") {
    rwkvrt_tools::RandomModelSpec spec;
    th::ModelPtr m = th::load(ac::write_random(spec, "cache-nodisk"));
    const std::string dir = fresh_dir("prefix-cache-gone");
    CachePtr cache = new_cache(m.get(), size_t(64) << 20, dir);
    std::filesystem::remove_all(dir); // as a full disk, every write of the cache now fails
    const std::vector<int32_t> a = seq(1, 12);
    CHECK(rwkvrt_prefix_cache_insert(cache.get(), a.data(), a.size(), fed(m.get(), a).get()) == RWKVRT_ERR_IO);
    CHECK(std::string(rwkvrt_last_error()).find("kept in memory only") != std::string::npos);
    CHECK(stats(cache.get()).entries == 1);
    CHECK(stats(cache.get()).disk_bytes == 0);
    th::StatePtr s = th::new_state(m.get());
    size_t matched = 0;
    REQUIRE(rwkvrt_prefix_cache_lookup(cache.get(), a.data(), a.size(), s.get(), &matched) == RWKVRT_OK);
    CHECK(matched == a.size());
}

TEST_CASE("prefix cache: bad arguments") {
    rwkvrt_tools::RandomModelSpec spec;
    th::ModelPtr m = th::load(ac::write_random(spec, "cache-args"));
    CachePtr cache = new_cache(m.get(), 1 << 20);
    th::StatePtr s = th::new_state(m.get());
    size_t matched = 0;
    const int32_t t = 1;
    CHECK(rwkvrt_prefix_cache_insert(cache.get(), &t, 0, s.get()) == RWKVRT_ERR_ARGUMENT);
    for (const int32_t outside : {-1, rwkvrt_model_n_vocab(m.get())}) // ids no feed takes
        CHECK(rwkvrt_prefix_cache_insert(cache.get(), &outside, 1, s.get()) == RWKVRT_ERR_TOKEN);
    // A state is kept only under the tokens it fed: not under fewer, more or others' (a new state's none).
    const std::vector<int32_t> three = {1, 2, 3};
    th::StatePtr after_three = fed(m.get(), three);
    CHECK(rwkvrt_prefix_cache_insert(cache.get(), three.data(), 2, after_three.get()) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("fed 3 tokens, not the 2") != std::string::npos);
    CHECK(rwkvrt_prefix_cache_insert(cache.get(), &t, 1, s.get()) == RWKVRT_ERR_ARGUMENT);
    CHECK(stats(cache.get()).entries == 0);
    CHECK(rwkvrt_prefix_cache_insert(cache.get(), three.data(), 3, after_three.get()) == RWKVRT_OK);
    CHECK(rwkvrt_prefix_cache_lookup(cache.get(), &t, 1, nullptr, &matched) == RWKVRT_ERR_ARGUMENT);
    rwkvrt_prefix_cache_options o = rwkvrt_prefix_cache_options_default();
    const std::string missing = testdata::scratch_dir() + "/no-such-folder";
    o.dir = missing.c_str();
    rwkvrt_prefix_cache *c = nullptr;
    CHECK(rwkvrt_prefix_cache_new(m.get(), &o, &c) == RWKVRT_ERR_IO);
    CHECK(c == nullptr);
}
