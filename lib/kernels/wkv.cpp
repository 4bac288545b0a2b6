// Compiled once per SIMD target (Highway's foreach_target); the best one the CPU runs is called.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/wkv.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include <algorithm>
#include <cmath>

#include "exec/thread_pool.h"
#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/wkv.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET != HWY_SCALAR
// Lane i of the result is the sum of the lanes of v[i], for i < Lanes(d); v is overwritten. Halving
// rounds of ConcatEven + ConcatOdd: Lanes − 1 additions for all the rows, instead of a chain of
// shuffles per row.
template <class D, class V>
HWY_INLINE V SumOfLanesEach(D d, V *v) {
    for (size_t n = hn::Lanes(d); n > 1; n /= 2)
        for (size_t i = 0; i < n / 2; ++i)
            v[i] = hn::Add(hn::ConcatEven(d, v[2 * i + 1], v[2 * i]), hn::ConcatOdd(d, v[2 * i + 1], v[2 * i]));
    return v[0];
}
#endif

// Asks for the n floats from p, a row of the state the next head will read (Wkv7Head's `next_Sin`).
HWY_INLINE void FetchRow(const float *p, int64_t n) {
    for (int64_t f = 0; f < n; f += 64 / int64_t(sizeof(float))) hwy::Prefetch(p + f);
}

// Rows q < Lanes(d) of a head's state: S[q] = Sin[q]·w + sa[q]·b + v[q]·k, and part[q] = S[q]·r lane-wise.
// kVecs > 0: the row is that many vectors, and w, k, b, r stay in registers for all the rows (a row of
// 64 keys on AVX-512); 0: any length n, a whole number of vectors, reloaded per row. kStream: S is
// written with streaming stores (vector-aligned), past the caches. `next`, unless null, is the same
// rows of the state to read after this one: each row asks for its counterpart there.
template <int kVecs, bool kStream, class D, class V>
HWY_INLINE void UpdateRows(D d, const float *Sin, float *S, const float *sa, const float *v, const float *w, const float *k,
                           const float *b, const float *r, V *part, const float *next, int64_t n = 0) {
    const int64_t L = int64_t(hn::Lanes(d));
    if constexpr (kVecs > 0) {
        n = kVecs * L;
        V wv[kVecs], kv[kVecs], bv[kVecs], rv[kVecs];
        for (int j = 0; j < kVecs; ++j) {
            wv[j] = hn::LoadU(d, w + j * L);
            kv[j] = hn::LoadU(d, k + j * L);
            bv[j] = hn::LoadU(d, b + j * L);
            rv[j] = hn::LoadU(d, r + j * L);
        }
        for (int64_t q = 0; q < L; ++q) {
            if (next) FetchRow(next + q * n, n);
            const float *in = Sin + q * n;
            float *row = S + q * n;
            const V vsa = hn::Set(d, sa[q]), vi = hn::Set(d, v[q]);
            V acc = hn::Zero(d);
            for (int j = 0; j < kVecs; ++j) {
                V s = hn::MulAdd(hn::LoadU(d, in + j * L), wv[j], hn::Mul(vsa, bv[j]));
                s = hn::MulAdd(vi, kv[j], s);
                if constexpr (kStream) hn::Stream(s, d, row + j * L);
                else hn::StoreU(s, d, row + j * L);
                acc = hn::MulAdd(s, rv[j], acc);
            }
            part[q] = acc;
        }
    } else {
        for (int64_t q = 0; q < L; ++q) {
            if (next) FetchRow(next + q * n, n);
            const float *in = Sin + q * n;
            float *row = S + q * n;
            const V vsa = hn::Set(d, sa[q]), vi = hn::Set(d, v[q]);
            V acc = hn::Zero(d);
            for (int64_t j = 0; j < n; j += L) {
                V s = hn::MulAdd(hn::LoadU(d, in + j), hn::LoadU(d, w + j), hn::Mul(vsa, hn::LoadU(d, b + j)));
                s = hn::MulAdd(vi, hn::LoadU(d, k + j), s);
                if constexpr (kStream) hn::Stream(s, d, row + j);
                else hn::StoreU(s, d, row + j);
                acc = hn::MulAdd(s, hn::LoadU(d, r + j), acc);
            }
            part[q] = acc;
        }
    }
}

