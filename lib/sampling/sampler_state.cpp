// The sampler's serialized state, a small blob that state files embed. Little-endian, floats as their
// IEEE-754 bits:
//
//   offset  size  field
//        0     8  magic "RWKVSMPL"
//        8     4  u32 format version (1)
//       12     4  i32 n_vocab
//       16     8  u64 size of the whole blob in bytes, checksum included
//       24     4  f32 temperature
//       28     4  i32 top_k
//       32     4  f32 top_p
//       36     4  f32 min_p
//       40     4  f32 repetition_penalty
//       44     4  f32 presence_penalty
//       48     4  f32 frequency_penalty
//       52     4  f32 penalty_decay
//       56     8  u64 seed
//       64    32  u64[4] xoshiro256** state
//       96     4  u32 n_recorded, then n_recorded x {i32 token, f64 count} in order of first recording
//        .     4  u32 n_bias, then n_bias x {i32 token, f32 bias} by ascending token (-inf = banned)
//        .     8  u64 XXH3_64bits of every byte before it
#include "sampling/sampler.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <xxhash.h>

#include "core/error.h"

namespace rwkvrt {
namespace {

constexpr char kMagic[8] = {'R', 'W', 'K', 'V', 'S', 'M', 'P', 'L'};
constexpr uint32_t kVersion = 1;
constexpr size_t kFixedSize = 112; // everything but the two lists
constexpr size_t kRecordedSize = 12;
constexpr size_t kBiasSize = 8;
// A recorded count grows by at most 1 per token accepted, so no real one reaches 2^53. The bound keeps
// every penalty finite: count * frequency_penalty <= 2^53 * FLT_MAX is far below DBL_MAX.
constexpr double kMaxCount = 9007199254740992.0;

class Writer {
public:
    explicit Writer(uint8_t *p) : p_(p) {}
    void bytes(const void *src, size_t n) {
        std::memcpy(p_, src, n);
        p_ += n;
    }
    void u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) *p_++ = uint8_t(v >> (8 * i));
    }
    void u64(uint64_t v) {
        for (int i = 0; i < 8; ++i) *p_++ = uint8_t(v >> (8 * i));
    }
    void i32(int32_t v) { u32(uint32_t(v)); }
    void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
    void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }

private:
    uint8_t *p_;
};

// Reads within bounds the caller has already checked against the blob's size.
class Reader {
public:
    explicit Reader(const uint8_t *p) : p_(p) {}
    uint32_t u32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= uint32_t(*p_++) << (8 * i);
        return v;
    }
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= uint64_t(*p_++) << (8 * i);
        return v;
    }
    int32_t i32() { return int32_t(u32()); }
    float f32() { return std::bit_cast<float>(u32()); }
    double f64() { return std::bit_cast<double>(u64()); }

private:
    const uint8_t *p_;
};

uint64_t load_u64(const uint8_t *p) { return Reader(p).u64(); }

} // namespace

size_t Sampler::state_size() const {
    return kFixedSize + kRecordedSize * recorded_.size() + kBiasSize * bias_.size();
}

void Sampler::save_state(uint8_t *out) const {
    const size_t size = state_size();
    Writer w(out);
    w.bytes(kMagic, sizeof kMagic);
    w.u32(kVersion);
    w.i32(n_vocab_);
    w.u64(size);
    w.f32(options_.temperature);
    w.i32(options_.top_k);
    w.f32(options_.top_p);
    w.f32(options_.min_p);
    w.f32(options_.repetition_penalty);
    w.f32(options_.presence_penalty);
    w.f32(options_.frequency_penalty);
    w.f32(options_.penalty_decay);
    w.u64(options_.seed);
    for (uint64_t word : rng_.state()) w.u64(word);
    w.u32(uint32_t(recorded_.size()));
    for (const Recorded &r : recorded_) {
        w.i32(r.token);
        w.f64(r.count);
    }
    w.u32(uint32_t(bias_.size()));
    for (const auto &[token, bias] : bias_) {
        w.i32(token);
        w.f32(bias);
    }
    w.u64(XXH3_64bits(out, size - 8));
}

