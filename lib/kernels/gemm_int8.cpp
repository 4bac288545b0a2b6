// Intrinsics in functions with their own target attributes: Debian's Highway (1.0.3) compiles no
// target with VNNI.
#include "kernels/gemm_int8.h"
#include "kernels/prefetch.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu.h"
#include "exec/thread_pool.h"
#include "kernels/dot_int8.h"
#include "kernels/matrix.h"
#include "kernels/matvec_job.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/block_codes_avx2.h"
#endif

namespace rwkvrt {

namespace {


// The 32 codes of a Q4/Q5 block: low nibbles are elements 0..15, high nibbles 16..31, and Q5's
// fifth bits come from the 32-bit word qh.
void nibble_codes(const uint8_t *qs, const uint8_t *qh, uint8_t *u) {
    const uint32_t high = qh ? load_u32(qh) : 0;
    for (int j = 0; j < 16; ++j) {
        u[j] = uint8_t((qs[j] & 15) | (((high >> j) & 1) << 4));
        u[j + 16] = uint8_t((qs[j] >> 4) | (((high >> (j + 16)) & 1) << 4));
    }
}

} // namespace

bool block_code_layout(DType dtype, BlockCodeLayout *layout) {
    switch (dtype) {
    case DType::Q8_0: *layout = {32, 128, false}; return true;
    case DType::Q4_0: *layout = {32, 8, false}; return true;
    case DType::Q5_0: *layout = {32, 16, false}; return true;
    case DType::Q6_K: *layout = {16, 32, false}; return true;
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: *layout = {32, 0, true}; return true;
    default: return false;
    }
}

void block_codes(DType dtype, const uint8_t *b, uint8_t *u, float *a, float *m) {
    switch (dtype) {
    case DType::Q8_0:
        a[0] = f16_to_f32(load_u16(b));
        for (int j = 0; j < 32; ++j) u[j] = uint8_t(int(int8_t(b[2 + j])) + 128);
        return;
    case DType::Q4_0:
        a[0] = f16_to_f32(load_u16(b));
        return nibble_codes(b + 2, nullptr, u);
    case DType::Q5_0:
        a[0] = f16_to_f32(load_u16(b));
        return nibble_codes(b + 6, b + 2, u);
    case DType::Q4_1:
        a[0] = f16_to_f32(load_u16(b));
        m[0] = f16_to_f32(load_u16(b + 2));
        return nibble_codes(b + 4, nullptr, u);
    case DType::Q5_1:
        a[0] = f16_to_f32(load_u16(b));
        m[0] = f16_to_f32(load_u16(b + 2));
        return nibble_codes(b + 8, b + 4, u);
    case DType::Q4_K:
    case DType::Q5_K: {
        // 8 sub-blocks of 32: element = d·scale_j·q − dmin·min_j.
        const bool q5 = dtype == DType::Q5_K;
        const float d = f16_to_f32(load_u16(b)), dmin = f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + (q5 ? 48 : 16);
        for (int j = 0; j < 8; ++j) {
            int sc, mn;
            k_scale_min(scales, j, &sc, &mn);
            a[j] = d * float(sc);
            m[j] = -(dmin * float(mn));
            const uint8_t *q = qs + 32 * (j / 2);
            for (int l = 0; l < 32; ++l) {
                const int low = j % 2 ? q[l] >> 4 : q[l] & 15;
                u[32 * j + l] = uint8_t(low | (q5 ? ((qh[l] >> j) & 1) << 4 : 0));
            }
        }
        return;
    }
    case DType::Q6_K: {
        // 16 sub-blocks of 16: element = d·scale·(q − 32), q of 6 bits (4 in ql, 2 in qh).
        const float d = f16_to_f32(load_u16(b + 208));
        const uint8_t *ql = b, *qh = b + 128;
        const auto *sc = reinterpret_cast<const int8_t *>(b + 192);
        for (int j = 0; j < 16; ++j) a[j] = d * float(sc[j]);
        for (int i = 0; i < 256; ++i) {
            const int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
            const uint8_t lo = ql[64 * half + 32 * (quarter % 2) + l];
            const int low = quarter < 2 ? lo & 15 : lo >> 4;
            u[i] = uint8_t(low | ((qh[32 * half + l] >> (2 * quarter)) & 3) << 4);
        }
        return;
    }
    default:
        return;
    }
}

bool interleavable(const Matrix &W) {
    // The levels of the interleaved kernels: with AVX2, Q8_0 rows keep their row kernel (1.5× llama.cpp's
    // generation there, docs/PERFORMANCE.md).
    const bool avx2_type = W.dtype == DType::Q4_0 || W.dtype == DType::Q4_K || W.dtype == DType::Q5_K || W.dtype == DType::Q6_K;
    const bool type = int8_level() == Int8Level::Avx512Vnni ? avx2_type || W.dtype == DType::Q8_0
                                                            : avx2_type && avx2_kernels(int8_level());
    return type && W.rows % kInterleavedRows == 0 && !W.interleaved;
}

size_t interleaved_group_bytes(const Matrix &W) {
    if (W.dtype == DType::Q4_K) return size_t(W.cols) / 256 * kQ4KGroupBlockBytes;
    if (W.dtype == DType::Q5_K) return size_t(W.cols) / 256 * kQ5KGroupBlockBytes;
    return kInterleavedRows * W.row_bytes();
}

namespace {

// Group g of a Q4_K/Q5_K matrix (kernels/gemm_int8.h), per super-block: d and dmin, the 6-bit scales
// and mins unpacked to bytes, Q5_K's fifth bits, then the nibbles, as 64-byte vectors of four bytes per row.
void interleave_k(const Matrix &W, size_t g, uint8_t *group) {
    const bool q5 = W.dtype == DType::Q5_K;
    const size_t block_bytes = q5 ? 176 : 144, codes = q5 ? 832 : 320;
    const size_t sb_bytes = q5 ? kQ5KGroupBlockBytes : kQ4KGroupBlockBytes;
    for (size_t sb = 0; sb < size_t(W.cols) / 256; ++sb)
        for (size_t r = 0; r < kInterleavedRows; ++r) {
            uint8_t *dst = group + sb * sb_bytes;
            const uint8_t *src = W.row(int64_t(g * kInterleavedRows + r)) + sb * block_bytes;
            std::memcpy(dst + 2 * r, src, 2);
            std::memcpy(dst + 32 + 2 * r, src + 2, 2);
            for (int j = 0; j < 8; ++j) {
                int sc, mn;
                k_scale_min(src + 4, j, &sc, &mn);
                dst[64 + 16 * j + r] = uint8_t(sc);
                dst[192 + 16 * j + r] = uint8_t(mn);
            }
            if (q5)
                for (size_t c = 0; c < 8; ++c) std::memcpy(dst + 320 + 64 * c + 4 * r, src + 16 + 4 * c, 4);
            for (size_t c = 0; c < 32; ++c) std::memcpy(dst + codes + 64 * c + 4 * r, src + (q5 ? 48 : 16) + 4 * c, 4);
        }
}

// Interleaved Q6_K super-blocks of 16 rows (kernels/gemm_int8.h): d (16 fp16), the int8 scales as
// [sub-block][row], then ql's and qh's 64-byte vectors of four bytes per row, in the order the kernels
// first read them, so that the hardware prefetcher sees one ascending stream: per half h of the
// super-block, ql vector 16h + i and qh vector 8h + i for i = 0..7, then ql vectors 16h + 8 .. 16h + 15.
// Q6KLow(h, p, i) is ql vector 16h + 8p + i; Q6KHigh(h, i) is qh vector 8h + i.
constexpr size_t kQ6KScales = 32, kQ6KCodes = 288, kQ6KBytes = kInterleavedRows * 210;
constexpr size_t Q6KLow(size_t h, size_t p, size_t i) { return kQ6KCodes + 64 * (24 * h + (p == 0 ? 2 * i : 16 + i)); }
constexpr size_t Q6KHigh(size_t h, size_t i) { return kQ6KCodes + 64 * (24 * h + 2 * i + 1); }

// Group g of a Q6_K matrix in that layout: the file's bytes in another order.
void interleave_q6_k(const Matrix &W, size_t g, uint8_t *group) {
    for (size_t sb = 0; sb < size_t(W.cols) / 256; ++sb)
        for (size_t r = 0; r < kInterleavedRows; ++r) {
            uint8_t *dst = group + sb * kQ6KBytes;
            const uint8_t *src = W.row(int64_t(g * kInterleavedRows + r)) + sb * 210;
            std::memcpy(dst + 2 * r, src + 208, 2);
            for (size_t j = 0; j < 16; ++j) dst[kQ6KScales + 16 * j + r] = src[192 + j];
            for (size_t c = 0; c < 32; ++c) std::memcpy(dst + Q6KLow(c / 16, c % 16 / 8, c % 8) + 4 * r, src + 4 * c, 4);
            for (size_t c = 0; c < 16; ++c) std::memcpy(dst + Q6KHigh(c / 8, c % 8) + 4 * r, src + 128 + 4 * c, 4);
        }
}

// Group g of a Q8_0 or Q4_0 matrix, per block: the 16 rows' scales, then their codes as 64-byte vectors
// of four bytes per row.
void interleave_q8_0_q4_0(const Matrix &W, size_t g, uint8_t *group) {
    const bool q8 = W.dtype == DType::Q8_0;
    const size_t block_bytes = q8 ? 34 : 18, blocks = size_t(W.cols) / 32, codes = q8 ? 32 : 16;
    const uint8_t flip = q8 ? 0x80 : 0; // q8_0's codes are q + 128 (kernels/gemm_int8.h)
    for (size_t r = 0; r < kInterleavedRows; ++r) {
        const uint8_t *src = W.row(int64_t(g * kInterleavedRows + r));
        uint8_t *dst = group;
        for (size_t blk = 0; blk < blocks; ++blk, src += block_bytes, dst += kInterleavedRows * block_bytes) {
            std::memcpy(dst + 2 * r, src, 2); // the scale
            for (size_t c = 0; c < codes / 4; ++c)
                for (size_t i = 0; i < 4; ++i) dst[32 + 64 * c + 4 * r + i] = uint8_t(src[2 + 4 * c + i] ^ flip);
        }
    }
}

} // namespace

Matrix interleave_rows(const Matrix &W, ThreadPool &pool) {
    const size_t groups = size_t(W.rows) / kInterleavedRows, group_bytes = interleaved_group_bytes(W);
    Matrix out;
    out.rows = W.rows;
    out.cols = W.cols;
    out.dtype = W.dtype;
    out.owned.allocate(groups * group_bytes);
    out.interleaved = true;
    void (*const interleave)(const Matrix &, size_t, uint8_t *) =
        W.dtype == DType::Q4_K || W.dtype == DType::Q5_K ? interleave_k : W.dtype == DType::Q6_K ? interleave_q6_k : interleave_q8_0_q4_0;
    pool.run(int64_t(groups), pool.size(), [&](int64_t g, int) { interleave(W, size_t(g), out.owned.data() + size_t(g) * group_bytes); });
    out.data = out.owned.data();
    out.int8_activations = W.int8_activations;
    out.int8_products = W.int8_products;
    return out;
}

#if defined(__x86_64__)

namespace {

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source and then warn about
// it (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define RWKVRT_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vnni")))
#define RWKVRT_AVX2 __attribute__((target("avx2,fma,f16c")))

// A tile is kRowVecs vectors of 16 weight rows × kTokens activation rows: 8 int32 and 8 fp32
// accumulators, two weight vectors and the epilogue's constants fit the 32 registers.
constexpr size_t kRowVecs = 2, kTileRows = 16 * kRowVecs, kTokens = 4, kMaxBandTiles = 4;

// One activation row as the kernel reads it: the int8 quants, then per sub-block the scale of its
// 32-block, offset·Σq and float(Σq)·d_x, and for the kernels of 16-bit products (`wide`) the quants
// again as int16. The first int8_vector_bytes(K) bytes are quantize_activations'.
struct ActivationRow {
    const int8_t *q;
    const float *dx;
    const int32_t *offset_sum;
    const float *sum_dx;
    const int16_t *q16; // null unless wide
};

size_t activation_row_bytes(size_t K, size_t n_sub, bool wide) {
    return (int8_vector_bytes(int64_t(K)) + n_sub * 12 + (wide ? 2 * K : 0) + 63) / 64 * 64;
}

ActivationRow activation_row(uint8_t *rec, size_t K, size_t n_sub, bool wide) {
    auto *dx = reinterpret_cast<float *>(rec + int8_vector_bytes(int64_t(K)));
    return {reinterpret_cast<const int8_t *>(rec), dx, reinterpret_cast<const int32_t *>(dx + n_sub),
            reinterpret_cast<const float *>(dx + 2 * n_sub), wide ? reinterpret_cast<const int16_t *>(dx + 3 * n_sub) : nullptr};
}

void pack_activation_row(const float *x, size_t K, const BlockCodeLayout &layout, Int8Level level, bool wide, uint8_t *rec) {
    const size_t n_sub = K / size_t(layout.sub);
    const Int8Vector v = quantize_activations(x, int64_t(K), rec, level);
    auto *dx = reinterpret_cast<float *>(rec + int8_vector_bytes(int64_t(K)));
    auto *offset_sum = reinterpret_cast<int32_t *>(dx + n_sub);
    float *sum_dx = dx + 2 * n_sub;
    if (wide) std::copy(v.q, v.q + K, reinterpret_cast<int16_t *>(dx + 3 * n_sub));
    const int32_t *const sums = layout.sub == 16 ? v.sum16 : v.sum; // a sub-block is 16 or 32 elements
    for (size_t j = 0; j < n_sub; ++j) {
        const size_t k0 = j * size_t(layout.sub);
        const int32_t s = sums[j];
        dx[j] = v.d[k0 / 32];
        offset_sum[j] = layout.offset * s;
        sum_dx[j] = float(s) * dx[j];
    }
}

// The 8 × 8 block of 32-bit elements in r, transposed: unpack 32-bit and 64-bit pairs, then 128-bit halves.
RWKVRT_AVX2 inline void transpose8(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        u[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

// block_codes for Q6_K with AVX2, which every CPU running these kernels has: a vector per 32 codes.
RWKVRT_AVX2 void q6_k_codes_avx2(const uint8_t *b, uint8_t *u, float *a) {
    // a[j] = d · float(scale j), eight at a time: the same single rounding as block_codes'.
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(load_u16(b + 208)));
    for (int j = 0; j < 16; j += 8) {
        const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(b + 192 + j)));
        _mm256_storeu_ps(a + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc)));
    }
    const __m256i low4 = _mm256_set1_epi8(15), low2 = _mm256_set1_epi8(3);
    for (int half = 0; half < 2; ++half) {
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b + 128 + 32 * half));
        for (int quarter = 0; quarter < 4; ++quarter) { // 16-bit shifts; the masks drop what crosses bytes
            const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b + 64 * half + 32 * (quarter % 2)));
            const __m256i low = _mm256_and_si256(quarter < 2 ? ql : _mm256_srli_epi16(ql, 4), low4);
            const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * quarter), low2);
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(u + 128 * half + 32 * quarter), _mm256_or_si256(low, _mm256_slli_epi16(high, 4)));
        }
    }
}

