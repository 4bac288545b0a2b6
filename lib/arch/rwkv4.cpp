// RWKV-4 (spec §2.2, §4.2): a per-channel recurrence in numerically stable log-sum-exp form.
#include "arch/blocks.h"
#include "kernels/wkv.h"

namespace rwkvrt {

namespace {

class TimeMix4 final : public TimeMix {
public:
    TimeMix4(WeightLoader &w, const std::string &p, const HParams &hp) : C_(hp.n_embd), Ca_(hp.dim_att) {
        mix_k_ = load_mix(w, p + "time_mix_k", C_, true);
        mix_v_ = load_mix(w, p + "time_mix_v", C_, true);
        mix_r_ = load_mix(w, p + "time_mix_r", C_, true);
        decay_ = w.vec(p + "time_decay", {Ca_});
        for (float &d : decay_) d = -std::exp(d); // the kernel's w, < 0
        first_ = w.vec(p + "time_first", {Ca_});  // used raw
        key_ = w.linear(p + "key.weight", Ca_, C_);
        value_ = w.linear(p + "value.weight", Ca_, C_);
        receptance_ = w.linear(p + "receptance.weight", Ca_, C_);
        output_ = w.linear(p + "output.weight", C_, Ca_);
    }

    size_t scratch_floats(int64_t T) const override { return size_t(T * (3 * C_ + 4 * Ca_)); }

    void forward(const float *A, const float *P, int64_t T, const std::vector<WkvSegment> &segs, float *out,
                 Scratch &s, ThreadPool &pool) const override {
        const size_t TC = size_t(T * C_), TCa = size_t(T * Ca_);
        float *xk = s.take(TC), *xv = s.take(TC), *xr = s.take(TC);
        float *r = s.take(TCa), *k = s.take(TCa), *v = s.take(TCa), *y = s.take(TCa);
        // The element-wise steps run on the pool's threads, a stretch of rows each (for_rows).
        for_rows(pool, T, 3 * C_, [&](int64_t t0, int64_t t1) {
            const int64_t o = t0 * C_, n = t1 - t0;
            mix(A + o, P + o, mix_k_.data(), n, C_, xk + o);
            mix(A + o, P + o, mix_v_.data(), n, C_, xv + o);
            mix(A + o, P + o, mix_r_.data(), n, C_, xr + o);
        });
        const Product inputs[] = {{key_, xk, k}, {value_, xv, v}, {receptance_, xr, r}};
        linear_group(inputs, T, pool);
        wkv4(segs.data(), int64_t(segs.size()), Ca_, k, v, decay_.data(), first_.data(), y, pool);
        for_rows(pool, T, Ca_, [&](int64_t t0, int64_t t1) { // v4 alone gates the time mix with σ(r)
            for (int64_t i = t0 * Ca_; i < t1 * Ca_; ++i) y[i] *= sigmoid(r[i]);
        });
        linear(output_, y, T, out, pool);
    }

private:
    int64_t C_, Ca_;
    std::vector<float> mix_k_, mix_v_, mix_r_, decay_, first_;
    Matrix key_, value_, receptance_, output_;
};

} // namespace

std::unique_ptr<ArchModel> build_rwkv4(const TensorFile &file, const LoadConfig &config) {
    WeightLoader w(file, config, Arch::rwkv4);
    HParams hp = common_hparams(file, Arch::rwkv4);
    hp.n_head = hp.dim_att; // one "head" per channel
    hp.head_size = 1;
    return build_classic(w, hp, [&](WeightLoader &lw, const std::string &p) { return std::make_unique<TimeMix4>(lw, p, hp); });
}

} // namespace rwkvrt
