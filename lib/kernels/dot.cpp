// Compiled once per SIMD target (Highway's foreach_target); dot_kernel picks the best one the CPU runs.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/dot.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/convert-inl.h"
#include "kernels/dot.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {

// f32, f16, bf16: four accumulators to hide the FMA latency, a scalar tail.
template <class Load, class Scalar>
HWY_INLINE float DotPlain(const uint8_t *row, size_t elem_bytes, const float *x, size_t n, Load load, Scalar scalar) {
    const DF df;
    const size_t L = hn::Lanes(df);
    VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    size_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        a0 = hn::MulAdd(load(df, row + i * elem_bytes), hn::LoadU(df, x + i), a0);
        a1 = hn::MulAdd(load(df, row + (i + L) * elem_bytes), hn::LoadU(df, x + i + L), a1);
        a2 = hn::MulAdd(load(df, row + (i + 2 * L) * elem_bytes), hn::LoadU(df, x + i + 2 * L), a2);
        a3 = hn::MulAdd(load(df, row + (i + 3 * L) * elem_bytes), hn::LoadU(df, x + i + 3 * L), a3);
    }
    for (; i + L <= n; i += L) a0 = hn::MulAdd(load(df, row + i * elem_bytes), hn::LoadU(df, x + i), a0);
    float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
    for (; i < n; ++i) s += scalar(row + i * elem_bytes) * x[i];
    return s;
}

// Two rows with one load of x for both, each row with DotPlain's operations in DotPlain's order, so
// each result has the bits DotPlain gives it.
template <class Load, class Scalar>
HWY_INLINE void DotPlainPair(const uint8_t *row0, const uint8_t *row1, size_t elem_bytes, const float *x, size_t n,
                             float out[2], Load load, Scalar scalar) {
    const DF df;
    const size_t L = hn::Lanes(df);
    VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    VF b0 = hn::Zero(df), b1 = hn::Zero(df), b2 = hn::Zero(df), b3 = hn::Zero(df);
    size_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        const VF x0 = hn::LoadU(df, x + i), x1 = hn::LoadU(df, x + i + L);
        const VF x2 = hn::LoadU(df, x + i + 2 * L), x3 = hn::LoadU(df, x + i + 3 * L);
        a0 = hn::MulAdd(load(df, row0 + i * elem_bytes), x0, a0);
        b0 = hn::MulAdd(load(df, row1 + i * elem_bytes), x0, b0);
        a1 = hn::MulAdd(load(df, row0 + (i + L) * elem_bytes), x1, a1);
        b1 = hn::MulAdd(load(df, row1 + (i + L) * elem_bytes), x1, b1);
        a2 = hn::MulAdd(load(df, row0 + (i + 2 * L) * elem_bytes), x2, a2);
        b2 = hn::MulAdd(load(df, row1 + (i + 2 * L) * elem_bytes), x2, b2);
        a3 = hn::MulAdd(load(df, row0 + (i + 3 * L) * elem_bytes), x3, a3);
        b3 = hn::MulAdd(load(df, row1 + (i + 3 * L) * elem_bytes), x3, b3);
    }
    for (; i + L <= n; i += L) {
        const VF xv = hn::LoadU(df, x + i);
        a0 = hn::MulAdd(load(df, row0 + i * elem_bytes), xv, a0);
        b0 = hn::MulAdd(load(df, row1 + i * elem_bytes), xv, b0);
    }
    float s0 = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
    float s1 = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(b0, b1), hn::Add(b2, b3))));
    for (; i < n; ++i) {
        s0 += scalar(row0 + i * elem_bytes) * x[i];
        s1 += scalar(row1 + i * elem_bytes) * x[i];
    }
    out[0] = s0;
    out[1] = s1;
}

float DotF16(const uint8_t *row, const float *x, int64_t n) {
    return DotPlain(
        row, 2, x, size_t(n), [](DF df, const uint8_t *p) { return LoadF16(df, p); },
        [](const uint8_t *p) { return HalfToFloat(LoadU16(p)); });
}