// A band's weights as the kernel reads them, per tile: codes as [k/4][row 0..31][4 bytes], then a
// and m as [sub-block][row 0..31]. Rows past the matrix are zero. Eight rows at a time: their blocks
// decoded in the order they lie in memory, each row fetching the one kAhead rows on, then their
// four-code words transposed in registers. Decoding Q6_K one code at a time and storing one word at a
// time, packing a Q6_K head took 5× the time of its products for 64 conversations; now 1.2×.
RWKVRT_AVX2 void pack_weight_tile(const Matrix &W, const BlockCodeLayout &layout, size_t r0, uint8_t *codes, float *a, float *m) {
    const size_t K = size_t(W.cols), rb = W.row_bytes(), blocks = K / size_t(dtype_info(W.dtype).block_elems);
    const size_t bb = size_t(dtype_info(W.dtype).block_bytes), be = K / blocks, subs = be / size_t(layout.sub);
    constexpr size_t kAhead = 8; // rows fetched ahead: a few cache lines each, too short for the hardware prefetcher
    thread_local std::vector<uint8_t> decoded; // eight rows of K codes
    decoded.resize(8 * K);
    float ba[16], bm[16] = {};
    for (size_t i0 = 0; i0 < kTileRows; i0 += 8) {
        for (size_t i = 0; i < 8; ++i) {
            uint8_t *u = decoded.data() + i * K;
            const size_t lane = i0 + i;
            if (r0 + lane >= size_t(W.rows)) {
                std::memset(u, 0, K);
                for (size_t j = 0; j < blocks * subs; ++j) a[j * kTileRows + lane] = m[j * kTileRows + lane] = 0.0f;
                continue;
            }
            const uint8_t *row = W.data + (r0 + lane) * rb;
            if (r0 + lane + kAhead < size_t(W.rows))
                for (size_t off = 0; off < rb; off += 64) _mm_prefetch(reinterpret_cast<const char *>(row + kAhead * rb + off), _MM_HINT_T1);
            for (size_t blk = 0; blk < blocks; ++blk, u += be) {
                if (W.dtype == DType::Q6_K) q6_k_codes_avx2(row + blk * bb, u, ba);
                else block_codes(W.dtype, row + blk * bb, u, ba, bm);
                for (size_t sb = 0; sb < subs; ++sb) a[(blk * subs + sb) * kTileRows + lane] = ba[sb];
                if (layout.affine) // the kernels of other types do not read m
                    for (size_t sb = 0; sb < subs; ++sb) m[(blk * subs + sb) * kTileRows + lane] = bm[sb];
            }
        }
        for (size_t w0 = 0; w0 < K / 4; w0 += 8) {
            __m256i r[8];
            for (size_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(decoded.data() + i * K + 4 * w0));
            transpose8(r);
            for (size_t w = 0; w < 8; ++w) _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + (w0 + w) * 4 * kTileRows + 4 * i0), r[w]);
        }
    }
}

// y[t][0..31] for the kTokens rows x[t] (rows past `tokens` are computed but not stored; rows past
// `valid_rows` of the tile are not stored).
template <int kSub, bool kAffine>
RWKVRT_AVX512VNNI void tile_kernel(const uint8_t *codes, const float *a, const float *m, size_t n_sub,
                                   const ActivationRow *x, size_t tokens, float *y, size_t ldy, size_t valid_rows) {
    __m512 f[kRowVecs][kTokens];
    for (auto &fr : f)
        for (auto &v : fr) v = _mm512_setzero_ps();
    for (size_t j = 0; j < n_sub; ++j) {
        __m512i s[kRowVecs][kTokens];
        for (auto &sr : s)
            for (auto &v : sr) v = _mm512_setzero_si512();
        const size_t k0 = j * kSub;
        for (size_t k = k0; k < k0 + kSub; k += 4, codes += 4 * kTileRows) {
            const __m512i w0 = _mm512_loadu_si512(codes), w1 = _mm512_loadu_si512(codes + 64);
            for (size_t t = 0; t < kTokens; ++t) {
                int32_t four;
                std::memcpy(&four, x[t].q + k, 4);
                const __m512i xb = _mm512_set1_epi32(four);
                s[0][t] = _mm512_dpbusd_epi32(s[0][t], w0, xb);
                s[1][t] = _mm512_dpbusd_epi32(s[1][t], w1, xb);
            }
        }
        const __m512 a0 = _mm512_loadu_ps(a + j * kTileRows), a1 = _mm512_loadu_ps(a + j * kTileRows + 16);
        const __m512 m0 = kAffine ? _mm512_loadu_ps(m + j * kTileRows) : a0;
        const __m512 m1 = kAffine ? _mm512_loadu_ps(m + j * kTileRows + 16) : a1;
        for (size_t t = 0; t < kTokens; ++t) {
            const __m512 dx = _mm512_set1_ps(x[t].dx[j]);
            __m512i s0 = s[0][t], s1 = s[1][t];
            if constexpr (!kAffine) {
                const __m512i c = _mm512_set1_epi32(x[t].offset_sum[j]);
                s0 = _mm512_sub_epi32(s0, c);
                s1 = _mm512_sub_epi32(s1, c);
            }
            f[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(a0, dx), f[0][t]);
            f[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(a1, dx), f[1][t]);
            if constexpr (kAffine) {
                const __m512 sdx = _mm512_set1_ps(x[t].sum_dx[j]);
                f[0][t] = _mm512_fmadd_ps(m0, sdx, f[0][t]);
                f[1][t] = _mm512_fmadd_ps(m1, sdx, f[1][t]);
            }
        }
    }
    const __mmask16 mask0 = valid_rows >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid_rows) - 1);
    const __mmask16 mask1 = valid_rows >= 32 ? __mmask16(0xFFFF) : valid_rows <= 16 ? 0 : __mmask16((1u << (valid_rows - 16)) - 1);
    for (size_t t = 0; t < tokens; ++t) {
        _mm512_mask_storeu_ps(y + t * ldy, mask0, f[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, mask1, f[1][t]);
    }
}

// Four int8 activations in every 32-bit lane.
RWKVRT_AVX512VNNI inline __m512i broadcast4(const int8_t *x) {
    int32_t four;
    std::memcpy(&four, x, 4);
    return _mm512_set1_epi32(four);
}

// y[0..16) for one group of 16 interleaved rows: the contract of the GEMM, one activation row.
template <bool kQ8>
RWKVRT_AVX512VNNI void matvec_group(const uint8_t *group, size_t blocks, const Int8Vector &x, float *y) {
    constexpr size_t kBlockBytes = kQ8 ? 34 : 18;
    constexpr int kOffset = kQ8 ? 128 : 8;
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512 f = _mm512_setzero_ps();
    for (size_t blk = 0; blk < blocks; ++blk, group += kInterleavedRows * kBlockBytes) {
        const int8_t *xq = x.q + 32 * blk;
        // Two chains of vpdpbusd, added at the end: the integer sum is exact in any order.
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        if constexpr (kQ8) {
            for (size_t c = 0; c < 8; c += 2) {
                s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(group + 32 + 64 * c), broadcast4(xq + 4 * c));
                s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(group + 32 + 64 * (c + 1)), broadcast4(xq + 4 * c + 4));
            }
        } else {
            for (size_t c = 0; c < 4; ++c) {
                const __m512i q = _mm512_loadu_si512(group + 32 + 64 * c);
                s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(q, low4), broadcast4(xq + 4 * c));
                s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(q, 4), low4), broadcast4(xq + 16 + 4 * c));
            }
        }
        const __m512i s = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_set1_epi32(kOffset * x.sum[blk]));
        const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(group))),
                                           _mm512_set1_ps(x.d[blk]));
        f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, f);
    }
    _mm512_storeu_ps(y, f);
}

