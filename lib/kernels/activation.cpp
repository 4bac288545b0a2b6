// Compiled once per SIMD target (Highway's foreach_target); the best one the CPU runs is called.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/activation.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/activation.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;

HWY_INLINE V Sigmoid(D d, V x) { return hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), hn::Exp(d, hn::Neg(x)))); }

// Calls f(d, offset, ptrs…) over [0, n) a vector at a time; the last, partial vector works on
// zero-padded copies of its inputs and writes back only its n mod lanes outputs.
template <size_t kIn, size_t kOut, class F>
HWY_INLINE void ForEachVector(size_t n, const float *const (&in)[kIn], float *const (&out)[kOut], F f) {
    const D d;
    const size_t L = hn::Lanes(d);
    size_t i = 0;
    for (; i + L <= n; i += L) {
        V vin[kIn], vout[kOut];
        for (size_t j = 0; j < kIn; ++j) vin[j] = hn::LoadU(d, in[j] + i);
        f(d, vin, vout);
        for (size_t j = 0; j < kOut; ++j) hn::StoreU(vout[j], d, out[j] + i);
    }
    if (i == n) return;
    HWY_ALIGN float buf[kIn + kOut][64]; // 64 lanes: more than any x86 vector holds
    const size_t rest = n - i;
    V vin[kIn], vout[kOut];
    for (size_t j = 0; j < kIn; ++j) {
        std::fill_n(buf[j], L, 0.0f);
        std::memcpy(buf[j], in[j] + i, rest * sizeof(float));
        vin[j] = hn::Load(d, buf[j]);
    }
    f(d, vin, vout);
    for (size_t j = 0; j < kOut; ++j) {
        hn::Store(vout[j], d, buf[kIn + j]);
        std::memcpy(out[j] + i, buf[kIn + j], rest * sizeof(float));
    }
}

void TanhInplace(float *x, size_t n) {
    ForEachVector<1, 1>(n, {x}, {x}, [](D d, const V *in, V *out) { out[0] = hn::Tanh(d, in[0]); });
}

void SigmoidInplace(float *x, size_t n) {
    ForEachVector<1, 1>(n, {x}, {x}, [](D d, const V *in, V *out) { out[0] = Sigmoid(d, in[0]); });
}

void ReluSquareInplace(float *x, size_t n) {
    ForEachVector<1, 1>(n, {x}, {x}, [](D d, const V *in, V *out) {
        const V z = hn::IfThenZeroElse(hn::Lt(in[0], hn::Zero(d)), in[0]);
        out[0] = hn::Mul(z, z);
    });
}

void LerpRows(const float *A, const float *P, size_t R, size_t C, const float *const *mu, float *const *out,
              size_t n_out) {
    for (size_t r = 0; r < R; ++r) // row by row: its A and P stay in L1 for all the outputs
        for (size_t m = 0; m < n_out; ++m)
            ForEachVector<3, 1>(C, {A + r * C, P + r * C, mu[m]}, {out[m] + r * C}, [](D, const V *in, V *o) {
                o[0] = hn::MulAdd(hn::Sub(in[1], in[0]), in[2], in[0]);
            });
}

void Rwkv7Gates(size_t R, size_t C, float *w, float *a, float *k, float *kk, float *v, const float *v_first,
                const float *vres, const float *w0, const float *a0, const float *k_k, const float *k_a, const float *v0) {
    for (size_t r = 0; r < R; ++r) {
        const size_t o = r * C;
        ForEachVector<4, 2>(C, {w + o, w0, a + o, a0}, {w + o, a + o}, [](D d, const V *in, V *out) {
            out[0] = hn::Exp(d, hn::Mul(hn::Set(d, -0.606531f), Sigmoid(d, hn::Add(in[1], in[0]))));
            out[1] = Sigmoid(d, hn::Add(in[3], in[2]));
        });
        ForEachVector<4, 2>(C, {k + o, k_k, a + o, k_a}, {kk + o, k + o}, [](D d, const V *in, V *out) {
            const V one = hn::Set(d, 1.0f);
            out[0] = hn::Mul(in[0], in[1]);
            out[1] = hn::Mul(in[0], hn::MulAdd(hn::Sub(in[2], one), in[3], one));
        });
        if (v_first)
            ForEachVector<4, 1>(C, {v + o, v_first + o, vres + o, v0}, {v + o}, [](D d, const V *in, V *out) {
                out[0] = hn::MulAdd(hn::Sub(in[1], in[0]), Sigmoid(d, hn::Add(in[3], in[2])), in[0]);
            });
    }
}

// The sum of x ⊙ y (⊙ z) over one head's n channels: vectors when they cover the head, else one at a time.
HWY_INLINE float HeadDot(const float *x, const float *y, const float *z, size_t n) {
    const D d;
    const size_t L = hn::Lanes(d);
    if (n % L != 0) {
        float sum = 0;
        for (size_t j = 0; j < n; ++j) sum += x[j] * y[j] * (z ? z[j] : 1.0f);
        return sum;
    }
    V acc = hn::Zero(d);
    for (size_t j = 0; j < n; j += L) {
        const V xy = hn::Mul(hn::LoadU(d, x + j), hn::LoadU(d, y + j));
        acc = z ? hn::MulAdd(xy, hn::LoadU(d, z + j), acc) : hn::Add(acc, xy);
    }
    return hn::GetLane(hn::SumOfLanes(d, acc));
}

