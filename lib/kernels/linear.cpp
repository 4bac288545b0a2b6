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
#if HWY_ARCH_X86
#include <xmmintrin.h>
#endif
#include "hwy/highway.h"
#include "kernels/convert-inl.h"
#include "kernels/convert.h"
#include "kernels/dot.h"
#include "kernels/dot_int8.h"
#include "kernels/gemm_bf16.h"
#include "kernels/gemm_int8.h"
#include "kernels/matrix.h"
#include "kernels/matvec_job.h"
#include "kernels/prefetch.h"
#include "kernels/quantize.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {

// The matrix product Y = X·Wᵀ for T > 1, computed as Yᵀ = W·Xᵀ so that the weights need no
// transposition: each weight element is converted to fp32 once, by the row converters, into a panel
// of kMR rows whose elements are broadcast against vectors of tokens. Xᵀ is packed once, in panels of
// NV vectors of tokens (zero-padded). Each task is a band of weight rows; it walks the inputs in
// blocks of kc so that the block of packed Xᵀ it reuses for every row of the band stays in L2, and
// accumulates the band's Yᵀ in a buffer of its own, written back transposed at the end. Panels and
// bands are handed out dynamically: on a shared machine the threads that run take more of them.

// Weights on their way from memory are fetched into L2, not L1, which they would pass through and
// evict the panels from before their turn: the packed GEMM's steps of 8–16 rows ran 5–17% faster so,
// and GemmFewTokens 1.8× (f32) and 1.3× (f16).
HWY_INLINE void PrefetchToL2(const void *p) {
#if HWY_ARCH_X86
    _mm_prefetch(static_cast<const char *>(p), _MM_HINT_T1);
#else
    hwy::Prefetch(p);
#endif
}

// Weight rows per micro-tile: kMR × 2 vector accumulators, the broadcast and two token vectors fit
// the 16 registers of AVX2.
constexpr size_t kMR = 6;
constexpr size_t kBandTiles = 8;

// A few tokens fill only part of a vector: steps of at most 8 rows use vectors of 8 lanes
// (kNarrowTokens), which CPUs that run a 512-bit FMA as two 256-bit halves (Zen 4) execute at twice
// the rate. Each lane computes the same, so the bits do not change.
constexpr size_t kNarrowTokens = 8;
using DNarrow = hn::CappedTag<float, kNarrowTokens>;

template <int NV, class V>
HWY_INLINE void Fma(V a, V b0, V b1, V &c0, V &c1) {
    c0 = hn::MulAdd(a, b0, c0);
    if constexpr (NV == 2) c1 = hn::MulAdd(a, b1, c1);
}

template <int NV, class D, class V = hn::Vec<D>>
HWY_INLINE void StoreTile(D df, V c0, V c1, float *out, bool add) {
    const size_t L = hn::Lanes(df);
    if (add) c0 = hn::Add(c0, hn::LoadU(df, out));
    hn::StoreU(c0, df, out);
    if constexpr (NV == 2) {
        if (add) c1 = hn::Add(c1, hn::LoadU(df, out + L));
        hn::StoreU(c1, df, out + L);
    }
}

// c[i][0 .. NV·lanes) (+)= Σ_k a[i·lda + k·kStride] · b[k][·] for i < MR; b packed as kc rows of NV
// vectors of D's lanes. Rows by rows (kStride 1) or a lanes panel's rows (lda 1, kStride kLaneRows).
template <int NV, class D = DF, size_t MR = kMR, size_t kStride = 1>
HWY_NOINLINE void MicroTile(const float *HWY_RESTRICT a, size_t lda, const float *HWY_RESTRICT b, size_t kc,
                            float *HWY_RESTRICT c, size_t ldc, bool add) {
    using VF = hn::Vec<D>;
    const D df;
    const size_t L = hn::Lanes(df);
    VF c0[MR], c1[MR];
    for (size_t i = 0; i < MR; ++i) c0[i] = c1[i] = hn::Zero(df);
    for (size_t k = 0; k < kc; ++k, b += NV * L) {
        const VF b0 = hn::LoadU(df, b);
        const VF b1 = NV == 2 ? hn::LoadU(df, b + L) : b0;
        for (size_t i = 0; i < MR; ++i) Fma<NV>(hn::Set(df, a[i * lda + k * kStride]), b0, b1, c0[i], c1[i]);
    }
    for (size_t i = 0; i < MR; ++i) StoreTile<NV>(df, c0[i], c1[i], c + i * ldc, add);
}

// Y = X·Wᵀ for W of few rows (RWKV-7's LoRA projections down to 32–128 values): Wᵀ, which is small,
// is packed instead of Xᵀ, and MicroTile runs with the roles swapped: kMR tokens' inputs broadcast
// against vectors of outputs, written straight into Y. Each output gets Gemm's additions in Gemm's
// order (blocks of kc from zero, each added to the previous ones; fma(x, w, ·) = fma(w, x, ·)), so the
// bits are Gemm's. For these shapes Gemm's packing of Xᵀ and write-back of Yᵀ cost more than its products.
void GemmFewRows(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    const DF df;
    const size_t cw = 2 * hn::Lanes(df); // outputs per chunk: MicroTile<2>'s two vectors
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), chunks = (N + cw - 1) / cw;
    const size_t kc_max = std::min<size_t>(K, 256); // Gemm's blocks
    // Wᵀ as [chunk][k][cw], zero past N.
    float *const wt = pool.shared_buffer(chunks * K * cw * sizeof(float));
    pool.run(int64_t(chunks), 1, [&](int64_t chunk, int thread) {
        float *const row = pool.thread_buffer(thread, K * sizeof(float));
        float *const dst = wt + size_t(chunk) * K * cw;
        for (size_t j = 0; j < cw; ++j) {
            const size_t n = size_t(chunk) * cw + j;
            if (n < N) ConvertRow(W.dtype, W.row(int64_t(n)), row, K);
            else std::fill_n(row, K, 0.0f);
            for (size_t k = 0; k < K; ++k) dst[k * cw + j] = row[k];
        }
    });
    const int threads = 2.0 * double(rows) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    pool.run(int64_t((rows + kMR - 1) / kMR), threads, [&](int64_t tile, int thread) {
        const size_t t0 = size_t(tile) * kMR, tn = std::min(kMR, rows - t0);
        // A last tile of fewer than kMR tokens, and a last chunk of fewer than cw outputs, go through
        // zero-padded buffers.
        float *const buf = pool.thread_buffer(thread, (kMR * K + kMR * cw) * sizeof(float));
        const float *a = X + t0 * K;
        if (tn < kMR) {
            std::memcpy(buf, a, tn * K * sizeof(float));
            std::fill_n(buf + tn * K, (kMR - tn) * K, 0.0f);
            a = buf;
        }
        float *const partial = buf + kMR * K;
        for (size_t chunk = 0; chunk < chunks; ++chunk) {
            const size_t n0 = chunk * cw, nn = std::min(cw, N - n0);
            const bool direct = tn == kMR && nn == cw;
            float *const c = direct ? Y + t0 * N + n0 : partial;
            for (size_t k0 = 0; k0 < K; k0 += kc_max)
                MicroTile<2>(a + k0, K, wt + chunk * K * cw + k0 * cw, std::min(kc_max, K - k0), c, direct ? N : cw, k0 > 0);
            if (!direct)
                for (size_t t = 0; t < tn; ++t) std::memcpy(Y + (t0 + t) * N + n0, partial + t * cw, nn * sizeof(float));
        }
    });
}

// --- Weight rows in the lanes (Matrix::lanes, matrix.h) ---

// GCC 12's induction-variable pass can rewrite a kernel's address arithmetic as a reference based at
// address 0, which its pure-const analysis then takes for a null dereference: it declared
// LanesPanelOf<Q4_0> (AVX2) `const`, and its caller dropped the call. Kernels whose only effect is their
// stores are therefore kept out of interprocedural analysis.
#if defined(__GNUC__) && !defined(__clang__)
#define RWKVRT_OPAQUE_KERNEL __attribute__((noipa))
#else
#define RWKVRT_OPAQUE_KERNEL HWY_NOINLINE
#endif

// 32 vector registers (AVX-512) or 16.
constexpr bool kManyRegisters = HWY_TARGET <= HWY_AVX3;

// Every type is read in segments of 16 elements of a block: a segment has one scale (and min) per row,
// and its 16 × 16 codes are decoded at once, with byte operations, to int8 [l][row] (the element for row
// r is code[l·kLaneRows + r] · scale[r] (− min[r])); Q8_0's are read where they lie. LanesWeight() gives
// ConvertRow's values exactly (d·q; K-quants scale·q − min with scale = d·sc, min = dmin·m).

// A segment's codes and, for the L rows from `row`, its constants.
struct LanesSegment {
    const int8_t *codes;
    VF scale, min;
};

// Bytes of one segment's decoded codes.
constexpr size_t kSegmentCodes = 16 * kLaneRows;
using DCodes = hn::CappedTag<uint8_t, 64>;

// out[i] = fn(i) for the segment's 256 code bytes, a vector of DCodes at a time.
template <class Fn>
HWY_INLINE const int8_t *DecodeSegment(int8_t *HWY_RESTRICT out, Fn &&fn) {
    const DCodes d8;
    for (size_t i = 0; i < kSegmentCodes; i += hn::Lanes(d8)) hn::Store(fn(d8, i), d8, reinterpret_cast<uint8_t *>(out) + i);
    return out;
}

// The bytes from p + i shifted right by kShift bits (left by −kShift), & mask. The shifts are of 16-bit
// words, and immediate: the mask keeps only bits that come from the byte's own.
template <int kShift, class D8>
HWY_INLINE hn::Vec<D8> LanesBits(D8 d8, const uint8_t *p, size_t i, uint8_t mask) {
#if HWY_TARGET == HWY_SCALAR // one byte a vector
    const auto bytes = hn::LoadU(d8, p + i);
#else
    const hn::Repartition<uint16_t, D8> d16;
    const auto bytes = hn::BitCast(d16, hn::LoadU(d8, p + i));
#endif
    const auto shifted = [&] {
        if constexpr (kShift > 0) return hn::ShiftRight<kShift>(bytes);
        else if constexpr (kShift < 0) return hn::ShiftLeft<-kShift>(bytes);
        else return bytes;
    }();
    return hn::And(hn::BitCast(d8, shifted), hn::Set(d8, mask));
}

