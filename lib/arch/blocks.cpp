#include "arch/blocks.h"

#include <algorithm>

#include "core/error.h"
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

void Ends::embed(const int32_t *tokens, int64_t T, float *X) const {
    gather_rows(emb, tokens, T, X);
    ln0.layer_norm(X, X, T);
}

void Ends::logits(const float *x_last, float *out, int n_threads) const {
    std::vector<float> x(size_t(emb.cols));
    ln_out.layer_norm(x_last, x.data(), 1);
    linear(head, x.data(), 1, out, n_threads);
}

void token_shift(const float *A, int64_t T, int64_t C, float *x_prev, float *P) {
    std::copy(x_prev, x_prev + C, P);
    std::copy(A, A + (T - 1) * C, P + C);
    std::copy(A + (T - 1) * C, A + T * C, x_prev);
}

} // namespace rwkvrt
