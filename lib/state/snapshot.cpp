// docs/STATE_FORMAT.md is the specification of these bytes; keep the two in step.
#include "state/snapshot.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <xxhash.h>
#include <xxh_x86dispatch.h> // AVX2 or AVX-512 XXH3 where the CPU has them (the same values)

#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "model/model.h"
#include "rwkvrt.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

// Version 2 changed only what the fingerprint field holds (Model::fingerprint; version 1's is
// Model::fingerprint_v1): the header and sections are version 1's.
constexpr uint32_t kFormatVersion = 2;
constexpr size_t kHeaderSize = 112;
constexpr size_t kChecksumSize = 8;
// Every version starts with magic, format version, header size and library version, and ends with
// the checksum, so any reader can tell damage from a newer format.
constexpr size_t kEnvelopeSize = 20 + kChecksumSize;
constexpr float kF16Max = 65504.0f;
constexpr float kRwkv4NoHistory = -1e30f; // v4's initial pp; see ArchModel::init_state

// Little-endian field access (the format is LE on every host).
void put16(uint8_t *p, uint16_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i)); }
void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i)); }
uint16_t get16(const uint8_t *p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i); return v; }
uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i); return v; }

uint32_t library_version() { return RWKVRT_VERSION_MAJOR << 16 | RWKVRT_VERSION_MINOR << 8 | RWKVRT_VERSION_PATCH; }

std::string version_str(uint32_t v) { return cat(v >> 16, ".", (v >> 8) & 0xff, ".", v & 0xff); }

std::string hex(uint64_t v) {
    char buf[19];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::optional<size_t> value_bytes(uint32_t dtype) {
    switch (StateDType(dtype)) {
    case StateDType::f32: return 4;
    case StateDType::f16:
    case StateDType::bf16: return 2;
    }
    return std::nullopt;
}

// The file size a version-1 (or 2) header describes, or nullopt if its fields cannot describe one.
std::optional<uint64_t> declared_size(const uint8_t *data) {
    const std::optional<size_t> vb = value_bytes(get32(data + 24));
    const uint64_t header = get32(data + 12), values = get64(data + 88), meta = get64(data + 96),
                   sampler = get64(data + 104);
    uint64_t payload, total;
    if (!vb || __builtin_mul_overflow(values, *vb, &payload) || __builtin_add_overflow(header, meta, &total) ||
        __builtin_add_overflow(total, sampler, &total) || __builtin_add_overflow(total, payload, &total) ||
        __builtin_add_overflow(total, kChecksumSize, &total))
        return std::nullopt;
    return total;
}

} // namespace

size_t snapshot_size(const State &state, const SnapshotExtras &extras) {
    return kHeaderSize + state.metadata().size() + extras.sampler.size() +
           state.floats() * *value_bytes(uint32_t(extras.dtype)) + kChecksumSize;
}

void write_snapshot(const State &state, uint8_t *out, const SnapshotExtras &extras) {
    const HParams &hp = state.model().hparams();
    std::memset(out, 0, kHeaderSize);
    std::memcpy(out, kStateMagic.data(), kStateMagic.size());
    put32(out + 8, kFormatVersion);
    put32(out + 12, kHeaderSize);
    put32(out + 16, library_version());
    put32(out + 20, static_cast<uint32_t>(hp.arch));
    put32(out + 24, static_cast<uint32_t>(extras.dtype));
    put32(out + 28, 0); // flags: no optional feature is defined yet
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
    const float *v = state.data();
    switch (extras.dtype) {
    case StateDType::f32:
        for (size_t i = 0; i < state.floats(); ++i, p += 4) {
            uint32_t bits;
            std::memcpy(&bits, v + i, 4);
            put32(p, bits);
        }
        break;
    case StateDType::f16: {
        // Saturate rather than overflow to inf, which would poison the next step with inf − inf.
        size_t clamped = 0;
        for (size_t i = 0; i < state.floats(); ++i, p += 2) {
            float x = v[i];
            if (std::isfinite(x) && std::fabs(x) > kF16Max) {
                clamped += x != kRwkv4NoHistory; // −65504 still means "no history" to v4
                x = std::copysign(kF16Max, x);
            }
            put16(p, f32_to_f16(x));
        }
        if (clamped)
            log(LogLevel::warning, cat(clamped, " state values exceed the f16 range and were saved as ±65504; "
                                                "save this state as bf16 or f32 to keep them"));
        break;
    }
    case StateDType::bf16:
        for (size_t i = 0; i < state.floats(); ++i, p += 2) put16(p, f32_to_bf16(v[i]));
        break;
    }
    put64(p, XXH3_64bits(out, size_t(p - out)));
}