// Per type: Decode<s>(block, out) writes segment s's codes; Segment<s>(…) adds the constants of the L
// rows from `row`, some of which Prepare(block, out) may have unpacked into kPrepared bytes when the
// block began. The segment is a template argument so that every shift is an immediate.
template <DType kType>
struct LanesType;

template <>
struct LanesType<DType::Q8_0> { // per group and block: 16 fp16 scales, then 32 × 16 codes
    static constexpr size_t kElems = 32, kBytes = 32 + 32 * kLaneRows;
    static constexpr bool kHasMin = false, kDecodes = false, kFloat = false; // the codes are read where they lie
    static constexpr size_t kPrepared = 0;
    template <size_t s>
    static LanesSegment Segment(DF df, const uint8_t *block, size_t row, const int8_t *, const uint8_t *) {
        return {reinterpret_cast<const int8_t *>(block + 32 + s * kSegmentCodes), LoadF16(df, block + 2 * row), VF()};
    }
};

template <>
struct LanesType<DType::Q4_0> { // 16 fp16 scales, then the 16 stored bytes × 16 (low nibble: element j)
    static constexpr size_t kElems = 32, kBytes = 32 + 16 * kLaneRows;
    static constexpr bool kHasMin = false, kDecodes = true, kFloat = false;
    static constexpr size_t kPrepared = 0;
    template <size_t s>
    static void Decode(const uint8_t *block, int8_t *out) {
        DecodeSegment(out, [&](DCodes d8, size_t i) { // q − 8, as int8
            return hn::Sub(LanesBits<int(4 * s)>(d8, block + 32, i, 15), hn::Set(d8, uint8_t{8}));
        });
    }
    template <size_t s>
    static LanesSegment Segment(DF df, const uint8_t *block, size_t row, const int8_t *codes, const uint8_t *) {
        return {codes, LoadF16(df, block + 2 * row), VF()};
    }
};

// The scales or mins of sub-block `sub` as fp32: d · the unpacked 6-bit values (bytes [sub][row]).
HWY_INLINE VF KScales(DF df, const uint8_t *d, const uint8_t *values, size_t row) {
    const auto v = hn::PromoteTo(hn::RebindToSigned<DF>(), hn::LoadU(hn::Rebind<uint8_t, DF>(), values + row));
    return hn::Mul(LoadF16(df, d + 2 * row), hn::ConvertTo(df, v));
}

// Q4_K and Q5_K per group and super-block: d and dmin (16 fp16 each), the 12 bytes of 6-bit scales and
// mins ([byte][row]), Q5_K's 32 bytes of fifth bits, then the 128 bytes of nibbles, each × 16 (byte
// 32p + l: element 64p + l in its low nibble, 64p + 32 + l in its high one): the file's bytes, so that
// the layout can be written where they lie. Prepare unpacks the scales and mins to bytes
// ([sub-block][row], mins from 128), as k_scale_min does a row's.
template <bool kFifthBit>
struct LanesQ45K {
    static constexpr size_t kElems = 256, kCodes = 256 + (kFifthBit ? 32 * kLaneRows : 0);
    static constexpr size_t kBytes = kCodes + 128 * kLaneRows;
    static constexpr bool kHasMin = true, kDecodes = true, kFloat = false;
    static constexpr size_t kPrepared = 16 * kLaneRows;
    static void Prepare(const uint8_t *block, uint8_t *out) {
        const hn::CappedTag<uint8_t, kLaneRows> d8;
        const uint8_t *const packed = block + 64; // byte j of the 16 rows at 16j
        for (size_t i = 0; i < kLaneRows; i += hn::Lanes(d8))
            for (size_t j = 0; j < 4; ++j) {
                const auto q = [&](size_t byte) { return packed + byte * kLaneRows; };
                hn::StoreU(LanesBits<0>(d8, q(j), i, 63), d8, out + j * kLaneRows + i);
                hn::StoreU(LanesBits<0>(d8, q(j + 4), i, 63), d8, out + 128 + j * kLaneRows + i);
                // Sub-blocks 4–7: low 4 bits from byte j + 8, high 2 from the top of bytes j and j + 4.
                hn::StoreU(hn::Or(LanesBits<0>(d8, q(j + 8), i, 15), LanesBits<2>(d8, q(j), i, 0x30)), d8, out + (j + 4) * kLaneRows + i);
                hn::StoreU(hn::Or(LanesBits<4>(d8, q(j + 8), i, 15), LanesBits<2>(d8, q(j + 4), i, 0x30)), d8,
                           out + 128 + (j + 4) * kLaneRows + i);
            }
    }
    template <size_t s>
    static void Decode(const uint8_t *block, int8_t *out) {
        constexpr size_t sub = s / 2, half = 16 * (s % 2) * kLaneRows;
        const uint8_t *const nibbles = block + kCodes + 32 * (s / 4) * kLaneRows + half, *const fifth = block + 256 + half;
        DecodeSegment(out, [&](DCodes d8, size_t i) {
            const auto q = LanesBits<int(4 * (sub % 2))>(d8, nibbles, i, 15);
            if constexpr (!kFifthBit) return q;
            else return hn::Or(q, LanesBits<int(sub) - 4>(d8, fifth, i, 0x10)); // bit `sub` to bit 4
        });
    }
    template <size_t s>
    static LanesSegment Segment(DF df, const uint8_t *block, size_t row, const int8_t *codes, const uint8_t *scales) {
        constexpr size_t sub = s / 2;
        return {codes, KScales(df, block, scales + sub * kLaneRows, row), KScales(df, block + 32, scales + 128 + sub * kLaneRows, row)};
    }
};
template <>
struct LanesType<DType::Q4_K> : LanesQ45K<false> {};
template <>
struct LanesType<DType::Q5_K> : LanesQ45K<true> {};

// Q6_K per group and super-block: d (16 fp16), the 16 int8 scales × 16, the 128 bytes of low bits (ql)
// × 16, then the 64 bytes of high bits (qh) × 16: the same bytes as the file. Element 128h + 32c + l has
// its low 4 bits in ql[64h + 32(c % 2) + l] (the high nibble for c ≥ 2) and its high 2 in qh[32h + l] >> 2c.
template <>
struct LanesType<DType::Q6_K> {
    static constexpr size_t kElems = 256, kBytes = 32 + 16 * kLaneRows + 192 * kLaneRows;
    static constexpr bool kHasMin = false, kDecodes = true, kFloat = false;
    static constexpr size_t kPrepared = 0;
    template <size_t s>
    static void Decode(const uint8_t *block, int8_t *out) {
        constexpr size_t h = s / 8, c = s % 8 / 2, l0 = 16 * (s % 2);
        const uint8_t *const low = block + 288 + (64 * h + 32 * (c % 2) + l0) * kLaneRows;
        const uint8_t *const high = block + 288 + 128 * kLaneRows + (32 * h + l0) * kLaneRows;
        DecodeSegment(out, [&](DCodes d8, size_t i) { // low 4 bits | the 2 high ones at bits 4–5, − 32, as int8
            const auto q = hn::Or(LanesBits<c < 2 ? 0 : 4>(d8, low, i, 15), LanesBits<int(2 * c) - 4>(d8, high, i, 0x30));
            return hn::Sub(q, hn::Set(d8, uint8_t{32}));
        });
    }
    template <size_t s>
    static LanesSegment Segment(DF df, const uint8_t *block, size_t row, const int8_t *codes, const uint8_t *) {
        const hn::Rebind<int8_t, DF> di8;
        const auto sc = hn::PromoteTo(hn::RebindToSigned<DF>(), hn::LoadU(di8, reinterpret_cast<const int8_t *>(block + 32 + s * kLaneRows + row)));
        return {codes, hn::Mul(LoadF16(df, block + 2 * row), hn::ConvertTo(df, sc)), VF()};
    }
};

// f32, f16 and bf16 per group and block of 16 elements: element k of the 16 rows side by side
// ([k][row], whole elements), with no constants; Weight converts them as ConvertRow does.
template <DType kType>
struct LanesFloat {
    static constexpr size_t kSize = kType == DType::F32 ? 4 : 2;
    static constexpr size_t kElems = 16, kBytes = 16 * kLaneRows * kSize, kPrepared = 0;
    static constexpr size_t kRowStride = kSize; // bytes from a row's element to the next row's
    static constexpr bool kHasMin = false, kDecodes = false, kFloat = true;
    template <size_t s>
    static LanesSegment Segment(DF, const uint8_t *block, size_t, const int8_t *, const uint8_t *) {
        return {reinterpret_cast<const int8_t *>(block), VF(), VF()};
    }
    static VF Load(DF df, const uint8_t *p) {
        if constexpr (kType == DType::F16) return LoadF16(df, p);
        else if constexpr (kType == DType::BF16) return LoadBF16(df, p);
        else return hn::LoadU(df, reinterpret_cast<const float *>(p));
    }
    static VF Weight(DF df, const LanesSegment &seg, size_t l, size_t row) {
        return Load(df, reinterpret_cast<const uint8_t *>(seg.codes) + (l * kLaneRows + row) * kSize);
    }
};
template <>
struct LanesType<DType::F32> : LanesFloat<DType::F32> {};
template <>
struct LanesType<DType::F16> : LanesFloat<DType::F16> {};
// bf16 pairs its elements: per group and block of 16, elements 2j and 2j + 1 of a row side by side in
// 32 bits, the 16 rows' pairs side by side ([j][row][2j, 2j + 1]: F32's layout with a pair for an
// element). That is the operand vdpbf16ps takes (gemm_bf16.cpp reads it where it lies, where element
// by element each vector had to be interleaved before use), and an element widens to fp32 with a shift
// or a mask of a 32-bit lane, where the rows side by side took a zero extension.
template <>
struct LanesType<DType::BF16> : LanesFloat<DType::BF16> {
    static constexpr size_t kRowStride = 4;
    // Element 2j + kOdd of the L rows whose pairs j lie at p.
    template <bool kOdd>
    static VF LoadOfPairs(DF df, const uint8_t *p) {
        const hn::RebindToUnsigned<DF> du32;
        const auto pairs = hn::LoadU(du32, reinterpret_cast<const uint32_t *>(p));
        if constexpr (kOdd) return hn::BitCast(df, hn::And(pairs, hn::Set(du32, 0xFFFF0000u)));
        else return hn::BitCast(df, hn::ShiftLeft<16>(pairs));
    }
    static VF Weight(DF df, const LanesSegment &seg, size_t l, size_t row) {
        const uint8_t *const p = reinterpret_cast<const uint8_t *>(seg.codes) + (l / 2 * kLaneRows + row) * 4;
        return l % 2 ? LoadOfPairs<true>(df, p) : LoadOfPairs<false>(df, p);
    }
};

