// The snapshot format (docs/STATE_FORMAT.md): exact round trips, the documented layout, and a
// documented status for every kind of damage, with the state unchanged on failure.
#include <algorithm>
#include <cstring>
#include <random>
#include <xxhash.h>

#include "api/handles.h"
#include "formats/tensor_file.h"
#include "state/state_helpers.h"

namespace {

using sh::Bytes;

void put32(Bytes &b, size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (8 * i)); }
void put64(Bytes &b, size_t at, uint64_t v) { for (int i = 0; i < 8; ++i) b[at + i] = uint8_t(v >> (8 * i)); }
uint64_t get(const Bytes &b, size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(b[at + size_t(i)]) << (8 * i);
    return v;
}
uint32_t get32(const Bytes &b, size_t at) { return uint32_t(get(b, at, 4)); }
uint64_t get64(const Bytes &b, size_t at) { return get(b, at, 8); }

// Recomputes the trailing checksum, so a test reaches the checks behind it.
void fix_checksum(Bytes &b) { put64(b, b.size() - 8, XXH3_64bits(b.data(), b.size() - 8)); }

// An empty input still passes a valid pointer: the format's check is under test, not the argument's.
rwkvrt_status restore(rwkvrt_state *s, const Bytes &b) {
    return rwkvrt_state_restore(s, b.empty() ? "" : static_cast<const void *>(b.data()), b.size());
}

std::string last_error() { return rwkvrt_last_error(); }

// The model fingerprints as docs/STATE_FORMAT.md defines them, written from the text alone: over the
// tensors in name order, each name with its zero, type byte and int64 dimensions, then (version 2) the
// XXH3-64 of its bytes or (version 1) the bytes themselves.
uint64_t spec_fingerprint(const std::string &rel, int version) {
    const std::unique_ptr<rwkvrt::TensorFile> file = rwkvrt::open_tensor_file(testdata::path(rel), true);
    std::vector<const rwkvrt::TensorView *> tensors;
    for (const rwkvrt::TensorView &t : file->tensors()) tensors.push_back(&t);
    std::sort(tensors.begin(), tensors.end(), [](auto *a, auto *b) { return a->name < b->name; });
    std::vector<uint8_t> stream;
    const auto append = [&](const void *p, size_t n) { stream.insert(stream.end(), static_cast<const uint8_t *>(p), static_cast<const uint8_t *>(p) + n); };
    for (const rwkvrt::TensorView *t : tensors) {
        append(t->name.c_str(), t->name.size() + 1);
        const uint8_t type = uint8_t(t->dtype);
        append(&type, 1);
        for (int64_t d : t->shape) append(&d, 8);
        if (version == 1) {
            append(t->data, t->nbytes);
        } else {
            const uint64_t digest = XXH3_64bits(t->data, t->nbytes);
            append(&digest, 8);
        }
    }
    return XXH3_64bits(stream.data(), stream.size());
}

constexpr const char *kFixtureModel = "pth/tiny-rwkv-7v0-834K-fp32.pth";

// A tiny v7 state after a few tokens, with metadata: the subject of the damage tests.
struct Fixture {
    th::ModelPtr model = th::load(testdata::path(kFixtureModel));
    th::StatePtr state = th::new_state(model.get());
    Bytes good;
    Fixture() {
        sh::feed(model.get(), state.get(), "Hello");
        REQUIRE(rwkvrt_state_set_metadata(state.get(), "chat", 4) == RWKVRT_OK);
        good = sh::snapshot(state.get());
        REQUIRE(restore(target.get(), good) == RWKVRT_OK);
    }
    // Restores bytes into a state holding `good`'s content, checks the status, and that a failure
    // left the state as it was.
    void expect(const Bytes &bytes, rwkvrt_status want, const char *needle = "") {
        const rwkvrt_status st = restore(target.get(), bytes);
        CHECK_MESSAGE(st == want, rwkvrt_status_name(st), ": ", last_error());
        CHECK_MESSAGE(last_error().find(needle) != std::string::npos, last_error(), " lacks ", needle);
        if (st != RWKVRT_OK) CHECK(sh::snapshot(target.get()) == good);
        else REQUIRE(restore(target.get(), good) == RWKVRT_OK);
    }
    th::StatePtr target = th::new_state(model.get()); // holds `good` between checks
};

} // namespace