// One head's RWKV-7 step for each token of a segment: per state row i (a value), two dot products over
// the keys (sa = S·a, then y = S·r) with a row update in between, vectorised over the keys. The first
// token reads the state from Sin_h, the others from Sh, which every token writes; with `stream`, the
// last token writes it with streaming stores (Sh vector-aligned). Sizes come
// in as parameters, not through the caller's closure: Highway's unaligned stores may alias anything,
// and a value read through a pointer would be reloaded after every store.
// next_Sin, unless null, is the state the caller's next head starts from: the last token asks for it
// row by row as it updates its own. A head's 16 KiB (N = 64) is too short a stream for the hardware
// prefetcher to reach full speed on; spread over the rows, the requests overlap the arithmetic where
// a burst at the head's start stalled the core: 0.5–2% less time a token for RWKV-7, 0.1B–1.5B
// (docs/PERFORMANCE.md, "The next head's state, row by row").
HWY_INLINE void Wkv7Head(const float *Sin_h, float *Sh, int64_t first_row, int64_t T, int64_t h, int64_t N, int64_t C, const float *r,
                         const float *w, const float *k, const float *v, const float *a, const float *b, float *y, bool stream,
                         const float *next_Sin) {
    const hn::ScalableTag<float> df;
    using V = hn::Vec<decltype(df)>;
    const int64_t L = int64_t(hn::Lanes(df));
    for (int64_t t = first_row; t < first_row + T; ++t) {
        const int64_t o = t * C + h * N;
        const float *rt = r + o, *wt = w + o, *kt = k + o, *vt = v + o, *at = a + o, *bt = b + o;
        const float *Sprev = t == first_row ? Sin_h : Sh;
        int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR
        const float *next = t == first_row + T - 1 ? next_Sin : nullptr;
        // L rows at a time when vectors cover a row: their L dot products are independent chains, and
        // their sums across lanes are taken together (SumOfLanesEach).
        if (N % L == 0)
            for (; i + L <= N; i += L) {
                V part[HWY_LANES(float)];
                for (int64_t q = 0; q < L; ++q) part[q] = hn::Zero(df);
                for (int64_t j = 0; j < N; j += L) {
                    const V aj = hn::LoadU(df, at + j);
                    for (int64_t q = 0; q < L; ++q) part[q] = hn::MulAdd(aj, hn::LoadU(df, Sprev + (i + q) * N + j), part[q]);
                }
                HWY_ALIGN float sa[HWY_LANES(float)];
                hn::Store(SumOfLanesEach(df, part), df, sa);
                const float *in = Sprev + i * N, *fetch = next ? next + i * N : nullptr;
                float *out = Sh + i * N;
                if (stream && t == first_row + T - 1) {
                    if (N == 4 * L) UpdateRows<4, true>(df, in, out, sa, vt + i, wt, kt, bt, rt, part, fetch);
                    else UpdateRows<0, true>(df, in, out, sa, vt + i, wt, kt, bt, rt, part, fetch, N);
                } else {
                    if (N == 4 * L) UpdateRows<4, false>(df, in, out, sa, vt + i, wt, kt, bt, rt, part, fetch);
                    else UpdateRows<0, false>(df, in, out, sa, vt + i, wt, kt, bt, rt, part, fetch, N);
                }
                hn::StoreU(SumOfLanesEach(df, part), df, y + o + i);
            }
#endif
        for (; i < N; ++i) {
            const float *in = Sprev + i * N;
            float *row = Sh + i * N;
            V s0 = hn::Zero(df), s1 = hn::Zero(df);
            int64_t j = 0;
            for (; j + 2 * L <= N; j += 2 * L) {
                s0 = hn::MulAdd(hn::LoadU(df, at + j), hn::LoadU(df, in + j), s0);
                s1 = hn::MulAdd(hn::LoadU(df, at + j + L), hn::LoadU(df, in + j + L), s1);
            }
            for (; j + L <= N; j += L) s0 = hn::MulAdd(hn::LoadU(df, at + j), hn::LoadU(df, in + j), s0);
            float sa = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
            for (; j < N; ++j) sa += at[j] * in[j];

            const V vsa = hn::Set(df, sa), vi = hn::Set(df, vt[i]);
            V acc = hn::Zero(df);
            for (j = 0; j + L <= N; j += L) {
                V s = hn::MulAdd(hn::LoadU(df, in + j), hn::LoadU(df, wt + j), hn::Mul(vsa, hn::LoadU(df, bt + j)));
                s = hn::MulAdd(vi, hn::LoadU(df, kt + j), s);
                hn::StoreU(s, df, row + j);
                acc = hn::MulAdd(s, hn::LoadU(df, rt + j), acc);
            }
            float out = hn::GetLane(hn::SumOfLanes(df, acc));
            for (; j < N; ++j) {
                const float s = in[j] * wt[j] + sa * bt[j] + vt[i] * kt[j];
                row[j] = s;
                out += s * rt[j];
            }
            y[o + i] = out;
        }
    }
}