// Every layout keeps the file's bytes (a block's per row: Q8_0 34, Q4_0 18, Q4_K 144, Q5_K 176, Q6_K
// 210), so that write_rows_as_lanes can write it where the rows lie.
static_assert(LanesType<DType::Q8_0>::kBytes == 34 * kLaneRows && LanesType<DType::Q4_0>::kBytes == 18 * kLaneRows);
static_assert(LanesType<DType::Q4_K>::kBytes == 144 * kLaneRows && LanesType<DType::Q5_K>::kBytes == 176 * kLaneRows);
static_assert(LanesType<DType::Q6_K>::kBytes == 210 * kLaneRows && LanesType<DType::F16>::kBytes == 32 * kLaneRows);

// fn(b, s) for the segments s (an integral_constant) of blocks b = k0 / kElems … k1 / kElems − 1, in order.
template <class Type, class Fn, size_t... S>
HWY_INLINE void ForEachSegmentOf(size_t k0, size_t k1, Fn &&fn, std::index_sequence<S...>) {
    for (size_t b = k0 / Type::kElems; b < k1 / Type::kElems; ++b) (fn(b, std::integral_constant<size_t, S>{}), ...);
}
template <class Type, class Fn>
HWY_INLINE void ForEachSegment(size_t k0, size_t k1, Fn &&fn) {
    ForEachSegmentOf<Type>(k0, k1, fn, std::make_index_sequence<Type::kElems / 16>{});
}

// The NV vectors of L rows from row0 of the group at `group` (row0 a multiple of kLaneRows when they
// span groups): vector v's first block and row in its group. A group's codes (and prepared constants)
// are decoded once for all its vectors (twice as many vectors as groups with AVX2's 8 lanes).
template <class Type, size_t NV>
struct LanesVectors {
    static constexpr size_t kL = hn::MaxLanes(DF()), kGroups = (NV * kL + kLaneRows - 1) / kLaneRows;
    const uint8_t *first[kGroups]; // each group's first block
    size_t rows[NV];               // each vector's first row in its group
    HWY_ALIGN int8_t codes[kGroups][kSegmentCodes];
    HWY_ALIGN uint8_t prepared[kGroups][Type::kPrepared + 1];
    LanesVectors(const uint8_t *group, size_t row0, size_t group_bytes) {
        for (size_t g = 0; g < kGroups; ++g) first[g] = group + g * group_bytes;
        for (size_t v = 0; v < NV; ++v) rows[v] = (row0 + v * kL) % kLaneRows;
    }
    static constexpr size_t GroupOf(size_t v) { return v * kL / kLaneRows; }
    // Segment s of block b for every vector.
    template <size_t s>
    HWY_INLINE void Segments(DF df, size_t b, LanesSegment (&seg)[NV]) {
        if constexpr (Type::kPrepared > 0 && s == 0)
            for (size_t g = 0; g < kGroups; ++g) Type::Prepare(first[g] + b * Type::kBytes, prepared[g]);
        if constexpr (Type::kDecodes)
            for (size_t g = 0; g < kGroups; ++g) Type::template Decode<s>(first[g] + b * Type::kBytes, codes[g]);
        for (size_t v = 0; v < NV; ++v)
            seg[v] = Type::template Segment<s>(df, first[GroupOf(v)] + b * Type::kBytes, rows[v], codes[GroupOf(v)], prepared[GroupOf(v)]);
    }
};

// The codes of element 16s + l of a block (seg = Segment(…, s)) for the L rows from `row`, as fp32.
HWY_INLINE VF LanesCode(DF df, const LanesSegment &seg, size_t l, size_t row) {
    const hn::Rebind<int8_t, DF> di8;
    return hn::ConvertTo(df, hn::PromoteTo(hn::RebindToSigned<DF>(), hn::LoadU(di8, seg.codes + l * kLaneRows + row)));
}

// … and the weights, as ConvertRow gives them.
template <DType kType>
HWY_INLINE VF LanesWeight(DF df, const LanesSegment &seg, size_t l, size_t row) {
    if constexpr (LanesType<kType>::kFloat) return LanesType<kType>::Weight(df, seg, l, row);
    const VF scaled = hn::Mul(LanesCode(df, seg, l, row), seg.scale);
    if constexpr (LanesType<kType>::kHasMin) return hn::Sub(scaled, seg.min); // not fused, as ConvertKBlocks
    else return scaled;
}

template <DType kType>
constexpr size_t LanesGroupBytes(size_t cols) { return cols / LanesType<kType>::kElems * LanesType<kType>::kBytes; }

// Y[t·ldy + 0 .. NV·L) (t < TG) for the rows X[t·ldx ..] and the NV·L weight rows from row0 of the group at
// `group` (the matrix's later groups follow): Gemm's additions in Gemm's order, each weight decoded once.
template <DType kType, size_t TG, size_t NV>
RWKVRT_OPAQUE_KERNEL void LanesTile(const uint8_t *HWY_RESTRICT group, size_t row0, size_t group_bytes, size_t K,
                            const float *HWY_RESTRICT X, size_t ldx, float *HWY_RESTRICT Y, size_t ldy) {
    using Type = LanesType<kType>;
    const DF df;
    const size_t L = hn::Lanes(df);
    LanesVectors<Type, NV> vectors(group, row0, group_bytes);
    for (size_t k0 = 0; k0 < K; k0 += 256) { // Gemm's blocks of kc
        const size_t k1 = std::min(K, k0 + 256);
        VF acc[TG][NV];
        for (size_t t = 0; t < TG; ++t)
            for (size_t v = 0; v < NV; ++v) acc[t][v] = hn::Zero(df);
        ForEachSegment<Type>(k0, k1, [&](size_t b, auto s) {
            const size_t k = b * Type::kElems + 16 * decltype(s)::value;
            LanesSegment seg[NV];
            vectors.template Segments<decltype(s)::value>(df, b, seg);
            for (size_t l = 0; l < 16; ++l) {
                VF w[NV];
                for (size_t v = 0; v < NV; ++v) w[v] = LanesWeight<kType>(df, seg[v], l, vectors.rows[v]);
                for (size_t t = 0; t < TG; ++t) {
                    const VF xt = hn::Set(df, X[t * ldx + k + l]);
                    for (size_t v = 0; v < NV; ++v) acc[t][v] = hn::MulAdd(w[v], xt, acc[t][v]);
                }
            }
        });
        for (size_t t = 0; t < TG; ++t)
            for (size_t v = 0; v < NV; ++v) {
                float *const out = Y + t * ldy + v * L;
                hn::StoreU(k0 > 0 ? hn::Add(acc[t][v], hn::LoadU(df, out)) : acc[t][v], df, out);
            }
    }
}

// y[0 .. NV·L) = W·x for the NV·L rows from row0 of the group at `group`, in the mat-vec's order (the
// bits of neither Gemm nor the row kernels): per segment, Σ q·x from zero, then fused with the scale
// (and − min·Σx). One multiplication a weight fewer than Gemm's order, which a lone row without
// batch_invariant does not need.
template <DType kType, size_t NV>
RWKVRT_OPAQUE_KERNEL void LanesMatVecTile(const uint8_t *HWY_RESTRICT group, size_t row0, size_t group_bytes, size_t K,
                                  const float *HWY_RESTRICT x, float *HWY_RESTRICT y) {
    using Type = LanesType<kType>;
    const DF df;
    const size_t L = hn::Lanes(df);
    LanesVectors<Type, NV> vectors(group, row0, group_bytes);
    VF acc[NV];
    for (size_t v = 0; v < NV; ++v) acc[v] = hn::Zero(df);
    ForEachSegment<Type>(0, K, [&](size_t b, auto s) {
        const size_t k = b * Type::kElems + 16 * decltype(s)::value;
        LanesSegment seg[NV];
        vectors.template Segments<decltype(s)::value>(df, b, seg);
        VF sum[NV];
        for (size_t v = 0; v < NV; ++v) sum[v] = hn::Zero(df);
        float x_sum = 0; // for the mins
        for (size_t l = 0; l < 16; ++l) {
            const VF xl = hn::Set(df, x[k + l]);
            if constexpr (Type::kHasMin) x_sum += x[k + l];
            for (size_t v = 0; v < NV; ++v) sum[v] = hn::MulAdd(LanesCode(df, seg[v], l, vectors.rows[v]), xl, sum[v]);
        }
        for (size_t v = 0; v < NV; ++v) {
            acc[v] = hn::MulAdd(sum[v], seg[v].scale, acc[v]);
            if constexpr (Type::kHasMin) acc[v] = hn::NegMulAdd(seg[v].min, hn::Set(df, x_sum), acc[v]);
        }
    });
    for (size_t v = 0; v < NV; ++v) hn::StoreU(acc[v], df, y + v * L);
}