void Rwkv7KeyTerms(size_t R, size_t C, size_t N, const float *kk, const float *a, float *ka, float *kb) {
    for (size_t o = 0; o < R * C; o += N) {
        const float inv = 1.0f / std::max(std::sqrt(HeadDot(kk + o, kk + o, nullptr, N)), 1e-12f);
        ForEachVector<2, 2>(N, {kk + o, a + o}, {ka + o, kb + o}, [inv](D d, const V *in, V *out) {
            const V unit = hn::Mul(in[0], hn::Set(d, inv));
            out[0] = hn::Neg(unit);
            out[1] = hn::Mul(unit, in[1]);
        });
    }
}

void Rwkv7Bonus(size_t R, size_t C, size_t N, const float *r, const float *k, const float *r_k, const float *v, const float *g,
                float *y) {
    for (size_t o = 0; o < R * C; o += N) {
        const float bonus = HeadDot(r + o, k + o, r_k + o % C, N);
        ForEachVector<3, 1>(N, {y + o, v + o, g + o}, {y + o}, [bonus](D d, const V *in, V *out) {
            out[0] = hn::Mul(hn::MulAdd(hn::Set(d, bonus), in[1], in[0]), in[2]);
        });
    }
}

void Rwkv6Mix(size_t R, size_t C, const float *A, const float *P, const float *mu, const float *m, float *out) {
    for (size_t r = 0; r < R; ++r) {
        const size_t o = r * C;
        ForEachVector<4, 1>(C, {A + o, P + o, mu, m + o}, {out + o}, [](D, const V *in, V *o) {
            o[0] = hn::MulAdd(hn::Sub(in[1], in[0]), hn::Add(in[2], in[3]), in[0]);
        });
    }
}

void Rwkv6Decay(size_t R, size_t C, const float *w0, float *w) {
    for (size_t r = 0; r < R; ++r)
        ForEachVector<2, 1>(C, {w + r * C, w0}, {w + r * C}, [](D d, const V *in, V *out) {
            // e^x past 88 is infinite in fp32 and its decay 0; Exp is valid to 104 only, so larger x (and
            // infinity) are taken as 88, which gives that 0. Exp is undefined for NaN (it converts to
            // int32): NaN goes in as 0 and comes out as itself.
            const V x = hn::Add(in[1], in[0]), cap = hn::Set(d, 88.0f);
            const auto nan = hn::IsNaN(x);
            const V valid = hn::IfThenZeroElse(nan, hn::IfThenElse(hn::Gt(x, cap), cap, x));
            out[0] = hn::IfThenElse(nan, x, hn::Exp(d, hn::Neg(hn::Exp(d, valid))));
        });
}

void SiluGate(float *y, const float *g, size_t n) {
    ForEachVector<2, 1>(n, {y, g}, {y}, [](D d, const V *in, V *out) { out[0] = hn::Mul(in[0], hn::Mul(in[1], Sigmoid(d, in[1]))); });
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(TanhInplace);
HWY_EXPORT(SigmoidInplace);
HWY_EXPORT(ReluSquareInplace);
HWY_EXPORT(LerpRows);
HWY_EXPORT(Rwkv7Gates);
HWY_EXPORT(Rwkv7KeyTerms);
HWY_EXPORT(Rwkv7Bonus);
HWY_EXPORT(Rwkv6Mix);
HWY_EXPORT(Rwkv6Decay);
HWY_EXPORT(SiluGate);

void tanh_inplace(float *x, size_t n) { HWY_DYNAMIC_DISPATCH(TanhInplace)(x, n); }
void sigmoid_inplace(float *x, size_t n) { HWY_DYNAMIC_DISPATCH(SigmoidInplace)(x, n); }
void relu_square_inplace(float *x, size_t n) { HWY_DYNAMIC_DISPATCH(ReluSquareInplace)(x, n); }
void lerp_rows(const float *A, const float *P, size_t R, size_t C, const float *const *mu, float *const *out,
               size_t n_out) {
    HWY_DYNAMIC_DISPATCH(LerpRows)(A, P, R, C, mu, out, n_out);
}

void rwkv7_gates(size_t R, size_t C, float *w, float *a, float *k, float *kk, float *v, const float *v_first,
                 const float *vres, const float *w0, const float *a0, const float *k_k, const float *k_a,
                 const float *v0) {
    HWY_DYNAMIC_DISPATCH(Rwkv7Gates)(R, C, w, a, k, kk, v, v_first, vres, w0, a0, k_k, k_a, v0);
}

void rwkv7_key_terms(size_t R, size_t C, size_t N, const float *kk, const float *a, float *ka, float *kb) {
    HWY_DYNAMIC_DISPATCH(Rwkv7KeyTerms)(R, C, N, kk, a, ka, kb);
}

void rwkv7_bonus(size_t R, size_t C, size_t N, const float *r, const float *k, const float *r_k, const float *v, const float *g,
                 float *y) {
    HWY_DYNAMIC_DISPATCH(Rwkv7Bonus)(R, C, N, r, k, r_k, v, g, y);
}

void rwkv6_mix(size_t R, size_t C, const float *A, const float *P, const float *mu, const float *m, float *out) {
    HWY_DYNAMIC_DISPATCH(Rwkv6Mix)(R, C, A, P, mu, m, out);
}

void rwkv6_decay(size_t R, size_t C, const float *w0, float *w) { HWY_DYNAMIC_DISPATCH(Rwkv6Decay)(R, C, w0, w); }

void silu_gate(float *y, const float *g, size_t n) { HWY_DYNAMIC_DISPATCH(SiluGate)(y, g, n); }

} // namespace rwkvrt
#endif
