#include "kernels/gemm_bf16.h"

#include <algorithm>
#include <cstring>

#include "core/cpu.h"
#include "exec/thread_pool.h"
#include "kernels/convert.h"
#include "kernels/matrix.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rwkvrt {

#if defined(__x86_64__)

bool bf16_products_supported() { return cpu_features().avx512_bf16; }

namespace {

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source and then warn about
// it (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define RWKVRT_AVX512BF16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512bf16")))

// Yᵀ = W·Xᵀ in tiles of kMR weight rows × 32 tokens (two vectors of 16): 24 accumulators, two token
// vectors and a broadcast pair of weights fit the 32 registers. Xᵀ is packed once per call as
// [panel][pair][32 tokens], each element a pair of bf16 (inputs 2p and 2p + 1) in 32 bits; a tile's
// weight rows are rounded into the same pairs, one block of kKc inputs at a time, just before use (bf16
// matrices need no rounding: their whole tiles are read where they lie).
constexpr size_t kMR = 12, kPanel = 32, kKc = 256, kBandRows = 48;

// a: kMR rows of weight pairs, lda bytes apart (packed, or a bf16 matrix where it lies, whose rows may be
// only 2-byte aligned: hence the loads by memcpy).
RWKVRT_AVX512BF16 void micro_tile(const uint8_t *a, size_t lda, const uint32_t *b, size_t pairs, float *c, size_t ldc,
                                  bool add) {
    __m512 acc[kMR][2];
    for (size_t i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (size_t p = 0; p < pairs; ++p, b += kPanel) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
        for (size_t i = 0; i < kMR; ++i) {
            uint32_t pair;
            std::memcpy(&pair, a + i * lda + 4 * p, 4);
            const __m512bh w = (__m512bh)_mm512_set1_epi32(int(pair));
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], w, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], w, b1);
        }
    }
    for (size_t i = 0; i < kMR; ++i)
        for (int j = 0; j < 2; ++j) {
            float *out = c + i * ldc + size_t(j) * 16;
            _mm512_storeu_ps(out, add ? _mm512_add_ps(acc[i][j], _mm512_loadu_ps(out)) : acc[i][j]);
        }
}

// The 16 × 16 block of floats in r, transposed: unpack pairs, then 64-bit and 128-bit shuffles.
RWKVRT_AVX512BF16 inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; ++i) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

// Y[t][n] = yt[n][t] for n < n_rows, t < rows; yt's rows are tp ≥ rows rounded up to 16 floats long.
// Blocks of 16 × 16 are transposed in registers: read a column at a time, with its stride of tp floats,
// the write-back took 6% of a prompt.
RWKVRT_AVX512BF16 void write_back(const float *yt, size_t tp, size_t n_rows, size_t rows, float *Y, size_t ldy) {
    const size_t n16 = n_rows / 16 * 16;
    for (size_t t0 = 0; t0 < rows; t0 += 16) {
        const size_t tn = std::min<size_t>(16, rows - t0);
        for (size_t n0 = 0; n0 < n16; n0 += 16) {
            __m512 r[16];
            for (size_t q = 0; q < 16; ++q) r[q] = _mm512_loadu_ps(yt + (n0 + q) * tp + t0);
            transpose16(r);
            for (size_t t = 0; t < tn; ++t) _mm512_storeu_ps(Y + (t0 + t) * ldy + n0, r[t]);
        }
        for (size_t n = n16; n < n_rows; ++n)
            for (size_t t = 0; t < tn; ++t) Y[(t0 + t) * ldy + n] = yt[n * tp + t0 + t];
    }
}

// dst[k·kPanel + j] = rows[j·n + k] for the 16 rows j and every k < n: blocks of 16 × 16 transposed in
// registers, the tail one at a time.
RWKVRT_AVX512BF16 void transpose_pairs(const uint32_t *rows, size_t n, uint32_t *dst) {
    const size_t n16 = n / 16 * 16;
    for (size_t k0 = 0; k0 < n16; k0 += 16) {
        __m512 r[16];
        for (size_t j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(reinterpret_cast<const float *>(rows + j * n + k0));
        transpose16(r);
        for (size_t k = 0; k < 16; ++k) _mm512_storeu_ps(reinterpret_cast<float *>(dst + (k0 + k) * kPanel), r[k]);
    }
    for (size_t k = n16; k < n; ++k)
        for (size_t j = 0; j < 16; ++j) dst[k * kPanel + j] = rows[j * n + k];
}

// --- Matrices in the lanes layout (matrix.h): element k of a group's 16 rows side by side ---

// Rows per chunk of a lanes product (four groups), and tokens per tile: 24 accumulators, four weight
// vectors and a broadcast pair fit the 32 registers.
constexpr size_t kChunkGroups = 4, kTileTokens = 6;

// Inputs 2j and 2j + 1 of a group's 16 rows, the 64 bytes at p, as the pairs vdpbf16ps takes: [row][2j,
// 2j + 1]. bf16 lies so (LanesType<BF16> in linear.cpp); f16 lies as input 2j of the 16 rows, then
// input 2j + 1, and is rounded to bf16 (vcvtne2ps2bf16, to nearest even as convert_f16_to_bf16) and
// interleaved.
template <bool kF16>
RWKVRT_AVX512BF16 inline __m512bh lanes_pairs(const uint8_t *p) {
    if constexpr (!kF16) return (__m512bh)_mm512_loadu_si512(p);
    // Word 2r of the result takes word r (input 2j of row r), word 2r + 1 word 16 + r.
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5,
                                                20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512 even = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
    const __m512 odd = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 32)));
    return (__m512bh)_mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
}