// y[0 .. V·L) = W·x for V vectors of L rows of one group of a float type, from p (element 0 of the first
// vector's rows): the group's bytes read as one ascending stream, as the row kernels read their rows,
// with four chains of multiply-adds in all (named by constant indices, so that they stay in registers).
template <DType kType, size_t V>
HWY_INLINE void LanesFloatRows(const uint8_t *HWY_RESTRICT p, size_t K, const float *HWY_RESTRICT x, float *HWY_RESTRICT y) {
    using Type = LanesType<kType>;
    constexpr size_t kChains = V >= 4 ? 1 : 4 / V, kStep = kLaneRows * Type::kSize; // blocks of 16 elements follow each other
    // AVX2 prefetches f16 and bf16 (kernels/prefetch.h); f32 reads at the bandwidth without it, and lost
    // 5–7% with it on Zen 2.
    constexpr bool kPrefetch = HWY_TARGET == HWY_AVX2 && kType != DType::F32;
    const DF df;
    const size_t L = hn::Lanes(df);
    VF acc[V][kChains];
    for (size_t v = 0; v < V; ++v)
        for (size_t c = 0; c < kChains; ++c) acc[v][c] = hn::Zero(df);
    if constexpr (kType == DType::BF16) { // pairs (LanesType<BF16>): two elements a load, chains as below
        constexpr size_t kElems = kChains < 2 ? 2 : kChains;
        for (size_t k = 0; k < K; k += kElems, p += kElems * kStep) {
            if constexpr (kPrefetch) prefetch_ahead(p, kGroupsPrefetchDistance, kElems * kStep);
            for (size_t e = 0; e < kElems; e += 2) {
                const VF x0 = hn::Set(df, x[k + e]), x1 = hn::Set(df, x[k + e + 1]);
                for (size_t v = 0; v < V; ++v) {
                    const uint8_t *const pairs = p + e * kStep + v * L * Type::kRowStride;
                    acc[v][e % kChains] = hn::MulAdd(Type::template LoadOfPairs<false>(df, pairs), x0, acc[v][e % kChains]);
                    acc[v][(e + 1) % kChains] = hn::MulAdd(Type::template LoadOfPairs<true>(df, pairs), x1, acc[v][(e + 1) % kChains]);
                }
            }
        }
    } else {
        for (size_t k = 0; k < K; k += kChains, p += kChains * kStep) {
            if constexpr (kPrefetch) prefetch_ahead(p, kGroupsPrefetchDistance, kChains * kStep);
            for (size_t c = 0; c < kChains; ++c) {
                const VF xk = hn::Set(df, x[k + c]);
                for (size_t v = 0; v < V; ++v) acc[v][c] = hn::MulAdd(Type::Load(df, p + c * kStep + v * L * Type::kRowStride), xk, acc[v][c]);
            }
        }
    }
    for (size_t v = 0; v < V; ++v) {
        VF sum = acc[v][0];
        for (size_t c = 1; c < kChains; ++c) sum = hn::Add(sum, acc[v][c]);
        hn::StoreU(sum, df, y + v * L);
    }
}

// y[0 .. n·L) = W·x for the n·L rows from row0 of the group at `group`, of a float type: a whole group
// at a time where the vectors cover it (AVX2's two vectors of 8 rows read each line once), else a
// vector at a time. Four vectors of four groups at a time (four streams), and accumulators GCC kept
// on the stack, had made one conversation of 0.1B F16 slower than the row kernels.
template <DType kType>
RWKVRT_OPAQUE_KERNEL void LanesFloatMatVec(const uint8_t *HWY_RESTRICT group, size_t row0, size_t group_bytes, size_t K,
                                           const float *HWY_RESTRICT x, float *HWY_RESTRICT y, size_t n) {
    constexpr size_t kL = hn::MaxLanes(DF()), kGroupVectors = kLaneRows / kL;
    for (size_t v = 0; v < n;) {
        const size_t r = row0 + v * kL, row = r % kLaneRows;
        const uint8_t *p = group + r / kLaneRows * group_bytes + row * LanesType<kType>::kRowStride;
        if (row == 0 && n - v >= kGroupVectors) {
            LanesFloatRows<kType, kGroupVectors>(p, K, x, y + v * kL);
            v += kGroupVectors;
        } else {
            LanesFloatRows<kType, 1>(p, K, x, y + v * kL);
            v += 1;
        }
    }
}

// Vectors of weight rows per chunk of a thread's stretch, and per mat-vec tile.
constexpr size_t kLanesVectors = 4;
// Rows of X (TG) and vectors of weight rows (NV) per LanesTile: TG·NV accumulators, NV weights and a
// broadcast fit the registers (32 with AVX-512, else 16), and TG·NV independent chains hide the FMA's
// latency. kLanesVectors vectors are two groups with AVX2, streamed side by side.
constexpr size_t kLanesTileRows = kManyRegisters ? 4 : 2;
// With AVX2, float types take 6 rows × 2 vectors (one group) from kWideLanesTileMinRows rows: a weight
// vector, loaded and widened, then serves 6 rows instead of 2, which had left the loads and conversions
// the bound (0.1B prompts +8% for f16, about +25% for f32 and bf16; docs/PERFORMANCE.md, "Float prompts:
// tiles of 6 rows"). Steps of fewer rows stream the weights from memory, and do so faster two groups at
// a time. The block types' segment constants would not fit beside 12 accumulators; AVX-512's 4 × 4 is
// at the FMA's peak (6 × 4 and 8 × 2 measured the same).
template <DType kType>
constexpr bool kWideLanesTile = !kManyRegisters && LanesType<kType>::kFloat;
constexpr size_t kWideLanesTileRows = 6, kWideLanesTileVectors = 2;
constexpr int64_t kWideLanesTileMinRows = 64;
// The widest tile of NV vectors.
template <DType kType, size_t NV>
constexpr size_t kMaxLanesTileRows = kWideLanesTile<kType> && NV <= kWideLanesTileVectors ? kWideLanesTileRows : kLanesTileRows;

// Steps of up to kLanesFewRows rows read the weights where they lie: each one is decoded once per
// kLanesTileRows rows, where Gemm decodes it once per step but broadcasts it against a vector of rows
// that is mostly empty. Float types do so at every row count: converting a weight costs less than
// packing it into panels (0.1B f16 shapes, 2 threads: 16 rows 132–174 → 188–212 GFLOP/s, 64 rows
// 178–195 → 201–212, 512 rows 187–206 → 204–210; AVX2 likewise).
constexpr int64_t kLanesFewRows = 8;

// tile(first group, first row in it, Y offset) for W's rows in chunks of kLanesVectors vectors (the last
// one a vector at a time), each thread streaming its own stretch in pieces of about 64 KiB.
template <DType kType, class Tile, class OneVector>
void ForEachLanesChunk(const Matrix &W, double flops, ThreadPool &pool, Tile &&tile, OneVector &&one_vector) {
    const size_t N = size_t(W.rows), L = hn::Lanes(DF()), chunk_rows = kLanesVectors * L;
    const size_t group_bytes = LanesGroupBytes<kType>(size_t(W.cols));
    const int threads = flops < 1e6 ? 1 : pool.size();
    const int64_t piece = std::max<int64_t>(1, int64_t((size_t(64) << 10) / (group_bytes * chunk_rows / kLaneRows)));
    pool.run_stretches(int64_t((N + chunk_rows - 1) / chunk_rows), piece, threads, [&](int64_t c0, int64_t c1, int) {
        for (int64_t chunk = c0; chunk < c1; ++chunk) {
            const size_t n0 = size_t(chunk) * chunk_rows;
            if (n0 + chunk_rows <= N) tile(W.data + n0 / kLaneRows * group_bytes, n0 % kLaneRows, n0);
            else
                for (size_t r = n0; r < N; r += L) one_vector(W.data + r / kLaneRows * group_bytes, r % kLaneRows, r);
        }
    });
}

template <DType kType, size_t NV>
void LanesTiles(size_t tg, const uint8_t *group, size_t row0, size_t group_bytes, size_t K, const float *X, float *Y, size_t N) {
    constexpr size_t kMax = kMaxLanesTileRows<kType, NV>;
    switch (tg) {
    case 1: return LanesTile<kType, 1, NV>(group, row0, group_bytes, K, X, K, Y, N);
    case 2: return LanesTile<kType, 2, NV>(group, row0, group_bytes, K, X, K, Y, N);
    case 3: if constexpr (kMax >= 3) return LanesTile<kType, 3, NV>(group, row0, group_bytes, K, X, K, Y, N); break;
    case 4: if constexpr (kMax >= 4) return LanesTile<kType, 4, NV>(group, row0, group_bytes, K, X, K, Y, N); break;
    case 5: if constexpr (kMax >= 5) return LanesTile<kType, 5, NV>(group, row0, group_bytes, K, X, K, Y, N); break;
    default: if constexpr (kMax >= 6) return LanesTile<kType, 6, NV>(group, row0, group_bytes, K, X, K, Y, N); break;
    }
}

template <DType kType>
void LanesProductOf(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), group_bytes = LanesGroupBytes<kType>(K);
    const bool wide = kWideLanesTile<kType> && T >= kWideLanesTileMinRows;
    const size_t max_tg = wide ? kWideLanesTileRows : kLanesTileRows, n_tiles = (rows + max_tg - 1) / max_tg;
    const auto tiles = [&](auto nv, size_t r) { // tiles of about equal rows for the nv vectors from W's row r
        const uint8_t *const group = W.data + r / kLaneRows * group_bytes;
        for (size_t i = 0, t0 = 0; i < n_tiles; ++i) {
            const size_t tg = rows / n_tiles + (i < rows % n_tiles);
            LanesTiles<kType, decltype(nv)::value>(tg, group, r % kLaneRows, group_bytes, K, X + t0 * K, Y + t0 * N + r, N);
            t0 += tg;
        }
    };
    const size_t L = hn::Lanes(DF());
    ForEachLanesChunk<kType>(
        W, 2.0 * double(rows) * double(N) * double(K), pool,
        [&](const uint8_t *, size_t, size_t n0) {
            if (!wide) return tiles(std::integral_constant<size_t, kLanesVectors>{}, n0);
            for (size_t r = n0; r < n0 + kLanesVectors * L; r += kWideLanesTileVectors * L)
                tiles(std::integral_constant<size_t, kWideLanesTileVectors>{}, r);
        },
        [&](const uint8_t *, size_t, size_t n0) { tiles(std::integral_constant<size_t, 1>{}, n0); });
}