// A tile of an interleaved Q8_0/Q4_0 matrix and kT ≤ kTokens activation rows, read where it lies: its
// two groups of 16 rows are already vectors of four codes per row (q4_0's nibbles are split here, once
// per kT activation rows). The integer sums and the fp32 steps are tile_kernel's, so the bits are too.
// `group1` is group0 again when the matrix ends after 16 rows of the tile (its outputs are not stored).
template <bool kQ8, size_t kT>
RWKVRT_AVX512VNNI void tile_kernel_interleaved(const uint8_t *group0, const uint8_t *group1, size_t blocks,
                                               const ActivationRow *x, float *y, size_t ldy, size_t valid_rows) {
    constexpr size_t kBlockBytes = kInterleavedRows * (kQ8 ? 34 : 18);
    constexpr int kChunks = kQ8 ? 8 : 4;
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512 f[kRowVecs][kT];
    for (auto &fr : f)
        for (auto &v : fr) v = _mm512_setzero_ps();
    for (size_t j = 0; j < blocks; ++j, group0 += kBlockBytes, group1 += kBlockBytes) {
        __m512i s[kRowVecs][kT];
        for (auto &sr : s)
            for (auto &v : sr) v = _mm512_setzero_si512();
        for (int c = 0; c < kChunks; ++c) {
            const __m512i q0 = _mm512_loadu_si512(group0 + 32 + 64 * c), q1 = _mm512_loadu_si512(group1 + 32 + 64 * c);
            if constexpr (kQ8) {
                for (size_t t = 0; t < kT; ++t) {
                    const __m512i xb = broadcast4(x[t].q + 32 * j + 4 * c);
                    s[0][t] = _mm512_dpbusd_epi32(s[0][t], q0, xb);
                    s[1][t] = _mm512_dpbusd_epi32(s[1][t], q1, xb);
                }
            } else { // low nibbles are elements 4c.., high nibbles 16 + 4c..
                const __m512i lo0 = _mm512_and_si512(q0, low4), lo1 = _mm512_and_si512(q1, low4);
                const __m512i hi0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
                const __m512i hi1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
                for (size_t t = 0; t < kT; ++t) {
                    const __m512i xl = broadcast4(x[t].q + 32 * j + 4 * c), xh = broadcast4(x[t].q + 32 * j + 16 + 4 * c);
                    s[0][t] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s[0][t], lo0, xl), hi0, xh);
                    s[1][t] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s[1][t], lo1, xl), hi1, xh);
                }
            }
        }
        const __m512 a0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(group0)));
        const __m512 a1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(group1)));
        for (size_t t = 0; t < kT; ++t) {
            const __m512 dx = _mm512_set1_ps(x[t].dx[j]);
            const __m512i c = _mm512_set1_epi32(x[t].offset_sum[j]);
            f[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s[0][t], c)), _mm512_mul_ps(a0, dx), f[0][t]);
            f[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s[1][t], c)), _mm512_mul_ps(a1, dx), f[1][t]);
        }
    }
    const __mmask16 mask1 = valid_rows >= 32 ? __mmask16(0xFFFF) : 0;
    for (size_t t = 0; t < kT; ++t) {
        _mm512_storeu_ps(y + t * ldy, f[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, mask1, f[1][t]);
    }
}

// One Q4_K/Q5_K super-block's (d·scale, −dmin·min) of 16 rows for sub-block j: block_codes' values.
RWKVRT_AVX512VNNI inline void k_constants(const uint8_t *sb, int j, __m512 *a, __m512 *m) {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb + 32)));
    const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sb + 64 + 16 * j))));
    const __m512 mn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sb + 192 + 16 * j))));
    *a = _mm512_mul_ps(d, sc);
    const __m512i sign = _mm512_set1_epi32(int(0x80000000u)); // −x exactly, as the scalar code negates
    *m = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_mul_ps(dmin, mn)), sign));
}

// The codes of sub-blocks 2·pair (low nibbles) and 2·pair + 1 (high) of chunk c of a Q4_K/Q5_K
// super-block: four codes of each of 16 rows, with Q5_K's fifth bit.
template <bool kQ5>
RWKVRT_AVX512VNNI inline void k_codes(const uint8_t *sb, int pair, int c, __m512i *lo, __m512i *hi) {
    const __m512i low4 = _mm512_set1_epi8(15), bit = _mm512_set1_epi8(1);
    const __m512i q = _mm512_loadu_si512(sb + (kQ5 ? 832 : 320) + 64 * (8 * pair + c));
    *lo = _mm512_and_si512(q, low4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    if constexpr (kQ5) { // bit j of qh is sub-block j's fifth bit; 16-bit shifts, masked per byte
        const __m512i h = _mm512_loadu_si512(sb + 320 + 64 * c);
        *lo = _mm512_or_si512(*lo, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * pair), bit), 4));
        *hi = _mm512_or_si512(*hi, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * pair + 1), bit), 4));
    }
}

// y[t · ldy + 0..16) for one group of 16 interleaved Q4_K/Q5_K rows and the activation rows x[0..kRows),
// read where they lie: tile_kernel's integer sums and fp32 steps, so its bits. The mat-vec (kRows = 1)
// and steps of a few rows, where packing the tile would be shared by no other activation rows.
template <bool kQ5, size_t kRows>
RWKVRT_AVX512VNNI void group_k_rows(const uint8_t *group, size_t super_blocks, const ActivationRow *x, float *y, size_t ldy) {
    constexpr size_t kBytes = kQ5 ? kQ5KGroupBlockBytes : kQ4KGroupBlockBytes;
    __m512 f[kRows];
    for (__m512 &v : f) v = _mm512_setzero_ps();
    for (size_t sb = 0; sb < super_blocks; ++sb, group += kBytes) {
        for (int pair = 0; pair < 4; ++pair) {
            const size_t j = 8 * sb + 2 * size_t(pair); // sub-blocks j (low nibbles) and j + 1 (high)
            __m512i s0[kRows], s1[kRows];
            for (size_t t = 0; t < kRows; ++t) s0[t] = s1[t] = _mm512_setzero_si512();
            for (int c = 0; c < 8; ++c) {
                __m512i lo, hi;
                k_codes<kQ5>(group, pair, c, &lo, &hi);
                for (size_t t = 0; t < kRows; ++t) {
                    s0[t] = _mm512_dpbusd_epi32(s0[t], lo, broadcast4(x[t].q + 32 * j + 4 * c));
                    s1[t] = _mm512_dpbusd_epi32(s1[t], hi, broadcast4(x[t].q + 32 * (j + 1) + 4 * c));
                }
            }
            __m512 a, m;
            k_constants(group, 2 * pair, &a, &m);
            for (size_t t = 0; t < kRows; ++t) {
                f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0[t]), _mm512_mul_ps(a, _mm512_set1_ps(x[t].dx[j])), f[t]);
                f[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(x[t].sum_dx[j]), f[t]);
            }
            k_constants(group, 2 * pair + 1, &a, &m);
            for (size_t t = 0; t < kRows; ++t) {
                f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[t]), _mm512_mul_ps(a, _mm512_set1_ps(x[t].dx[j + 1])), f[t]);
                f[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(x[t].sum_dx[j + 1]), f[t]);
            }
        }
    }
    for (size_t t = 0; t < kRows; ++t) _mm512_storeu_ps(y + t * ldy, f[t]);
}

// A tile of an interleaved Q4_K/Q5_K matrix into the packed layout of tile_kernel (codes, a, m).
template <bool kQ5>
RWKVRT_AVX512VNNI void pack_weight_tile_k(const Matrix &W, size_t r0, uint8_t *codes, float *a, float *m) {
    constexpr size_t kBytes = kQ5 ? kQ5KGroupBlockBytes : kQ4KGroupBlockBytes;
    const size_t super_blocks = size_t(W.cols) / 256, n_groups = size_t(W.rows) / kInterleavedRows;
    const size_t group_bytes = super_blocks * kBytes;
    for (size_t v = 0; v < kRowVecs; ++v) {
        const size_t g = r0 / kInterleavedRows + v;
        const bool present = g < n_groups;
        for (size_t sb = 0; sb < super_blocks; ++sb) {
            const uint8_t *src = W.data + g * group_bytes + sb * kBytes;
            for (int j = 0; j < 8; ++j) {
                __m512 av = _mm512_setzero_ps(), mv = _mm512_setzero_ps();
                if (present) k_constants(src, j, &av, &mv);
                _mm512_storeu_ps(a + (8 * sb + size_t(j)) * kTileRows + 16 * v, av);
                _mm512_storeu_ps(m + (8 * sb + size_t(j)) * kTileRows + 16 * v, mv);
            }
            for (int pair = 0; pair < 4; ++pair)
                for (int c = 0; c < 8; ++c) {
                    __m512i lo = _mm512_setzero_si512(), hi = lo;
                    if (present) k_codes<kQ5>(src, pair, c, &lo, &hi);
                    const size_t k4 = 64 * sb + 8 * size_t(2 * pair) + size_t(c); // sub-block 2·pair; the next is 8 further
                    _mm512_storeu_si512(codes + k4 * 4 * kTileRows + 64 * v, lo);
                    _mm512_storeu_si512(codes + (k4 + 8) * 4 * kTileRows + 64 * v, hi);
                }
        }
    }
}

// The codes of elements 128h + 32·kQuarter + 4i … + 3 of 16 rows (block_codes' u): the low 4 bits from
// ql byte 64h + 32·(kQuarter % 2) + 4i (its high nibble for quarters 2 and 3), the high 2 from qh byte
// 32h + 4i, bits 2·kQuarter, moved to bits 4–5 (16-bit shifts, masked per byte).
template <int kQuarter>
RWKVRT_AVX512VNNI inline __m512i q6_k_codes(const uint8_t *sb, size_t h, size_t i) {
    const __m512i ql = _mm512_loadu_si512(sb + Q6KLow(h, kQuarter % 2, i));
    const __m512i qh = _mm512_loadu_si512(sb + Q6KHigh(h, i));
    __m512i high = qh;
    if constexpr (kQuarter < 2) high = _mm512_slli_epi16(qh, 4 - 2 * kQuarter);
    if constexpr (kQuarter == 3) high = _mm512_srli_epi16(qh, 2);
    const __m512i low = _mm512_and_si512(kQuarter < 2 ? ql : _mm512_srli_epi16(ql, 4), _mm512_set1_epi8(15));
    return _mm512_or_si512(low, _mm512_and_si512(high, _mm512_set1_epi8(0x30)));
}

// Sub-blocks 8h + 2·kQuarter and the next of super-block `sbi` (at sb) into f, in order: tile_kernel's
// integer sums and fp32 steps for kRows activation rows.
template <int kQuarter, size_t kRows>
RWKVRT_AVX512VNNI inline void q6_k_quarter(const uint8_t *sb, size_t sbi, size_t h, const ActivationRow *x, __m512 *f) {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb)));
    for (size_t half = 0; half < 2; ++half) {
        const size_t jl = 8 * h + 2 * kQuarter + half, j = 16 * sbi + jl;
        __m512i s[kRows];
        for (size_t t = 0; t < kRows; ++t) s[t] = _mm512_setzero_si512();
        for (size_t i = 4 * half; i < 4 * half + 4; ++i) {
            const __m512i u = q6_k_codes<kQuarter>(sb, h, i);
            for (size_t t = 0; t < kRows; ++t)
                s[t] = _mm512_dpbusd_epi32(s[t], u, broadcast4(x[t].q + 256 * sbi + 128 * h + 32 * kQuarter + 4 * i));
        }
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sb + kQ6KScales + 16 * jl)));
        const __m512 a = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
        for (size_t t = 0; t < kRows; ++t) {
            const __m512i st = _mm512_sub_epi32(s[t], _mm512_set1_epi32(x[t].offset_sum[j]));
            f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(st), _mm512_mul_ps(a, _mm512_set1_ps(x[t].dx[j])), f[t]);
        }
    }
}

// y[t · ldy + 0..16) for one group of 16 interleaved Q6_K rows and the activation rows x[0..kRows), read
// where they lie (the bits of tile_kernel<16, false>).
template <size_t kRows>
RWKVRT_AVX512VNNI void group_q6_k_rows(const uint8_t *group, size_t super_blocks, const ActivationRow *x, float *y, size_t ldy) {
    __m512 f[kRows];
    for (__m512 &v : f) v = _mm512_setzero_ps();
    for (size_t sbi = 0; sbi < super_blocks; ++sbi, group += kQ6KBytes)
        for (size_t h = 0; h < 2; ++h) {
            q6_k_quarter<0, kRows>(group, sbi, h, x, f);
            q6_k_quarter<1, kRows>(group, sbi, h, x, f);
            q6_k_quarter<2, kRows>(group, sbi, h, x, f);
            q6_k_quarter<3, kRows>(group, sbi, h, x, f);
        }
    for (size_t t = 0; t < kRows; ++t) _mm512_storeu_ps(y + t * ldy, f[t]);
}

