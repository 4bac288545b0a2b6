// Intrinsics in functions with their own target attributes: Debian's Highway (1.0.3) compiles no
// target with VNNI. int8_level() checks the CPU once; the caller passes the level it got.
#include "kernels/dot_int8.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/cpu.h"
#include "kernels/gemm_int8.h"
#include "kernels/prefetch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/block_codes_avx2.h"
#endif

namespace rwkvrt {

namespace {

constexpr int kGroup = 8; // blocks whose scaled sums go to the eight accumulators at once
constexpr size_t kQ6KBytes = 210;

float sum_accumulators(const float acc[kGroup]) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// The blocks after the last whole group, one at a time, into the same accumulators, by the contract
// of dot_int8.h: Σ (u − offset)·q exact, then (d_w·d_x)·Σ, and (m_w·d_x)·Σq for affine types.
float finish(DType dtype, size_t block_bytes, const uint8_t *row, const Int8Vector &x, int64_t b, float acc[kGroup]) {
    BlockCodeLayout layout;
    block_code_layout(dtype, &layout);
    for (; b < x.n / 32; ++b) {
        uint8_t u[32];
        float a = 0, m = 0;
        block_codes(dtype, row + size_t(b) * block_bytes, u, &a, &m);
        int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += int32_t(u[j]) * x.q[32 * b + j];
        if (!layout.affine) s -= layout.offset * x.sum[b];
        float &lane = acc[b % kGroup];
        lane = std::fma(a * x.d[b], float(s), lane);
        if (layout.affine) lane = std::fma(m * x.d[b], float(x.sum[b]), lane);
    }
    return sum_accumulators(acc);
}

#if defined(__x86_64__)

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source and then warn about
// it (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define RWKVRT_AVX2 __attribute__((target("avx2,fma,f16c")))
#define RWKVRT_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vnni")))

using namespace int8_blocks;

// The eight block sums of v0..v7 (eight int32 partial sums each), in block order.
RWKVRT_AVX2 inline __m256i reduce8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i v4, __m256i v5,
                                  __m256i v6, __m256i v7) {
    const __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
    const __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v4, v5), _mm256_hadd_epi32(v6, v7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

// acc += (d_w·d_x)·Σ (then += (m_w·d_x)·Σq for affine types) for the group of eight blocks starting at
// `row`, block b; the codes' offset is removed through the activation sums.
template <class Block>
RWKVRT_AVX2 inline __m256 scale_group(const uint8_t *row, const Int8Vector &x, int64_t b, __m256i sums, __m256 acc) {
    static_assert(std::has_single_bit(unsigned(Block::kOffset)) || Block::kOffset == 0);
    const __m256i x_sums = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.sum + b));
    if constexpr (Block::kOffset != 0) sums = _mm256_sub_epi32(sums, _mm256_slli_epi32(x_sums, std::countr_zero(unsigned(Block::kOffset))));
    const __m256 xd = _mm256_loadu_ps(x.d + b);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(f16_x8(row, Block::kBytes), xd), _mm256_cvtepi32_ps(sums), acc);
    if constexpr (Block::kAffine) acc = _mm256_fmadd_ps(_mm256_mul_ps(f16_x8(row + 2, Block::kBytes), xd), _mm256_cvtepi32_ps(x_sums), acc);
    return acc;
}

// --- AVX2: maddubs (u8 × s8 → s16 pairs, which cannot saturate here) and madd to int32 ---

RWKVRT_AVX2 inline __m256i block_q8_0_avx2(const uint8_t *block, const int8_t *x) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(block + 2));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x));
    // |w| · (x with w's sign): the unsigned operand must be the weight. |−128| reads as 128 unsigned.
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// Σ u·x of one 4- or 5-bit block (|pair| ≤ 2·31·127: maddubs cannot saturate).
template <class Block>
RWKVRT_AVX2 inline __m256i block_codes_avx2(const uint8_t *block, const int8_t *x) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(codes_avx2<Block>(block), xv), _mm256_set1_epi16(1));
}