TEST_CASE("a snapshot restores the exact state: the continuation is bit-identical") {
    REQUIRE_TESTDATA();
    for (const std::string &rel : sh::kTinyModels) {
        th::ModelPtr m = sh::try_load(rel);
        if (!m) continue;
        th::StatePtr a = th::new_state(m.get()), b = th::new_state(m.get());
        sh::feed(m.get(), a.get(), sh::kText);
        const Bytes snap = sh::snapshot(a.get());
        REQUIRE(restore(b.get(), snap) == RWKVRT_OK);
        CHECK(rwkvrt_state_n_tokens(b.get()) == sh::kText.size());
        CHECK(sh::snapshot(b.get()) == snap);
        CHECK(sh::feed_each(m.get(), a.get(), sh::kMore) == sh::feed_each(m.get(), b.get(), sh::kMore));
        MESSAGE(rel, ": snapshot of ", snap.size(), " bytes");
    }
}

TEST_CASE("the snapshot header is laid out as docs/STATE_FORMAT.md says") {
    REQUIRE_TESTDATA();
    Fixture f;
    const Bytes &b = f.good;
    CHECK(std::memcmp(b.data(), "RWKVSTAT", 8) == 0);
    CHECK(get32(b, 8) == 2);   // format version
    CHECK(get32(b, 12) == 112); // header size
    CHECK(get32(b, 16) == (RWKVRT_VERSION_MAJOR << 16 | RWKVRT_VERSION_MINOR << 8 | RWKVRT_VERSION_PATCH));
    CHECK(get32(b, 20) == 6);   // rwkv7
    CHECK(get32(b, 24) == 0);   // f32
    CHECK(get32(b, 28) == 0);   // flags
    const rwkvrt::HParams &hp = f.state->impl->model().hparams();
    CHECK(get64(b, 32) == uint64_t(hp.n_vocab));
    CHECK(get64(b, 40) == uint64_t(hp.n_embd));
    CHECK(get64(b, 48) == uint64_t(hp.n_layer));
    CHECK(get64(b, 56) == uint64_t(hp.n_head));
    CHECK(get64(b, 64) == uint64_t(hp.head_size));
    CHECK(get64(b, 72) == spec_fingerprint(kFixtureModel, 2));
    CHECK(get64(b, 80) == 5);   // tokens fed
    CHECK(get64(b, 88) == f.state->impl->floats());
    CHECK(get64(b, 96) == 4);   // metadata
    CHECK(get64(b, 104) == 0);  // sampler
    CHECK(std::memcmp(b.data() + 112, "chat", 4) == 0);
    CHECK(std::memcmp(b.data() + 116, f.state->impl->data(), f.state->impl->floats() * 4) == 0);
    CHECK(b.size() == 112 + 4 + f.state->impl->floats() * 4 + 8);
    CHECK(get64(b, b.size() - 8) == XXH3_64bits(b.data(), b.size() - 8));
}

TEST_CASE("a version-1 file written from the specification alone is read") {
    REQUIRE_TESTDATA();
    // An independent writer: a longer header (a later minor revision may append fields), a sampler
    // blob the state ignores, bf16 values.
    Fixture f;
    const rwkvrt::State &st = *f.state->impl;
    const rwkvrt::HParams &hp = st.model().hparams();
    const std::string meta = "meta", sampler = "opaque";
    const size_t header = 128, n = st.floats();
    Bytes b(header + meta.size() + sampler.size() + 2 * n + 8, 0);
    std::memcpy(b.data(), "RWKVSTAT", 8);
    put32(b, 8, 1);
    put32(b, 12, uint32_t(header));
    put32(b, 16, 0x000100);
    put32(b, 20, 6);
    put32(b, 24, 2); // bf16
    put64(b, 32, uint64_t(hp.n_vocab));
    put64(b, 40, uint64_t(hp.n_embd));
    put64(b, 48, uint64_t(hp.n_layer));
    put64(b, 56, uint64_t(hp.n_head));
    put64(b, 64, uint64_t(hp.head_size));
    put64(b, 72, spec_fingerprint(kFixtureModel, 1)); // version 1's: over the bytes themselves
    put64(b, 80, 1234);
    put64(b, 88, n);
    put64(b, 96, meta.size());
    put64(b, 104, sampler.size());
    std::memcpy(&b[header], meta.data(), meta.size());
    std::memcpy(&b[header + meta.size()], sampler.data(), sampler.size());
    std::vector<float> want(n);
    for (size_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, st.data() + i, 4);
        const uint16_t half = uint16_t(bits >> 16); // truncation is a valid bf16 writer too
        b[header + meta.size() + sampler.size() + 2 * i] = uint8_t(half);
        b[header + meta.size() + sampler.size() + 2 * i + 1] = uint8_t(half >> 8);
        bits = uint32_t(half) << 16;
        std::memcpy(&want[i], &bits, 4);
    }
    fix_checksum(b);
    th::StatePtr s = th::new_state(f.model.get());
    REQUIRE_MESSAGE(restore(s.get(), b) == RWKVRT_OK, last_error());
    CHECK(rwkvrt_state_n_tokens(s.get()) == 1234);
    const void *md = nullptr;
    size_t md_len = 0;
    REQUIRE(rwkvrt_state_get_metadata(s.get(), &md, &md_len) == RWKVRT_OK);
    CHECK(std::string(static_cast<const char *>(md), md_len) == meta);
    CHECK(std::memcmp(s->impl->data(), want.data(), n * 4) == 0);
    // Each version's fingerprint is checked as that version defines it.
    put64(b, 72, spec_fingerprint(kFixtureModel, 2));
    fix_checksum(b);
    CHECK(restore(s.get(), b) == RWKVRT_ERR_MISMATCH);
    put32(b, 8, 2);
    fix_checksum(b);
    CHECK_MESSAGE(restore(s.get(), b) == RWKVRT_OK, last_error());
}