// The codes of quarter kQuarter of half h of a super-block's 16 rows (or zeros) into a tile, at row `lane`.
template <int kQuarter>
RWKVRT_AVX512VNNI inline void pack_q6_k_quarter(const uint8_t *src, size_t sbi, size_t h, uint8_t *codes, size_t lane) {
    for (size_t i = 0; i < 8; ++i) {
        const size_t k4 = 64 * sbi + 32 * h + 8 * kQuarter + i; // element 4·k4 of the row
        _mm512_storeu_si512(codes + k4 * 4 * kTileRows + 4 * lane, src ? q6_k_codes<kQuarter>(src, h, i) : _mm512_setzero_si512());
    }
}

// A tile of an interleaved Q6_K matrix into the packed layout of tile_kernel (codes, a; m is not read).
RWKVRT_AVX512VNNI void pack_weight_tile_q6_k(const Matrix &W, size_t r0, uint8_t *codes, float *a, float *) {
    const size_t super_blocks = size_t(W.cols) / 256, n_groups = size_t(W.rows) / kInterleavedRows;
    for (size_t v = 0; v < kRowVecs; ++v) {
        const size_t g = r0 / kInterleavedRows + v;
        for (size_t sbi = 0; sbi < super_blocks; ++sbi) {
            const uint8_t *src = g < n_groups ? W.data + (g * super_blocks + sbi) * kQ6KBytes : nullptr;
            const __m512 d = src ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(src))) : _mm512_setzero_ps();
            for (size_t j = 0; j < 16; ++j) {
                const __m512i sc = src ? _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + kQ6KScales + 16 * j)))
                                       : _mm512_setzero_si512();
                _mm512_storeu_ps(a + (16 * sbi + j) * kTileRows + 16 * v, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc)));
            }
            for (size_t h = 0; h < 2; ++h) {
                pack_q6_k_quarter<0>(src, sbi, h, codes, 16 * v);
                pack_q6_k_quarter<1>(src, sbi, h, codes, 16 * v);
                pack_q6_k_quarter<2>(src, sbi, h, codes, 16 * v);
                pack_q6_k_quarter<3>(src, sbi, h, codes, 16 * v);
            }
        }
    }
}

#pragma GCC diagnostic pop

// One sub-block's exact sum s of 8 rows into their fp32 accumulator f: the contract's fp32 steps, with
// the rows' constants a and m (m only read when kAffine). kOffset: s still holds offset·Σq (codes are
// q + offset).
template <bool kAffine, bool kOffset>
RWKVRT_AVX2 inline __m256 accumulate_sub_block_avx2(__m256 f, __m256i s, const ActivationRow &x, size_t j, __m256 a,
                                                    __m256 m = _mm256_setzero_ps()) {
    if constexpr (kOffset) s = _mm256_sub_epi32(s, _mm256_set1_epi32(x.offset_sum[j]));
    f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(a, _mm256_set1_ps(x.dx[j])), f);
    if constexpr (kAffine) f = _mm256_fmadd_ps(m, _mm256_set1_ps(x.sum_dx[j]), f);
    return f;
}

// The same with a and m read from 8 floats each.
template <bool kAffine, bool kOffset>
RWKVRT_AVX2 inline __m256 accumulate_sub_block_avx2(__m256 f, __m256i s, const ActivationRow &x, size_t j, const float *a,
                                                    const float *m) {
    return accumulate_sub_block_avx2<kAffine, kOffset>(f, s, x, j, _mm256_loadu_ps(a), kAffine ? _mm256_loadu_ps(m) : _mm256_setzero_ps());
}

// The first `rows` (at most 16) of the 16 results lo, hi to dst. A whole pass is two plain stores:
// memcpy of a variable length was a library call per activation row.
RWKVRT_AVX2 inline void store_rows_avx2(float *dst, __m256 lo, __m256 hi, size_t rows) {
    if (rows == 16) {
        _mm256_storeu_ps(dst, lo);
        _mm256_storeu_ps(dst + 8, hi);
        return;
    }
    float out[16];
    _mm256_storeu_ps(out, lo);
    _mm256_storeu_ps(out + 8, hi);
    std::memcpy(dst, out, rows * sizeof(float));
}

// Rows 16·half … 16·half + 15 of a tile for activation rows t0 and t0 + 1 (f*0 and f*1), as far as
// the tile and the activation rows go.
RWKVRT_AVX2 inline void store_pass_avx2(__m256 f00, __m256 f01, __m256 f10, __m256 f11, size_t half, size_t t0,
                                        size_t tokens, float *y, size_t ldy, size_t valid_rows) {
    const size_t rows = std::min<size_t>(16, valid_rows - 16 * half);
    for (size_t t = t0; t < std::min(t0 + 2, tokens); ++t)
        store_rows_avx2(y + t * ldy + 16 * half, t == t0 ? f00 : f01, t == t0 ? f10 : f11, rows);
}

// How the AVX2 tiles below multiply codes by activations: vpmaddubsw (AVX2), or vpdpbusd on 256-bit
// vectors, in its VEX form (AVX-VNNI) or its EVEX form (AVX512-VL and VNNI: the same sums, for CPUs
// that have it and are asked for Int8Level::AvxVnni, as the tests do).
enum class TileProducts { Maddubs, VnniVex, VnniEvex };

// s + Σ of the four products u·q in each 32-bit lane (u unsigned, q signed bytes). Inline assembly,
// so that the kernels keep their AVX2 target: only this instruction needs more.
template <TileProducts kProducts>
RWKVRT_AVX2 inline __m256i dpbusd256(__m256i s, __m256i u, __m256i q) {
    static_assert(kProducts != TileProducts::Maddubs);
    if constexpr (kProducts == TileProducts::VnniVex) __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(s) : "x"(u), "x"(q));
    else __asm__("%{evex%} vpdpbusd %2, %1, %0" : "+x"(s) : "x"(u), "x"(q));
    return s;
}

// tile_kernel for CPUs with AVX2 and no AVX512-VNNI, the same exact integer sums and the same fp32
// steps, so the same bits. With vpdpbusd each step adds its products into the 32-bit sums. With
// vpmaddubsw, which adds two products into 16 bits, kRun steps add up in 16 bits before vpmaddwd
// widens them, while 2·kRun·(largest code)·127 stays below 32,768: codes up to 15 (Q4) for 8 steps,
// 31 (Q5) for 4, 63 (Q6_K) for 2. Q8_0's codes would saturate even one step: tile_kernel_q8_avx2
// below. Passes of 16 rows × 2 activation rows keep the accumulators in the 16 registers.
template <int kSub, bool kAffine, int kRun, TileProducts kProducts>
RWKVRT_AVX2 void tile_kernel_avx2(const uint8_t *codes, const float *a, const float *m, size_t n_sub,
                                  const ActivationRow *x, size_t tokens, float *y, size_t ldy, size_t valid_rows) {
    static_assert(kSub % (4 * kRun) == 0 && kTokens % 2 == 0);
    // Named accumulators ([rows 0–7 or 8–15][activation row 0 or 1]) and two steps per iteration: with
    // arrays and one step GCC loaded a weight vector twice and copied every 16-bit sum between
    // registers at every step (one thread: q4_0 +26%, q4_k +23%, q5_k +16% with this form).
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t half = 0; half < 2 && 16 * half < valid_rows; ++half)
        for (size_t t0 = 0; t0 < tokens; t0 += 2) { // tokens are padded to kTokens, an even number
            const ActivationRow &x0 = x[t0], &x1 = x[t0 + 1];
            __m256 f00 = _mm256_setzero_ps(), f01 = f00, f10 = f00, f11 = f00;
            const uint8_t *c = codes + 64 * half;
            for (size_t j = 0; j < n_sub; ++j) {
                __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00;
                for (size_t k = j * kSub; k < (j + 1) * kSub; k += 4 * kRun) {
                    __m256i r00 = _mm256_setzero_si256(), r01 = r00, r10 = r00, r11 = r00;
                    const int8_t *q0 = x0.q + k, *q1 = x1.q + k;
#pragma GCC unroll 2 // further, GCC reorders the 16-bit sums and spills them
                    for (size_t step = 0; step < kRun; ++step, c += 4 * kTileRows, q0 += 4, q1 += 4) {
                        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(c));
                        const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(c + 32));
                        int32_t four0, four1;
                        std::memcpy(&four0, q0, 4);
                        std::memcpy(&four1, q1, 4);
                        const __m256i b0 = _mm256_set1_epi32(four0), b1 = _mm256_set1_epi32(four1);
                        if constexpr (kProducts != TileProducts::Maddubs) {
                            s00 = dpbusd256<kProducts>(s00, w0, b0);
                            s01 = dpbusd256<kProducts>(s01, w0, b1);
                            s10 = dpbusd256<kProducts>(s10, w1, b0);
                            s11 = dpbusd256<kProducts>(s11, w1, b1);
                        } else {
                            r00 = _mm256_add_epi16(r00, _mm256_maddubs_epi16(w0, b0));
                            r01 = _mm256_add_epi16(r01, _mm256_maddubs_epi16(w0, b1));
                            r10 = _mm256_add_epi16(r10, _mm256_maddubs_epi16(w1, b0));
                            r11 = _mm256_add_epi16(r11, _mm256_maddubs_epi16(w1, b1));
                        }
                    }
                    if constexpr (kProducts != TileProducts::Maddubs) {
                        // the sums are already 32-bit
                    } else if constexpr (kSub == 4 * kRun) { // one run per sub-block: no 32-bit sums live across the loop
                        s00 = _mm256_madd_epi16(r00, ones);
                        s01 = _mm256_madd_epi16(r01, ones);
                        s10 = _mm256_madd_epi16(r10, ones);
                        s11 = _mm256_madd_epi16(r11, ones);
                    } else {
                        s00 = _mm256_add_epi32(s00, _mm256_madd_epi16(r00, ones));
                        s01 = _mm256_add_epi32(s01, _mm256_madd_epi16(r01, ones));
                        s10 = _mm256_add_epi32(s10, _mm256_madd_epi16(r10, ones));
                        s11 = _mm256_add_epi32(s11, _mm256_madd_epi16(r11, ones));
                    }
                }
                const size_t lane0 = j * kTileRows + 16 * half;
                f00 = accumulate_sub_block_avx2<kAffine, !kAffine>(f00, s00, x0, j, a + lane0, m + lane0);
                f01 = accumulate_sub_block_avx2<kAffine, !kAffine>(f01, s01, x1, j, a + lane0, m + lane0);
                f10 = accumulate_sub_block_avx2<kAffine, !kAffine>(f10, s10, x0, j, a + lane0 + 8, m + lane0 + 8);
                f11 = accumulate_sub_block_avx2<kAffine, !kAffine>(f11, s11, x1, j, a + lane0 + 8, m + lane0 + 8);
            }
            store_pass_avx2(f00, f01, f10, f11, half, t0, tokens, y, ldy, valid_rows);
        }
}