template <class Block, __m256i (*BlockDot)(const uint8_t *, const int8_t *)>
RWKVRT_AVX2 float dot_avx2(const uint8_t *row, const Int8Vector &x) {
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + kGroup <= x.n / 32; b += kGroup) {
        const uint8_t *r = row + size_t(b) * Block::kBytes;
        const int8_t *q = x.q + 32 * b;
        prefetch_ahead(r, kRowsPrefetchDistance, kGroup * Block::kBytes); // past the row: the thread's next row
        const __m256i sums = reduce8(BlockDot(r, q), BlockDot(r + Block::kBytes, q + 32),
                                     BlockDot(r + 2 * Block::kBytes, q + 64), BlockDot(r + 3 * Block::kBytes, q + 96),
                                     BlockDot(r + 4 * Block::kBytes, q + 128), BlockDot(r + 5 * Block::kBytes, q + 160),
                                     BlockDot(r + 6 * Block::kBytes, q + 192), BlockDot(r + 7 * Block::kBytes, q + 224));
        acc = scale_group<Block>(r, x, b, sums, acc);
    }
    float a[kGroup];
    _mm256_storeu_ps(a, acc);
    return finish(Block::kType, Block::kBytes, row, x, b, a);
}

// --- AVX512-VNNI: vpdpbusd (u8 × s8, four products into each int32) over two blocks at a time ---

RWKVRT_AVX512VNNI inline __m512i concat(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

RWKVRT_AVX512VNNI inline __m512i pair_q8_0_vnni(const uint8_t *block, const int8_t *x) {
    const __m512i w = concat(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(block + 2)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i *>(block + Q8_0::kBytes + 2)));
    const __m512i xv = _mm512_loadu_si512(x);
    const __m512i sx = _mm512_mask_sub_epi8(xv, _mm512_movepi8_mask(w), _mm512_setzero_si512(), xv);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sx);
}

// Two consecutive 4- or 5-bit blocks: their 64 codes in element order, times x.
template <class Block>
RWKVRT_AVX512VNNI inline __m512i pair_codes_vnni(const uint8_t *block, const int8_t *x) {
    const __m256i raw = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i *>(block + Block::kBytes + Block::kCodes)),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i *>(block + Block::kCodes)));
    const __m256i mask = _mm256_set1_epi8(15);
    const __m512i lo_hi = concat(_mm256_and_si256(raw, mask), _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask));
    // [a low, b low, a high, b high] → [a low, a high, b low, b high]: elements in block order.
    __m512i w = _mm512_shuffle_i64x2(lo_hi, lo_hi, _MM_SHUFFLE(3, 1, 2, 0));
    if constexpr (requires { Block::kHigh; }) {
        // Bit k of the two qh words is the fifth bit of byte k.
        const __mmask64 high = uint64_t(load_u32(block + Block::kHigh)) | uint64_t(load_u32(block + Block::kBytes + Block::kHigh)) << 32;
        w = _mm512_or_si512(w, _mm512_maskz_mov_epi8(high, _mm512_set1_epi8(16)));
    }
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(x));
}

template <class Block, __m512i (*PairDot)(const uint8_t *, const int8_t *)>
RWKVRT_AVX512VNNI float dot_avx512vnni(const uint8_t *row, const Int8Vector &x) {
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + kGroup <= x.n / 32; b += kGroup) {
        const uint8_t *r = row + size_t(b) * Block::kBytes;
        const int8_t *q = x.q + 32 * b;
        const __m512i p0 = PairDot(r, q), p1 = PairDot(r + 2 * Block::kBytes, q + 64);
        const __m512i p2 = PairDot(r + 4 * Block::kBytes, q + 128), p3 = PairDot(r + 6 * Block::kBytes, q + 192);
        const __m256i sums = reduce8(_mm512_castsi512_si256(p0), _mm512_extracti64x4_epi64(p0, 1),
                                     _mm512_castsi512_si256(p1), _mm512_extracti64x4_epi64(p1, 1),
                                     _mm512_castsi512_si256(p2), _mm512_extracti64x4_epi64(p2, 1),
                                     _mm512_castsi512_si256(p3), _mm512_extracti64x4_epi64(p3, 1));
        acc = scale_group<Block>(r, x, b, sums, acc);
    }
    float a[kGroup];
    _mm256_storeu_ps(a, acc);
    return finish(Block::kType, Block::kBytes, row, x, b, a);
}

// --- Q6_K, AVX512-VNNI: one super-block of 256 gives the 16 sub-block sums of one vector ---

// u = q + 32 in [0, 63] is the unsigned operand of vpdpbusd; Σ q·x = Σ u·x − 32·Σ x, both exact, the
// second from x's sums per 16 elements (Int8Vector::sum16), once per super-block and row.

