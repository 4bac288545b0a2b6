// The recurrences: the only sequential part of a forward pass. Each walks T tokens of row-major
// T × C inputs (channel index = head·N + n) and updates the layer's recurrent state in place.
#pragma once

#include <cstdint>

namespace rwkvrt {

// RWKV-4, per channel, numerically stable form. state = aa, bb, pp (C each); w = −exp(time_decay).
void wkv4(int64_t T, int64_t C, const float *k, const float *v, const float *w, const float *u, float *aa,
          float *bb, float *pp, float *y);

// RWKV-5/6: key-major state S[h][i=key][j=value]. w is the decay per token (T × C; a per-model
// constant is passed with w_stride = 0), u the bonus (C).
void wkv5(int64_t T, int64_t H, int64_t N, const float *r, const float *k, const float *v, const float *w,
          int64_t w_stride, const float *u, float *S, float *y, int n_threads);

// RWKV-7: value-major state S[h][i=value][j=key]; a = −kk, b = kk ⊙ aa, output from the new state.
void wkv7(int64_t T, int64_t H, int64_t N, const float *r, const float *w, const float *k, const float *v,
          const float *a, const float *b, float *S, float *y, int n_threads);

} // namespace rwkvrt
