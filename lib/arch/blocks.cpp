#include "arch/blocks.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/activation.h"
#include "kernels/norm.h"

namespace rwkvrt {

void Norm::load(WeightLoader &w, const std::string &prefix, int64_t n) {
    weight = w.vec(prefix + ".weight", {n});
    bias = w.vec(prefix + ".bias", {n});
}

void Norm::layer_norm(const float *x, float *y, int64_t T) const {
    rwkvrt::layer_norm(x, y, T, int64_t(weight.size()), weight.data(), bias.data(), kLayerNormEps);
}

void Ends::load(WeightLoader &w, const HParams &hp) {
    emb = w.table("emb.weight", hp.n_vocab, hp.n_embd);
    ln0.load(w, "blocks.0.ln0", hp.n_embd);
    ln_out.load(w, "ln_out", hp.n_embd);
    head = w.linear("head.weight", hp.n_vocab, hp.n_embd);
}

double product_flops(std::initializer_list<const Matrix *> matrices) {
    double flops = 0;
    for (const Matrix *m : matrices) flops += 2.0 * double(m->rows) * double(m->cols);
    return flops;
}

void Ends::embed(const int32_t *tokens, int64_t T, float *X) const {
    gather_rows(emb, tokens, T, X);
    ln0.layer_norm(X, X, T);
}

size_t Ends::logits_floats(const Step &step, const HParams &hp) {
    size_t rows = 0;
    for (const StepSeq &q : step.seqs) rows += size_t(q.logit_rows());
    return rows * size_t(hp.n_embd + hp.n_vocab);
}

void Ends::logits(const Step &step, const float *X, Scratch &s, ThreadPool &pool) const {
    const int64_t C = emb.cols, V = head.rows;
    std::vector<const StepSeq *> wanted;
    int64_t K = 0;
    for (const StepSeq &q : step.seqs)
        if (q.logits) {
            wanted.push_back(&q);
            K += q.logit_rows();
        }
    if (wanted.empty()) return;
    float *x = s.take(size_t(K * C));
    int64_t k = 0;
    for (const StepSeq *q : wanted) {
        const int64_t n = q->logit_rows();
        ln_out.layer_norm(X + (q->row0 + q->T - n) * C, x + k * C, n);
        k += n;
    }
    if (wanted.size() == 1) { // straight into the caller's buffer
        linear(head, x, K, wanted[0]->logits, pool);
        return;
    }
    float *out = s.take(size_t(K * V));
    linear(head, x, K, out, pool);
    k = 0;
    for (const StepSeq *q : wanted) {
        std::copy_n(out + k * V, q->logit_rows() * V, q->logits);
        k += q->logit_rows();
    }
}

StepTail::StepTail(const Step &whole) {
    step.tokens = nullptr; // the tail starts after the embedding
    step.seqs.reserve(whole.seqs.size());
    for (const StepSeq &q : whole.seqs) {
        const int64_t n = rows_of(q.T, q.logit_rows());
        StepSeq packed = q;
        packed.row0 = int64_t(from.size());
        packed.T = n;
        step.seqs.push_back(packed);
        for (int64_t t = q.row0 + q.T - n; t < q.row0 + q.T; ++t) from.push_back(t);
    }
    step.rows = int64_t(from.size());
}

const Step &StepTail::rest_of_layer(const Step &whole, bool last_layer, std::initializer_list<float *> matrices, int64_t C) const {
    if (!last_layer) return whole;
    for (float *M : matrices)
        for (size_t i = 0; i < from.size(); ++i)
            if (from[i] != int64_t(i)) std::memmove(M + int64_t(i) * C, M + from[i] * C, size_t(C) * sizeof(float));
    return step;
}

std::vector<float> load_mix(WeightLoader &w, const std::string &name, int64_t C, bool weights_current) {
    std::vector<float> mu = w.vec(name, {1, 1, C});
    if (weights_current)
        for (float &m : mu) m = 1.0f - m;
    return mu;
}

// Scalar on purpose: with lerp_rows (one fused multiply-add per element) the tiny RWKV-5.2's logits
// fed in a batch moved 1.4e-5 from fed alone, past the 1e-5 that rwkvrt_feed_batch promises.
void mix(const float *A, const float *P, const float *mu, int64_t T, int64_t C, float *out) {
    for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) {
            const int64_t i = t * C + c;
            out[i] = A[i] + (P[i] - A[i]) * mu[c];
        }
}

void ChannelMix::load(WeightLoader &w, const std::string &prefix, const HParams &hp) {
    const bool v6 = hp.arch == Arch::rwkv6; // v6 renamed time_mix_* to time_maa_* and flipped its meaning
    const std::string mix_name = prefix + (v6 ? "time_maa_" : "time_mix_");
    mix_k = load_mix(w, mix_name + "k", hp.n_embd, !v6);
    mix_r = load_mix(w, mix_name + "r", hp.n_embd, !v6);
    key = w.linear(prefix + "key.weight", hp.dim_ffn, hp.n_embd);
    receptance = w.linear(prefix + "receptance.weight", hp.n_embd, hp.n_embd);
    value = w.linear(prefix + "value.weight", hp.n_embd, hp.dim_ffn);
}

size_t ChannelMix::scratch_floats(const HParams &hp, int64_t T) { return size_t(T * (3 * hp.n_embd + hp.dim_ffn)); }