// y = W·x for W's lane groups [g0, g1): whole groups, so that a row's sum does not depend on how the
// mat-vec's rows were cut (kernels/matvec_job.h).
template <DType kType>
void LanesMatVecGroupsOf(const Matrix &W, const float *x, float *y, size_t g0, size_t g1) {
    const size_t K = size_t(W.cols), group_bytes = LanesGroupBytes<kType>(K), L = hn::Lanes(DF());
    const uint8_t *const first = W.data + g0 * group_bytes;
    y += g0 * kLaneRows;
    const size_t rows = (g1 - g0) * kLaneRows;
    if constexpr (LanesType<kType>::kFloat) {
        LanesFloatMatVec<kType>(first, 0, group_bytes, K, x, y, rows / L);
    } else {
        size_t r = 0;
        for (; r + kLanesVectors * L <= rows; r += kLanesVectors * L)
            LanesMatVecTile<kType, kLanesVectors>(first + r / kLaneRows * group_bytes, r % kLaneRows, group_bytes, K, x, y + r);
        for (; r < rows; r += L) LanesMatVecTile<kType, 1>(first + r / kLaneRows * group_bytes, r % kLaneRows, group_bytes, K, x, y + r);
    }
}

// The weights of a group's inputs k0 .. k1 as fp32, panel[(k − k0)·kLaneRows + i] for its row i (Gemm).
template <DType kType>
RWKVRT_OPAQUE_KERNEL void LanesPanelOf(const uint8_t *group, size_t k0, size_t k1, float *HWY_RESTRICT panel) {
    using Type = LanesType<kType>;
    const DF df;
    const size_t L = hn::Lanes(df);
    LanesVectors<Type, kLaneRows / hn::MaxLanes(DF())> vectors(group, 0, 0); // the group's rows
    ForEachSegment<Type>(k0, k1, [&](size_t b, auto s) {
        const size_t k = b * Type::kElems + 16 * decltype(s)::value;
        LanesSegment seg[kLaneRows / hn::MaxLanes(DF())];
        vectors.template Segments<decltype(s)::value>(df, b, seg);
        for (size_t v = 0; v * L < kLaneRows; ++v)
            for (size_t l = 0; l < 16; ++l) hn::StoreU(LanesWeight<kType>(df, seg[v], l, v * L), df, panel + (k - k0 + l) * kLaneRows + v * L);
    });
}

// fn(type tag) for the lanes types.
template <class Fn>
HWY_INLINE void WithLanesType(DType t, Fn &&fn) {
    switch (t) {
    case DType::F32: return fn(std::integral_constant<DType, DType::F32>{});
    case DType::F16: return fn(std::integral_constant<DType, DType::F16>{});
    case DType::BF16: return fn(std::integral_constant<DType, DType::BF16>{});
    case DType::Q8_0: return fn(std::integral_constant<DType, DType::Q8_0>{});
    case DType::Q4_0: return fn(std::integral_constant<DType, DType::Q4_0>{});
    case DType::Q4_K: return fn(std::integral_constant<DType, DType::Q4_K>{});
    case DType::Q5_K: return fn(std::integral_constant<DType, DType::Q5_K>{});
    default: return fn(std::integral_constant<DType, DType::Q6_K>{});
    }
}

size_t LanesGroupBytesOf(const Matrix &W) {
    size_t bytes = 0;
    WithLanesType(W.dtype, [&](auto type) { bytes = LanesGroupBytes<decltype(type)::value>(size_t(W.cols)); });
    return bytes;
}

void LanesProduct(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    WithLanesType(W.dtype, [&](auto type) { LanesProductOf<decltype(type)::value>(W, X, T, Y, pool); });
}

void LanesMatVecGroups(const Matrix &W, const float *x, float *y, size_t g0, size_t g1) {
    WithLanesType(W.dtype, [&](auto type) { LanesMatVecGroupsOf<decltype(type)::value>(W, x, y, g0, g1); });
}

void LanesPanel(const Matrix &W, size_t group, size_t k0, size_t k1, float *panel) {
    const uint8_t *const data = W.data + group * LanesGroupBytesOf(W);
    WithLanesType(W.dtype, [&](auto type) { LanesPanelOf<decltype(type)::value>(data, k0, k1, panel); });
}


// Steps of a few rows (conversations decoding together): the packed GEMM would broadcast each weight
// against a vector of tokens that is mostly empty. Here weight rows fill the lanes instead: blocks of 8
// rows are converted to fp32 and transposed in registers into a panel of kChunkRows rows, and each
// token's input is broadcast against the panel's vectors. Each output gets Gemm's additions in Gemm's
// order (blocks of kc from zero, each added to the previous ones; fma(w, x, ·) = fma(x, w, ·)), so a
// conversation's bits do not depend on how many others share its step. Needs vectors of 8 lanes (other
// targets run Gemm, with the same bits).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr size_t kChunkVectors = 4; // with 2 tokens, 8 independent chains: enough to hide FMA latency
constexpr size_t kChunkRows = 8 * kChunkVectors;

// out[j · ld + i] = lane j of r[i], for i, j < 8.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void Transpose8(D d, const V *r, float *HWY_RESTRICT out, size_t ld) {
    const hn::Repartition<uint64_t, D> d64;
    const auto lo64 = [&](V a, V b) { return hn::BitCast(d, hn::InterleaveLower(d64, hn::BitCast(d64, a), hn::BitCast(d64, b))); };
    const auto hi64 = [&](V a, V b) { return hn::BitCast(d, hn::InterleaveUpper(d64, hn::BitCast(d64, a), hn::BitCast(d64, b))); };
    // Pairs of rows, then quads, within each half of 4 lanes; then the halves are swapped across.
    V u[8];
    for (size_t h = 0; h < 8; h += 4) {
        const V t0 = hn::InterleaveLower(d, r[h], r[h + 1]), t1 = hn::InterleaveUpper(d, r[h], r[h + 1]);
        const V t2 = hn::InterleaveLower(d, r[h + 2], r[h + 3]), t3 = hn::InterleaveUpper(d, r[h + 2], r[h + 3]);
        u[h] = lo64(t0, t2);     // lanes 0 and 4 of rows h .. h+3
        u[h + 1] = hi64(t0, t2); // 1 and 5
        u[h + 2] = lo64(t1, t3); // 2 and 6
        u[h + 3] = hi64(t1, t3); // 3 and 7
    }
    for (size_t j = 0; j < 4; ++j) {
        hn::Store(hn::ConcatLowerLower(d, u[4 + j], u[j]), d, out + j * ld);
        hn::Store(hn::ConcatUpperUpper(d, u[4 + j], u[j]), d, out + (j + 4) * ld);
    }
}

// Continues, for t < TG, the chains acc[t][0 .. kChunkRows) += x[t · ldx + k] · wt[k][·] over k < ks:
// from zero or from `carry`, and into `carry` or, at the end of a block of kc, into y (added to y for
// the blocks after the first).
template <size_t TG, class D>
HWY_NOINLINE void RowsTile(D d, const float *HWY_RESTRICT x, size_t ldx, const float *HWY_RESTRICT wt, size_t ks,
                           float *HWY_RESTRICT carry, bool from_carry, float *HWY_RESTRICT y, size_t ldy, bool add) {
    using V = hn::Vec<D>;
    V acc[TG][kChunkVectors];
    for (size_t t = 0; t < TG; ++t)
        for (size_t v = 0; v < kChunkVectors; ++v)
            acc[t][v] = from_carry ? hn::Load(d, carry + (t * kChunkVectors + v) * 8) : hn::Zero(d);
    for (size_t k = 0; k < ks; ++k, wt += kChunkRows) {
        V w[kChunkVectors];
        for (size_t v = 0; v < kChunkVectors; ++v) w[v] = hn::Load(d, wt + v * 8);
        for (size_t t = 0; t < TG; ++t) {
            const V b = hn::Set(d, x[t * ldx + k]);
            for (size_t v = 0; v < kChunkVectors; ++v) acc[t][v] = hn::MulAdd(w[v], b, acc[t][v]);
        }
    }
    for (size_t t = 0; t < TG; ++t)
        for (size_t v = 0; v < kChunkVectors; ++v) {
            if (!y) {
                hn::Store(acc[t][v], d, carry + (t * kChunkVectors + v) * 8);
                continue;
            }
            float *const out = y + t * ldy + v * 8;
            hn::StoreU(add ? hn::Add(acc[t][v], hn::LoadU(d, out)) : acc[t][v], d, out);
        }
}

// Types whose panels are transposed straight from the weights; other types are converted to fp32 first,
// a block of kc at a time. The values are ConvertRow's (d·q for a block's scale d and quant q).
constexpr bool IsDirect(DType t) {
    return is_float_type(t) || t == DType::Q8_0 || t == DType::Q4_0;
}

// The block type behind a direct block type (convert-inl.h).
template <DType kType>
using DirectBlock = std::conditional_t<kType == DType::Q8_0, BlockQ8_0, BlockQ4_0>;

// The scale of the block of element k of a row of a direct block type.
template <DType kType, class D>
HWY_INLINE hn::Vec<D> BlockScale(D d, const uint8_t *row, size_t k) {
    using Block = DirectBlock<kType>;
    return hn::Set(d, Block::Scale(row + k / 32 * Block::kBytes));
}

// Elements k .. k+7 (k a multiple of 8) of a row of a direct type, as fp32; `scale` is their block's
// scale (BlockScale), for block types: d·q, as ConvertBlocks computes it.
template <DType kType, class D>
HWY_INLINE hn::Vec<D> LoadDirect8(D d, const uint8_t *row, size_t k, hn::Vec<D> scale) {
    if constexpr (kType == DType::F32) return hn::LoadU(d, reinterpret_cast<const float *>(row) + k);
    else if constexpr (kType == DType::F16) {
        const hn::Rebind<hwy::float16_t, D> dh;
        return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t *>(row) + k));
    } else if constexpr (kType == DType::BF16) {
        const hn::Rebind<uint16_t, D> du16;
        const hn::RebindToUnsigned<D> du32;
        const auto h = hn::LoadU(du16, reinterpret_cast<const uint16_t *>(row) + k);
        return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du32, h)));
    } else {
        using Block = DirectBlock<kType>;
        return hn::Mul(Block::Quant(d, row + k / 32 * Block::kBytes, k % 32), scale);
    }
}

// Element k of a row of F32, F16 or BF16 (rows of these may end in fewer than 8).
template <DType kType>
HWY_INLINE float PlainElement(const uint8_t *row, size_t k) {
    if constexpr (kType == DType::F16) return HalfToFloat(load_u16(row + 2 * k));
    else if constexpr (kType == DType::BF16) return BF16ToFloat(load_u16(row + 2 * k));
    else return reinterpret_cast<const float *>(row)[k];
}