// y[t·ldy + 16·v + i] (+)= the sums of TT tokens' pairs x[t·ldx + p] with the pairs of NV vectors of
// 16 rows, weights(p, v), over p < pairs: one block's chains, as micro_tile's.
template <size_t TT, size_t NV, class Weights>
RWKVRT_AVX512BF16 inline void lanes_tile(const Weights &weights, size_t pairs, const uint32_t *x, size_t ldx, float *y, size_t ldy,
                                         bool add) {
    __m512 acc[TT][NV];
    for (size_t t = 0; t < TT; ++t)
        for (size_t v = 0; v < NV; ++v) acc[t][v] = _mm512_setzero_ps();
    for (size_t p = 0; p < pairs; ++p) {
        __m512bh w[NV];
        for (size_t v = 0; v < NV; ++v) w[v] = weights(p, v);
        for (size_t t = 0; t < TT; ++t) {
            const __m512bh xt = (__m512bh)_mm512_set1_epi32(int(x[t * ldx + p]));
            for (size_t v = 0; v < NV; ++v) acc[t][v] = _mm512_dpbf16_ps(acc[t][v], w[v], xt);
        }
    }
    for (size_t t = 0; t < TT; ++t)
        for (size_t v = 0; v < NV; ++v) {
            float *out = y + t * ldy + v * 16;
            _mm512_storeu_ps(out, add ? _mm512_add_ps(acc[t][v], _mm512_loadu_ps(out)) : acc[t][v]);
        }
}

// A block's weights for lanes_tile: pairs read where they lie, or from a buffer filled with them.
template <bool kF16>
struct PairsInPlace {
    const uint8_t *block; // the first group's block
    size_t group_bytes;
    RWKVRT_AVX512BF16 __m512bh operator()(size_t p, size_t v) const { return lanes_pairs<kF16>(block + v * group_bytes + 64 * p); }
};
template <size_t NV>
struct PairsBuffered {
    const __m512bh *buf; // [p][v]
    RWKVRT_AVX512BF16 __m512bh operator()(size_t p, size_t v) const { return buf[p * NV + v]; }
};

// lanes_tile for the tt ≤ kTileTokens tokens from x and y.
template <size_t NV, class Weights>
RWKVRT_AVX512BF16 void lanes_tiles(size_t tt, const Weights &weights, size_t pairs, const uint32_t *x, size_t ldx, float *y, size_t ldy,
                                   bool add) {
    switch (tt) {
    case 1: return lanes_tile<1, NV>(weights, pairs, x, ldx, y, ldy, add);
    case 2: return lanes_tile<2, NV>(weights, pairs, x, ldx, y, ldy, add);
    case 3: return lanes_tile<3, NV>(weights, pairs, x, ldx, y, ldy, add);
    case 4: return lanes_tile<4, NV>(weights, pairs, x, ldx, y, ldy, add);
    case 5: return lanes_tile<5, NV>(weights, pairs, x, ldx, y, ldy, add);
    default: return lanes_tile<kTileTokens, NV>(weights, pairs, x, ldx, y, ldy, add);
    }
}

