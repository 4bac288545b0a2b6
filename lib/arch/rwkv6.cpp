// RWKV-6 "Finch" (spec §2.4, §4.4): token-shift mixes and the decay depend on the token, through
// low-rank (LoRA) paths; the recurrence is v5.2's with a decay per token.
#include <algorithm>
#include <array>

#include "arch/blocks.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/norm.h"
#include "kernels/wkv.h"

namespace rwkvrt {

namespace {

// The five data-dependent mixes, in the order the LoRA output is split: w, k, v, r, g.
enum { kW, kK, kV, kR, kG, kMixes };

struct LoraDims {
    int64_t mix;   // D_mix: rank of each of the five mix paths
    int64_t decay; // D_decay
};

class TimeMix6 final : public TimeMix {
public:
    TimeMix6(WeightLoader &w, const std::string &p, const HParams &hp, LoraDims d)
        : C_(hp.n_embd), Ca_(hp.dim_att), H_(hp.n_head), N_(hp.head_size), d_(d) {
        maa_x_ = w.vec(p + "time_maa_x", {1, 1, C_});
        const char *names[kMixes] = {"time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g"};
        for (int n = 0; n < kMixes; ++n) maa_[n] = w.vec(p + names[n], {1, 1, C_});
        maa_w1_ = w.lora(p + "time_maa_w1", C_, kMixes * d_.mix);
        // time_maa_w2 (5, D_mix, C): five (in, out) matrices, kept as (out, in) for linear().
        const std::vector<float> w2 = w.vec(p + "time_maa_w2", {kMixes, d_.mix, C_});
        for (int n = 0; n < kMixes; ++n) {
            Matrix &m = maa_w2_[n];
            m.rows = C_;
            m.cols = d_.mix;
            m.owned.allocate(size_t(C_ * d_.mix) * sizeof(float));
            auto *dst = reinterpret_cast<float *>(m.owned.data());
            const float *src = w2.data() + size_t(n * d_.mix * C_);
            for (int64_t i = 0; i < d_.mix; ++i)
                for (int64_t o = 0; o < C_; ++o) dst[o * d_.mix + i] = src[i * C_ + o];
            m.data = m.owned.data();
            w.count(m);
        }
        decay_ = w.vec(p + "time_decay", {1, 1, Ca_});
        decay_w1_ = w.lora(p + "time_decay_w1", C_, d_.decay);
        decay_w2_ = w.lora(p + "time_decay_w2", d_.decay, Ca_);
        bonus_ = w.vec(p + "time_faaaa", {H_, N_});
        receptance_ = w.linear(p + "receptance.weight", Ca_, C_);
        key_ = w.linear(p + "key.weight", Ca_, C_);
        value_ = w.linear(p + "value.weight", Ca_, C_);
        gate_ = w.linear(p + "gate.weight", Ca_, C_);
        output_ = w.linear(p + "output.weight", C_, Ca_);
        ln_x_.load(w, p + "ln_x", Ca_);
    }

    size_t scratch_floats(int64_t T) const override {
        return size_t(T * ((2 + 2 * kMixes) * C_ + 6 * Ca_ + 2 * kMixes * d_.mix + d_.decay));
    }

