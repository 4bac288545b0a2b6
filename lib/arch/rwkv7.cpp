// RWKV-7 "Goose" (spec §2.5, §4.5). One code path for any T: matrix products over all tokens,
// then the recurrence token by token (kernels/wkv.cpp).
#include <algorithm>
#include <cmath>
#include <iterator>

#include "arch/blocks.h"
#include "core/error.h"
#include "exec/thread_pool.h"
#include "kernels/activation.h"
#include "kernels/norm.h"
#include "kernels/wkv.h"

namespace rwkvrt {

namespace {

struct Layer {
    Norm ln1, ln2, ln_x;
    std::vector<float> x_r, x_w, x_k, x_v, x_a, x_g; // token-shift mixes (weight of the previous token)
    std::vector<float> w0, a0, v0, k_k, k_a, r_k;
    Matrix w1, w2, a1, a2, v1, v2, g1, g2; // low-rank paths, as (out, in)
    Matrix receptance, key, value, output;
    std::vector<float> ffn_x_k;
    Matrix ffn_key, ffn_value;
};

// A lone conversation's decoding step runs each head from the LoRA paths' second halves to the
// recurrence's output as one task, gates(rows, channels, offset) before the recurrence and output(…)
// after it: one hand-off to the pool where the stages took four, and the gates and norms,
// which ran on the calling thread alone, on every thread. Each task computes its head's rows of the
// products with the kernels linear() runs for them, so the bits are the stages'. Returns false, having
// done nothing, for any other step.
template <class Gates, class Output>
bool run_heads_whole(std::span<const Product> lora_outputs, const std::vector<WkvSegment> &segs, int64_t H, int64_t N,
                     const Gates &gates, const Output &output, const float *r, const float *w, const float *k,
                     const float *v, const float *ka, const float *kb, float *y, ThreadPool &pool) {
    MatVecJob jobs[4]; // the four LoRA paths' second halves
    if (segs.size() != 1 || segs[0].T != 1 || !matvec_route(1) || lora_outputs.size() > std::size(jobs)) return false;
    size_t bytes = size_t(H * N * N) * sizeof(float); // the state, read and written
    for (size_t i = 0; i < lora_outputs.size(); ++i) {
        const Product &p = lora_outputs[i];
        jobs[i] = matvec_job(p.W, p.X, p.Y, pool, i);
        if (!jobs[i].covers(0, N)) return false; // a head's rows are whole units
        bytes += size_t(jobs[i].units()) * jobs[i].unit_bytes();
    }
    pool.run_stretches(H, 1, bytes < kMatVecOneThreadBytes ? 1 : pool.size(), [&](int64_t h0, int64_t h1, int) {
        for (int64_t h = h0; h < h1; ++h) {
            const size_t o = size_t(h * N);
            for (size_t i = 0; i < lora_outputs.size(); ++i) jobs[i].output_rows(h * N, (h + 1) * N);
            gates(1, size_t(N), o);
            wkv7_head(segs[0], h, H, N, r, w, k, v, ka, kb, y);
            output(1, size_t(N), o);
        }
    });
    return true;
}

class Rwkv7 final : public ArchModel {
public:
    Rwkv7(const HParams &hp, Ends ends, std::vector<Layer> layers, int64_t lora_ranks)
        : ArchModel(hp), ends_(std::move(ends)), layers_(std::move(layers)), lora_ranks_(lora_ranks) {}

    DType weight_dtype() const override { return layers_[0].key.dtype; }