// A chunk of NV groups (their first at `group`, group_bytes apart) times the T tokens' pairs xp, into
// Y's columns from the chunk's first row. bf16 weights are read where they lie; f16 ones become pairs
// once per block of kKc inputs, into buf, for all the tiles of tokens (a lone tile converts them as it
// reads them).
template <bool kF16, size_t NV>
RWKVRT_AVX512BF16 void lanes_chunk(const uint8_t *group, size_t group_bytes, size_t K, const uint32_t *xp, size_t T, float *Y,
                                   size_t N, __m512bh *buf) {
    const size_t K2 = K / 2, tiles = (T + kTileTokens - 1) / kTileTokens;
    for (size_t k0 = 0; k0 < K; k0 += kKc) {
        const size_t pairs = std::min(kKc, K - k0) / 2;
        const PairsInPlace<kF16> in_place{group + 2 * k0 * kLaneRows, group_bytes}; // two bytes an element
        const bool buffered = kF16 && T > kTileTokens;
        if (buffered)
            for (size_t p = 0; p < pairs; ++p)
                for (size_t v = 0; v < NV; ++v) buf[p * NV + v] = in_place(p, v);
        // While the tiles compute, the next block's weights (after the last block, the next chunk's
        // first; past a matrix's end, a prefetch faults on nothing and fetches nothing used) are fetched
        // into L2 a few lines a tile: rounding a block into buf, or the first tile to read it, waited on memory.
        const bool last = k0 + kKc >= K;
        const uint8_t *const next = last ? group + NV * group_bytes : in_place.block + 2 * kKc * kLaneRows;
        const size_t line_bytes = 64, group_lines = 2 * std::min(kKc, last ? K : K - k0 - kKc) * kLaneRows / line_bytes;
        const size_t lines_per_tile = (NV * group_lines + tiles - 1) / tiles;
        size_t v = 0, line = 0; // the next line to fetch: group v's
        for (size_t t0 = 0; t0 < T; t0 += kTileTokens) {
            if (T > kTileTokens)
                for (size_t n = 0; n < lines_per_tile && v < NV; ++n) {
                    _mm_prefetch(reinterpret_cast<const char *>(next + v * group_bytes + line * line_bytes), _MM_HINT_T1);
                    if (++line == group_lines) line = 0, ++v;
                }
            const size_t tt = std::min(kTileTokens, T - t0);
            const uint32_t *x = xp + t0 * K2 + k0 / 2;
            if (buffered) lanes_tiles<NV>(tt, PairsBuffered<NV>{buf}, pairs, x, K2, Y + t0 * N, N, k0 > 0);
            else lanes_tiles<NV>(tt, in_place, pairs, x, K2, Y + t0 * N, N, k0 > 0);
        }
    }
}

// lanes_chunk for a chunk of groups ≤ kChunkGroups groups (the matrix's last may have fewer).
template <bool kF16>
RWKVRT_AVX512BF16 void lanes_chunk_of(size_t groups, const uint8_t *group, size_t group_bytes, size_t K, const uint32_t *xp, size_t T,
                                      float *Y, size_t N, __m512bh *buf) {
    switch (groups) {
    case 1: return lanes_chunk<kF16, 1>(group, group_bytes, K, xp, T, Y, N, buf);
    case 2: return lanes_chunk<kF16, 2>(group, group_bytes, K, xp, T, Y, N, buf);
    case 3: return lanes_chunk<kF16, 3>(group, group_bytes, K, xp, T, Y, N, buf);
    default: return lanes_chunk<kF16, kChunkGroups>(group, group_bytes, K, xp, T, Y, N, buf);
    }
}

#pragma GCC diagnostic pop

// n fp32 values as n/2 (rounded up) pairs of bf16, rounded to nearest even; an odd tail pairs with 0.
void to_pairs(const float *x, size_t n, uint32_t *pairs) {
    convert_from_f32(DType::BF16, x, pairs, n & ~size_t(1));
    if (n & 1) pairs[n / 2] = f32_to_bf16(x[n - 1]);
}

// gemm_bf16 for an F16 or BF16 matrix in the lanes layout: the same sums in the same order, so a row
// gets the same bits as from its rows; no transposes (Y's rows take 16 outputs a store), and tiles
// of as few as one token.
void gemm_bf16_lanes(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), K2 = K / 2;
    const size_t group_bytes = 2 * K * kLaneRows, chunk_rows = kChunkGroups * kLaneRows;
    const int threads = 2.0 * double(rows) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    uint32_t *const xp = reinterpret_cast<uint32_t *>(pool.shared_buffer(rows * K2 * sizeof(uint32_t)));
    for_rows(pool, T, int64_t(K), [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) to_pairs(X + size_t(t) * K, K, xp + size_t(t) * K2);
    });
    // Each thread streams its own stretch of the matrix, in pieces of about 64 KiB.
    const int64_t piece = std::max<int64_t>(1, int64_t((size_t(64) << 10) / (group_bytes * kChunkGroups)));
    pool.run_stretches(int64_t((N + chunk_rows - 1) / chunk_rows), piece, threads, [&](int64_t c0, int64_t c1, int thread) {
        auto *const buf = reinterpret_cast<__m512bh *>(pool.thread_buffer(thread, kKc / 2 * kChunkGroups * sizeof(__m512bh)));
        for (int64_t chunk = c0; chunk < c1; ++chunk) {
            const size_t n0 = size_t(chunk) * chunk_rows, groups = std::min(chunk_rows, N - n0) / kLaneRows;
            const uint8_t *const group = W.data + n0 / kLaneRows * group_bytes;
            if (W.dtype == DType::F16) lanes_chunk_of<true>(groups, group, group_bytes, K, xp, rows, Y + n0, N, buf);
            else lanes_chunk_of<false>(groups, group, group_bytes, K, xp, rows, Y + n0, N, buf);
        }
    });
}

} // namespace