    void forward(const float *A, const float *P, int64_t T, const std::vector<WkvSegment> &segs, float *out,
                 Scratch &s, ThreadPool &pool) const override {
        const size_t TC = size_t(T * C_), TCa = size_t(T * Ca_);
        const int64_t D = d_.mix;
        float *xxx = s.take(TC), *z = s.take(size_t(T * kMixes * D));
        float *x[kMixes], *m[kMixes], *zn[kMixes];
        for (int n = 0; n < kMixes; ++n) x[n] = s.take(TC), m[n] = s.take(TC), zn[n] = s.take(size_t(T * D));
        float *r = s.take(TCa), *k = s.take(TCa), *v = s.take(TCa), *g = s.take(TCa), *w = s.take(TCa), *y = s.take(TCa);
        float *zd = s.take(size_t(T * d_.decay));

        // The element-wise steps run on the pool's threads, a stretch of rows each (for_rows).
        // Data-dependent token shift: z = tanh(xxx·W1) split into five rank-D inputs of W2[n].
        for_rows(pool, T, C_, [&](int64_t t0, int64_t t1) { mix(A + t0 * C_, P + t0 * C_, maa_x_.data(), t1 - t0, C_, xxx + t0 * C_); });
        linear(maa_w1_, xxx, T, z, pool);
        const int64_t Z = kMixes * D;
        for_rows(pool, T, Z, [&](int64_t t0, int64_t t1) { tanh_inplace(z + t0 * Z, size_t((t1 - t0) * Z)); });
        for (int n = 0; n < kMixes; ++n)
            for (int64_t t = 0; t < T; ++t) std::copy_n(z + (t * kMixes + n) * D, D, zn[n] + t * D);
        // Independent products go as groups (linear_group): a decoding step hands off to the pool once
        // for each group instead of once for each product.
        const Product mixes[] = {{maa_w2_[0], zn[0], m[0]}, {maa_w2_[1], zn[1], m[1]}, {maa_w2_[2], zn[2], m[2]},
                                 {maa_w2_[3], zn[3], m[3]}, {maa_w2_[4], zn[4], m[4]}};
        static_assert(std::size(mixes) == kMixes);
        linear_group(mixes, T, pool);
        for_rows(pool, T, 2 * kMixes * C_, [&](int64_t t0, int64_t t1) {
            for (int n = 0; n < kMixes; ++n)
                rwkv6_mix(size_t(t1 - t0), size_t(C_), A + t0 * C_, P + t0 * C_, maa_[n].data(), m[n] + t0 * C_, x[n] + t0 * C_);
        });
        // Decay per token and channel: exp(−exp(time_decay + tanh(xw·W1)·W2)).
        const Product inputs[] = {{receptance_, x[kR], r}, {key_, x[kK], k}, {value_, x[kV], v}, {gate_, x[kG], g}, {decay_w1_, x[kW], zd}};
        linear_group(inputs, T, pool);
        const int64_t Dd = d_.decay;
        for_rows(pool, T, Dd, [&](int64_t t0, int64_t t1) { tanh_inplace(zd + t0 * Dd, size_t((t1 - t0) * Dd)); });
        linear(decay_w2_, zd, T, w, pool);
        for_rows(pool, T, 4 * Ca_, [&](int64_t t0, int64_t t1) { rwkv6_decay(size_t(t1 - t0), size_t(Ca_), decay_.data(), w + t0 * Ca_); });

        wkv5(segs.data(), int64_t(segs.size()), H_, N_, r, k, v, w, Ca_, bonus_.data(), y, pool);
        for_rows(pool, T, Ca_, [&](int64_t t0, int64_t t1) {
            group_norm(y + t0 * Ca_, y + t0 * Ca_, t1 - t0, Ca_, N_, ln_x_.weight.data(), ln_x_.bias.data(), kGroupNormEps);
        });
        for_rows(pool, T, Ca_, [&](int64_t t0, int64_t t1) { silu_gate(y + t0 * Ca_, g + t0 * Ca_, size_t((t1 - t0) * Ca_)); });
        linear(output_, y, T, out, pool);
    }

private:
    int64_t C_, Ca_, H_, N_;
    LoraDims d_;
    std::vector<float> maa_x_, decay_, bonus_;
    std::array<std::vector<float>, kMixes> maa_; // static part of each mix (weight of the previous token)
    Matrix maa_w1_, decay_w1_, decay_w2_;        // low-rank paths, as (out, in)
    std::array<Matrix, kMixes> maa_w2_;
    Matrix receptance_, key_, value_, gate_, output_;
    Norm ln_x_;
};

// A matrix dimension of a tensor that the builder reads before the strict per-layer checks.
int64_t dim_of(const WeightLoader &w, const std::string &name, size_t ndim, size_t axis) {
    const TensorView &t = w.get(name);
    if (t.shape.size() != ndim || t.shape[axis] < 1)
        fail(RWKVRT_ERR_FORMAT, "'", w.path(), "': tensor '", name, "' has shape ", t.shape_str(), ", expected ", ndim,
             " dimensions for rwkv6");
    return t.shape[axis];
}

} // namespace

std::unique_ptr<ArchModel> build_rwkv6(const TensorFile &file, const LoadConfig &config) {
    WeightLoader w(file, config, Arch::rwkv6);
    HParams hp = common_hparams(file, Arch::rwkv6);
    // (H, N); rwkv.cpp files add a trailing 1, which the strict per-layer check accepts.
    const TensorView &bonus = w.get("blocks.0.att.time_faaaa");
    hp.n_head = bonus.shape.empty() ? 0 : bonus.shape[0];
    if (hp.n_head < 1 || hp.dim_att % hp.n_head != 0)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'blocks.0.att.time_faaaa' has shape ", bonus.shape_str(),
             ", expected (n_head, head_size) with n_head·head_size = dim_att = ", hp.dim_att);
    hp.head_size = hp.dim_att / hp.n_head;
    hp.rescale_every = file.info().rescale_every;
    const int64_t mix_out = dim_of(w, "blocks.0.att.time_maa_w1", 2, 1);
    if (mix_out % kMixes != 0)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'blocks.0.att.time_maa_w1' has shape ",
             w.get("blocks.0.att.time_maa_w1").shape_str(), ", expected (n_embd, 5·D_mix)");
    const LoraDims d{mix_out / kMixes, dim_of(w, "blocks.0.att.time_decay_w1", 2, 1)};
    return build_classic(w, hp, [&](WeightLoader &lw, const std::string &p) { return std::make_unique<TimeMix6>(lw, p, hp, d); });
}

} // namespace rwkvrt