    void forward(const Step &step, ExecContext &ctx) const override {
        const HParams &hp = hparams();
        const int64_t C = hp.n_embd, H = hp.n_head, N = hp.head_size, T = step.rows;
        const size_t TC = size_t(T * C);
        ThreadPool &pool = ctx.pool;
        Scratch s(ctx.activations, 21 * TC + size_t(T * std::max(hp.dim_ffn, lora_ranks_)) + Ends::logits_floats(step, hp));
        float *X = s.take(TC), *A = s.take(TC), *P = s.take(TC);
        float *xr = s.take(TC), *xw = s.take(TC), *xk = s.take(TC), *xv = s.take(TC), *xa = s.take(TC), *xg = s.take(TC);
        float *r = s.take(TC), *k = s.take(TC), *v = s.take(TC), *w = s.take(TC), *aa = s.take(TC), *g = s.take(TC);
        float *kk = s.take(TC), *v_first = s.take(TC), *y = s.take(TC), *out = s.take(TC), *ka = s.take(TC), *kb = s.take(TC);
        float *wide = s.take(size_t(T * std::max(hp.dim_ffn, lora_ranks_)));

        const StepTail tail(step);
        ends_.embed(step.tokens, T, X);
        for (int64_t l = 0; l < hp.n_layer; ++l) {
            ctx.checkpoint();
            const Layer &L = layers_[size_t(l)];

            // Time mix.
            for_rows(pool, T, C, [&](int64_t t0, int64_t t1) { L.ln1.layer_norm(X + t0 * C, A + t0 * C, t1 - t0); });
            token_shift(step, l, false, A, P, pool);
            for_rows(pool, T, 6 * C, [&](int64_t t0, int64_t t1) {
                const size_t o = size_t(t0 * C);
                const float *const mu[] = {L.x_r.data(), L.x_w.data(), L.x_k.data(), L.x_v.data(), L.x_a.data(), L.x_g.data()};
                float *const out[] = {xr + o, xw + o, xk + o, xv + o, xa + o, xg + o};
                lerp_rows(A + o, P + o, size_t(t1 - t0), size_t(C), mu, out, 6);
            });
            // The products of the mixed inputs, then the LoRA paths' second halves: two groups, so that
            // a decoding step hands off to the pool twice here instead of eleven times.
            float *const mid_w = wide, *const mid_a = mid_w + T * L.w1.rows, *const mid_g = mid_a + T * L.a1.rows;
            float *const mid_v = mid_g + T * L.g1.rows;
            const Product inputs[] = {{L.receptance, xr, r}, {L.key, xk, k}, {L.value, xv, v}, {L.w1, xw, mid_w},
                                      {L.a1, xa, mid_a}, {L.g1, xg, mid_g}, {L.v1, xv, mid_v}};
            const Product lora_outputs[] = {{L.w2, mid_w, w}, {L.a2, mid_a, aa}, {L.g2, mid_g, g}, {L.v2, mid_v, out}};
            const size_t value_lora = l > 0; // layer 0 has none: its values are the others' v_first
            linear_group({inputs, 6 + value_lora}, T, pool);
            tanh_inplace(mid_w, size_t(T * L.w1.rows));
            sigmoid_inplace(mid_g, size_t(T * L.g1.rows));

            // From the LoRA paths' second halves to the recurrence's output, every stage works head by
            // head: on `rows` rows of n channels (whole heads) from the activations' float o.
            const auto gates = [&](size_t rows, size_t n, size_t o) {
                const size_t param = o % size_t(C);
                rwkv7_gates(rows, n, w + o, aa + o, k + o, kk + o, v + o, l > 0 ? v_first + o : nullptr, out + o,
                            L.w0.data() + param, L.a0.data() + param, L.k_k.data() + param, L.k_a.data() + param,
                            l > 0 ? L.v0.data() + param : nullptr);
                if (l == 0)
                    for (size_t t = 0; t < rows; ++t) std::copy_n(v + o + t * size_t(C), n, v_first + o + t * size_t(C));
                rwkv7_key_terms(rows, n, size_t(N), kk + o, aa + o, ka + o, kb + o);
            };
            const auto output = [&](size_t rows, size_t n, size_t o) {
                const size_t param = o % size_t(C);
                group_norm(y + o, y + o, int64_t(rows), int64_t(n), N, L.ln_x.weight.data() + param, L.ln_x.bias.data() + param,
                           kGroupNormEps);
                rwkv7_bonus(rows, n, size_t(N), r + o, k + o, L.r_k.data() + param, v + o, g + o, y + o);
            };
            const std::vector<WkvSegment> segs = segments(step, l);
            if (!run_heads_whole({lora_outputs, 3 + value_lora}, segs, H, N, gates, output, r, w, k, v, ka, kb, y, pool)) {
                linear_group({lora_outputs, 3 + value_lora}, T, pool);
                for_rows(pool, T, 8 * C, [&](int64_t t0, int64_t t1) { gates(size_t(t1 - t0), size_t(C), size_t(t0 * C)); });
                wkv7(segs.data(), int64_t(segs.size()), H, N, r, w, k, v, ka, kb, y, pool);
                for_rows(pool, T, 4 * C, [&](int64_t t0, int64_t t1) { output(size_t(t1 - t0), size_t(C), size_t(t0 * C)); });
            }
            // The last layer goes on with the rows the step's outputs need (StepTail), routed as the
            // whole step's products so that they keep its bits.
            const Step &rest = tail.rest_of_layer(step, l + 1 == hp.n_layer, {y, X}, C);
            const int64_t R = rest.rows;
            const StepRowsScope routed_as_step(T);
            linear(L.output, y, R, out, pool);

            // Channel mix.
            for_rows(pool, R, 2 * C, [&](int64_t t0, int64_t t1) {
                for (int64_t i = t0 * C; i < t1 * C; ++i) X[i] += out[i];
                L.ln2.layer_norm(X + t0 * C, A + t0 * C, t1 - t0);
            });
            token_shift(rest, l, true, A, P, pool);
            for_rows(pool, R, C, [&](int64_t t0, int64_t t1) {
                const float *mu = L.ffn_x_k.data();
                float *out = xk + t0 * C;
                lerp_rows(A + t0 * C, P + t0 * C, size_t(t1 - t0), size_t(C), &mu, &out, 1);
            });
            linear(L.ffn_key, xk, R, wide, pool);
            for_rows(pool, R, hp.dim_ffn, [&](int64_t t0, int64_t t1) {
                relu_square_inplace(wide + t0 * hp.dim_ffn, size_t((t1 - t0) * hp.dim_ffn));
            });
            linear(L.ffn_value, wide, R, out, pool);
            for_rows(pool, R, C, [&](int64_t t0, int64_t t1) {
                for (int64_t i = t0 * C; i < t1 * C; ++i) X[i] += out[i];
            });
        }
        ends_.logits(tail.step, X, s, pool);
    }

private:
    Ends ends_;
    std::vector<Layer> layers_;
    int64_t lora_ranks_; // their sum: a row of the LoRA paths' intermediates
};

int64_t rank_of(const WeightLoader &w, const std::string &name) {
    const TensorView &t = w.get(name);
    if (t.shape.size() != 2) fail(RWKVRT_ERR_FORMAT, "'", w.path(), "': tensor '", name, "' has shape ", t.shape_str(), ", expected a matrix");
    return t.shape[1];
}

} // namespace

std::unique_ptr<ArchModel> build_rwkv7(const TensorFile &file, const LoadConfig &config) {
    WeightLoader w(file, config, Arch::rwkv7);
    HParams hp = common_hparams(file, Arch::rwkv7);
    const int64_t C = hp.n_embd;
    const TensorView &r_k = w.get("blocks.0.att.r_k");
    if (r_k.shape.size() != 2 || r_k.shape[0] * r_k.shape[1] != C)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'blocks.0.att.r_k' has shape ", r_k.shape_str(),
             ", expected (n_head, head_size) with n_head·head_size = n_embd = ", C);
    hp.n_head = r_k.shape[0];
    hp.head_size = r_k.shape[1];
    if (hp.dim_att != C)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': 'blocks.0.att.key.weight' has ", hp.dim_att, " rows; RWKV-7 needs dim_att = n_embd = ", C);
    const int64_t Dw = rank_of(w, "blocks.0.att.w1"), Da = rank_of(w, "blocks.0.att.a1"),
                  Dg = rank_of(w, "blocks.0.att.g1");
    const int64_t Dv = hp.n_layer > 1 ? rank_of(w, "blocks.1.att.v1") : 0;