Snapshot parse_snapshot(const Model &model, const uint8_t *data, size_t len) {
    if (len == 0) fail(RWKVRT_ERR_FORMAT, "not an rwkvrt state: it is empty");
    if (std::memcmp(data, kStateMagic.data(), std::min(len, kStateMagic.size())) != 0)
        fail(RWKVRT_ERR_FORMAT, "not an rwkvrt state (it does not start with \"RWKVSTAT\")");
    if (len < kEnvelopeSize) fail(RWKVRT_ERR_CORRUPT, "state is truncated: ", len, " bytes");
    const uint32_t version = get32(data + 8);
    const size_t body = len - kChecksumSize;
    if (XXH3_64bits(data, body) != get64(data + body)) {
        const std::optional<uint64_t> declared = version >= 1 && version <= kFormatVersion && len >= kHeaderSize + kChecksumSize
                                                     ? declared_size(data) : std::nullopt;
        if (declared && *declared != len)
            fail(RWKVRT_ERR_CORRUPT, "state is truncated or damaged: its header describes ", *declared,
                 " bytes, there are ", len);
        fail(RWKVRT_ERR_CORRUPT, "state checksum mismatch: the bytes were damaged");
    }
    // From here on the bytes are as written; what remains wrong was written so.
    if (version == 0) fail(RWKVRT_ERR_FORMAT, "state format version 0 is invalid");
    if (version > kFormatVersion)
        fail(RWKVRT_ERR_UNSUPPORTED, "the state is in format version ", version, ", written by rwkvrt ",
             version_str(get32(data + 16)), "; this library (", version_str(library_version()),
             ") reads versions up to ", kFormatVersion);
    if (len < kHeaderSize + kChecksumSize || get32(data + 12) < kHeaderSize)
        fail(RWKVRT_ERR_FORMAT, "state header is shorter than format version 1 requires");
    const uint32_t dtype = get32(data + 24), flags = get32(data + 28);
    if (!value_bytes(dtype)) fail(RWKVRT_ERR_UNSUPPORTED, "state value type ", dtype, " is unknown (0 f32, 1 f16, 2 bf16)");
    if (flags != 0) fail(RWKVRT_ERR_UNSUPPORTED, "state uses optional features this library lacks (flags ", flags, ")");
    const std::optional<uint64_t> declared = declared_size(data);
    if (!declared || *declared != len)
        fail(RWKVRT_ERR_FORMAT, "state section sizes do not add up to its length (", len, " bytes)");

    const HParams &hp = model.hparams();
    const uint32_t arch = get32(data + 20);
    const uint64_t n_vocab = get64(data + 32), n_embd = get64(data + 40), n_layer = get64(data + 48),
                   n_head = get64(data + 56), head_size = get64(data + 64), fp = get64(data + 72);
    if (arch != static_cast<uint32_t>(hp.arch) || n_embd != uint64_t(hp.n_embd) || n_layer != uint64_t(hp.n_layer) ||
        n_head != uint64_t(hp.n_head) || head_size != uint64_t(hp.head_size) || n_vocab != uint64_t(hp.n_vocab))
        fail(RWKVRT_ERR_MISMATCH, "the state is for another model shape (",
             arch >= 1 && arch <= 6 ? arch_name(Arch(arch)) : "unknown arch", ", ", n_layer, " layers, n_embd ", n_embd,
             ", ", n_head, " heads of ", head_size, ", vocab ", n_vocab, "); this model is ", arch_name(hp.arch), ", ",
             hp.n_layer, " layers, n_embd ", hp.n_embd, ", ", hp.n_head, " heads of ", hp.head_size, ", vocab ", hp.n_vocab);
    const uint64_t model_fp = version == 1 ? model.fingerprint_v1() : model.fingerprint();
    if (fp != model_fp)
        fail(RWKVRT_ERR_MISMATCH, "the state was made with other weights of the same shape (model fingerprint ", hex(fp),
             "; this model is ", hex(model_fp), ")");
    const uint64_t n_values = get64(data + 88);
    if (n_values != model.arch().state_floats())
        fail(RWKVRT_ERR_FORMAT, "state payload has ", n_values, " values; this model's state has ",
             model.arch().state_floats());

    Snapshot s;
    const uint64_t meta_len = get64(data + 96), sampler_len = get64(data + 104);
    const uint8_t *p = data + get32(data + 12);
    s.n_tokens = get64(data + 80);
    s.metadata.assign(reinterpret_cast<const char *>(p), meta_len);
    p += meta_len;
    s.extras.sampler.assign(reinterpret_cast<const char *>(p), sampler_len);
    p += sampler_len;
    s.extras.dtype = StateDType(dtype);
    s.values.resize(n_values);
    switch (s.extras.dtype) {
    case StateDType::f32:
        for (size_t i = 0; i < n_values; ++i, p += 4) {
            const uint32_t bits = get32(p);
            std::memcpy(&s.values[i], &bits, 4);
        }
        break;
    case StateDType::f16:
        for (size_t i = 0; i < n_values; ++i, p += 2) s.values[i] = f16_to_f32(get16(p));
        break;
    case StateDType::bf16:
        for (size_t i = 0; i < n_values; ++i, p += 2) s.values[i] = bf16_to_f32(get16(p));
        break;
    }
    return s;
}

void read_snapshot(State &state, const uint8_t *data, size_t len, SnapshotExtras *extras) {
    Snapshot s = parse_snapshot(state.model(), data, len);
    state.assign(std::move(s.values), s.n_tokens, std::move(s.metadata));
    if (extras) *extras = std::move(s.extras);
}

} // namespace rwkvrt
