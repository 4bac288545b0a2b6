// Compiled once per SIMD target (Highway's foreach_target); the best one the CPU runs is called.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linear.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "core/error.h"
#include "exec/thread_pool.h"
#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/convert-inl.h"
#include "kernels/convert.h"
#include "kernels/dot_int8.h"
#include "kernels/matrix.h"
#include "kernels/quantize.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {

// Y = X·Wᵀ for any number of tokens T, as inner products: every output is the dot of a weight row
// with a row of X, summed in one vector accumulator along the inputs and then across its lanes. That
// order depends on neither T, nor the tiling, nor the thread count, so one token gives bit-identical
// results fed alone, in a prompt, or as one row of a batch of conversations.
//
// A micro-tile holds kR weight rows × TT tokens of accumulators: each weight vector is decoded once
// and used for TT tokens, each vector of X once for kR rows. Plain types (f32, f16, bf16) are decoded
// straight from the weights when there is a single tile of tokens (decoding: the weights are read
// once, from memory); otherwise, and for block types, kR rows are first decoded to an fp32 panel that
// stays in L1 while the tiles of a block of tokens use it.

constexpr size_t kR = 4;
// Accumulators: kR·kTT of the 32 vector registers of AVX-512, or of the 16 of AVX2 and older.
constexpr size_t kTT = HWY_MAX_BYTES >= 64 ? 6 : 2;

// Weight rows streamed from memory are asked for this far ahead: the kR rows of a tile are kR short
// streams, which the hardware prefetchers pick up late (and the end of each row runs into the next).
constexpr size_t kPrefetchBytes = 2048;

// The first n < lanes floats at p, zeros after them (Highway's MaskedLoad may read past the end on
// targets without masked loads).
HWY_INLINE VF LoadFirst(DF df, const float *p, size_t n) {
    HWY_ALIGN float buf[16] = {};
    std::memcpy(buf, p, n * sizeof(float));
    return hn::Load(df, buf);
}

// Weight rows in fp32 (a panel, or the matrix itself when it is f32), `stride` floats apart.
struct F32Rows {
    static constexpr bool kTails = true;
    const float *base;
    size_t stride;
    bool from_memory; // the weights themselves, not a panel in L1
    HWY_INLINE void Prefetch(size_t r, size_t k) const {
        if (from_memory) hwy::Prefetch(base + r * stride + k + kPrefetchBytes / 4);
    }
    HWY_INLINE VF Load(DF df, size_t r, size_t k) const { return hn::LoadU(df, base + r * stride + k); }
    HWY_INLINE VF LoadTail(DF df, size_t n, size_t r, size_t k) const { return LoadFirst(df, base + r * stride + k, n); }
};

// Rows of 16-bit floats decoded as they are read; only used when the inputs are whole vectors.
template <bool kBF16>
struct Half16Rows {
    static constexpr bool kTails = false;
    const uint8_t *base;
    size_t stride; // bytes
    HWY_INLINE void Prefetch(size_t r, size_t k) const { hwy::Prefetch(base + r * stride + 2 * k + kPrefetchBytes); }
    HWY_INLINE VF Load(DF df, size_t r, size_t k) const {
        const uint8_t *p = base + r * stride + 2 * k;
        return kBF16 ? LoadBF16(df, p) : LoadF16(df, p);
    }
};

template <size_t TT>
HWY_INLINE void StoreSums(const VF (&acc)[kR][TT], size_t rows, float *HWY_RESTRICT Y, size_t ldy) {
    const DF df;
    for (size_t t = 0; t < TT; ++t)
        for (size_t r = 0; r < rows; ++r) Y[t * ldy + r] = hn::GetLane(hn::SumOfLanes(df, acc[r][t]));
}

// Rows of 32-element blocks (q8_0, q5_0/1, q4_0/1) decoded as they are read, to the values ConvertRow
// gives.
template <class Block>
struct BlockRows {
    static constexpr bool kTails = false;
    const uint8_t *base;
    size_t stride; // bytes
    HWY_INLINE VF Load(DF df, size_t r, size_t k) const {
        const uint8_t *b = base + r * stride + k / 32 * Block::kBytes;
        const VF q = Block::Quant(df, b, k % 32), d = hn::Set(df, Block::Scale(b));
        if constexpr (Block::kHasMin) return hn::MulAdd(q, d, hn::Set(df, Block::Min(b)));
        else return hn::Mul(q, d);
    }
    HWY_INLINE void Prefetch(size_t r, size_t k) const {
        hwy::Prefetch(base + r * stride + k / 32 * Block::kBytes + kPrefetchBytes);
    }
};

