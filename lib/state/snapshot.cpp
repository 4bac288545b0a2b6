#include "state/snapshot.h"

#include <cstring>
#include <xxhash.h>

#include "core/error.h"
#include "model/model.h"
#include "rwkvrt.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

constexpr char kMagic[8] = {'R', 'W', 'K', 'V', 'S', 'T', 'A', 'T'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 112;
constexpr size_t kChecksumSize = 8;
constexpr uint32_t kStateF32 = 0;

// Little-endian field access (the format is LE on every host).
void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i)); }
void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i)); }
uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i); return v; }
uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i); return v; }

uint32_t library_version() { return RWKVRT_VERSION_MAJOR << 16 | RWKVRT_VERSION_MINOR << 8 | RWKVRT_VERSION_PATCH; }

std::string hex(uint64_t v) {
    char buf[19];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

size_t snapshot_size(const State &state, const SnapshotExtras &extras) {
    return kHeaderSize + state.metadata().size() + extras.sampler.size() + state.floats() * 4 + kChecksumSize;
}

void write_snapshot(const State &state, uint8_t *out, const SnapshotExtras &extras) {
    const HParams &hp = state.model().hparams();
    std::memset(out, 0, kHeaderSize);
    std::memcpy(out, kMagic, 8);
    put32(out + 8, kFormatVersion);
    put32(out + 12, kHeaderSize);
    put32(out + 16, library_version());
    put32(out + 20, static_cast<uint32_t>(hp.arch));
    put32(out + 24, kStateF32);
    put32(out + 28, 0); // flags
    put64(out + 32, uint64_t(hp.n_vocab));
    put64(out + 40, uint64_t(hp.n_embd));
    put64(out + 48, uint64_t(hp.n_layer));
    put64(out + 56, uint64_t(hp.n_head));
    put64(out + 64, uint64_t(hp.head_size));
    put64(out + 72, state.model().fingerprint());
    put64(out + 80, state.n_tokens());
    put64(out + 88, state.floats());
    put64(out + 96, state.metadata().size());
    put64(out + 104, extras.sampler.size());
    uint8_t *p = out + kHeaderSize;
    std::memcpy(p, state.metadata().data(), state.metadata().size());
    p += state.metadata().size();
    std::memcpy(p, extras.sampler.data(), extras.sampler.size());
    p += extras.sampler.size();
    for (size_t i = 0; i < state.floats(); ++i, p += 4) {
        uint32_t bits;
        std::memcpy(&bits, state.data() + i, 4);
        put32(p, bits);
    }
    put64(p, XXH3_64bits(out, size_t(p - out)));
}

void read_snapshot(State &state, const uint8_t *data, size_t len, SnapshotExtras *extras) {
    if (len < 12 || std::memcmp(data, kMagic, 8) != 0) fail(RWKVRT_ERR_FORMAT, "not an rwkvrt state (bad magic)");
    const uint32_t version = get32(data + 8);
    if (version > kFormatVersion)
        fail(RWKVRT_ERR_UNSUPPORTED, "state format version ", version, " is newer than this library reads (", kFormatVersion, ")");
    if (version == 0) fail(RWKVRT_ERR_FORMAT, "state format version 0 is invalid");
    if (len < kHeaderSize + kChecksumSize) fail(RWKVRT_ERR_CORRUPT, "state is truncated (", len, " bytes)");
    const uint64_t header_size = get32(data + 12);
    const uint64_t meta_len = get64(data + 96), sampler_len = get64(data + 104), floats = get64(data + 88);
    const uint64_t body = len - kChecksumSize;
    // Sizes first (without overflow), then the checksum over everything, then the meaning.
    if (header_size < kHeaderSize || header_size > body || meta_len > body || sampler_len > body ||
        floats > body / 4 || header_size + meta_len + sampler_len + floats * 4 != body)
        fail(RWKVRT_ERR_CORRUPT, "state is truncated or its section sizes are damaged (", len, " bytes)");
    if (XXH3_64bits(data, body) != get64(data + body)) fail(RWKVRT_ERR_CORRUPT, "state checksum mismatch: the bytes were damaged");
    if (get32(data + 24) != kStateF32) fail(RWKVRT_ERR_UNSUPPORTED, "state element type ", get32(data + 24), " is not supported");

    const Model &model = state.model();
    const HParams &hp = model.hparams();
    const uint32_t arch = get32(data + 20);
    const uint64_t n_embd = get64(data + 40), n_layer = get64(data + 48), n_head = get64(data + 56),
                   head_size = get64(data + 64), n_vocab = get64(data + 32), fp = get64(data + 72);
    if (arch != static_cast<uint32_t>(hp.arch) || n_embd != uint64_t(hp.n_embd) || n_layer != uint64_t(hp.n_layer) ||
        n_head != uint64_t(hp.n_head) || head_size != uint64_t(hp.head_size) || n_vocab != uint64_t(hp.n_vocab))
        fail(RWKVRT_ERR_MISMATCH, "the state is for another model shape (arch ",
             arch >= 1 && arch <= 6 ? arch_name(Arch(arch)) : "unknown", ", ", n_layer, " layers, n_embd ", n_embd,
             ", ", n_head, " heads of ", head_size, ", vocab ", n_vocab, "); this model is ", arch_name(hp.arch), ", ",
             hp.n_layer, " layers, n_embd ", hp.n_embd, ", ", hp.n_head, " heads of ", hp.head_size, ", vocab ", hp.n_vocab);
    if (fp != model.fingerprint())
        fail(RWKVRT_ERR_MISMATCH, "the state was made with other weights of the same shape (model fingerprint ", hex(fp),
             "; this model is ", hex(model.fingerprint()), ")");
    if (floats != state.floats()) fail(RWKVRT_ERR_CORRUPT, "state payload has ", floats, " values, expected ", state.floats());

    const uint8_t *p = data + header_size;
    std::string metadata(reinterpret_cast<const char *>(p), meta_len);
    p += meta_len;
    std::string sampler(reinterpret_cast<const char *>(p), sampler_len);
    p += sampler_len;
    std::vector<float> values(floats);
    for (size_t i = 0; i < floats; ++i, p += 4) {
        const uint32_t bits = get32(p);
        std::memcpy(&values[i], &bits, 4);
    }
    state.assign(std::move(values), get64(data + 80), std::move(metadata));
    if (extras) extras->sampler = std::move(sampler);
}

} // namespace rwkvrt