// The threads a recurrence takes over its segments' rows, `per_row` state elements each: one token's
// step over a small state (about 10 flops per element) is not worth waking threads for; from 32k
// elements it is (one token, 2 threads, q4_0: 0.1B's 49k went 290–307 → 316–350 tok/s with
// kMatVecOneThreadBytes's change, 1.5B's 131k took a millisecond a token on one thread).
int ThreadsFor(const WkvSegment *segs, int64_t n_segs, int64_t per_row, const ThreadPool &pool) {
    int64_t rows = 0;
    for (int64_t s = 0; s < n_segs; ++s) rows += segs[s].T;
    return rows * per_row >= (int64_t(1) << 15) ? pool.size() : 1;
}

// RWKV-4 for channels [c0, c1) of a segment, each channel on its own (a vector of them at a time; the
// channels past the last whole vector of the model's C with std::exp, so a channel always takes the
// same path): y = (e1·aa + e2·v) / (e1·bb + e2) in the numerically stable form, then the state.
HWY_INLINE void Wkv4Channels(const WkvSegment &seg, int64_t C, int64_t c0, int64_t c1, const float *k, const float *v,
                             const float *w, const float *u, float *y) {
    const hn::ScalableTag<float> df;
    using V = hn::Vec<decltype(df)>;
    const int64_t L = int64_t(hn::Lanes(df));
    float *aa = seg.S_out, *bb = seg.S_out + C, *pp = seg.S_out + 2 * C;
    for (int64_t t = seg.row0; t < seg.row0 + seg.T; ++t) {
        const float *prev = t == seg.row0 ? seg.S_in : seg.S_out;
        const float *aa0 = prev, *bb0 = prev + C, *pp0 = prev + 2 * C;
        const float *kt = k + t * C, *vt = v + t * C;
        float *yt = y + t * C;
        int64_t c = c0;
        for (; c + L <= c1; c += L) {
            const V kc = hn::LoadU(df, kt + c), vc = hn::LoadU(df, vt + c), a = hn::LoadU(df, aa0 + c), b = hn::LoadU(df, bb0 + c),
                    p = hn::LoadU(df, pp0 + c);
            V ww = hn::Add(hn::LoadU(df, u + c), kc), q = hn::Max(p, ww);
            V e1 = hn::Exp(df, hn::Sub(p, q)), e2 = hn::Exp(df, hn::Sub(ww, q));
            hn::StoreU(hn::Div(hn::MulAdd(e1, a, hn::Mul(e2, vc)), hn::MulAdd(e1, b, e2)), df, yt + c);
            ww = hn::Add(p, hn::LoadU(df, w + c));
            q = hn::Max(ww, kc);
            e1 = hn::Exp(df, hn::Sub(ww, q));
            e2 = hn::Exp(df, hn::Sub(kc, q));
            hn::StoreU(hn::MulAdd(e1, a, hn::Mul(e2, vc)), df, aa + c);
            hn::StoreU(hn::MulAdd(e1, b, e2), df, bb + c);
            hn::StoreU(q, df, pp + c);
        }
        for (; c < c1; ++c) {
            float ww = u[c] + kt[c];
            float q = std::max(pp0[c], ww);
            float e1 = std::exp(pp0[c] - q), e2 = std::exp(ww - q);
            yt[c] = (e1 * aa0[c] + e2 * vt[c]) / (e1 * bb0[c] + e2);
            ww = pp0[c] + w[c];
            q = std::max(ww, kt[c]);
            e1 = std::exp(ww - q);
            e2 = std::exp(kt[c] - q);
            aa[c] = e1 * aa0[c] + e2 * vt[c];
            bb[c] = e1 * bb0[c] + e2;
            pp[c] = q;
        }
    }
}