// A tile of Q8_0 rows for tile_kernel_q8_avx2: the quants q as int16, [row / 16][k/2][row % 16][2], so
// that each pass of the kernel streams its own stretch, then a as pack_weight_tile writes it. Rows
// past the matrix are zero. Eight rows at a time, their pairs of a block transposed in registers; the
// next eight rows are fetched meanwhile: their reads, 34 bytes from each of eight rows, are too short
// for the hardware prefetcher, and without this the packing waited on memory for a quarter of the
// GEMM's time with 64 conversations.
RWKVRT_AVX2 void pack_weight_tile_q8_avx2(const Matrix &W, size_t r0, uint8_t *codes, float *a) {
    const size_t blocks = size_t(W.cols) / 32, ahead_bytes = 8 * W.row_bytes();
    auto *const pairs = reinterpret_cast<__m256i *>(codes); // 8 pairs of int16 quants
    for (size_t i0 = 0; i0 < kTileRows; i0 += 8) {
        const uint8_t *rows[8];
        for (size_t i = 0; i < 8; ++i) rows[i] = r0 + i0 + i < size_t(W.rows) ? W.row(int64_t(r0 + i0 + i)) : nullptr;
        __m256i *dst = pairs + i0 / 16 * blocks * 16 * 2 + i0 % 16 / 8;
        const uint8_t *ahead = r0 + i0 + 16 <= size_t(W.rows) ? W.row(int64_t(r0 + i0 + 8)) : nullptr;
        for (size_t blk = 0; blk < blocks; ++blk, dst += 16 * 2) {
            if (ahead)
                for (size_t off = blk * ahead_bytes / blocks / 64 * 64; off < (blk + 1) * ahead_bytes / blocks; off += 64)
                    _mm_prefetch(reinterpret_cast<const char *>(ahead + off), _MM_HINT_T1);
            __m256i lo[8], hi[8]; // pairs 0–7 and 8–15 of each row
            for (size_t i = 0; i < 8; ++i) {
                const uint8_t *b = rows[i] ? rows[i] + 34 * blk : nullptr;
                a[blk * kTileRows + i0 + i] = b ? f16_to_f32(load_u16(b)) : 0.0f;
                lo[i] = b ? _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 2))) : _mm256_setzero_si256();
                hi[i] = b ? _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 18))) : _mm256_setzero_si256();
            }
            transpose8(lo);
            transpose8(hi);
            for (size_t p = 0; p < 8; ++p) {
                _mm256_storeu_si256(dst + 2 * p, lo[p]);
                _mm256_storeu_si256(dst + 2 * (p + 8), hi[p]);
            }
        }
    }
}

// tile_kernel for Q8_0 on AVX2. Its codes would saturate vpmaddubsw, so codes and activations are
// widened to int16 (pack_weight_tile_q8_avx2, pack_activation_row) and vpmaddwd multiplies them, two
// products into each 32-bit lane: 4 multiplying instructions per 64 products, where vpmaddubsw on
// |q_w| and q_x with q_w's sign took 6, on the same two pipes of Zen 4 (one thread, 3072 × 768 × 512
// rows: 106–111 → 137–143 GFLOP/s). The same exact sums, with no offset, and the same fp32 steps, so
// the same bits.
RWKVRT_AVX2 void tile_kernel_q8_avx2(const uint8_t *codes, const float *a, const float *m, size_t n_sub,
                                     const ActivationRow *x, size_t tokens, float *y, size_t ldy, size_t valid_rows) {
    static_assert(kTokens == 4);
    for (size_t half = 0; half < 2 && 16 * half < valid_rows; ++half) {
        // Passes of 16 rows × all four activation rows; the fp32 sums live in f, as the registers hold
        // the 8 integer sums. The first sub-block starts them from zero: zeroing f cost a `rep stos`
        // per pass, 4% of the kernel's time on Zen 2.
        alignas(32) float f[2][kTokens][8];
        const uint8_t *c = codes + 64 * half * (n_sub * 16);
        for (size_t j = 0; j < n_sub; ++j, c += 16 * 64) {
            const size_t k0 = 32 * j;
            const float *a0 = a + j * kTileRows + 16 * half, *a1 = a0 + 8;
            __m256i s00 = _mm256_setzero_si256(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
            // In assembly: GCC keeps all four broadcasts live and spills a sum. This holds the 8
            // sums, 2 weight vectors and 2 temporaries, fully unrolled over the sub-block.
            const int16_t *q0 = x[0].q16 + k0, *q1 = x[1].q16 + k0, *q2 = x[2].q16 + k0, *q3 = x[3].q16 + k0;
            __asm__(".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
                    "vmovdqu \\i*64(%[c]), %%ymm12\n\t"
                    "vmovdqu \\i*64+32(%[c]), %%ymm13\n\t"
                    "vpbroadcastd \\i*4(%[q0]), %%ymm14\n\t"
                    "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                    "vpmaddwd %%ymm14, %%ymm13, %%ymm14\n\t"
                    "vpaddd %%ymm15, %[s00], %[s00]\n\t"
                    "vpaddd %%ymm14, %[s10], %[s10]\n\t"
                    "vpbroadcastd \\i*4(%[q1]), %%ymm14\n\t"
                    "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                    "vpmaddwd %%ymm14, %%ymm13, %%ymm14\n\t"
                    "vpaddd %%ymm15, %[s01], %[s01]\n\t"
                    "vpaddd %%ymm14, %[s11], %[s11]\n\t"
                    "vpbroadcastd \\i*4(%[q2]), %%ymm14\n\t"
                    "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                    "vpmaddwd %%ymm14, %%ymm13, %%ymm14\n\t"
                    "vpaddd %%ymm15, %[s02], %[s02]\n\t"
                    "vpaddd %%ymm14, %[s12], %[s12]\n\t"
                    "vpbroadcastd \\i*4(%[q3]), %%ymm14\n\t"
                    "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                    "vpmaddwd %%ymm14, %%ymm13, %%ymm14\n\t"
                    "vpaddd %%ymm15, %[s03], %[s03]\n\t"
                    "vpaddd %%ymm14, %[s13], %[s13]\n\t"
                    ".endr"
                    : [s00] "+x"(s00), [s01] "+x"(s01), [s02] "+x"(s02), [s03] "+x"(s03), [s10] "+x"(s10), [s11] "+x"(s11),
                      [s12] "+x"(s12), [s13] "+x"(s13)
                    : [c] "r"(c), [q0] "r"(q0), [q1] "r"(q1), [q2] "r"(q2), [q3] "r"(q3)
                    : "xmm12", "xmm13", "xmm14", "xmm15", "memory");
            const __m256i sums[2][kTokens] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}};
            for (size_t v = 0; v < 2; ++v)
                for (size_t t = 0; t < kTokens; ++t)
                    _mm256_store_ps(f[v][t], accumulate_sub_block_avx2<false, false>(j ? _mm256_load_ps(f[v][t]) : _mm256_setzero_ps(),
                                                                                    sums[v][t], x[t], j, v ? a1 : a0, m));
        }
        const size_t rows = std::min<size_t>(16, valid_rows - 16 * half);
        for (size_t t = 0; t < tokens; ++t)
            store_rows_avx2(y + t * ldy + 16 * half, _mm256_load_ps(f[0][t]), _mm256_load_ps(f[1][t]), rows);
    }
}

// Rows i and i + 1 of a block (at b, row_bytes apart) against kRows activation rows' 32 quants xq[t]:
// each row's integer sums Σ u·q in 8 lanes, added pairwise (hadd) into out[t]. Q8_0: vpmaddubsw on |q_w|
// and q_x with q_w's sign (two products of at most 128·127 in 16 bits); the others: on their codes
// (two products of at most 31·127).
template <class Block, size_t kRows>
RWKVRT_AVX2 inline void row_pair(const uint8_t *b, size_t row_bytes, size_t i, const __m256i *xq, __m256i *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *b0 = b + i * row_bytes, *b1 = b0 + row_bytes;
    if constexpr (Block::kType == DType::Q8_0) {
        const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b0 + 2));
        const __m256i q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b1 + 2));
        const __m256i a0 = _mm256_abs_epi8(q0), a1 = _mm256_abs_epi8(q1);
        for (size_t t = 0; t < kRows; ++t)
            out[t] = _mm256_hadd_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(a0, _mm256_sign_epi8(xq[t], q0)), ones),
                                       _mm256_madd_epi16(_mm256_maddubs_epi16(a1, _mm256_sign_epi8(xq[t], q1)), ones));
    } else {
        const __m256i u0 = int8_blocks::codes_avx2<Block>(b0), u1 = int8_blocks::codes_avx2<Block>(b1);
        for (size_t t = 0; t < kRows; ++t)
            out[t] = _mm256_hadd_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u0, xq[t]), ones),
                                       _mm256_madd_epi16(_mm256_maddubs_epi16(u1, xq[t]), ones));
    }
}

// y[t · ldy + 0..8) for the 8 rows from `row` (by rows, row_bytes apart; `ahead`: the next 8, or null) of
// a block type of 32 elements and kRows activation rows, read where they lie, on AVX2: for a step of a
// few rows, whose tiles no other activation rows would share (and whose decoding, for Q4_1 and Q5_x,
// cost more than the products). Per block, the 8 rows' exact integer sums (row_pair), added across
// into one vector, then the tile kernels' fp32 steps (accumulate_sub_block_avx2), so their bits.
template <class Block, size_t kRows>
RWKVRT_AVX2 void rows_avx2(const uint8_t *row, size_t row_bytes, size_t blocks, const uint8_t *ahead, const ActivationRow *x,
                           float *y, size_t ldy) {
    // The next 8 rows' lines: all of them, and a block's share.
    const size_t ahead_end = (8 * row_bytes + 63) / 64, ahead_lines = (ahead_end + blocks - 1) / blocks;
    __m256 f[kRows];
    for (__m256 &v : f) v = _mm256_setzero_ps();
    for (size_t blk = 0; blk < blocks; ++blk) {
        const uint8_t *const b = row + Block::kBytes * blk;
        // Eight streams that move a few dozen bytes a block are too slow for the hardware prefetcher to
        // follow: the next 8 rows (contiguous) are fetched meanwhile, a share of their lines a block.
        if (ahead)
            for (size_t line = blk * ahead_lines; line < std::min((blk + 1) * ahead_lines, ahead_end); ++line)
                _mm_prefetch(reinterpret_cast<const char *>(ahead + 64 * line), _MM_HINT_T0);
        const __m256 a = int8_blocks::f16_x8(b, row_bytes);
        __m256i xq[kRows], h01[kRows], h23[kRows], h0123[kRows];
        for (size_t t = 0; t < kRows; ++t) xq[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x[t].q + 32 * blk));
        // h0123 holds rows 0–3's sums of lanes 0–3, then of lanes 4–7; with rows 4–7's, the halves add up.
        row_pair<Block, kRows>(b, row_bytes, 0, xq, h01);
        row_pair<Block, kRows>(b, row_bytes, 2, xq, h23);
        for (size_t t = 0; t < kRows; ++t) h0123[t] = _mm256_hadd_epi32(h01[t], h23[t]);
        row_pair<Block, kRows>(b, row_bytes, 4, xq, h01);
        row_pair<Block, kRows>(b, row_bytes, 6, xq, h23);
        const __m256 m = Block::kAffine ? int8_blocks::f16_x8(b + 2, row_bytes) : _mm256_setzero_ps();
        for (size_t t = 0; t < kRows; ++t) {
            const __m256i h4567 = _mm256_hadd_epi32(h01[t], h23[t]);
            __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(h0123[t], h4567, 0x20),
                                            _mm256_permute2x128_si256(h0123[t], h4567, 0x31));
            if constexpr (Block::kOffset != 0) sums = _mm256_sub_epi32(sums, _mm256_set1_epi32(x[t].offset_sum[blk]));
            f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(a, _mm256_set1_ps(x[t].dx[blk])), f[t]);
            if constexpr (Block::kAffine) f[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(x[t].sum_dx[blk]), f[t]);
        }
    }
    for (size_t t = 0; t < kRows; ++t) _mm256_storeu_ps(y + t * ldy, f[t]);
}

using RowsKernel = void (*)(const uint8_t *, size_t, size_t, const uint8_t *, const ActivationRow *, float *, size_t);