// kType is a direct type, or Q4_K for all the others (converted by ConvertRow).
template <DType kType>
void GemmFewTokensOf(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    constexpr bool kDirect = IsDirect(kType);
    constexpr size_t kSub = 64; // inputs per panel: 64 × kChunkRows floats (8 KiB) stay in L1
    const DNarrow d;
    using V = hn::Vec<DNarrow>;
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), rb = W.row_bytes();
    const size_t kc_max = std::min<size_t>(K, 256); // Gemm's blocks
    const int threads = 2.0 * double(rows) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    const int64_t chunks = int64_t((N + kChunkRows - 1) / kChunkRows);
    // Each thread streams its own stretch of the matrix in pieces of about 64 KiB, as the mat-vec does.
    const int64_t piece = std::max<int64_t>(1, int64_t((size_t(64) << 10) / (rb * kChunkRows)));
    // The next chunk's rows (one stretch of memory) are asked for while this one computes, a few cache
    // lines per 8 × 8 transposition: the hardware prefetcher follows a chunk's rows, read a block of each
    // at a time, too late.
    const size_t transposes = kChunkRows / 8 * ((K + 7) / 8);
    const size_t lines_per_transpose = ((kChunkRows * rb + 63) / 64 + transposes - 1) / transposes;
    pool.run_stretches(chunks, piece, threads, [&](int64_t c0, int64_t c1, int thread) {
        // The panel (aligned: a row of it is one cache line), the chains carried from one panel to the
        // next, the outputs of a last chunk of fewer rows, and for block types the chunk's rows of
        // one block, converted.
        const size_t panel = kSub * kChunkRows, carry_size = rows * kChunkRows;
        float *const wt = pool.thread_buffer(
            thread, (panel + 2 * carry_size + (kDirect ? 0 : kChunkRows * kc_max)) * sizeof(float) + (kDirect ? rb : 0));
        float *const carry = wt + panel;
        float *const partial = carry + carry_size;
        float *const converted = partial + carry_size;
        // Direct types: a row of zeros stands for the rows past N.
        uint8_t *const zero_row = reinterpret_cast<uint8_t *>(converted + (kDirect ? 0 : kChunkRows * kc_max));
        if constexpr (kDirect) std::memset(zero_row, 0, rb);
        for (int64_t chunk = c0; chunk < c1; ++chunk) {
            const size_t n0 = size_t(chunk) * kChunkRows, nn = std::min(kChunkRows, N - n0);
            const bool whole = nn == kChunkRows;
            float *const y = whole ? Y + n0 : partial;
            const size_t ldy = whole ? N : kChunkRows;
            const uint8_t *prefetch = W.data + (n0 + nn) * rb;
            const uint8_t *const prefetch_end = W.data + std::min(N, n0 + nn + kChunkRows) * rb;
            const auto prefetch_some = [&] {
                for (size_t i = 0; i < lines_per_transpose && prefetch < prefetch_end; ++i, prefetch += 64) PrefetchToL2(prefetch);
            };
            for (size_t k0 = 0; k0 < K; k0 += kc_max) {
                const size_t kc = std::min(kc_max, K - k0);
                if constexpr (!kDirect) {
                    const size_t k0_bytes = dtype_bytes(W.dtype, k0);
                    for (size_t i = 0; i < kChunkRows; ++i) {
                        if (i < nn) ConvertRow(W.dtype, W.data + (n0 + i) * rb + k0_bytes, converted + i * kc_max, kc);
                        else std::fill_n(converted + i * kc_max, kc, 0.0f);
                    }
                }
                for (size_t s0 = 0; s0 < kc; s0 += kSub) {
                    const size_t ks = std::min(kSub, kc - s0), k = k0 + s0;
                    for (size_t g = 0; g < kChunkRows; g += 8) {
                        // Rows past N read zeros.
                        const uint8_t *rp[8];
                        for (size_t i = 0; i < 8; ++i) {
                            if constexpr (kDirect) rp[i] = g + i < nn ? W.data + (n0 + g + i) * rb : zero_row;
                            else rp[i] = reinterpret_cast<const uint8_t *>(converted + (g + i) * kc_max);
                        }
                        const size_t first = kDirect ? k : s0; // of this panel, in the rows rp
                        constexpr DType kLoad = kDirect ? kType : DType::F32;
                        constexpr bool kScaled = kLoad == DType::Q8_0 || kLoad == DType::Q4_0;
                        V scale[8];
                        for (V &v : scale) v = hn::Zero(d);
                        size_t j = 0;
                        for (; j + 8 <= ks; j += 8) {
                            if constexpr (kScaled)
                                if ((first + j) % 32 == 0)
                                    for (size_t i = 0; i < 8; ++i) scale[i] = BlockScale<kLoad>(d, rp[i], first + j);
                            V r[8];
                            for (size_t i = 0; i < 8; ++i) r[i] = LoadDirect8<kLoad>(d, rp[i], first + j, scale[i]);
                            Transpose8(d, r, wt + j * kChunkRows + g, kChunkRows);
                            prefetch_some();
                        }
                        if constexpr (is_float_type(kType))
                            for (; j < ks; ++j) // a tail of fewer than 8 inputs
                                for (size_t i = 0; i < 8; ++i) wt[j * kChunkRows + g + i] = PlainElement<kType>(rp[i], first + j);
                    }
                    const bool last = s0 + ks == kc;
                    for (size_t t = 0; t < rows; t += 2) {
                        float *const yt = last ? y + t * ldy : nullptr;
                        if (t + 2 <= rows)
                            RowsTile<2>(d, X + t * K + k, K, wt, ks, carry + t * kChunkRows, s0 > 0, yt, ldy, k0 > 0);
                        else RowsTile<1>(d, X + t * K + k, K, wt, ks, carry + t * kChunkRows, s0 > 0, yt, ldy, k0 > 0);
                    }
                }
            }
            if (!whole)
                for (size_t t = 0; t < rows; ++t) std::memcpy(Y + t * N + n0, partial + t * kChunkRows, nn * 4);
        }
    });
}

// Up to here this beats Gemm (0.1B head, 65536 × 768, 2 threads, AVX-512): f16 2.8× at 2 tokens, 1.3× at
// 8 and 1.2× at 12; q8_0, q4_0 and q4_k 1.3–1.5× at 2 and 1.05–1.15× at 4, but 0.8× at 8, where
// decoding the blocks costs more than Gemm's broadcasts.
inline int64_t FewTokensLimit(DType t) { return is_float_type(t) ? 12 : 4; }

void GemmFewTokens(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    switch (W.dtype) {
    case DType::F32: return GemmFewTokensOf<DType::F32>(W, X, T, Y, pool);
    case DType::F16: return GemmFewTokensOf<DType::F16>(W, X, T, Y, pool);
    case DType::BF16: return GemmFewTokensOf<DType::BF16>(W, X, T, Y, pool);
    case DType::Q8_0: return GemmFewTokensOf<DType::Q8_0>(W, X, T, Y, pool);
    case DType::Q4_0: return GemmFewTokensOf<DType::Q4_0>(W, X, T, Y, pool);
    default: return GemmFewTokensOf<DType::Q4_K>(W, X, T, Y, pool);
    }
}
#endif