void Wkv4(const WkvSegment *segs, int64_t n_segs, int64_t C, const float *k, const float *v, const float *w, const float *u,
          float *y, ThreadPool &pool) {
    // Channels are independent: a prompt's are split over the threads in stretches of kChannels (a
    // whole number of vectors), where one task per segment left a lone conversation on one core.
    constexpr int64_t kChannels = 256;
    const int64_t stretches = (C + kChannels - 1) / kChannels;
    pool.run(n_segs * stretches, ThreadsFor(segs, n_segs, C, pool), [&](int64_t task, int) {
        const int64_t c0 = task % stretches * kChannels;
        Wkv4Channels(segs[task / stretches], C, c0, std::min(C, c0 + kChannels), k, v, w, u, y);
    });
}

// The state that (segment, head) task `task` + 1 starts from, or null after the last: what a thread
// taking its tasks in order reads next.
const float *NextState(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, int64_t task) {
    const int64_t next = task + 1;
    return next < n_segs * H ? segs[next / H].S_in + next % H * N * N : nullptr;
}

// Whether a segment's heads of N × N floats take streaming stores (WkvSegment::stream_out): out of place
// only, since in place the lines were just read and are in cache, and only where every row of every
// head starts on a vector (hn::Stream stores aligned vectors).
bool Streams(const WkvSegment &seg, int64_t N) {
    const hn::ScalableTag<float> df;
    const size_t vector_bytes = hn::Lanes(df) * sizeof(float);
    return seg.stream_out && seg.S_out != seg.S_in && N % int64_t(hn::Lanes(df)) == 0 &&
           reinterpret_cast<uintptr_t>(seg.S_out) % vector_bytes == 0;
}

// kV vectors of values (columns j … j + kV·L of a head's state, from `in` and `out`), over every key i:
// S[i] = Sin[i]·w[i] + k[i]·v, and y = Σ_i r[i]·(u[i]·k[i]·v + Sin[i]), held in registers across the
// keys: kV chains of additions, in key order. `next`, unless null, is the same columns of the state to
// read after this one: each key asks for its counterpart there.
template <int kV, bool kStream, class D>
HWY_INLINE void Wkv5Values(D d, int64_t N, const float *in, float *out, const float *r, const float *k, const float *u,
                           const float *w, const float *v, float *y, const float *next) {
    using V = hn::Vec<D>;
    const int64_t L = int64_t(hn::Lanes(d));
    V vj[kV], acc[kV];
    for (int q = 0; q < kV; ++q) {
        vj[q] = hn::LoadU(d, v + q * L);
        acc[q] = hn::Zero(d);
    }
    for (int64_t i = 0; i < N; ++i) {
        if (next) FetchRow(next + i * N, kV * L);
        const V ki = hn::Set(d, k[i]), ri = hn::Set(d, r[i]), ui = hn::Set(d, u[i]), wi = hn::Set(d, w[i]);
        for (int q = 0; q < kV; ++q) {
            const V kv = hn::Mul(ki, vj[q]), s = hn::LoadU(d, in + i * N + q * L);
            acc[q] = hn::MulAdd(ri, hn::MulAdd(ui, kv, s), acc[q]);
            if constexpr (kStream) hn::Stream(hn::MulAdd(s, wi, kv), d, out + i * N + q * L);
            else hn::StoreU(hn::MulAdd(s, wi, kv), d, out + i * N + q * L);
        }
    }
    for (int q = 0; q < kV; ++q) hn::StoreU(acc[q], d, y + q * L);
}