void gemm_bf16(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    if (W.lanes) return gemm_bf16_lanes(W, X, T, Y, pool);
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), K2 = (K + 1) / 2;
    const size_t panels = (rows + kPanel - 1) / kPanel, tp = panels * kPanel;
    const size_t kc_max = std::min(K, kKc), lda = (kc_max + 1) / 2;
    const int threads = 2.0 * double(rows) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    const size_t band_rows = std::clamp<size_t>((N / (4 * size_t(threads))) / kMR * kMR, kMR, kBandRows);
    const int64_t bands = int64_t((N + band_rows - 1) / band_rows);
    // Whole tiles of a bf16 matrix are read where they lie; an odd row length would split pairs across rows.
    const bool in_place = W.dtype == DType::BF16 && K % 2 == 0;

    uint32_t *const xp = reinterpret_cast<uint32_t *>(pool.shared_buffer(K2 * tp * sizeof(uint32_t)));
    pool.run(int64_t(panels), threads, [&](int64_t p, int thread) {
        // 16 tokens at a time: their rows of pairs, then blocks of 16 × 16 pairs transposed in registers
        // (stored one pair at a time, this packing took 3% of a prompt).
        uint32_t *const rows16 = reinterpret_cast<uint32_t *>(pool.thread_buffer(thread, 16 * K2 * sizeof(uint32_t)));
        uint32_t *const dst = xp + size_t(p) * K2 * kPanel;
        for (size_t j0 = 0; j0 < kPanel; j0 += 16) {
            for (size_t j = 0; j < 16; ++j) {
                const size_t t = size_t(p) * kPanel + j0 + j;
                if (t < rows) to_pairs(X + t * K, K, rows16 + j * K2);
                else std::fill_n(rows16 + j * K2, K2, 0u);
            }
            transpose_pairs(rows16, K2, dst + j0);
        }
    });
    pool.run(bands, threads, [&](int64_t band, int thread) {
        const size_t r0 = size_t(band) * band_rows, r1 = std::min(N, r0 + band_rows), n_rows = r1 - r0;
        const size_t tiles = (n_rows + kMR - 1) / kMR;
        float *const buf = pool.thread_buffer(thread, (kc_max + kMR * lda + tiles * kMR * tp) * sizeof(float));
        float *const seg = buf;                                              // one weight row's block as fp32
        uint32_t *const a = reinterpret_cast<uint32_t *>(buf + kc_max);      // a tile's rows as pairs
        float *const yt = buf + kc_max + kMR * lda;                          // the band's Yᵀ
        for (size_t k0 = 0; k0 < K; k0 += kc_max) {
            const size_t kc = std::min(kc_max, K - k0), pairs = (kc + 1) / 2;
            for (size_t tile = 0; tile < tiles; ++tile) {
                const size_t t0 = r0 + tile * kMR;
                const uint8_t *at = reinterpret_cast<const uint8_t *>(a);
                size_t lda_bytes = 4 * lda;
                if (in_place && t0 + kMR <= r1) { // bf16 rows are pairs already
                    at = W.row(int64_t(t0)) + 2 * k0;
                    lda_bytes = W.row_bytes();
                } else {
                    for (size_t i = 0; i < kMR; ++i) {
                        uint32_t *ai = a + i * lda;
                        if (t0 + i >= r1) {
                            std::fill_n(ai, pairs, 0u);
                            continue;
                        }
                        const uint8_t *src = W.row(int64_t(t0 + i)) + dtype_bytes(W.dtype, k0);
                        if (W.dtype == DType::BF16 || W.dtype == DType::F16) {
                            auto *half = reinterpret_cast<uint16_t *>(ai);
                            if (W.dtype == DType::BF16) std::memcpy(half, src, kc * 2);
                            else convert_f16_to_bf16(src, half, kc);
                            if (kc % 2) half[kc] = 0; // an odd tail pairs with 0
                        } else {
                            convert_to_f32(W.dtype, src, seg, kc);
                            to_pairs(seg, kc, ai);
                        }
                    }
                }
                for (size_t p = 0; p < panels; ++p)
                    micro_tile(at, lda_bytes, xp + p * K2 * kPanel + (k0 / 2) * kPanel, pairs,
                               yt + tile * kMR * tp + p * kPanel, tp, k0 > 0);
            }
        }
        write_back(yt, tp, n_rows, rows, Y + r0, N);
    });
}

#else

bool bf16_products_supported() { return false; }
void gemm_bf16(const Matrix &, const float *, int64_t, float *, ThreadPool &) {}

#endif

} // namespace rwkvrt