TEST_CASE("every kind of damage gets its documented status and leaves the state unchanged") {
    REQUIRE_TESTDATA();
    Fixture f;
    const Bytes &good = f.good;

    SUBCASE("not a state") {
        f.expect({}, RWKVRT_ERR_FORMAT, "empty");
        Bytes foreign = good;
        foreign[0] = 'X';
        f.expect(foreign, RWKVRT_ERR_FORMAT, "RWKVSTAT");
        f.expect(Bytes{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}, RWKVRT_ERR_FORMAT, "RWKVSTAT");
    }
    SUBCASE("truncated") {
        // Every length through the header and the start of the payload, then a sample of the rest.
        for (size_t len = 1; len < good.size(); len += len < 300 ? 1 : 997)
            f.expect(Bytes(good.begin(), good.begin() + ptrdiff_t(len)), RWKVRT_ERR_CORRUPT);
        f.expect(Bytes(good.begin(), good.end() - 1), RWKVRT_ERR_CORRUPT, "header describes");
        Bytes longer = good;
        longer.push_back(0);
        f.expect(longer, RWKVRT_ERR_CORRUPT);
    }
    SUBCASE("bit flips") {
        for (size_t bit = 64; bit < 120 * 8; ++bit) { // every bit after the magic, through the metadata
            Bytes b = good;
            b[bit / 8] ^= uint8_t(1u << (bit % 8));
            f.expect(b, RWKVRT_ERR_CORRUPT);
        }
        std::mt19937_64 rng(7);
        for (int i = 0; i < 200; ++i) {
            Bytes b = good;
            const uint64_t bit = rng() % (good.size() * 8);
            b[bit / 8] ^= uint8_t(1u << (bit % 8));
            f.expect(b, bit < 64 ? RWKVRT_ERR_FORMAT : RWKVRT_ERR_CORRUPT);
        }
    }
    SUBCASE("a newer format or an unknown feature") {
        Bytes b = good;
        put32(b, 8, 3);
        put32(b, 16, 0x000300);
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_UNSUPPORTED, "format version 3, written by rwkvrt 0.3.0");
        b = good;
        put32(b, 24, 3);
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_UNSUPPORTED, "value type 3");
        b = good;
        put32(b, 28, 1);
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_UNSUPPORTED, "flags 1");
    }
    SUBCASE("malformed but intact") {
        Bytes b = good;
        put32(b, 8, 0);
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_FORMAT, "version 0");
        b = good;
        put32(b, 12, 100);
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_FORMAT, "header");
        b = good;
        put64(b, 96, 5);
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_FORMAT, "do not add up");
        b = good;
        put64(b, 96, ~uint64_t(0)); // sizes that overflow when added
        fix_checksum(b);
        f.expect(b, RWKVRT_ERR_FORMAT, "do not add up");
    }
    SUBCASE("another model") {
        // Another shape: both are named.
        th::ModelPtr other = th::load(testdata::path("random/random-rwkv7-h4-fp32.pth"));
        th::StatePtr s = th::new_state(other.get());
        CHECK(restore(s.get(), good) == RWKVRT_ERR_MISMATCH);
        CHECK_MESSAGE(last_error().find("n_embd 256") != std::string::npos, last_error());
        CHECK_MESSAGE(last_error().find("this model is rwkv7, 3 layers") != std::string::npos, last_error());
        // The same shape with other weights (the bf16 checkpoint): told apart by the fingerprint.
        th::ModelPtr bf16 = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-bf16.pth"));
        th::StatePtr t = th::new_state(bf16.get());
        CHECK(restore(t.get(), good) == RWKVRT_ERR_MISMATCH);
        CHECK_MESSAGE(last_error().find("fingerprint") != std::string::npos, last_error());
        // Converting the weights at load keeps the fingerprint: the file is the same. So do the same
        // tensors in another container; another stored type does not.
        auto restores_into = [&](const std::string &rel, const char *weight_type = nullptr) {
            th::ModelPtr model = th::load(testdata::path(rel), weight_type);
            th::StatePtr u = th::new_state(model.get());
            return restore(u.get(), good);
        };
        CHECK(restores_into("pth/tiny-rwkv-7v0-834K-fp32.pth", "bf16") == RWKVRT_OK);
        CHECK(restores_into("safetensors/tiny-rwkv-7v0-834K-fp32.safetensors") == RWKVRT_OK);
        CHECK(restores_into("rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin") == RWKVRT_OK);
        CHECK(restores_into("rwkvcpp/tiny-rwkv-7v0-834K-FP16.bin") == RWKVRT_ERR_MISMATCH);
    }
}