float DotBF16(const uint8_t *row, const float *x, int64_t n) {
    return DotPlain(
        row, 2, x, size_t(n), [](DF df, const uint8_t *p) { return LoadBF16(df, p); },
        [](const uint8_t *p) { return BF16ToFloat(LoadU16(p)); });
}

float LoadF32Scalar(const uint8_t *p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
}

float DotF32(const uint8_t *row, const float *x, int64_t n) {
    return DotPlain(
        row, 4, x, size_t(n), [](DF df, const uint8_t *p) { return LoadF32(df, p); }, LoadF32Scalar);
}

void DotPairF32(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]) {
    DotPlainPair(
        row0, row1, 4, x, size_t(n), out, [](DF df, const uint8_t *p) { return LoadF32(df, p); }, LoadF32Scalar);
}

void DotPairF16(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]) {
    DotPlainPair(
        row0, row1, 2, x, size_t(n), out, [](DF df, const uint8_t *p) { return LoadF16(df, p); },
        [](const uint8_t *p) { return HalfToFloat(LoadU16(p)); });
}

void DotPairBF16(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]) {
    DotPlainPair(
        row0, row1, 2, x, size_t(n), out, [](DF df, const uint8_t *p) { return LoadBF16(df, p); },
        [](const uint8_t *p) { return BF16ToFloat(LoadU16(p)); });
}

// Blocks without a minimum: d · Σ q·x per block, the scale applied once. With one: Σ (d·q + m)·x.
template <class Block>
float DotBlocks(const uint8_t *row, const float *x, int64_t n) {
    const DF df;
    const size_t L = hn::Lanes(df);
    VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
    for (int64_t b = 0; b < n / 32; ++b, row += Block::kBytes, x += 32) {
        if constexpr (Block::kHasMin) {
            const VF d = hn::Set(df, Block::Scale(row)), m = hn::Set(df, Block::Min(row));
            for (size_t j = 0; j < 32; j += 2 * L) {
                acc0 = hn::MulAdd(hn::MulAdd(Block::Quant(df, row, j), d, m), hn::LoadU(df, x + j), acc0);
                acc1 = hn::MulAdd(hn::MulAdd(Block::Quant(df, row, j + L), d, m), hn::LoadU(df, x + j + L), acc1);
            }
        } else {
            VF s0 = hn::Zero(df), s1 = hn::Zero(df);
            for (size_t j = 0; j < 32; j += 2 * L) {
                s0 = hn::MulAdd(Block::Quant(df, row, j), hn::LoadU(df, x + j), s0);
                s1 = hn::MulAdd(Block::Quant(df, row, j + L), hn::LoadU(df, x + j + L), s1);
            }
            acc0 = hn::MulAdd(hn::Set(df, Block::Scale(row)), hn::Add(s0, s1), acc0);
        }
    }
    return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}

// K-quant super-blocks: per sub-block scale·Σ q·x − min·Σ x.
template <class Block>
float DotKBlocks(const uint8_t *row, const float *x, int64_t n) {
    const DF df;
    const size_t L = hn::Lanes(df);
    VF acc = hn::Zero(df);
    float scale[16], min[16];
    for (int64_t b = 0; b < n / 256; ++b, row += Block::kBytes, x += 256) {
        Block::Scales(row, scale, min);
        for (size_t j = 0; j < 256 / Block::kSub; ++j) {
            VF qx = hn::Zero(df), sx = hn::Zero(df);
            for (size_t i = j * Block::kSub; i < (j + 1) * Block::kSub; i += L) {
                const VF xv = hn::LoadU(df, x + i);
                qx = hn::MulAdd(Block::Quant(df, row, i), xv, qx);
                if constexpr (Block::kHasMin) sx = hn::Add(sx, xv);
            }
            acc = hn::MulAdd(hn::Set(df, scale[j]), qx, acc);
            if constexpr (Block::kHasMin) acc = hn::NegMulAdd(hn::Set(df, min[j]), sx, acc);
        }
    }
    return hn::GetLane(hn::SumOfLanes(df, acc));
}