// rows_avx2 for dtype and 1..kTokens activation rows: the types gemm_int8 reads in place (Q8_0 on AVX2,
// Q4_1, Q5_0, Q5_1), or null.
RowsKernel rows_kernel(DType dtype, size_t tokens) {
    const auto pick = [tokens]<class Block>(Block) -> RowsKernel {
        switch (tokens) {
        case 1: return rows_avx2<Block, 1>;
        case 2: return rows_avx2<Block, 2>;
        case 3: return rows_avx2<Block, 3>;
        default: return rows_avx2<Block, kTokens>;
        }
    };
    switch (dtype) {
    case DType::Q8_0: return pick(int8_blocks::Q8_0{});
    case DType::Q4_1: return pick(int8_blocks::Q4_1{});
    case DType::Q5_0: return pick(int8_blocks::Q5_0{});
    case DType::Q5_1: return pick(int8_blocks::Q5_1{});
    default: return nullptr;
    }
}

// y[t · ldy + 0..16) for one group of 16 interleaved Q4_0 rows and kRows ≤ 2 activation rows, read where
// they lie, on AVX2: the 16 rows as two vectors of 8; a block's eight vpmaddubsw add up in 16 bits
// (2·8·15·127 = 30,480), then tile_kernel's integer sum and fp32 steps, so its bits.
template <size_t kRows>
RWKVRT_AVX2 void group_q4_0_rows_avx2(const uint8_t *group, size_t blocks, const ActivationRow *x, float *y, size_t ldy) {
    static_assert(kRows <= 2);
    constexpr size_t kBlockBytes = kInterleavedRows * 18;
    const __m256i low4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    __m256 f[2][kRows];
    for (auto &fv : f)
        for (__m256 &v : fv) v = _mm256_setzero_ps();
    for (size_t blk = 0; blk < blocks; ++blk, group += kBlockBytes) {
        prefetch_ahead(group, kGroupsPrefetchDistance, kBlockBytes);
        for (int v = 0; v < 2; ++v) {
            __m256i run[kRows];
            for (__m256i &r : run) r = _mm256_setzero_si256();
            for (int c = 0; c < 4; ++c) { // low nibbles are elements 4c.., high nibbles 16 + 4c..
                const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(group + 32 + 64 * c + 32 * v));
                const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                for (size_t t = 0; t < kRows; ++t) {
                    int32_t lo4, hi4;
                    std::memcpy(&lo4, x[t].q + 32 * blk + 4 * c, 4);
                    std::memcpy(&hi4, x[t].q + 32 * blk + 16 + 4 * c, 4);
                    run[t] = _mm256_add_epi16(run[t], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(lo4)));
                    run[t] = _mm256_add_epi16(run[t], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(hi4)));
                }
            }
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(group + 16 * v)));
            for (size_t t = 0; t < kRows; ++t) {
                const __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(run[t], ones), _mm256_set1_epi32(x[t].offset_sum[blk]));
                f[v][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(x[t].dx[blk])), f[v][t]);
            }
        }
    }
    for (size_t t = 0; t < kRows; ++t) {
        _mm256_storeu_ps(y + t * ldy, f[0][t]);
        _mm256_storeu_ps(y + t * ldy + 8, f[1][t]);
    }
}

// A tile of an interleaved Q4_0 matrix into the packed layout of tile_kernel (codes, a), on AVX2.
RWKVRT_AVX2 void pack_weight_tile_q4_0_avx2(const Matrix &W, size_t r0, uint8_t *codes, float *a, float *m) {
    const size_t blocks = size_t(W.cols) / 32, n_groups = size_t(W.rows) / kInterleavedRows;
    const size_t group_bytes = kInterleavedRows * W.row_bytes();
    const __m256i low4 = _mm256_set1_epi8(15);
    for (size_t g16 = 0; g16 < kRowVecs; ++g16) {
        const size_t g = r0 / kInterleavedRows + g16;
        const bool present = g < n_groups;
        for (size_t blk = 0; blk < blocks; ++blk) {
            const uint8_t *src = W.data + g * group_bytes + blk * kInterleavedRows * 18;
            for (int v = 0; v < 2; ++v) {
                const size_t lane = 16 * g16 + 8 * size_t(v);
                const __m256 av = present ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + 16 * v)))
                                          : _mm256_setzero_ps();
                _mm256_storeu_ps(a + blk * kTileRows + lane, av);
                _mm256_storeu_ps(m + blk * kTileRows + lane, _mm256_setzero_ps());
                for (size_t c = 0; c < 4; ++c) {
                    __m256i q = _mm256_setzero_si256();
                    if (present) q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + 32 + 64 * c + 32 * v));
                    _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + (8 * blk + c) * 4 * kTileRows + 4 * lane), _mm256_and_si256(q, low4));
                    _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + (8 * blk + 4 + c) * 4 * kTileRows + 4 * lane),
                                        _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
                }
            }
        }
    }
}

// One Q4_K/Q5_K super-block's (d·scale, −dmin·min) for sub-block j of rows 8v .. 8v + 7 of a group
// of 16 interleaved rows: k_constants' values.
RWKVRT_AVX2 inline void k_constants_avx2(const uint8_t *sb, int j, int v, __m256 *a, __m256 *m) {
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sb + 16 * v)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sb + 32 + 16 * v)));
    const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(sb + 64 + 16 * j + 8 * v))));
    const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(sb + 192 + 16 * j + 8 * v))));
    *a = _mm256_mul_ps(d, sc);
    *m = _mm256_xor_ps(_mm256_mul_ps(dmin, mn), _mm256_set1_ps(-0.0f)); // −x exactly, as the scalar code negates
}

// k_codes for rows 8v .. 8v + 7: four codes of each of the 8 rows, sub-blocks 2·pair and 2·pair + 1.
template <bool kQ5>
RWKVRT_AVX2 inline void k_codes_avx2(const uint8_t *sb, int pair, int c, int v, __m256i *lo, __m256i *hi) {
    const __m256i low4 = _mm256_set1_epi8(15), bit = _mm256_set1_epi8(1);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb + (kQ5 ? 832 : 320) + 64 * (8 * pair + c) + 32 * v));
    *lo = _mm256_and_si256(q, low4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    if constexpr (kQ5) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb + 320 + 64 * c + 32 * v));
        *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * pair), bit), 4));
        *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * pair + 1), bit), 4));
    }
}

// group_k_rows on AVX2 for kRows ≤ 2 activation rows (more would not fit the 16 registers): the 16
// rows as two vectors of 8, the same integer sums (16-bit runs as in
// tile_kernel_avx2: all 8 steps of a sub-block for Q4_K, 4 for Q5_K) and the same fp32 steps.
template <bool kQ5, size_t kRows>
RWKVRT_AVX2 void group_k_rows_avx2(const uint8_t *group, size_t super_blocks, const ActivationRow *x, float *y, size_t ldy) {
    static_assert(kRows <= 2);
    constexpr size_t kBytes = kQ5 ? kQ5KGroupBlockBytes : kQ4KGroupBlockBytes;
    constexpr int kRun = kQ5 ? 4 : 8;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 f[2][kRows];
    for (auto &fv : f)
        for (__m256 &v : fv) v = _mm256_setzero_ps();
    for (size_t sb = 0; sb < super_blocks; ++sb, group += kBytes)
        for (int pair = 0; pair < 4; ++pair) {
            const size_t j = 8 * sb + 2 * size_t(pair); // sub-blocks j (low nibbles) and j + 1 (high)
            prefetch_ahead(group + pair * kBytes / 4, kGroupsPrefetchDistance, kBytes / 4);
            for (int v = 0; v < 2; ++v) {
                __m256i s0[kRows], s1[kRows];
                for (size_t t = 0; t < kRows; ++t) s0[t] = s1[t] = _mm256_setzero_si256();
                for (int c0 = 0; c0 < 8; c0 += kRun) {
                    __m256i r0[kRows], r1[kRows];
                    for (size_t t = 0; t < kRows; ++t) r0[t] = r1[t] = _mm256_setzero_si256();
                    for (int c = c0; c < c0 + kRun; ++c) {
                        __m256i lo, hi;
                        k_codes_avx2<kQ5>(group, pair, c, v, &lo, &hi);
                        for (size_t t = 0; t < kRows; ++t) {
                            int32_t four0, four1;
                            std::memcpy(&four0, x[t].q + 32 * j + 4 * c, 4);
                            std::memcpy(&four1, x[t].q + 32 * (j + 1) + 4 * c, 4);
                            r0[t] = _mm256_add_epi16(r0[t], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(four0)));
                            r1[t] = _mm256_add_epi16(r1[t], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(four1)));
                        }
                    }
                    for (size_t t = 0; t < kRows; ++t) {
                        s0[t] = _mm256_add_epi32(s0[t], _mm256_madd_epi16(r0[t], ones));
                        s1[t] = _mm256_add_epi32(s1[t], _mm256_madd_epi16(r1[t], ones));
                    }
                }
                __m256 a, m;
                k_constants_avx2(group, 2 * pair, v, &a, &m);
                for (size_t t = 0; t < kRows; ++t) {
                    f[v][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0[t]), _mm256_mul_ps(a, _mm256_set1_ps(x[t].dx[j])), f[v][t]);
                    f[v][t] = _mm256_fmadd_ps(m, _mm256_set1_ps(x[t].sum_dx[j]), f[v][t]);
                }
                k_constants_avx2(group, 2 * pair + 1, v, &a, &m);
                for (size_t t = 0; t < kRows; ++t) {
                    f[v][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1[t]), _mm256_mul_ps(a, _mm256_set1_ps(x[t].dx[j + 1])), f[v][t]);
                    f[v][t] = _mm256_fmadd_ps(m, _mm256_set1_ps(x[t].sum_dx[j + 1]), f[v][t]);
                }
            }
        }
    for (size_t t = 0; t < kRows; ++t) {
        _mm256_storeu_ps(y + t * ldy, f[0][t]);
        _mm256_storeu_ps(y + t * ldy + 8, f[1][t]);
    }
}

// q6_k_codes for rows 8v .. 8v + 7.
template <int kQuarter>
RWKVRT_AVX2 inline __m256i q6_k_codes_avx2(const uint8_t *sb, size_t h, size_t i, size_t v) {
    const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb + Q6KLow(h, kQuarter % 2, i) + 32 * v));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(sb + Q6KHigh(h, i) + 32 * v));
    __m256i high = qh;
    if constexpr (kQuarter < 2) high = _mm256_slli_epi16(qh, 4 - 2 * kQuarter);
    if constexpr (kQuarter == 3) high = _mm256_srli_epi16(qh, 2);
    const __m256i low = _mm256_and_si256(kQuarter < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(15));
    return _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
}

// q6_k_quarter on AVX2 for kRows ≤ 2 activation rows and both vectors of 8 rows (f[v][t] for rows
// 8v .. 8v + 7): the integer sums in 16-bit runs of two steps (as tile_kernel_avx2<16, false, 2,
// Maddubs>) and the same fp32 steps.
template <int kQuarter, size_t kRows>
RWKVRT_AVX2 inline void q6_k_quarter_avx2(const uint8_t *sb, size_t sbi, size_t h, const ActivationRow *x, __m256 (*f)[kRows]) {
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 2
    for (size_t half = 0; half < 2; ++half) {
        const size_t jl = 8 * h + 2 * kQuarter + half, j = 16 * sbi + jl;
#pragma GCC unroll 2
        for (size_t v = 0; v < 2; ++v) {
            __m256i s[kRows];
            for (size_t t = 0; t < kRows; ++t) s[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
            for (size_t i0 = 4 * half; i0 < 4 * half + 4; i0 += 2) {
                const __m256i u0 = q6_k_codes_avx2<kQuarter>(sb, h, i0, v), u1 = q6_k_codes_avx2<kQuarter>(sb, h, i0 + 1, v);
                for (size_t t = 0; t < kRows; ++t) {
                    const int8_t *q = x[t].q + 256 * sbi + 128 * h + 32 * kQuarter + 4 * i0;
                    int32_t four0, four1;
                    std::memcpy(&four0, q, 4);
                    std::memcpy(&four1, q + 4, 4);
                    const __m256i r = _mm256_add_epi16(_mm256_maddubs_epi16(u0, _mm256_set1_epi32(four0)),
                                                       _mm256_maddubs_epi16(u1, _mm256_set1_epi32(four1)));
                    s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(r, ones));
                }
            }
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sb + 16 * v)));
            const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(sb + kQ6KScales + 16 * jl + 8 * v)));
            const __m256 a = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc));
            for (size_t t = 0; t < kRows; ++t) f[v][t] = accumulate_sub_block_avx2<false, true>(f[v][t], s[t], x[t], j, a);
        }
    }
}

