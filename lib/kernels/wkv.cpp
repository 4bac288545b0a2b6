#include "kernels/wkv.h"

#include <algorithm>
#include <cmath>

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

void wkv7(int64_t T, int64_t H, int64_t N, const float *r, const float *w, const float *k, const float *v,
          const float *a, const float *b, float *S, float *y, int n_threads) {
    const int64_t C = H * N;
#pragma omp parallel for num_threads(H > 1 ? n_threads : 1) schedule(static)
    for (int64_t h = 0; h < H; ++h) {
        float *Sh = S + h * N * N;
        for (int64_t t = 0; t < T; ++t) {
            const int64_t o = t * C + h * N;
            const float *rt = r + o, *wt = w + o, *kt = k + o, *vt = v + o, *at = a + o, *bt = b + o;
            for (int64_t i = 0; i < N; ++i) {
                float *row = Sh + i * N;
                float sa = 0;
                for (int64_t j = 0; j < N; ++j) sa += at[j] * row[j];
                const float vi = vt[i];
                float acc = 0;
                for (int64_t j = 0; j < N; ++j) {
                    const float s = row[j] * wt[j] + sa * bt[j] + vi * kt[j];
                    row[j] = s;
                    acc += s * rt[j];
                }
                y[o + i] = acc;
            }
        }
    }
}

} // namespace rwkvrt