#if HWY_TARGET <= HWY_AVX3
// Q6_K with AVX-512BW (the head of most Q4 GGUF files is Q6_K, and in generation it is the largest
// matrix). The portable DotKBlocks widens every 16 quants to 32 bits before assembling them from
// their low and high bits; here 64 quants at a time are assembled with byte operations, then widened
// 16 at a time, and four accumulators (one per 16-element sub-block position) keep the chains short.
template <int K>
HWY_INLINE __m512 Q6KSub(__m512i q, float scale, const float *x, __m512 acc) {
    const __m512 qf = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(q, K)));
    return _mm512_fmadd_ps(_mm512_mul_ps(qf, _mm512_set1_ps(scale)), _mm512_loadu_ps(x + 16 * K), acc);
}

float DotQ6KAvx512(const uint8_t *row, const float *x, int64_t n) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(3), offset = _mm512_set1_epi8(32);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t b = 0; b < n / 256; ++b, row += BlockQ6_K::kBytes, x += 256) {
        float scale[16], unused[16];
        BlockQ6_K::Scales(row, scale, unused);
        for (int h = 0; h < 2; ++h) {
            // Elements 128h + 64·half + 16k + l: low 4 bits from ql (low nibbles, then high), high 2 from
            // qh shifted by 0, 2 (first 64) and 4, 6 (last 64). 16-bit shifts, masked per byte after.
            const __m512i ql = _mm512_loadu_si512(row + 64 * h);
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 128 + 32 * h));
            const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            const __m512i first = _mm512_sub_epi8(
                _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(_mm512_and_si512(qh2, low2), 4)), offset);
            const __m512i last = _mm512_sub_epi8(
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), low2), 4)),
                offset);
            const float *xh = x + 128 * h;
            const float *sh = scale + 8 * h;
            a0 = Q6KSub<0>(first, sh[0], xh, a0);
            a1 = Q6KSub<1>(first, sh[1], xh, a1);
            a2 = Q6KSub<2>(first, sh[2], xh, a2);
            a3 = Q6KSub<3>(first, sh[3], xh, a3);
            a0 = Q6KSub<0>(last, sh[4], xh + 64, a0);
            a1 = Q6KSub<1>(last, sh[5], xh + 64, a1);
            a2 = Q6KSub<2>(last, sh[6], xh + 64, a2);
            a3 = Q6KSub<3>(last, sh[7], xh + 64, a3);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
#endif

DotFn PickDot(DType dtype) {
    switch (dtype) {
    case DType::F32: return DotF32;
    case DType::F16: return DotF16;
    case DType::BF16: return DotBF16;
    case DType::Q8_0: return DotBlocks<BlockQ8_0>;
    case DType::Q5_0: return DotBlocks<BlockQ5_0>;
    case DType::Q5_1: return DotBlocks<BlockQ5_1>;
    case DType::Q4_0: return DotBlocks<BlockQ4_0>;
    case DType::Q4_1: return DotBlocks<BlockQ4_1>;
    case DType::Q4_K: return DotKBlocks<BlockQ4_K>;
    case DType::Q5_K: return DotKBlocks<BlockQ5_K>;
#if HWY_TARGET <= HWY_AVX3
    case DType::Q6_K: return DotQ6KAvx512;
#else
    case DType::Q6_K: return DotKBlocks<BlockQ6_K>;
#endif
    }
    return DotF32;
}

DotPairFn PickDotPair(DType dtype) {
    switch (dtype) {
    case DType::F32: return DotPairF32;
    case DType::F16: return DotPairF16;
    case DType::BF16: return DotPairBF16;
    default: return nullptr;
    }
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(PickDot);
HWY_EXPORT(PickDotPair);

DotFn dot_kernel(DType dtype) { return HWY_DYNAMIC_DISPATCH(PickDot)(dtype); }
DotPairFn dot_pair_kernel(DType dtype) { return HWY_DYNAMIC_DISPATCH(PickDotPair)(dtype); }

} // namespace rwkvrt
#endif