TEST_CASE("a deterministic corpus of mutated snapshots: documented statuses only, no crash") {
    REQUIRE_TESTDATA();
    // Built under RWKVRT_SANITIZE=address,undefined this also proves no read out of bounds. Half the
    // mutants get a valid checksum so that the checks behind it are exercised too.
    Fixture f;
    std::mt19937_64 rng(20240601);
    const uint64_t interesting[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 112, 120,
                                    f.good.size(), uint64_t(1) << 63, ~uint64_t(0)};
    int ok = 0;
    for (int i = 0; i < 3000; ++i) {
        Bytes b = f.good;
        const int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits && !b.empty(); ++e) {
            const size_t at = rng() % b.size();
            switch (rng() % 6) {
            case 0: b[at] ^= uint8_t(1u << (rng() % 8)); break;
            case 1: b[at] = uint8_t(rng()); break;
            case 2: b.resize(at); break;
            case 3: b.insert(b.begin() + ptrdiff_t(at), size_t(1 + rng() % 16), uint8_t(rng())); break;
            case 4: { // an interesting value over a header field
                const size_t field = 8 + 4 * (rng() % 26);
                const uint64_t v = interesting[rng() % std::size(interesting)];
                if (field + 8 <= b.size()) put64(b, field, v);
                break;
            }
            case 5: b.erase(b.begin() + ptrdiff_t(at), b.begin() + ptrdiff_t(std::min(b.size(), at + 1 + rng() % 64)));
                break;
            }
        }
        if (rng() % 2 && b.size() >= 16) fix_checksum(b);
        const rwkvrt_status st = restore(f.target.get(), b);
        ok += st == RWKVRT_OK;
        REQUIRE_MESSAGE((st == RWKVRT_OK || st == RWKVRT_ERR_FORMAT || st == RWKVRT_ERR_CORRUPT ||
                         st == RWKVRT_ERR_UNSUPPORTED || st == RWKVRT_ERR_MISMATCH),
                        "mutant ", i, ": ", rwkvrt_status_name(st), ": ", last_error());
        if (st != RWKVRT_OK) REQUIRE(sh::snapshot(f.target.get()) == f.good);
        else REQUIRE(restore(f.target.get(), f.good) == RWKVRT_OK);
    }
    MESSAGE("mutants accepted (changed values under a valid checksum): ", ok, " of 3000");
}

TEST_CASE("restore and snapshot reject bad arguments") {
    REQUIRE_TESTDATA();
    Fixture f;
    CHECK(rwkvrt_state_restore(nullptr, f.good.data(), f.good.size()) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_restore(f.state.get(), nullptr, 10) == RWKVRT_ERR_ARGUMENT);
    Bytes small(f.good.size() - 1);
    CHECK(rwkvrt_state_snapshot(f.state.get(), small.data(), small.size(), nullptr) == RWKVRT_ERR_BUFFER);
    CHECK(rwkvrt_state_snapshot_size(nullptr) == 0);
}