// group_q6_k_rows on AVX2 for kRows ≤ 2 activation rows: the 16 rows as two vectors of 8, both in one
// pass over the group, so that its bytes are read once and the stream never pauses (a pass per
// vector left the memory idle while the second pass ran from the cache: on Zen 2 the head streamed at
// 2/3 of the rate of the Q4_0 groups beside it).
template <size_t kRows>
RWKVRT_AVX2 void group_q6_k_rows_avx2(const uint8_t *group, size_t super_blocks, const ActivationRow *x, float *y, size_t ldy) {
    static_assert(kRows <= 2);
    __m256 f[2][kRows];
    for (auto &fv : f)
        for (__m256 &v : fv) v = _mm256_setzero_ps();
    const uint8_t *sb = group;
    for (size_t sbi = 0; sbi < super_blocks; ++sbi, sb += kQ6KBytes)
        for (size_t h = 0; h < 2; ++h) {
            prefetch_ahead(sb + h * (kQ6KBytes / 2), kGroupsPrefetchDistance, kQ6KBytes / 2);
            q6_k_quarter_avx2<0, kRows>(sb, sbi, h, x, f);
            q6_k_quarter_avx2<1, kRows>(sb, sbi, h, x, f);
            q6_k_quarter_avx2<2, kRows>(sb, sbi, h, x, f);
            q6_k_quarter_avx2<3, kRows>(sb, sbi, h, x, f);
        }
    for (size_t t = 0; t < kRows; ++t) {
        _mm256_storeu_ps(y + t * ldy, f[0][t]);
        _mm256_storeu_ps(y + t * ldy + 8, f[1][t]);
    }
}

// pack_q6_k_quarter on AVX2, for rows 8v .. 8v + 7 of the group at lane `lane` of the tile.
template <int kQuarter>
RWKVRT_AVX2 inline void pack_q6_k_quarter_avx2(const uint8_t *src, size_t sbi, size_t h, size_t v, uint8_t *codes, size_t lane) {
    for (size_t i = 0; i < 8; ++i) {
        const size_t k4 = 64 * sbi + 32 * h + 8 * kQuarter + i;
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + k4 * 4 * kTileRows + 4 * lane),
                            src ? q6_k_codes_avx2<kQuarter>(src, h, i, v) : _mm256_setzero_si256());
    }
}

// pack_weight_tile_q6_k on AVX2.
RWKVRT_AVX2 void pack_weight_tile_q6_k_avx2(const Matrix &W, size_t r0, uint8_t *codes, float *a, float *) {
    const size_t super_blocks = size_t(W.cols) / 256, n_groups = size_t(W.rows) / kInterleavedRows;
    for (size_t g16 = 0; g16 < kRowVecs; ++g16) {
        const size_t g = r0 / kInterleavedRows + g16;
        for (size_t sbi = 0; sbi < super_blocks; ++sbi) {
            const uint8_t *src = g < n_groups ? W.data + (g * super_blocks + sbi) * kQ6KBytes : nullptr;
            for (size_t v = 0; v < 2; ++v) {
                const size_t lane = 16 * g16 + 8 * v;
                const __m256 d = src ? _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + 16 * v))) : _mm256_setzero_ps();
                for (size_t j = 0; j < 16; ++j) {
                    const __m256i sc = src ? _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(src + kQ6KScales + 16 * j + 8 * v)))
                                           : _mm256_setzero_si256();
                    _mm256_storeu_ps(a + (16 * sbi + j) * kTileRows + lane, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc)));
                }
                for (size_t h = 0; h < 2; ++h) {
                    pack_q6_k_quarter_avx2<0>(src, sbi, h, v, codes, lane);
                    pack_q6_k_quarter_avx2<1>(src, sbi, h, v, codes, lane);
                    pack_q6_k_quarter_avx2<2>(src, sbi, h, v, codes, lane);
                    pack_q6_k_quarter_avx2<3>(src, sbi, h, v, codes, lane);
                }
            }
        }
    }
}

// y[t · ldy + 0..16) for one group of 16 interleaved rows and the activation rows x[0..rows), rows ≤
// kTokens; `units` are the row's super-blocks (K-quants) or blocks (Q4_0).
using GroupRows = void (*)(const uint8_t *group, size_t units, const ActivationRow *x, size_t rows, float *y, size_t ldy);

template <bool kQ5>
void group_k_vnni(const uint8_t *group, size_t units, const ActivationRow *x, size_t rows, float *y, size_t ldy) {
    switch (rows) {
    case 1: return group_k_rows<kQ5, 1>(group, units, x, y, ldy);
    case 2: return group_k_rows<kQ5, 2>(group, units, x, y, ldy);
    case 3: return group_k_rows<kQ5, 3>(group, units, x, y, ldy);
    default: return group_k_rows<kQ5, 4>(group, units, x, y, ldy);
    }
}

void group_q6_k_vnni(const uint8_t *group, size_t units, const ActivationRow *x, size_t rows, float *y, size_t ldy) {
    switch (rows) {
    case 1: return group_q6_k_rows<1>(group, units, x, y, ldy);
    case 2: return group_q6_k_rows<2>(group, units, x, y, ldy);
    case 3: return group_q6_k_rows<3>(group, units, x, y, ldy);
    default: return group_q6_k_rows<4>(group, units, x, y, ldy);
    }
}

// The AVX2 kernels take two activation rows a pass.
template <void (*kOne)(const uint8_t *, size_t, const ActivationRow *, float *, size_t),
          void (*kTwo)(const uint8_t *, size_t, const ActivationRow *, float *, size_t)>
void in_pairs(const uint8_t *group, size_t units, const ActivationRow *x, size_t rows, float *y, size_t ldy) {
    for (size_t t = 0; t < rows; t += 2) {
        if (t + 2 <= rows) kTwo(group, units, x + t, y + t * ldy, ldy);
        else kOne(group, units, x + t, y + t * ldy, ldy);
    }
}

// The kernels that read interleaved groups where they lie, with ActivationRows; null for Q8_0 and, at
// AVX512-VNNI, Q4_0 (matvec_group and tile_kernel_interleaved).
GroupRows group_rows_kernel(DType dtype, bool vnni) {
    switch (dtype) {
    case DType::Q4_K: return vnni ? group_k_vnni<false> : in_pairs<group_k_rows_avx2<false, 1>, group_k_rows_avx2<false, 2>>;
    case DType::Q5_K: return vnni ? group_k_vnni<true> : in_pairs<group_k_rows_avx2<true, 1>, group_k_rows_avx2<true, 2>>;
    case DType::Q4_0: return vnni ? nullptr : in_pairs<group_q4_0_rows_avx2<1>, group_q4_0_rows_avx2<2>>;
    case DType::Q6_K: return vnni ? group_q6_k_vnni : in_pairs<group_q6_k_rows_avx2<1>, group_q6_k_rows_avx2<2>>;
    default: return nullptr;
    }
}

// pack_weight_tile_k on AVX2.
template <bool kQ5>
RWKVRT_AVX2 void pack_weight_tile_k_avx2(const Matrix &W, size_t r0, uint8_t *codes, float *a, float *m) {
    constexpr size_t kBytes = kQ5 ? kQ5KGroupBlockBytes : kQ4KGroupBlockBytes;
    const size_t super_blocks = size_t(W.cols) / 256, n_groups = size_t(W.rows) / kInterleavedRows;
    const size_t group_bytes = super_blocks * kBytes;
    for (size_t g16 = 0; g16 < kRowVecs; ++g16) {
        const size_t g = r0 / kInterleavedRows + g16;
        const bool present = g < n_groups;
        for (size_t sb = 0; sb < super_blocks; ++sb) {
            const uint8_t *src = W.data + g * group_bytes + sb * kBytes;
            for (int v = 0; v < 2; ++v) {
                const size_t lane = 16 * g16 + 8 * size_t(v);
                for (int j = 0; j < 8; ++j) {
                    __m256 av = _mm256_setzero_ps(), mv = _mm256_setzero_ps();
                    if (present) k_constants_avx2(src, j, v, &av, &mv);
                    _mm256_storeu_ps(a + (8 * sb + size_t(j)) * kTileRows + lane, av);
                    _mm256_storeu_ps(m + (8 * sb + size_t(j)) * kTileRows + lane, mv);
                }
                for (int pair = 0; pair < 4; ++pair)
                    for (int c = 0; c < 8; ++c) {
                        __m256i lo = _mm256_setzero_si256(), hi = lo;
                        if (present) k_codes_avx2<kQ5>(src, pair, c, v, &lo, &hi);
                        const size_t k4 = 64 * sb + 8 * size_t(2 * pair) + size_t(c); // sub-block 2·pair; the next is 8 further
                        _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + k4 * 4 * kTileRows + 4 * lane), lo);
                        _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes + (k4 + 8) * 4 * kTileRows + 4 * lane), hi);
                    }
            }
        }
    }
}

// fn(group, first row) for the interleaved groups of 16 rows of W, in pieces of about 64 KiB, each thread
// streaming its own stretch first, as the mat-vecs do (kernels/matvec_job.h).
template <class Fn>
void for_each_group(const Matrix &W, ThreadPool &pool, int threads, Fn fn) {
    const size_t group_bytes = interleaved_group_bytes(W);
    const int64_t piece = std::max<int64_t>(1, int64_t((size_t(64) << 10) / group_bytes));
    pool.run_stretches(int64_t(size_t(W.rows) / kInterleavedRows), piece, threads, [&](int64_t begin, int64_t end, int) {
        for (auto g = size_t(begin); g < size_t(end); ++g) fn(W.data + g * group_bytes, g * kInterleavedRows);
    });
}

using TileKernel = void (*)(const uint8_t *, const float *, const float *, size_t, const ActivationRow *, size_t, float *,
                            size_t, size_t);

template <TileProducts kProducts>
TileKernel tile_kernel_avx2_for(DType dtype) {
    switch (dtype) {
    case DType::Q6_K: return tile_kernel_avx2<16, false, 2, kProducts>;
    case DType::Q4_0: return tile_kernel_avx2<32, false, 8, kProducts>;
    case DType::Q5_0: return tile_kernel_avx2<32, false, 4, kProducts>;
    case DType::Q5_1:
    case DType::Q5_K: return tile_kernel_avx2<32, true, 4, kProducts>;
    default: return tile_kernel_avx2<32, true, 8, kProducts>; // Q4_1, Q4_K
    }
}

TileKernel tile_kernel_for(DType dtype, const BlockCodeLayout &layout, Int8Level level) {
    if (level == Int8Level::Avx512Vnni) {
        if (layout.sub == 16) return tile_kernel<16, false>;
        return layout.affine ? tile_kernel<32, true> : tile_kernel<32, false>;
    }
    // Q8_0 keeps its 16-bit tiles, packed by AVX2 code: vpdpbusd would need its codes made unsigned
    // (q + 128), as tile_kernel's packing does with AVX-512.
    if (dtype == DType::Q8_0) return tile_kernel_q8_avx2;
    if (level == Int8Level::Avx2) return tile_kernel_avx2_for<TileProducts::Maddubs>(dtype);
    return cpu_features().avx_vnni ? tile_kernel_avx2_for<TileProducts::VnniVex>(dtype)
                                   : tile_kernel_avx2_for<TileProducts::VnniEvex>(dtype);
}

} // namespace

