// RWKV-5 (spec §2.3, §4.3) in its three revisions, told apart by detect.cpp from the tensor shapes:
// 5.0 has no gate and a decay per head; 5.1 adds the gate; 5.2 has a decay per channel.
#include "arch/blocks.h"
#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/norm.h"
#include "kernels/wkv.h"

namespace rwkvrt {

namespace {

class TimeMix5 final : public TimeMix {
public:
    TimeMix5(WeightLoader &w, const std::string &p, const HParams &hp)
        : C_(hp.n_embd), Ca_(hp.dim_att), H_(hp.n_head), N_(hp.head_size), gated_(hp.arch != Arch::rwkv5_0) {
        mix_k_ = load_mix(w, p + "time_mix_k", C_, true);
        mix_v_ = load_mix(w, p + "time_mix_v", C_, true);
        mix_r_ = load_mix(w, p + "time_mix_r", C_, true);
        // Decay and bonus per channel: 5.2 stores them so, 5.0/5.1 per head (broadcast here).
        const bool per_channel = hp.arch == Arch::rwkv5_2;
        const auto channels = [&](const std::string &name) {
            const std::vector<float> v = per_channel ? w.vec(name, {H_, N_}) : w.vec(name, {H_});
            std::vector<float> out(static_cast<size_t>(Ca_));
            for (int64_t c = 0; c < Ca_; ++c) out[size_t(c)] = v[size_t(per_channel ? c : c / N_)];
            return out;
        };
        decay_ = channels(p + "time_decay");
        for (float &d : decay_) d = std::exp(-std::exp(d));
        // The bonus u is stored raw as time_faaaa, or as its logarithm time_first (older checkpoints).
        if (w.has(p + "time_faaaa") || !w.has(p + "time_first")) {
            bonus_ = channels(p + "time_faaaa");
        } else {
            bonus_ = channels(p + "time_first");
            for (float &u : bonus_) u = std::exp(u);
        }
        key_ = w.linear(p + "key.weight", Ca_, C_);
        value_ = w.linear(p + "value.weight", Ca_, C_);
        receptance_ = w.linear(p + "receptance.weight", Ca_, C_);
        output_ = w.linear(p + "output.weight", C_, Ca_);
        ln_x_.load(w, p + "ln_x", Ca_);
        if (gated_) {
            mix_g_ = load_mix(w, p + "time_mix_g", C_, true);
            gate_ = w.linear(p + "gate.weight", Ca_, C_);
        }
    }

    size_t scratch_floats(int64_t T) const override { return size_t(T * (4 * C_ + 5 * Ca_)); }

    void forward(const float *A, const float *P, int64_t T, const std::vector<WkvSegment> &segs, float *out,
                 Scratch &s, ThreadPool &pool) const override {
        const size_t TC = size_t(T * C_), TCa = size_t(T * Ca_);
        float *xk = s.take(TC), *xv = s.take(TC), *xr = s.take(TC), *xg = s.take(TC);
        float *r = s.take(TCa), *k = s.take(TCa), *v = s.take(TCa), *g = s.take(TCa), *y = s.take(TCa);
        // The element-wise steps run on the pool's threads, a stretch of rows each (for_rows).
        for_rows(pool, T, 4 * C_, [&](int64_t t0, int64_t t1) {
            const int64_t o = t0 * C_, n = t1 - t0;
            mix(A + o, P + o, mix_k_.data(), n, C_, xk + o);
            mix(A + o, P + o, mix_v_.data(), n, C_, xv + o);
            mix(A + o, P + o, mix_r_.data(), n, C_, xr + o);
            if (gated_) mix(A + o, P + o, mix_g_.data(), n, C_, xg + o);
        });
        const Product inputs[] = {{key_, xk, k}, {value_, xv, v}, {receptance_, xr, r}, {gate_, xg, g}};
        linear_group({inputs, gated_ ? 4u : 3u}, T, pool);
        wkv5(segs.data(), int64_t(segs.size()), H_, N_, r, k, v, decay_.data(), 0, bonus_.data(), y, pool);
        for_rows(pool, T, Ca_, [&](int64_t t0, int64_t t1) {
            group_norm(y + t0 * Ca_, y + t0 * Ca_, t1 - t0, Ca_, N_, ln_x_.weight.data(), ln_x_.bias.data(), kGroupNormEps);
        });
        if (gated_)
            for_rows(pool, T, Ca_, [&](int64_t t0, int64_t t1) { silu_gate(y + t0 * Ca_, g + t0 * Ca_, size_t((t1 - t0) * Ca_)); });
        linear(output_, y, T, out, pool);
    }

private:
    int64_t C_, Ca_, H_, N_;
    bool gated_; // 5.1, 5.2
    std::vector<float> mix_k_, mix_v_, mix_r_, mix_g_, decay_, bonus_;
    Matrix key_, value_, receptance_, gate_, output_;
    Norm ln_x_;
};

} // namespace

std::unique_ptr<ArchModel> build_rwkv5(const TensorFile &file, const LoadConfig &config, Arch arch) {
    WeightLoader w(file, config, arch);
    HParams hp = common_hparams(file, arch);
    // H is the decay's first dimension in every revision: (H), (H, 1) or (H, N).
    const TensorView &decay = w.get("blocks.0.att.time_decay");
    if (decay.shape.empty() || decay.shape[0] < 1 || hp.dim_att % decay.shape[0] != 0)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'blocks.0.att.time_decay' has shape ", decay.shape_str(),
             ", expected (n_head, …) with n_head dividing dim_att = ", hp.dim_att);
    hp.n_head = decay.shape[0];
    hp.head_size = hp.dim_att / hp.n_head;
    return build_classic(w, hp, [&](WeightLoader &lw, const std::string &p) { return std::make_unique<TimeMix5>(lw, p, hp); });
}

} // namespace rwkvrt