void ChannelMix::forward(const float *A, const float *P, int64_t T, float *out, Scratch &s, ThreadPool &pool) const {
    const int64_t C = receptance.rows, F = key.rows;
    float *xk = s.take(size_t(T * C)), *xr = s.take(size_t(T * C)), *r = s.take(size_t(T * C));
    float *hidden = s.take(size_t(T * F));
    for_rows(pool, T, 2 * C, [&](int64_t t0, int64_t t1) {
        mix(A + t0 * C, P + t0 * C, mix_k.data(), t1 - t0, C, xk + t0 * C);
        mix(A + t0 * C, P + t0 * C, mix_r.data(), t1 - t0, C, xr + t0 * C);
    });
    const Product inputs[] = {{key, xk, hidden}, {receptance, xr, r}};
    linear_group(inputs, T, pool);
    for_rows(pool, T, F, [&](int64_t t0, int64_t t1) { relu_square_inplace(hidden + t0 * F, size_t((t1 - t0) * F)); });
    linear(value, hidden, T, out, pool);
    for_rows(pool, T, C, [&](int64_t t0, int64_t t1) {
        for (int64_t i = t0 * C; i < t1 * C; ++i) out[i] *= sigmoid(r[i]);
    });
}

namespace {

struct ClassicLayer {
    Norm ln1, ln2;
    std::unique_ptr<TimeMix> att;
    ChannelMix ffn;
};

class ClassicModel final : public ArchModel {
public:
    ClassicModel(const HParams &hp, Ends ends, std::vector<ClassicLayer> layers)
        : ArchModel(hp), ends_(std::move(ends)), layers_(std::move(layers)) {}

    DType weight_dtype() const override { return layers_[0].ffn.key.dtype; }

    void forward(const Step &step, ExecContext &ctx) const override {
        const HParams &hp = hparams();
        const int64_t C = hp.n_embd, T = step.rows;
        const size_t TC = size_t(T * C);
        const size_t work_floats = std::max({layers_[0].att->scratch_floats(T), ChannelMix::scratch_floats(hp, T),
                                             Ends::logits_floats(step, hp)});
        Scratch s(ctx.activations, 4 * TC + work_floats);
        float *X = s.take(TC), *A = s.take(TC), *P = s.take(TC), *out = s.take(TC);
        const size_t work = s.mark();

        const StepTail tail(step);
        ends_.embed(step.tokens, T, X);
        for (int64_t l = 0; l < hp.n_layer; ++l) {
            ctx.checkpoint();
            const ClassicLayer &L = layers_[size_t(l)];

            ThreadPool &pool = ctx.pool;
            for_rows(pool, T, C, [&](int64_t t0, int64_t t1) { L.ln1.layer_norm(X + t0 * C, A + t0 * C, t1 - t0); });
            token_shift(step, l, false, A, P, pool);
            L.att->forward(A, P, T, segments(step, l), out, s, pool);
            s.release(work);
            // The last layer's channel mix takes the rows the step's outputs need (StepTail), routed as
            // the whole step's products so that they keep its bits.
            const Step &rest = tail.rest_of_layer(step, l + 1 == hp.n_layer, {out, X}, C);
            const int64_t R = rest.rows;
            const StepRowsScope routed_as_step(T);
            for_rows(pool, R, 2 * C, [&](int64_t t0, int64_t t1) {
                for (int64_t i = t0 * C; i < t1 * C; ++i) X[i] += out[i];
                L.ln2.layer_norm(X + t0 * C, A + t0 * C, t1 - t0);
            });
            token_shift(rest, l, true, A, P, pool);
            L.ffn.forward(A, P, R, out, s, pool);
            s.release(work);
            // Files whose later layers' output weights were divided by 2^(l / n) (llama.cpp's rwkv6).
            const bool rescale = hp.rescale_every > 0 && (l + 1) % hp.rescale_every == 0;
            for_rows(pool, R, C, [&](int64_t t0, int64_t t1) {
                for (int64_t i = t0 * C; i < t1 * C; ++i) X[i] = rescale ? (X[i] + out[i]) * 0.5f : X[i] + out[i];
            });
        }
        ends_.logits(tail.step, X, s, ctx.pool);
    }

private:
    Ends ends_;
    std::vector<ClassicLayer> layers_;
};

} // namespace

std::unique_ptr<ArchModel> build_classic(WeightLoader &w, const HParams &hp, const TimeMixLoader &load_att) {
    Ends ends;
    ends.load(w, hp);
    std::vector<ClassicLayer> layers(size_t(hp.n_layer));
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        ClassicLayer &L = layers[size_t(i)];
        const std::string p = "blocks." + std::to_string(i) + ".";
        // State-tuned files (spec §7.5) carry the initial recurrent state, which this loader does not apply.
        if (w.has(p + "att.time_state"))
            fail(RWKVRT_ERR_UNSUPPORTED, "'", w.path(), "': tensor '", p, "att.time_state' makes this a state-tuned ",
                 arch_name(hp.arch), " checkpoint; loading its initial state is not supported");
        L.ln1.load(w, p + "ln1", hp.n_embd);
        L.ln2.load(w, p + "ln2", hp.n_embd);
        L.att = load_att(w, p + "att.");
        L.ffn.load(w, p + "ffn.", hp);
    }
    w.finish();
    WorkPerToken work = w.work();
    work.head_flops = product_flops({&ends.head});
    const ChannelMix &last = layers.back().ffn;
    work.tail_flops = product_flops({&last.key, &last.value, &last.receptance});
    auto model = std::make_unique<ClassicModel>(hp, std::move(ends), std::move(layers));
    model->set_work_per_token(work);
    return model;
}

} // namespace rwkvrt