// RWKV-5/6: one head's step for each token of a segment, vectorised over the values (the state's
// columns), four vectors at a time where they fit: their chains overlap the FMAs' latency. With
// `stream` (rows of whole vectors, Sh vector-aligned), the last token writes Sh with streaming stores.
// next_Sin: as Wkv7Head's.
HWY_INLINE void Wkv5Head(const float *Sin_h, float *Sh, int64_t first_row, int64_t T, int64_t h, int64_t N, int64_t C, const float *r,
                         const float *k, const float *v, const float *w, int64_t w_stride, const float *u, float *y,
                         bool stream, const float *next_Sin) {
    const hn::ScalableTag<float> df;
    const int64_t L = int64_t(hn::Lanes(df));
    const float *uh = u + h * N;
    for (int64_t t = first_row; t < first_row + T; ++t) {
        const int64_t o = t * C + h * N;
        const float *rt = r + o, *kt = k + o, *vt = v + o, *wt = w + t * w_stride + h * N;
        float *yt = y + o;
        const float *Sprev = t == first_row ? Sin_h : Sh;
        const float *next = t == first_row + T - 1 ? next_Sin : nullptr;
        const auto fetch = [&](int64_t j) { return next ? next + j : nullptr; };
        int64_t j = 0;
        if (stream && t == first_row + T - 1) {
            for (; j + 4 * L <= N; j += 4 * L) Wkv5Values<4, true>(df, N, Sprev + j, Sh + j, rt, kt, uh, wt, vt + j, yt + j, fetch(j));
            for (; j + L <= N; j += L) Wkv5Values<1, true>(df, N, Sprev + j, Sh + j, rt, kt, uh, wt, vt + j, yt + j, fetch(j));
        }
        for (; j + 4 * L <= N; j += 4 * L) Wkv5Values<4, false>(df, N, Sprev + j, Sh + j, rt, kt, uh, wt, vt + j, yt + j, fetch(j));
        for (; j + L <= N; j += L) Wkv5Values<1, false>(df, N, Sprev + j, Sh + j, rt, kt, uh, wt, vt + j, yt + j, fetch(j));
        for (; j < N; ++j) {
            float out = 0;
            for (int64_t i = 0; i < N; ++i) {
                const float kv = kt[i] * vt[j], s = Sprev[i * N + j];
                out += rt[i] * (uh[i] * kv + s);
                Sh[i * N + j] = s * wt[i] + kv;
            }
            yt[j] = out;
        }
    }
}