// Y[t·ldy + r] = Σ_k w(r, k)·X[t·ldx + k] for r < rows (≤ kR; the others are computed on a copy of
// row 0 and dropped) and t < TT.
template <size_t TT, class Rows>
HWY_NOINLINE void MicroTile(const Rows &w, size_t rows, const float *HWY_RESTRICT X, size_t ldx, size_t K,
                            float *HWY_RESTRICT Y, size_t ldy) {
    const DF df;
    const size_t L = hn::Lanes(df);
    const size_t r1 = rows > 1 ? 1 : 0, r2 = rows > 2 ? 2 : 0, r3 = rows > 3 ? 3 : 0;
    VF acc[kR][TT];
    for (size_t t = 0; t < TT; ++t)
        for (size_t r = 0; r < kR; ++r) acc[r][t] = hn::Zero(df);
    auto fma_all = [&](VF w0, VF w1, VF w2, VF w3, auto load_x) HWY_ATTR {
        for (size_t t = 0; t < TT; ++t) {
            const VF x = load_x(X + t * ldx);
            acc[0][t] = hn::MulAdd(w0, x, acc[0][t]);
            acc[1][t] = hn::MulAdd(w1, x, acc[1][t]);
            acc[2][t] = hn::MulAdd(w2, x, acc[2][t]);
            acc[3][t] = hn::MulAdd(w3, x, acc[3][t]);
        }
    };
    size_t k = 0;
    for (; k + L <= K; k += L) {
        w.Prefetch(0, k), w.Prefetch(r1, k), w.Prefetch(r2, k), w.Prefetch(r3, k);
        fma_all(w.Load(df, 0, k), w.Load(df, r1, k), w.Load(df, r2, k), w.Load(df, r3, k),
                [&](const float *x) HWY_ATTR { return hn::LoadU(df, x + k); });
    }
    if constexpr (!Rows::kTails) return StoreSums<TT>(acc, rows, Y, ldy);
    else if (k < K) { // the last inputs, zeros in the other lanes (0·0 leaves an accumulator as it is)
        const size_t n = K - k;
        fma_all(w.LoadTail(df, n, 0, k), w.LoadTail(df, n, r1, k), w.LoadTail(df, n, r2, k), w.LoadTail(df, n, r3, k),
                [&](const float *x) HWY_ATTR { return LoadFirst(df, x + k, n); });
    }
    StoreSums<TT>(acc, rows, Y, ldy);
}

// All tokens of a block against up to kR rows: full tiles of kTT, then the rest.
template <class Rows>
HWY_INLINE void TokenTiles(const Rows &w, size_t rows, const float *X, size_t ldx, size_t K, size_t tokens, float *Y,
                           size_t N) {
    size_t t = 0;
    for (; t + kTT <= tokens; t += kTT) MicroTile<kTT>(w, rows, X + t * ldx, ldx, K, Y + t * N, N);
    const float *x = X + t * ldx;
    float *y = Y + t * N;
    switch (tokens - t) {
    case 0: return;
    case 1: return MicroTile<1>(w, rows, x, ldx, K, y, N);
#if HWY_MAX_BYTES >= 64
    case 2: return MicroTile<2>(w, rows, x, ldx, K, y, N);
    case 3: return MicroTile<3>(w, rows, x, ldx, K, y, N);
    case 4: return MicroTile<4>(w, rows, x, ldx, K, y, N);
    case 5: return MicroTile<5>(w, rows, x, ldx, K, y, N);
#endif
    }
}

HWY_INLINE void DirectBlocks(DType t, const uint8_t *w, size_t rb, size_t rows, const float *x, size_t ldx, size_t K,
                             size_t tokens, float *y, size_t N) {
    switch (t) {
    case DType::Q8_0: return TokenTiles(BlockRows<BlockQ8_0>{w, rb}, rows, x, ldx, K, tokens, y, N);
    case DType::Q5_0: return TokenTiles(BlockRows<BlockQ5_0>{w, rb}, rows, x, ldx, K, tokens, y, N);
    case DType::Q5_1: return TokenTiles(BlockRows<BlockQ5_1>{w, rb}, rows, x, ldx, K, tokens, y, N);
    case DType::Q4_0: return TokenTiles(BlockRows<BlockQ4_0>{w, rb}, rows, x, ldx, K, tokens, y, N);
    case DType::Q4_1: return TokenTiles(BlockRows<BlockQ4_1>{w, rb}, rows, x, ldx, K, tokens, y, N);
    default: return;
    }
}