RWKVRT_AVX512VNNI float dot_q6_k_avx512vnni(const uint8_t *row, const Int8Vector &x) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(3);
    const __m512i sub_of_lane = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i x_scale_of_lane = _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 1, 3, 5, 7, 1, 3, 5, 7);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < x.n / 256; ++sb, row += kQ6KBytes) {
        const int8_t *xq = x.q + 256 * sb;
        // q6_k_lane_scales, vectorised: lane l takes sub-block s = q6_k_sub_of_lane(l) and its x scale s / 2.
        const __m512 sc = _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(
            sub_of_lane, _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 192)))));
        const __m512 xs = _mm512_permutexvar_ps(x_scale_of_lane, _mm512_castps256_ps512(_mm256_loadu_ps(x.d + 8 * sb)));
        const __m512 scale = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(load_u16(row + 208))), sc), xs);
        __m512i v[4];
        for (int h = 0; h < 2; ++h) {
            // Elements 128h + 64·half + 16k + l: low 4 bits from ql (low nibbles, then high), high 2 from
            // qh shifted by 0, 2 (first 64) and 4, 6 (last 64). 16-bit shifts, masked per byte after.
            const __m512i ql = _mm512_loadu_si512(row + 64 * h);
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 128 + 32 * h));
            const __m512i qh2 = concat(qh, _mm256_srli_epi16(qh, 2));
            const __m512i first = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(_mm512_and_si512(qh2, low2), 4));
            const __m512i last = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                                 _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), low2), 4));
            v[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), first, _mm512_loadu_si512(xq + 128 * h));
            v[2 * h + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), last, _mm512_loadu_si512(xq + 128 * h + 64));
        }
        // Each vector holds four sub-blocks as four groups of four int32; sum each group: lane 4k + j
        // receives group k of v[j], i.e. sub-block 4j + k (q6_k_sub_of_lane).
        const __m512i a = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
        const __m512i b = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
        // Σ (u − 32)·x = Σ u·x − 32·Σ x, with x's sums per 16 (its sub-blocks) in the same lanes.
        const __m512i offsets = _mm512_slli_epi32(_mm512_permutexvar_epi32(sub_of_lane, _mm512_loadu_si512(x.sum16 + 16 * sb)), 5);
        const __m512i sums = _mm512_sub_epi32(_mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b)), offsets);
        acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), acc);
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc);
    return q6_k_sum_lanes(lanes);
}

// --- Q6_K, AVX2: the same lanes and the same fp32 steps as the AVX512-VNNI kernel, in two vectors ---

// Eight of a super-block's 16 per-sub-block values (two vectors of 8) in the kernel's lanes: `pick`
// takes two from each half-vector of lo and of hi.
RWKVRT_AVX2 inline __m256i q6_k_lanes_avx2(__m256i lo, __m256i hi, __m256i pick) {
    return _mm256_blend_epi32(_mm256_permutevar8x32_epi32(lo, pick), _mm256_permutevar8x32_epi32(hi, pick), 0xCC);
}