// head(Sin_h, Sh, seg, h, stream, next_Sin) for every (segment, head) of RWKV-5/6/7's key-value heads.
// Each thread takes a stretch of these tasks in order, so that it streams a segment's heads, which lie
// one after the other, as the hardware prefetcher expects (for many conversations the states come
// from memory), and asks for the next task's state while it runs one (next_Sin); on a shared machine
// the threads that run take over the others' stretches.
// Next states past the caches (WkvSegment::stream_out) take streaming stores. Measured with the
// variants alternating token by token in one process, 2 threads: 0.4B F16, one conversation, 1%
// less time a token; 0.1B Q8_0, four conversations, 2–3% (docs/PERFORMANCE.md, "The next states past
// the caches"). A model whose weights fit the L3 keeps plain stores: streaming took 8% longer there.
template <class Head>
void ForEachHead(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, ThreadPool &pool, const Head &head) {
    pool.run_stretches(n_segs * H, 1, ThreadsFor(segs, n_segs, H * N * N, pool), [&](int64_t begin, int64_t end, int) {
        bool streamed = false;
        for (int64_t task = begin; task < end; ++task) {
            const WkvSegment &seg = segs[task / H];
            const int64_t h = task % H;
            const bool stream = Streams(seg, N);
            streamed |= stream;
            head(seg.S_in + h * N * N, seg.S_out + h * N * N, seg, h, stream, NextState(segs, n_segs, H, N, task));
        }
        if (streamed) hwy::FlushStream(); // ordered before the pool's join publishes the states
    });
}

void Wkv5(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, const float *r, const float *k, const float *v,
          const float *w, int64_t w_stride, const float *u, float *y, ThreadPool &pool) {
    ForEachHead(segs, n_segs, H, N, pool, [&](const float *Sin_h, float *Sh, const WkvSegment &seg, int64_t h, bool stream, const float *next) {
        Wkv5Head(Sin_h, Sh, seg.row0, seg.T, h, N, H * N, r, k, v, w, w_stride, u, y, stream, next);
    });
}

void Wkv7(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, const float *r, const float *w,
          const float *k, const float *v, const float *a, const float *b, float *y, ThreadPool &pool) {
    ForEachHead(segs, n_segs, H, N, pool, [&](const float *Sin_h, float *Sh, const WkvSegment &seg, int64_t h, bool stream, const float *next) {
        Wkv7Head(Sin_h, Sh, seg.row0, seg.T, h, N, H * N, r, w, k, v, a, b, y, stream, next);
    });
}

void Wkv7OneHead(const WkvSegment &seg, int64_t h, int64_t H, int64_t N, const float *r, const float *w, const float *k,
                 const float *v, const float *a, const float *b, float *y) {
    const bool stream = Streams(seg, N);
    Wkv7Head(seg.S_in + h * N * N, seg.S_out + h * N * N, seg.row0, seg.T, h, N, H * N, r, w, k, v, a, b, y, stream,
             NextState(&seg, 1, H, N, h));
    if (stream) hwy::FlushStream(); // ordered before the pool's join publishes the state
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(Wkv4);
HWY_EXPORT(Wkv5);
HWY_EXPORT(Wkv7);
HWY_EXPORT(Wkv7OneHead);

void wkv4(const WkvSegment *segs, int64_t n_segs, int64_t C, const float *k, const float *v, const float *w,
          const float *u, float *y, ThreadPool &pool) {
    HWY_DYNAMIC_DISPATCH(Wkv4)(segs, n_segs, C, k, v, w, u, y, pool);
}

void wkv5(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, const float *r, const float *k,
          const float *v, const float *w, int64_t w_stride, const float *u, float *y, ThreadPool &pool) {
    HWY_DYNAMIC_DISPATCH(Wkv5)(segs, n_segs, H, N, r, k, v, w, w_stride, u, y, pool);
}

void wkv7(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, const float *r, const float *w,
          const float *k, const float *v, const float *a, const float *b, float *y, ThreadPool &pool) {
    HWY_DYNAMIC_DISPATCH(Wkv7)(segs, n_segs, H, N, r, w, k, v, a, b, y, pool);
}

void wkv7_head(const WkvSegment &seg, int64_t h, int64_t H, int64_t N, const float *r, const float *w, const float *k,
               const float *v, const float *a, const float *b, float *y) {
    HWY_DYNAMIC_DISPATCH(Wkv7OneHead)(seg, h, H, N, r, w, k, v, a, b, y);
}

} // namespace rwkvrt
#endif
