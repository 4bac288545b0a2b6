// Compiled once per SIMD target (Highway's foreach_target) for wkv7; the best one the CPU runs is called.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/wkv.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include <algorithm>
#include <cmath>

#include "hwy/highway.h"
#include "kernels/wkv.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One head's RWKV-7 step for each token: per state row i (a value), two dot products over the keys
// with a row update in between, vectorised over the keys.
void Wkv7(int64_t T, int64_t H, int64_t N, const float *r, const float *w, const float *k, const float *v,
          const float *a, const float *b, float *S, float *y, int n_threads) {
    const hn::ScalableTag<float> df;
    using V = hn::Vec<decltype(df)>;
    const int64_t L = int64_t(hn::Lanes(df));
    const int64_t C = H * N;
    // One token's step (about 10 flops per state element) is not worth waking threads for. Heads are
    // handed out dynamically: on a shared machine the threads that run take more of them.
    const int threads = H > 1 && T * H * N * N >= (int64_t(1) << 18) ? n_threads : 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic)
    for (int64_t h = 0; h < H; ++h) {
        float *Sh = S + h * N * N;
        for (int64_t t = 0; t < T; ++t) {
            const int64_t o = t * C + h * N;
            const float *rt = r + o, *wt = w + o, *kt = k + o, *vt = v + o, *at = a + o, *bt = b + o;
            for (int64_t i = 0; i < N; ++i) {
                float *row = Sh + i * N;
                V s0 = hn::Zero(df), s1 = hn::Zero(df);
                int64_t j = 0;
                for (; j + 2 * L <= N; j += 2 * L) {
                    s0 = hn::MulAdd(hn::LoadU(df, at + j), hn::LoadU(df, row + j), s0);
                    s1 = hn::MulAdd(hn::LoadU(df, at + j + L), hn::LoadU(df, row + j + L), s1);
                }
                for (; j + L <= N; j += L) s0 = hn::MulAdd(hn::LoadU(df, at + j), hn::LoadU(df, row + j), s0);
                float sa = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
                for (; j < N; ++j) sa += at[j] * row[j];

                const V vsa = hn::Set(df, sa), vi = hn::Set(df, vt[i]);
                V acc = hn::Zero(df);
                for (j = 0; j + L <= N; j += L) {
                    V s = hn::MulAdd(hn::LoadU(df, row + j), hn::LoadU(df, wt + j), hn::Mul(vsa, hn::LoadU(df, bt + j)));
                    s = hn::MulAdd(vi, hn::LoadU(df, kt + j), s);
                    hn::StoreU(s, df, row + j);
                    acc = hn::MulAdd(s, hn::LoadU(df, rt + j), acc);
                }
                float out = hn::GetLane(hn::SumOfLanes(df, acc));
                for (; j < N; ++j) {
                    const float s = row[j] * wt[j] + sa * bt[j] + vt[i] * kt[j];
                    row[j] = s;
                    out += s * rt[j];
                }
                y[o + i] = out;
            }
        }
    }
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

void wkv4(int64_t T, int64_t C, const float *k, const float *v, const float *w, const float *u, float *aa,
          float *bb, float *pp, float *y) {
    for (int64_t t = 0; t < T; ++t) {
        const float *kt = k + t * C, *vt = v + t * C;
        float *yt = y + t * C;
        for (int64_t c = 0; c < C; ++c) {
            float ww = u[c] + kt[c];
            float q = std::max(pp[c], ww);
            float e1 = std::exp(pp[c] - q), e2 = std::exp(ww - q);
            yt[c] = (e1 * aa[c] + e2 * vt[c]) / (e1 * bb[c] + e2);
            ww = pp[c] + w[c];
            q = std::max(ww, kt[c]);
            e1 = std::exp(ww - q);
            e2 = std::exp(kt[c] - q);
            aa[c] = e1 * aa[c] + e2 * vt[c];
            bb[c] = e1 * bb[c] + e2;
            pp[c] = q;
        }
    }
}

void wkv5(int64_t T, int64_t H, int64_t N, const float *r, const float *k, const float *v, const float *w,
          int64_t w_stride, const float *u, float *S, float *y, int n_threads) {
    const int64_t C = H * N;
#pragma omp parallel for num_threads(H > 1 ? n_threads : 1) schedule(static)
    for (int64_t h = 0; h < H; ++h) {
        float *Sh = S + h * N * N;
        for (int64_t t = 0; t < T; ++t) {
            const int64_t o = t * C + h * N;
            const float *rt = r + o, *kt = k + o, *vt = v + o, *wt = w + t * w_stride + h * N, *uh = u + h * N;
            float *yt = y + o;
            for (int64_t j = 0; j < N; ++j) yt[j] = 0;
            for (int64_t i = 0; i < N; ++i) {
                const float ki = kt[i], ri = rt[i], ui = uh[i], wi = wt[i];
                float *row = Sh + i * N;
                for (int64_t j = 0; j < N; ++j) {
                    const float kv = ki * vt[j];
                    yt[j] += ri * (ui * kv + row[j]);
                    row[j] = row[j] * wi + kv;
                }
            }
        }
    }
}

HWY_EXPORT(Wkv7);

void wkv7(int64_t T, int64_t H, int64_t N, const float *r, const float *w, const float *k, const float *v,
          const float *a, const float *b, float *S, float *y, int n_threads) {
    HWY_DYNAMIC_DISPATCH(Wkv7)(T, H, N, r, w, k, v, a, b, S, y, n_threads);
}

} // namespace rwkvrt
#endif