void Gemm(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    if (W.lanes && (is_float_type(W.dtype) || T <= kLanesFewRows)) return LanesProduct(W, X, T, Y, pool);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    if (!W.lanes && T <= FewTokensLimit(W.dtype)) return GemmFewTokens(W, X, T, Y, pool);
#endif
    if (W.rows <= kFewRows) return GemmFewRows(W, X, T, Y, pool);
    const size_t K = size_t(W.cols), N = size_t(W.rows), rows = size_t(T), rb = W.row_bytes();
    const bool narrow = rows <= kNarrowTokens && hn::Lanes(DF()) > kNarrowTokens;
    const size_t L = narrow ? hn::Lanes(DNarrow()) : hn::Lanes(DF());
    const int nv = rows > L ? 2 : 1;
    const size_t pw = size_t(nv) * L; // tokens per panel
    const size_t panels = (rows + pw - 1) / pw, tp = panels * pw;
    // Inputs are summed in blocks of kc: the order of additions for one output is then the same
    // whatever the number of rows, so a sequence gets bit-identical results fed alone or in any batch.
    // 256 is a multiple of every block type's size (K-quants' super-blocks included) and keeps a step's
    // packed block (kc × 256 rows) in L2.
    const size_t kc_max = std::min<size_t>(K, 256);
    // Below ~1 MFLOP one thread is faster than waking the others.
    const int threads = 2.0 * double(rows) * double(N) * double(K) < 1e6 ? 1 : pool.size();
    // Bands of up to kBandTiles micro-tiles of rows (the packed block is reused that often), at least 4 per
    // thread. Weights are converted `unit` rows at a time: a micro-tile's, or a group of a lanes matrix.
    const size_t unit = W.lanes ? size_t(kLaneRows) : kMR;
    const size_t units = (N + unit - 1) / unit;
    const size_t band_units = std::clamp<size_t>(units / (4 * size_t(threads)), 1, kBandTiles * kMR / unit);
    const int64_t bands = int64_t((units + band_units - 1) / band_units);
    // Xᵀ as [panel][k][pw], shared; each thread has a panel of converted weights and its band's Yᵀ.
    const size_t a_size = unit * kc_max, yt_size = band_units * unit * tp;
    float *const xp = pool.shared_buffer(K * tp * sizeof(float));
    pool.run(int64_t(panels), threads, [&](int64_t p, int) {
        // By 16 inputs: one cache line of each row of X read at a time, into 16 lines of the
        // panel that stay in L1 (rows of X a power of two apart would evict each other).
        float *dst = xp + size_t(p) * K * pw;
        const size_t t0 = size_t(p) * pw, n = std::min(pw, rows - t0);
        for (size_t k0 = 0; k0 < K; k0 += 16) {
            const size_t kn = std::min<size_t>(16, K - k0);
            for (size_t j = 0; j < pw; ++j)
                for (size_t k = k0; k < k0 + kn; ++k) dst[k * pw + j] = j < n ? X[(t0 + j) * K + k] : 0.0f;
        }
    });
    // c (+)= rows `a` of the converted weights times the panels of Xᵀ; MR and kStride as for MicroTile.
    const auto multiply = [&](auto mr, auto stride, const float *a, size_t lda, const float *b, size_t kc, float *c, bool add) {
        constexpr size_t MR = decltype(mr)::value, S = decltype(stride)::value;
        for (size_t p = 0; p < panels; ++p, b += K * pw, c += pw) {
            if (narrow) MicroTile<1, DNarrow, MR, S>(a, lda, b, kc, c, tp, add);
            else if (nv == 2) MicroTile<2, DF, MR, S>(a, lda, b, kc, c, tp, add);
            else MicroTile<1, DF, MR, S>(a, lda, b, kc, c, tp, add);
        }
    };
    using RowStride = std::integral_constant<size_t, 1>;
    using LaneStride = std::integral_constant<size_t, kLaneRows>;
    using Rows6 = std::integral_constant<size_t, kMR>;
    using Rows4 = std::integral_constant<size_t, kLaneRows - 2 * kMR>;
    using Rows8 = std::integral_constant<size_t, kLaneRows / 2>;
    pool.run(bands, threads, [&](int64_t band, int thread) {
        float *const a = pool.thread_buffer(thread, (a_size + yt_size) * sizeof(float));
        float *const yt = a + a_size;
        const size_t r0 = size_t(band) * band_units * unit, r1 = std::min(N, r0 + band_units * unit);
        const size_t group_bytes = W.lanes ? LanesGroupBytesOf(W) : 0;
        for (size_t k0 = 0; k0 < K; k0 += kc_max) {
            const size_t kc = std::min(kc_max, K - k0);
            const float *const b = xp + k0 * pw;
            for (size_t n0 = r0; n0 < r1; n0 += unit) {
                float *const c = yt + (n0 - r0) * tp;
                if (W.lanes) {
                    LanesPanel(W, n0 / kLaneRows, k0, k0 + kc, a);
                    // The next group's weights of this block, while this one computes.
                    if (n0 + unit < r1) { // blocks are whole in kc, so the bytes are in proportion
                        const uint8_t *next = W.data + (n0 / kLaneRows + 1) * group_bytes + group_bytes * k0 / K;
                        for (size_t off = 0; off < group_bytes * kc / K; off += 64) PrefetchToL2(next + off);
                    }
                    // The group's 16 rows as micro-tiles of 8 and 8 where 32 registers hold them, else 6, 6 and 4.
                    if constexpr (kManyRegisters) {
                        multiply(Rows8{}, LaneStride{}, a, 1, b, kc, c, k0 > 0);
                        multiply(Rows8{}, LaneStride{}, a + 8, 1, b, kc, c + 8 * tp, k0 > 0);
                    } else {
                        multiply(Rows6{}, LaneStride{}, a, 1, b, kc, c, k0 > 0);
                        multiply(Rows6{}, LaneStride{}, a + kMR, 1, b, kc, c + kMR * tp, k0 > 0);
                        multiply(Rows4{}, LaneStride{}, a + 2 * kMR, 1, b, kc, c + 2 * kMR * tp, k0 > 0);
                    }
                    continue;
                }
                const size_t k0_bytes = dtype_bytes(W.dtype, k0), seg_bytes = dtype_bytes(W.dtype, kc);
                for (size_t i = 0; i < kMR; ++i) {
                    float *ai = a + i * kc_max;
                    if (n0 + i < N) ConvertRow(W.dtype, W.data + (n0 + i) * rb + k0_bytes, ai, kc);
                    else std::fill_n(ai, kc, 0.0f);
                }
                // The next rows' weights come from memory in short strided pieces, which the
                // hardware prefetcher picks up late: ask for them while this tile computes.
                for (size_t n = n0 + kMR; n < std::min(n0 + 2 * kMR, r1); ++n)
                    for (size_t off = 0; off < seg_bytes; off += 64) PrefetchToL2(W.data + n * rb + k0_bytes + off);
                multiply(Rows6{}, RowStride{}, a, kc_max, b, kc, c, k0 > 0);
            }
        }
        // Transposed back through a small buffer by 16 tokens, for the same reason.
        float tile[16 * kBandTiles * kMR];
        const size_t width = r1 - r0;
        for (size_t t0 = 0; t0 < rows; t0 += 16) {
            const size_t tn = std::min<size_t>(16, rows - t0);
            for (size_t n = 0; n < width; ++n)
                for (size_t t = 0; t < tn; ++t) tile[t * width + n] = yt[n * tp + t0 + t];
            for (size_t t = 0; t < tn; ++t) std::memcpy(Y + (t0 + t) * N + r0, tile + t * width, width * 4);
        }
    });
}

// The kLaneRows float rows of a group (`rows`, row_bytes apart; K elements of elem_bytes = 2 or 4, K a
// multiple of 8) into the lanes layout at group: element k of row r at k·kLaneRows + r. A transpose,
// in blocks of 8 × 8 two-byte or 4 × 4 four-byte elements held in 128-bit vectors (three or two
// rounds of interleaving); element by element it was the bulk of rewriting a model at load.
void FloatRowsToLanes(const uint8_t *rows, size_t row_bytes, size_t K, size_t elem_bytes, uint8_t *group) {
#if HWY_TARGET == HWY_SCALAR
    for (size_t r = 0; r < size_t(kLaneRows); ++r)
        for (size_t k = 0; k < K; ++k)
            std::memcpy(group + (k * kLaneRows + r) * elem_bytes, rows + r * row_bytes + k * elem_bytes, elem_bytes);
#else
    const hn::FixedTag<uint16_t, 8> d16;
    const hn::FixedTag<uint32_t, 4> d32;
    const hn::FixedTag<uint64_t, 2> d64;
    using V32 = hn::Vec<decltype(d32)>;
    using V64 = hn::Vec<decltype(d64)>;
    const auto store = [&](V64 v, size_t k, size_t r) {
        hn::StoreU(v, d64, reinterpret_cast<uint64_t *>(group + (k * kLaneRows + r) * elem_bytes));
    };
    if (elem_bytes == 2) {
        for (size_t k0 = 0; k0 < K; k0 += 8)
            for (size_t r0 = 0; r0 < size_t(kLaneRows); r0 += 8) {
                V32 a[8]; // rows 2i and 2i + 1 side by side: elements k0 … k0 + 3, then k0 + 4 … k0 + 7
                for (size_t i = 0; i < 4; ++i) {
                    const auto even = hn::LoadU(d16, reinterpret_cast<const uint16_t *>(rows + (r0 + 2 * i) * row_bytes) + k0);
                    const auto odd = hn::LoadU(d16, reinterpret_cast<const uint16_t *>(rows + (r0 + 2 * i + 1) * row_bytes) + k0);
                    a[i] = hn::BitCast(d32, hn::InterleaveLower(d16, even, odd));
                    a[4 + i] = hn::BitCast(d32, hn::InterleaveUpper(d16, even, odd));
                }
                for (size_t h = 0; h < 2; ++h) { // elements k0 + 4h … k0 + 4h + 3
                    const V32 *p = a + 4 * h;
                    const V64 lo0 = hn::BitCast(d64, hn::InterleaveLower(d32, p[0], p[1])); // rows 0–3: k, k + 1
                    const V64 hi0 = hn::BitCast(d64, hn::InterleaveUpper(d32, p[0], p[1])); // rows 0–3: k + 2, k + 3
                    const V64 lo1 = hn::BitCast(d64, hn::InterleaveLower(d32, p[2], p[3])); // rows 4–7
                    const V64 hi1 = hn::BitCast(d64, hn::InterleaveUpper(d32, p[2], p[3]));
                    const size_t k = k0 + 4 * h;
                    store(hn::InterleaveLower(d64, lo0, lo1), k, r0);
                    store(hn::InterleaveUpper(d64, lo0, lo1), k + 1, r0);
                    store(hn::InterleaveLower(d64, hi0, hi1), k + 2, r0);
                    store(hn::InterleaveUpper(d64, hi0, hi1), k + 3, r0);
                }
            }
        return;
    }
    for (size_t k0 = 0; k0 < K; k0 += 4)
        for (size_t r0 = 0; r0 < size_t(kLaneRows); r0 += 4) {
            V32 v[4];
            for (size_t i = 0; i < 4; ++i) v[i] = hn::LoadU(d32, reinterpret_cast<const uint32_t *>(rows + (r0 + i) * row_bytes) + k0);
            const V64 lo0 = hn::BitCast(d64, hn::InterleaveLower(d32, v[0], v[1])); // rows 0–1: k0, k0 + 1
            const V64 hi0 = hn::BitCast(d64, hn::InterleaveUpper(d32, v[0], v[1])); // rows 0–1: k0 + 2, k0 + 3
            const V64 lo1 = hn::BitCast(d64, hn::InterleaveLower(d32, v[2], v[3])); // rows 2–3
            const V64 hi1 = hn::BitCast(d64, hn::InterleaveUpper(d32, v[2], v[3]));
            store(hn::InterleaveLower(d64, lo0, lo1), k0, r0);
            store(hn::InterleaveUpper(d64, lo0, lo1), k0 + 1, r0);
            store(hn::InterleaveLower(d64, hi0, hi1), k0 + 2, r0);
            store(hn::InterleaveUpper(d64, hi0, hi1), k0 + 3, r0);
        }
#endif
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(Gemm);
HWY_EXPORT(LanesMatVecGroups);
HWY_EXPORT(LanesGroupBytesOf);
HWY_EXPORT(FloatRowsToLanes);

MatVecJob matvec_job(const Matrix &W, const float *x, float *y, ThreadPool &pool, size_t slot) {
    if (W.lanes)
        return MatVecJob(W.rows / kLaneRows, kLaneRows, HWY_DYNAMIC_DISPATCH(LanesGroupBytesOf)(W), [w = &W, x, y](int64_t g0, int64_t g1) {
            HWY_DYNAMIC_DISPATCH(LanesMatVecGroups)(*w, x, y, size_t(g0), size_t(g1));
        });
    if (W.interleaved) return matvec_int8_interleaved_job(W, x, y, pool, slot);
    const uint8_t *const data = W.data;
    const size_t rb = W.row_bytes();
    if (const DotInt8Fn dot = W.int8_activations ? dot_int8_kernel(W.dtype, int8_level()) : nullptr) {
        // x is rounded once, for all rows.
        const Int8Vector xq = quantize_activations(x, W.cols, pool.shared_buffer(int8_vector_bytes(W.cols), slot));
        return MatVecJob(W.rows, 1, rb, [dot, xq, data, rb, y](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) y[r] = dot(data + size_t(r) * rb, xq);
        });
    }
    const DotFn dot = dot_kernel(W.dtype);
    const int64_t n = W.cols, rows = W.rows;
    // An x of 32 KB fills the L1, and the rows streaming through evict it: two rows per load of x.
    if (const DotPairFn pair = n * int64_t(sizeof(float)) >= (int64_t(32) << 10) ? dot_pair_kernel(W.dtype) : nullptr)
        return MatVecJob((rows + 1) / 2, 2, 2 * rb, [dot, pair, data, rb, x, n, rows, y](int64_t u0, int64_t u1) {
            for (int64_t r = 2 * u0; r < std::min(rows, 2 * u1); r += 2) {
                if (r + 1 < rows) pair(data + size_t(r) * rb, data + size_t(r + 1) * rb, x, n, y + r);
                else y[r] = dot(data + size_t(r) * rb, x, n);
            }
        });
    return MatVecJob(rows, 1, rb, [dot, data, rb, x, n, y](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) y[r] = dot(data + size_t(r) * rb, x, n);
    });
}