void Sampler::load_state(const uint8_t *data, size_t len) {
    // Identity first (FORMAT, UNSUPPORTED), then integrity (CORRUPT), then fit (MISMATCH), then content.
    if (len < sizeof kMagic || std::memcmp(data, kMagic, sizeof kMagic) != 0)
        fail(RWKVRT_ERR_FORMAT, "not a sampler state (it does not start with \"RWKVSMPL\")");
    if (len < kFixedSize) fail(RWKVRT_ERR_CORRUPT, "sampler state is truncated: ", len, " bytes");
    Reader head(data + 8);
    const uint32_t version = head.u32();
    if (version == 0) fail(RWKVRT_ERR_FORMAT, "sampler state format version 0 is invalid");
    if (version > kVersion)
        fail(RWKVRT_ERR_UNSUPPORTED, "sampler state has format version ", version, "; this library reads up to ",
             kVersion);
    const int32_t n_vocab = head.i32();
    const uint64_t declared = head.u64();
    if (declared != len)
        fail(RWKVRT_ERR_CORRUPT, "sampler state is truncated or damaged: it declares ", declared, " bytes, got ",
             len);
    if (XXH3_64bits(data, len - 8) != load_u64(data + len - 8))
        fail(RWKVRT_ERR_CORRUPT, "sampler state checksum mismatch: the bytes were damaged");
    if (n_vocab != n_vocab_)
        fail(RWKVRT_ERR_MISMATCH, "sampler state is for a vocabulary of ", n_vocab, " tokens; this sampler has ",
             n_vocab_);

    // A consistent checksum with inconsistent content is a malformed writer, not damage: FORMAT.
    Reader r(data + 24);
    SamplerOptions options;
    options.temperature = r.f32();
    options.top_k = r.i32();
    options.top_p = r.f32();
    options.min_p = r.f32();
    options.repetition_penalty = r.f32();
    options.presence_penalty = r.f32();
    options.frequency_penalty = r.f32();
    options.penalty_decay = r.f32();
    options.seed = r.u64();
    try {
        validate(options);
    } catch (const Error &e) {
        fail(RWKVRT_ERR_FORMAT, "sampler state holds invalid options: ", e.what());
    }
    std::array<uint64_t, 4> rng_state;
    for (uint64_t &word : rng_state) word = r.u64();
    if (rng_state == std::array<uint64_t, 4>{})
        fail(RWKVRT_ERR_FORMAT, "sampler state has an all-zero generator state");

    const uint64_t n_recorded = r.u32();
    if (kFixedSize + kRecordedSize * n_recorded > len)
        fail(RWKVRT_ERR_FORMAT, "sampler state lists ", n_recorded, " recorded tokens, more than its ", len,
             " bytes hold");
    std::vector<Recorded> recorded(n_recorded);
    std::vector<int32_t> slot(size_t(n_vocab_), -1);
    for (size_t i = 0; i < n_recorded; ++i) {
        recorded[i] = {r.i32(), r.f64()};
        const auto [token, count] = recorded[i];
        if (token < 0 || token >= n_vocab_ || slot[size_t(token)] >= 0 || !(count >= 0 && count <= kMaxCount))
            fail(RWKVRT_ERR_FORMAT, "sampler state has an invalid recorded token entry #", i, " (token ", token,
                 ", count ", count, ")");
        slot[size_t(token)] = int32_t(i);
    }
    const uint64_t n_bias = r.u32();
    if (kFixedSize + kRecordedSize * n_recorded + kBiasSize * n_bias != len)
        fail(RWKVRT_ERR_FORMAT, "sampler state lists ", n_recorded, " recorded tokens and ", n_bias,
             " biases, which do not fill its ", len, " bytes");
    std::map<int32_t, float> bias;
    for (size_t i = 0; i < n_bias; ++i) {
        const int32_t token = r.i32();
        const float b = r.f32();
        const bool ascending = bias.empty() || token > bias.rbegin()->first;
        if (token < 0 || token >= n_vocab_ || !ascending || b == 0.0f || std::isnan(b) ||
            b == std::numeric_limits<float>::infinity())
            fail(RWKVRT_ERR_FORMAT, "sampler state has an invalid bias entry #", i, " (token ", token, ", bias ", b,
                 ")");
        bias.emplace_hint(bias.end(), token, b);
    }

    options_ = options;
    rng_.set_state(rng_state);
    recorded_ = std::move(recorded);
    slot_ = std::move(slot);
    bias_ = std::move(bias);
}

} // namespace rwkvrt
