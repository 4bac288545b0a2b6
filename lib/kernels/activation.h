// Element-wise math of the forward passes, vectorised for the machine (Highway, chosen at run time).
// Each element's result depends only on its inputs, never on its position (a partial vector at the
// end is computed as a whole, zero-padded vector), so a sequence's rows give the same values fed
// alone or anywhere in a batch.
#pragma once

#include <cstddef>

namespace rwkvrt {

void tanh_inplace(float *x, size_t n);
void sigmoid_inplace(float *x, size_t n);     // 1 / (1 + e^−x)
void relu_square_inplace(float *x, size_t n); // max(x, 0)², NaN stays NaN (as std::max(x, 0.0f) keeps it)
void silu_gate(float *y, const float *g, size_t n); // y ← y ⊙ g ⊙ σ(g): RWKV-5.2's and 6's output gate

// Token-shift interpolation for R rows of C channels: out[m] = A + (P − A) ⊙ mu[m] for each of the
// n_out channel vectors mu[m].
void lerp_rows(const float *A, const float *P, size_t R, size_t C, const float *const *mu, float *const *out,
               size_t n_out);

// RWKV-6's data-dependent token shift for R rows of C channels (spec §4.4): out = A + (P − A) ⊙ (mu + m),
// mu the static part (C values), m the low-rank path's output (R × C).
void rwkv6_mix(size_t R, size_t C, const float *A, const float *P, const float *mu, const float *m, float *out);
// RWKV-6's decay per token and channel, in place: w ← exp(−exp(w0 + w)), w0 the static part (C values).
void rwkv6_decay(size_t R, size_t C, const float *w0, float *w);

// RWKV-7's per-channel gates for R rows of C channels (spec §4.5), in place:
//   w  ← exp(−e^{−1/2} · σ(w0 + w))             the decay
//   a  ← σ(a0 + a)                               the in-context learning rate
//   kk ← k ⊙ k_k                                  (normalised per head by the caller)
//   k  ← k ⊙ (1 + (a − 1) ⊙ k_a)
//   v  ← v + (v_first − v) ⊙ σ(v0 + vres)         when v_first is not null (layers after the first)
void rwkv7_gates(size_t R, size_t C, float *w, float *a, float *k, float *kk, float *v, const float *v_first,
                 const float *vres, const float *w0, const float *a0, const float *k_k, const float *k_a,
                 const float *v0);

// RWKV-7's key terms of the state update for R rows of C channels in heads of N: kk normalised per
// head (divided by max(‖kk‖, 1e-12), as F.normalize), then ka = −kk and kb = kk ⊙ a.
void rwkv7_key_terms(size_t R, size_t C, size_t N, const float *kk, const float *a, float *ka, float *kb);

// RWKV-7's output per head of N channels, R rows of C: y ← (y + bonus·v) ⊙ g, with the head's "bonus"
// Σ r ⊙ k ⊙ r_k (r_k: C values).
void rwkv7_bonus(size_t R, size_t C, size_t N, const float *r, const float *k, const float *r_k, const float *v, const float *g,
                 float *y);

} // namespace rwkvrt