namespace {

thread_local bool batch_invariant = false; // BatchInvariantScope
thread_local int64_t step_rows = 0;         // StepRowsScope; 0: route by T

} // namespace

bool matvec_route(int64_t T) { return (step_rows > 0 ? step_rows : T) == 1 && !batch_invariant; }

BatchInvariantScope::BatchInvariantScope(bool on) : previous_(batch_invariant) { batch_invariant = on; }
BatchInvariantScope::~BatchInvariantScope() { batch_invariant = previous_; }
StepRowsScope::StepRowsScope(int64_t rows) : previous_(step_rows) { step_rows = rows; }
StepRowsScope::~StepRowsScope() { step_rows = previous_; }

// bf16 products beat the fp32 lanes kernels from about 12 rows (0.1B, 2 threads, tok/s summed, bf16
// products against fp32: bf16 weights 8 rows 425–443 against 462–471, 16 rows 561–576 against
// 504–509; f16 16 rows 553–588 against 502); smaller steps keep the exact fp32 products, unless every
// row count must take one route (batch_invariant).
constexpr int64_t kBf16MinRows = 16;

void linear_group(std::span<const Product> products, int64_t T, ThreadPool &pool) {
    const int64_t route_rows = step_rows > 0 ? step_rows : T;
    if (matvec_route(T)) {
        MatVecJob jobs[kMaxMatVecJobs];
        size_t n = 0;
        for (const Product &p : products) {
            jobs[n] = matvec_job(p.W, p.X, p.Y, pool, n);
            if (++n == kMaxMatVecJobs) {
                run_matvecs(jobs, n, pool);
                n = 0;
            }
        }
        return run_matvecs(jobs, n, pool);
    }
    for (const auto &[W, X, Y] : products) {
        if (W.int8_products) gemm_int8(W, X, T, Y, pool);
        else if (W.bf16_products && (route_rows >= kBf16MinRows || batch_invariant)) gemm_bf16(W, X, T, Y, pool);
        else HWY_DYNAMIC_DISPATCH(Gemm)(W, X, T, Y, pool);
    }
}

void linear(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool) {
    const Product product{W, X, Y};
    linear_group({&product, 1}, T, pool);
}

void gather_rows(const Matrix &W, const int32_t *ids, int64_t T, float *Y) {
    for (int64_t t = 0; t < T; ++t) convert_to_f32(W.dtype, W.row(ids[t]), Y + t * W.cols, size_t(W.cols));
}

bool lanes_layout_applies(const Matrix &W) {
    const bool type = is_float_type(W.dtype) || W.dtype == DType::Q8_0 || W.dtype == DType::Q4_0 || W.dtype == DType::Q4_K ||
                      W.dtype == DType::Q5_K || W.dtype == DType::Q6_K;
    // Block types' rows are whole blocks; float types' lanes take blocks of 16 elements.
    const bool whole_blocks = !is_float_type(W.dtype) || W.cols % 16 == 0;
    return type && whole_blocks && W.rows > kFewRows && W.rows % kLaneRows == 0 && !W.lanes && !W.interleaved;
}

namespace {

// dst[i·kLaneRows] = src[i] for i < n: n bytes of one row, into its lane of the group.
void to_lane(const uint8_t *src, size_t n, uint8_t *dst) {
    for (size_t i = 0; i < n; ++i) dst[i * kLaneRows] = src[i];
}

// Row r's part of one block of a block type (a super-block for K-quants) in the lanes layout
// (linear.cpp's LanesType).
void block_to_lanes(DType t, const uint8_t *src, size_t r, uint8_t *dst) {
    switch (t) {
    case DType::Q8_0:
    case DType::Q4_0:
        std::memcpy(dst + 2 * r, src, 2); // the scale
        return to_lane(src + 2, t == DType::Q8_0 ? 32 : 16, dst + 32 + r);
    case DType::Q4_K:
    case DType::Q5_K: {
        const bool q5 = t == DType::Q5_K;
        std::memcpy(dst + 2 * r, src, 2);
        std::memcpy(dst + 32 + 2 * r, src + 2, 2);
        to_lane(src + 4, 12, dst + 64 + r); // the packed scales and mins
        if (q5) to_lane(src + 16, 32, dst + 256 + r);
        return to_lane(src + (q5 ? 48 : 16), 128, dst + 256 + (q5 ? 32 * kLaneRows : 0) + r);
    }
    default: // Q6_K
        std::memcpy(dst + 2 * r, src + 208, 2);
        to_lane(src + 192, 16, dst + 32 + r);
        return to_lane(src, 192, dst + 288 + r); // ql, then qh
    }
}

} // namespace

namespace {

// Writes rows [n0, n1) of W (row n at row(n); whole groups) into the lanes layout at dst (W's first group).
template <class Row>
void write_lanes(const Matrix &W, size_t n0, size_t n1, Row row, uint8_t *dst) {
    const bool k_quant = W.dtype == DType::Q4_K || W.dtype == DType::Q5_K || W.dtype == DType::Q6_K;
    const size_t elems = is_float_type(W.dtype) ? 16 : k_quant ? 256 : 32, src_block = dtype_bytes(W.dtype, elems), blocks = size_t(W.cols) / elems;
    const size_t group_bytes = HWY_DYNAMIC_DISPATCH(LanesGroupBytesOf)(W), block_bytes = group_bytes / blocks;
    if (is_float_type(W.dtype)) { // a group at a time (n0 and n1 are whole groups): its rows lie row_bytes apart
        // bf16 moves pairs of elements (LanesType<BF16>)
        const size_t elem_bytes = W.dtype == DType::BF16 ? 4 : dtype_bytes(W.dtype, 1), K = W.row_bytes() / elem_bytes;
        for (size_t n = n0; n < n1; n += kLaneRows)
            HWY_DYNAMIC_DISPATCH(FloatRowsToLanes)(row(n), W.row_bytes(), K, elem_bytes, dst + n / kLaneRows * group_bytes);
        return;
    }
    // Row by row: each row is read in order, and its group (a few KiB) takes the writes.
    for (size_t n = n0; n < n1; ++n) {
        const uint8_t *const src = row(n);
        uint8_t *const group = dst + n / kLaneRows * group_bytes;
        for (size_t blk = 0; blk < blocks; ++blk) block_to_lanes(W.dtype, src + blk * src_block, n % kLaneRows, group + blk * block_bytes);
    }
}

} // namespace

Matrix to_lanes(const Matrix &W, ThreadPool &pool) {
    Matrix out;
    out.rows = W.rows;
    out.cols = W.cols;
    out.dtype = W.dtype;
    out.lanes = true;
    out.int8_activations = W.int8_activations; // the products chosen for the matrix, as interleave_rows keeps them
    out.int8_products = W.int8_products;
    out.bf16_products = W.bf16_products;
    out.owned.allocate(HWY_DYNAMIC_DISPATCH(LanesGroupBytesOf)(W) * size_t(W.rows / kLaneRows));
    out.data = out.owned.data();
    pool.run(W.rows / kLaneRows, pool.size(), [&](int64_t g, int) {
        write_lanes(W, size_t(g) * kLaneRows, size_t(g + 1) * kLaneRows, [&](size_t n) { return W.row(int64_t(n)); }, out.owned.data());
    });
    return out;
}

void write_rows_as_lanes(const Matrix &W, int64_t row0, int64_t row1, const uint8_t *rows) {
    write_lanes(W, size_t(row0), size_t(row1), [&](size_t n) { return rows + (n - size_t(row0)) * W.row_bytes(); },
                const_cast<uint8_t *>(W.data));
}

Matrix convert_matrix(const Matrix &src, DType dtype, const char *what, ThreadPool &pool) {
    const int block = dtype_info(dtype).block_elems;
    if (src.cols % block != 0)
        fail(RWKVRT_ERR_UNSUPPORTED, "cannot store ", what, " as ", dtype_name(dtype), ": its ", src.cols,
             " columns are not a multiple of the block size ", block);
    Matrix out;
    out.rows = src.rows;
    out.cols = src.cols;
    out.dtype = dtype;
    out.owned.allocate(dtype_bytes(dtype, size_t(src.rows * src.cols)));
    out.data = out.owned.data();
    constexpr int64_t kRowsPerTask = 16;
    pool.run((src.rows + kRowsPerTask - 1) / kRowsPerTask, pool.size(), [&](int64_t task, int thread) {
        float *const row = pool.thread_buffer(thread, size_t(src.cols) * sizeof(float));
        for (int64_t r = task * kRowsPerTask; r < std::min(src.rows, (task + 1) * kRowsPerTask); ++r) {
            convert_to_f32(src.dtype, src.row(r), row, size_t(src.cols));
            quantize_row(dtype, row, out.owned.data() + size_t(r) * out.row_bytes(), size_t(src.cols));
        }
    });
    return out;
}

} // namespace rwkvrt
#endif