RWKVRT_AVX2 float dot_q6_k_avx2(const uint8_t *row, const Int8Vector &x) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    // Lanes 0..7 take sub-blocks 0, 4, 8, 12, 1, 5, 9, 13 (q6_k_sub_of_lane) and lanes 8..15 the next
    // sub-block of each.
    const __m256i pick0 = _mm256_setr_epi32(0, 4, 0, 4, 1, 5, 1, 5), pick1 = _mm256_setr_epi32(2, 6, 2, 6, 3, 7, 3, 7);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(); // lanes 0..7 and 8..15
    for (int64_t sb = 0; sb < x.n / 256; ++sb, row += kQ6KBytes) {
        const int8_t *xq = x.q + 256 * sb;
        // w[g]: elements 32g .. 32g + 31 = sub-blocks 2g (int32 lanes 0..3) and 2g + 1 (lanes 4..7).
        __m256i w[8];
        for (int h = 0; h < 2; ++h) {
            const __m256i ql[2] = {_mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 64 * h)),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 64 * h + 32))};
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 128 + 32 * h));
            for (int quarter = 0; quarter < 4; ++quarter) {
                // Element 128h + 32·quarter + l: low 4 bits from ql (low nibbles, then high), high 2 from qh
                // shifted by 2·quarter. 16-bit shifts, masked per byte after.
                const __m256i lo = quarter < 2 ? _mm256_and_si256(ql[quarter], low4)
                                               : _mm256_and_si256(_mm256_srli_epi16(ql[quarter - 2], 4), low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * quarter), low2);
                const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); // q + 32, in [0, 63]
                const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(xq + 128 * h + 32 * quarter));
                // Σ u·x in 16 bits (|pair| ≤ 2·63·127: no saturation), then widened.
                w[4 * h + quarter] = _mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), ones);
            }
        }
        // hadd(hadd(a, b), hadd(c, e)) holds [2g_a, 2g_b, 2g_c, 2g_e | the + 1 sub-blocks]: lane 4k + j is
        // sub-block 4j + k (q6_k_sub_of_lane) with a, b, c, e = elements 0, 64, 128, 192 (+ 32 for lanes 8..15).
        // Σ (u − 32)·x = Σ u·x − 32·Σ x, with x's sums per 16 (its sub-blocks) in the same lanes.
        const __m256i x16_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.sum16 + 16 * sb));
        const __m256i x16_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.sum16 + 16 * sb + 8));
        const __m256i s0 = _mm256_sub_epi32(_mm256_hadd_epi32(_mm256_hadd_epi32(w[0], w[2]), _mm256_hadd_epi32(w[4], w[6])),
                                            _mm256_slli_epi32(q6_k_lanes_avx2(x16_lo, x16_hi, pick0), 5));
        const __m256i s1 = _mm256_sub_epi32(_mm256_hadd_epi32(_mm256_hadd_epi32(w[1], w[3]), _mm256_hadd_epi32(w[5], w[7])),
                                            _mm256_slli_epi32(q6_k_lanes_avx2(x16_lo, x16_hi, pick1), 5));
        // q6_k_lane_scales, vectorised: the lanes' sub-blocks as above, and x scales 0, 2, 4, 6, 0, 2,
        // 4, 6 (lanes 0..7) and 1, 3, 5, 7, 1, 3, 5, 7 (lanes 8..15).
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 192));
        const __m256i sc_lo = _mm256_cvtepi8_epi32(sc8), sc_hi = _mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8));
        const __m256 sc0 = _mm256_cvtepi32_ps(q6_k_lanes_avx2(sc_lo, sc_hi, pick0)),
                     sc1 = _mm256_cvtepi32_ps(q6_k_lanes_avx2(sc_lo, sc_hi, pick1));
        const __m256 xd = _mm256_loadu_ps(x.d + 8 * sb);
        const __m256 xs0 = _mm256_permutevar8x32_ps(xd, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
        const __m256 xs1 = _mm256_permutevar8x32_ps(xd, _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7));
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(load_u16(row + 208)));
        acc0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(d, sc0), xs0), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(d, sc1), xs1), _mm256_cvtepi32_ps(s1), acc1);
    }
    float lanes[16];
    _mm256_storeu_ps(lanes, acc0);
    _mm256_storeu_ps(lanes + 8, acc1);
    return q6_k_sum_lanes(lanes);
}

// --- Rounding the activations: the scalar reference's operations, in the same order ---

// (the block's scale, the multiplier 1/scale or 0); amax is exact, so every level agrees.
inline void block_scale(float amax, float *scale, float *inv) {
    *scale = amax / 127.0f;
    *inv = *scale != 0 ? 1.0f / *scale : 0.0f;
}

RWKVRT_AVX512VNNI void quantize_avx512(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum, int32_t *sum16) {
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        float scale, inv;
        block_scale(_mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1))), &scale, &inv);
        const __m512 m = _mm512_set1_ps(inv);
        // cvtps rounds to nearest even, as nearbyint does in the default rounding mode.
        const __m512i v0 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x0, m)), lo), hi);
        const __m512i v1 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x1, m)), lo), hi);
        _mm_storeu_si128(reinterpret_cast<__m128i *>(q + 32 * b), _mm512_cvtepi32_epi8(v0));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(q + 32 * b + 16), _mm512_cvtepi32_epi8(v1));
        d[b] = scale;
        sum16[2 * b] = _mm512_reduce_add_epi32(v0);
        sum16[2 * b + 1] = _mm512_reduce_add_epi32(v1);
        sum[b] = sum16[2 * b] + sum16[2 * b + 1];
    }
}

RWKVRT_AVX2 void quantize_avx2(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum, int32_t *sum16) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        float scale, inv;
        block_scale(_mm_cvtss_f32(m4), &scale, &inv);
        const __m256 m = _mm256_set1_ps(inv);
        __m256i qi[4];
        for (int i = 0; i < 4; ++i) qi[i] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[i], m)), lo), hi);
        // int32 → int16 → int8 with saturation (values are in range); packs interleave 128-bit lanes.
        const __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(q + 32 * b),
                            _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
        // The sums of both halves at once: [half 0 | half 1] per 128-bit lane, then within the lanes.
        const __m256i h0 = _mm256_add_epi32(qi[0], qi[1]), h1 = _mm256_add_epi32(qi[2], qi[3]);
        __m256i t = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
        t = _mm256_add_epi32(t, _mm256_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
        t = _mm256_add_epi32(t, _mm256_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
        d[b] = scale;
        sum16[2 * b] = _mm256_cvtsi256_si32(t);
        sum16[2 * b + 1] = _mm256_extract_epi32(t, 4);
        sum[b] = sum16[2 * b] + sum16[2 * b + 1];
    }
}