bool int8_products_supported(DType dtype, Int8Level level) {
    BlockCodeLayout layout;
    return level != Int8Level::None && block_code_layout(dtype, &layout);
}

void gemm_int8(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool, Int8Level level) {
    BlockCodeLayout layout{};
    block_code_layout(W.dtype, &layout);
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), n_sub = K / size_t(layout.sub);
    const size_t groups = (rows + kTokens - 1) / kTokens, padded = groups * kTokens;
    const int threads = 2.0 * double(rows) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    const size_t tiles = (N + kTileRows - 1) / kTileRows;
    const size_t band_tiles = std::clamp<size_t>(tiles / (4 * size_t(threads)), 1, kMaxBandTiles);
    const int64_t bands = int64_t((tiles + band_tiles - 1) / band_tiles);

    const bool vnni = level == Int8Level::Avx512Vnni;
    // Small steps over matrices by rows read them where they lie (rows_avx2), kTokens activation rows at
    // a time over 8 weight rows still in the cache. Q8_0 on AVX2: up to 8 activation rows, more take
    // tile_kernel_q8_avx2's 16-bit tiles (0.1B, 2 threads, tok/s summed, tiles → in place: a lone row
    // under batch_invariant 71 → 136, 2 rows 128 → 279, 4 rows 257 → 395, 8 rows 324–399 → 428–466;
    // 16 rows 496–502 against 448–475). Q4_1 and Q5_x, whose tiles are decoded by scalar code, at every
    // level: up to 32 rows (0.1B Q5_1: 2 rows 57 → 327, 8 rows 193 → 478, 16 rows 334 → 501; level at
    // 32 rows, about 510; 65 rows take the tiles at 684).
    constexpr size_t kRowsInPlace = 8 * kTokens;
    const bool q8_rows = !vnni && W.dtype == DType::Q8_0 && !W.interleaved;
    const bool scalar_decoded = W.dtype == DType::Q4_1 || W.dtype == DType::Q5_0 || W.dtype == DType::Q5_1;
    const bool in_place = !W.interleaved && N % 8 == 0 && ((q8_rows && rows <= 2 * kTokens) || (scalar_decoded && rows <= kRowsInPlace));
    const bool wide = q8_rows && !in_place;
    // Every activation row rounded once, for all bands; padding rows are zero (they add nothing).
    const size_t rec_bytes = activation_row_bytes(K, n_sub, wide);
    auto *const recs = reinterpret_cast<uint8_t *>(pool.shared_buffer(padded * rec_bytes));
    for_rows(pool, int64_t(padded), int64_t(K), [&](int64_t t0, int64_t t1) {
        for (size_t t = size_t(t0); t < size_t(t1); ++t) {
            uint8_t *rec = recs + t * rec_bytes;
            if (t < rows) pack_activation_row(X + t * K, K, layout, level, wide, rec);
            else std::memset(rec, 0, rec_bytes);
        }
    });

    const auto tokens_of = [&](size_t g, ActivationRow *x) {
        for (size_t i = 0; i < kTokens; ++i) x[i] = activation_row(recs + (g * kTokens + i) * rec_bytes, K, n_sub, wide);
        return std::min(kTokens, rows - g * kTokens);
    };
    if (vnni && W.interleaved && (W.dtype == DType::Q8_0 || W.dtype == DType::Q4_0)) { // read where they lie: no packing
        // The activation rows of a group as a template argument: a step of fewer than kTokens rows
        // (a lone row under batch_invariant) computes only its own.
        const auto kernel_for = [&](size_t tokens) {
            const bool q8 = W.dtype == DType::Q8_0;
            switch (tokens) {
            case 1: return q8 ? tile_kernel_interleaved<true, 1> : tile_kernel_interleaved<false, 1>;
            case 2: return q8 ? tile_kernel_interleaved<true, 2> : tile_kernel_interleaved<false, 2>;
            case 3: return q8 ? tile_kernel_interleaved<true, 3> : tile_kernel_interleaved<false, 3>;
            default: return q8 ? tile_kernel_interleaved<true, kTokens> : tile_kernel_interleaved<false, kTokens>;
            }
        };
        const size_t group_bytes = kInterleavedRows * W.row_bytes(), n_groups = N / kInterleavedRows;
        pool.run(bands, threads, [&](int64_t band, int) {
            const size_t t0 = size_t(band) * band_tiles, t1 = std::min(tiles, t0 + band_tiles);
            ActivationRow x[kTokens];
            for (size_t g = 0; g < groups; ++g) {
                const auto kernel = kernel_for(tokens_of(g, x));
                for (size_t tile = t0; tile < t1; ++tile) {
                    const size_t g0 = 2 * tile, g1 = g0 + 1 < n_groups ? g0 + 1 : g0, n0 = tile * kTileRows;
                    kernel(W.data + g0 * group_bytes, W.data + g1 * group_bytes, K / 32, x, Y + g * kTokens * N + n0, N,
                           std::min(kTileRows, N - n0));
                }
            }
        });
        return;
    }
    if (in_place) {
        ActivationRow x[kRowsInPlace / kTokens][kTokens];
        RowsKernel kernels[kRowsInPlace / kTokens];
        for (size_t g = 0; g < groups; ++g) kernels[g] = rows_kernel(W.dtype, tokens_of(g, x[g]));
        const size_t rb = W.row_bytes();
        const int64_t piece = std::max<int64_t>(1, int64_t((size_t(64) << 10) / (8 * rb)));
        pool.run_stretches(int64_t(N / 8), piece, threads, [&](int64_t begin, int64_t end, int) {
            for (auto band = size_t(begin); band < size_t(end); ++band) {
                const uint8_t *const next = 8 * band + 8 < N ? W.row(int64_t(8 * band + 8)) : nullptr;
                for (size_t g = 0; g < groups; ++g)
                    kernels[g](W.row(int64_t(8 * band)), rb, K / 32, g == 0 ? next : nullptr, x[g], Y + g * kTokens * N + 8 * band, N);
            }
        });
        return;
    }
    const GroupRows group_rows = W.interleaved && groups == 1 ? group_rows_kernel(W.dtype, vnni) : nullptr;
    if (group_rows) {
        // A step of at most kTokens rows (conversations decoding together): packing the tiles would be
        // shared by no other activation rows, so each group of 16 rows is read where it lies.
        ActivationRow x[kTokens];
        tokens_of(0, x);
        const size_t units = K / size_t(dtype_info(W.dtype).block_elems);
        for_each_group(W, pool, threads, [&](const uint8_t *group, size_t row) { group_rows(group, units, x, rows, Y + row, N); });
        return;
    }
    const TileKernel kernel = tile_kernel_for(W.dtype, layout, level);
    // Interleaved matrices this path reads: Q4_0 (AVX2 only; VNNI reads it in place above), Q4_K, Q5_K, Q6_K.
    const bool q5 = W.dtype == DType::Q5_K;
    const auto pack_interleaved = W.dtype == DType::Q4_0 ? pack_weight_tile_q4_0_avx2
                                  : W.dtype == DType::Q6_K ? (vnni ? pack_weight_tile_q6_k : pack_weight_tile_q6_k_avx2)
                                  : vnni                 ? (q5 ? pack_weight_tile_k<true> : pack_weight_tile_k<false>)
                                                         : (q5 ? pack_weight_tile_k_avx2<true> : pack_weight_tile_k_avx2<false>);
    const size_t tile_code_bytes = kTileRows * K * (wide ? 2 : 1), tile_const_floats = kTileRows * n_sub;
    pool.run(bands, threads, [&](int64_t band, int thread) {
        const size_t t0 = size_t(band) * band_tiles, t1 = std::min(tiles, t0 + band_tiles);
        auto *const buf = reinterpret_cast<uint8_t *>(
            pool.thread_buffer(thread, band_tiles * (tile_code_bytes + 2 * tile_const_floats * sizeof(float))));
        auto *const consts = reinterpret_cast<float *>(buf + band_tiles * tile_code_bytes);
        for (size_t tile = t0; tile < t1; ++tile) {
            float *a = consts + (tile - t0) * 2 * tile_const_floats;
            uint8_t *codes = buf + (tile - t0) * tile_code_bytes;
            if (W.interleaved) pack_interleaved(W, tile * kTileRows, codes, a, a + tile_const_floats);
            else if (wide) pack_weight_tile_q8_avx2(W, tile * kTileRows, codes, a);
            else pack_weight_tile(W, layout, tile * kTileRows, codes, a, a + tile_const_floats);
        }
        ActivationRow x[kTokens];
        for (size_t g = 0; g < groups; ++g) {
            const size_t tokens = tokens_of(g, x);
            for (size_t tile = t0; tile < t1; ++tile) {
                const float *a = consts + (tile - t0) * 2 * tile_const_floats;
                const size_t n0 = tile * kTileRows;
                kernel(buf + (tile - t0) * tile_code_bytes, a, a + tile_const_floats, n_sub, x, tokens,
                       Y + g * kTokens * N + n0, N, std::min(kTileRows, N - n0));
            }
        }
    });
}

MatVecJob matvec_int8_interleaved_job(const Matrix &W, const float *x, float *y, ThreadPool &pool, size_t slot, Int8Level level) {
    const size_t K = size_t(W.cols), group_bytes = interleaved_group_bytes(W);
    const int64_t groups = W.rows / int64_t(kInterleavedRows);
    const uint8_t *const data = W.data;
    if (const GroupRows group_rows = group_rows_kernel(W.dtype, level == Int8Level::Avx512Vnni)) { // the GEMM's own kernel, for one row
        BlockCodeLayout layout{};
        block_code_layout(W.dtype, &layout);
        const size_t n_sub = K / size_t(layout.sub), units = K / size_t(dtype_info(W.dtype).block_elems);
        auto *const rec = reinterpret_cast<uint8_t *>(pool.shared_buffer(activation_row_bytes(K, n_sub, false), slot));
        pack_activation_row(x, K, layout, level, false, rec);
        const ActivationRow xr = activation_row(rec, K, n_sub, false);
        return MatVecJob(groups, int64_t(kInterleavedRows), group_bytes, [group_rows, xr, data, group_bytes, units, y](int64_t g0, int64_t g1) {
            for (auto g = size_t(g0); g < size_t(g1); ++g) group_rows(data + g * group_bytes, units, &xr, 1, y + g * kInterleavedRows, 0);
        });
    }
    const Int8Vector xq = quantize_activations(x, int64_t(K), pool.shared_buffer(int8_vector_bytes(int64_t(K)), slot), level);
    const auto kernel = W.dtype == DType::Q8_0 ? matvec_group<true> : matvec_group<false>;
    return MatVecJob(groups, int64_t(kInterleavedRows), group_bytes, [kernel, xq, data, group_bytes, K, y](int64_t g0, int64_t g1) {
        for (auto g = size_t(g0); g < size_t(g1); ++g) kernel(data + g * group_bytes, K / 32, xq, y + g * kInterleavedRows);
    });
}

void matvec_int8_interleaved(const Matrix &W, const float *x, float *y, ThreadPool &pool, Int8Level level) {
    const MatVecJob job = matvec_int8_interleaved_job(W, x, y, pool, 0, level);
    run_matvecs(&job, 1, pool);
}

#else

bool int8_products_supported(DType, Int8Level) { return false; }
void gemm_int8(const Matrix &, const float *, int64_t, float *, ThreadPool &, Int8Level) {}
MatVecJob matvec_int8_interleaved_job(const Matrix &, const float *, float *, ThreadPool &, size_t, Int8Level) { return {}; }
void matvec_int8_interleaved(const Matrix &, const float *, float *, ThreadPool &, Int8Level) {}

#endif

} // namespace rwkvrt