void Gemm(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    const size_t K = size_t(W.cols), N = size_t(W.rows), tokens = size_t(T), rb = W.row_bytes();
    // Tokens per block: the block of X stays in L2 (≈ 256 KiB) while every row of a band passes over it.
    const size_t block = std::max(kTT, (size_t(64) << 10) / K / kTT * kTT);
    // Decoded as read when the weights pass once (a single tile of tokens); else through the panel.
    const bool half = W.dtype == DType::F16 || W.dtype == DType::BF16;
    const bool blocks32 = dtype_info(W.dtype).block_elems == 32;
    const bool direct = W.dtype == DType::F32 || (tokens <= kTT && (blocks32 || (half && K % hn::Lanes(DF()) == 0)));
    // Bands of rows, about 64 KiB of weights each, handed out dynamically: on a shared machine the
    // threads that the OS runs take more of them. Products under ~1 MFLOP run on the calling thread.
    const size_t band = std::max<size_t>(kR, (size_t(64) << 10) / rb / kR * kR);
    const int threads = 2.0 * double(tokens) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    // Rows of X and of the panel whose length is a multiple of 1 KiB map to the same few sets of L1,
    // where the streams of a tile evict each other: such rows get a cache line of padding.
    const size_t ld = K % 256 == 0 ? K + 16 : K;
    if (ld != K && tokens > 1) {
        float *const xp = pool.shared_buffer(tokens * ld * sizeof(float));
        for (size_t t = 0; t < tokens; ++t) std::memcpy(xp + t * ld, X + t * K, K * sizeof(float));
        X = xp;
    }
    const size_t ldx = tokens > 1 ? ld : K;
    pool.run(int64_t((N + band - 1) / band), threads, [&](int64_t b, int thread) {
        float *const panel = direct ? nullptr : pool.thread_buffer(thread, kR * ld * sizeof(float));
        const size_t r_end = std::min(N, (size_t(b) + 1) * band);
        for (size_t t0 = 0; t0 < tokens; t0 += block) {
            const size_t tn = std::min(block, tokens - t0);
            const float *x = X + t0 * ldx;
            for (size_t r0 = size_t(b) * band; r0 < r_end; r0 += kR) {
                const size_t rows = std::min(kR, r_end - r0);
                const uint8_t *w = W.data + r0 * rb;
                float *y = Y + t0 * N + r0;
                if (W.dtype == DType::F32) {
                    TokenTiles(F32Rows{reinterpret_cast<const float *>(w), K, true}, rows, x, ldx, K, tn, y, N);
                } else if (direct && blocks32) {
                    DirectBlocks(W.dtype, w, rb, rows, x, ldx, K, tn, y, N);
                } else if (direct && W.dtype == DType::F16) {
                    TokenTiles(Half16Rows<false>{w, rb}, rows, x, ldx, K, tn, y, N);
                } else if (direct) {
                    TokenTiles(Half16Rows<true>{w, rb}, rows, x, ldx, K, tn, y, N);
                } else {
                    for (size_t i = 0; i < rows; ++i) ConvertRow(W.dtype, w + i * rb, panel + i * ld, K);
                    TokenTiles(F32Rows{panel, ld, false}, rows, x, ldx, K, tn, y, N);
                }
            }
        }
    });
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(Gemm);

namespace {

// Generation with int8 activations (opt-in, kernels/dot_int8.h): x is rounded once, for all rows, which
// go in chunks of about 64 KiB of weights, handed out dynamically like the bands of Gemm.
bool int8_matvec(const Matrix &W, const float *x, float *y, ThreadPool &pool) {
    const DotInt8Fn dot = W.int8_activations ? dot_int8_kernel(W.dtype, int8_level()) : nullptr;
    if (!dot) return false;
    const Int8Vector xq = quantize_activations(x, W.cols, pool.shared_buffer(int8_vector_bytes(W.cols)));
    const size_t rb = W.row_bytes();
    const int threads = W.nbytes() < (1u << 18) ? 1 : pool.size();
    const int64_t chunk = std::max<int64_t>(1, int64_t((size_t(64) << 10) / rb));
    pool.run((W.rows + chunk - 1) / chunk, threads, [&](int64_t c, int) {
        const int64_t end = std::min(W.rows, (c + 1) * chunk);
        for (int64_t r = c * chunk; r < end; ++r) y[r] = dot(W.data + size_t(r) * rb, xq);
    });
    return true;
}

} // namespace

void linear(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    if (T == 1 && int8_matvec(W, X, Y, pool)) return;
    HWY_DYNAMIC_DISPATCH(Gemm)(W, X, T, Y, pool);
}

void gather_rows(const Matrix &W, const int32_t *ids, int64_t T, float *Y) {
    for (int64_t t = 0; t < T; ++t) convert_to_f32(W.dtype, W.row(ids[t]), Y + t * W.cols, size_t(W.cols));
}

Matrix convert_matrix(const Matrix &src, DType dtype, const char *what) {
    const int block = dtype_info(dtype).block_elems;
    if (src.cols % block != 0)
        fail(RWKVRT_ERR_UNSUPPORTED, "cannot store ", what, " as ", dtype_name(dtype), ": its ", src.cols,
             " columns are not a multiple of the block size ", block);
    Matrix out;
    out.rows = src.rows;
    out.cols = src.cols;
    out.dtype = dtype;
    out.owned.resize(dtype_bytes(dtype, size_t(src.rows * src.cols)));
    out.data = out.owned.data();
    std::vector<float> row(size_t(src.cols));
    for (int64_t r = 0; r < src.rows; ++r) {
        convert_to_f32(src.dtype, src.row(r), row.data(), row.size());
        quantize_row(dtype, row.data(), out.owned.data() + size_t(r) * out.row_bytes(), row.size());
    }
    return out;
}

} // namespace rwkvrt
#endif