#pragma GCC diagnostic pop

#endif

} // namespace

int q6_k_sub_of_lane(int lane) { return 4 * (lane % 4) + lane / 4; }

void q6_k_lane_scales(const uint8_t *block, const float *x_scales, float scale[16]) {
    const float d = f16_to_f32(load_u16(block + 208));
    const auto *sc = reinterpret_cast<const int8_t *>(block + 192);
    for (int lane = 0; lane < 16; ++lane) {
        const int s = q6_k_sub_of_lane(lane);
        scale[lane] = (d * float(sc[s])) * x_scales[s / 2];
    }
}

float q6_k_sum_lanes(const float lanes[16]) {
    float quads[4];
    for (int i = 0; i < 4; ++i) quads[i] = (lanes[4 * i] + lanes[4 * i + 1]) + (lanes[4 * i + 2] + lanes[4 * i + 3]);
    return (quads[0] + quads[1]) + (quads[2] + quads[3]);
}

size_t int8_vector_bytes(int64_t n) {
    return size_t(n) + size_t(n / 32) * (sizeof(float) + sizeof(int32_t)) + size_t(n / 16) * sizeof(int32_t);
}

namespace {

void quantize_scalar(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum, int32_t *sum16) {
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float scale = amax / 127.0f, inv = scale != 0 ? 1.0f / scale : 0.0f;
        int32_t s[2] = {0, 0};
        for (int j = 0; j < 32; ++j) {
            const int v = int(std::clamp(std::nearbyint(x[j] * inv), -127.0f, 127.0f));
            q[32 * b + j] = int8_t(v);
            s[j / 16] += v;
        }
        d[b] = scale;
        sum16[2 * b] = s[0];
        sum16[2 * b + 1] = s[1];
        sum[b] = s[0] + s[1];
    }
}

} // namespace

Int8Vector quantize_activations(const float *x, int64_t n, void *buffer, Int8Level level) {
    auto *q = static_cast<int8_t *>(buffer);
    auto *d = reinterpret_cast<float *>(q + n);
    auto *sum = reinterpret_cast<int32_t *>(d + n / 32);
    auto *sum16 = sum + n / 32;
#if defined(__x86_64__)
    if (level == Int8Level::Avx512Vnni) quantize_avx512(x, n, q, d, sum, sum16);
    else if (avx2_kernels(level)) quantize_avx2(x, n, q, d, sum, sum16);
    else
#endif
        quantize_scalar(x, n, q, d, sum, sum16);
    return Int8Vector{q, d, sum, sum16, n};
}

Int8Level int8_level() {
    const CpuFeatures &cpu = cpu_features();
    return cpu.avx512_vnni ? Int8Level::Avx512Vnni
           : cpu.avx_vnni  ? Int8Level::AvxVnni
           : cpu.avx2_fma  ? Int8Level::Avx2
                           : Int8Level::None;
}

DotInt8Fn dot_int8_kernel(DType dtype, Int8Level level) {
#if defined(__x86_64__)
    if (dtype == DType::Q6_K)
        return level == Int8Level::Avx512Vnni ? dot_q6_k_avx512vnni : avx2_kernels(level) ? dot_q6_k_avx2 : nullptr;
    const bool vnni = level == Int8Level::Avx512Vnni, avx2 = avx2_kernels(level);
    if (!vnni && !avx2) return nullptr;
    switch (dtype) {
    case DType::Q8_0: return vnni ? dot_avx512vnni<Q8_0, pair_q8_0_vnni> : dot_avx2<Q8_0, block_q8_0_avx2>;
    case DType::Q4_0: return vnni ? dot_avx512vnni<Q4_0, pair_codes_vnni<Q4_0>> : dot_avx2<Q4_0, block_codes_avx2<Q4_0>>;
    case DType::Q4_1: return vnni ? dot_avx512vnni<Q4_1, pair_codes_vnni<Q4_1>> : dot_avx2<Q4_1, block_codes_avx2<Q4_1>>;
    case DType::Q5_0: return vnni ? dot_avx512vnni<Q5_0, pair_codes_vnni<Q5_0>> : dot_avx2<Q5_0, block_codes_avx2<Q5_0>>;
    case DType::Q5_1: return vnni ? dot_avx512vnni<Q5_1, pair_codes_vnni<Q5_1>> : dot_avx2<Q5_1, block_codes_avx2<Q5_1>>;
    default: return nullptr;
    }
#endif
    return nullptr;
}

} // namespace rwkvrt