    Ends ends;
    ends.load(w, hp);
    std::vector<Layer> layers(size_t(hp.n_layer));
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        Layer &L = layers[size_t(i)];
        const std::string p = "blocks." + std::to_string(i) + ".";
        L.ln1.load(w, p + "ln1", C);
        L.ln2.load(w, p + "ln2", C);
        L.ln_x.load(w, p + "att.ln_x", C);
        L.x_r = w.vec(p + "att.x_r", {1, 1, C});
        L.x_w = w.vec(p + "att.x_w", {1, 1, C});
        L.x_k = w.vec(p + "att.x_k", {1, 1, C});
        L.x_v = w.vec(p + "att.x_v", {1, 1, C});
        L.x_a = w.vec(p + "att.x_a", {1, 1, C});
        L.x_g = w.vec(p + "att.x_g", {1, 1, C});
        L.w0 = w.vec(p + "att.w0", {1, 1, C});
        L.a0 = w.vec(p + "att.a0", {1, 1, C});
        L.k_k = w.vec(p + "att.k_k", {1, 1, C});
        L.k_a = w.vec(p + "att.k_a", {1, 1, C});
        L.r_k = w.vec(p + "att.r_k", {hp.n_head, hp.head_size});
        L.w1 = w.lora(p + "att.w1", C, Dw);
        L.w2 = w.lora(p + "att.w2", Dw, C);
        L.a1 = w.lora(p + "att.a1", C, Da);
        L.a2 = w.lora(p + "att.a2", Da, C);
        L.g1 = w.lora(p + "att.g1", C, Dg);
        L.g2 = w.lora(p + "att.g2", Dg, C);
        if (i > 0) {
            L.v0 = w.vec(p + "att.v0", {1, 1, C});
            L.v1 = w.lora(p + "att.v1", C, Dv);
            L.v2 = w.lora(p + "att.v2", Dv, C);
        } else { // layer 0's value-residual parameters are unused; some releases ship dummies
            for (const char *name : {"att.v0", "att.v1", "att.v2"}) w.accept_unused(p + name);
        }
        L.receptance = w.linear(p + "att.receptance.weight", C, C);
        L.key = w.linear(p + "att.key.weight", C, C);
        L.value = w.linear(p + "att.value.weight", C, C);
        L.output = w.linear(p + "att.output.weight", C, C);
        L.ffn_x_k = w.vec(p + "ffn.x_k", {1, 1, C});
        L.ffn_key = w.linear(p + "ffn.key.weight", hp.dim_ffn, C);
        L.ffn_value = w.linear(p + "ffn.value.weight", C, hp.dim_ffn);
    }
    w.finish();
    WorkPerToken work = w.work();
    work.head_flops = product_flops({&ends.head});
    const Layer &last = layers.back();
    work.tail_flops = product_flops({&last.output, &last.ffn_key, &last.ffn_value});
    auto model = std::make_unique<Rwkv7>(hp, std::move(ends), std::move(layers), Dw + Da + Dg + Dv);
    model->set_work_per_token(work);
    return model;
}

} // namespace rwkvrt
