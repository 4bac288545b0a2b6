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
template <class D = DF, class Load, class Scalar>
HWY_INLINE float DotPlain(const uint8_t *row, size_t elem_bytes, const float *x, size_t n, Load load, Scalar scalar) {
    using VF = hn::Vec<D>;
    const D df;
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
template <class D = DF, class Load, class Scalar>
HWY_INLINE void DotPlainPair(const uint8_t *row0, const uint8_t *row1, size_t elem_bytes, const float *x, size_t n,
                             float out[2], Load load, Scalar scalar) {
    using VF = hn::Vec<D>;
    const D df;
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
        [](const uint8_t *p) { return HalfToFloat(load_u16(p)); });
}

float DotBF16(const uint8_t *row, const float *x, int64_t n) {
    return DotPlain(
        row, 2, x, size_t(n), [](DF df, const uint8_t *p) { return LoadBF16(df, p); },
        [](const uint8_t *p) { return BF16ToFloat(load_u16(p)); });
}

float LoadF32Scalar(const uint8_t *p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
}

// f32 rows in vectors of at most 8 lanes: on Zen 4, a core streamed f32 rows 6–9% faster with 256-bit
// loads and FMAs than with 512-bit ones (0.1B f32, 2 threads: 11.6–11.8 → 10.7–11.0 ms a token). f16
// rows showed no difference (their loads are 256-bit conversions already, LoadF16).
using DF32 = hn::CappedTag<float, 8>;

float DotF32(const uint8_t *row, const float *x, int64_t n) {
    return DotPlain<DF32>(
        row, 4, x, size_t(n), [](DF32 df, const uint8_t *p) { return hn::LoadU(df, reinterpret_cast<const float *>(p)); }, LoadF32Scalar);
}

void DotPairF32(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]) {
    DotPlainPair<DF32>(
        row0, row1, 4, x, size_t(n), out, [](DF32 df, const uint8_t *p) { return hn::LoadU(df, reinterpret_cast<const float *>(p)); }, LoadF32Scalar);
}

void DotPairF16(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]) {
    DotPlainPair(
        row0, row1, 2, x, size_t(n), out, [](DF df, const uint8_t *p) { return LoadF16(df, p); },
        [](const uint8_t *p) { return HalfToFloat(load_u16(p)); });
}

void DotPairBF16(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]) {
    DotPlainPair(
        row0, row1, 2, x, size_t(n), out, [](DF df, const uint8_t *p) { return LoadBF16(df, p); },
        [](const uint8_t *p) { return BF16ToFloat(load_u16(p)); });
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

// K-quant super-blocks, decoded to codes with byte operations (convert-inl.h), then per element
// (scale·code − min)·x into four accumulators: no chain waits on the previous sub-block.
template <class Block>
float DotKBlocks(const uint8_t *row, const float *x, int64_t n) {
    const DF df;
    const size_t L = hn::Lanes(df);
    VF a[4] = {hn::Zero(df), hn::Zero(df), hn::Zero(df), hn::Zero(df)};
    HWY_ALIGN typename Block::Code codes[256];
    float scale[16], min[16];
    for (int64_t b = 0; b < n / 256; ++b, row += Block::kBytes, x += 256) {
        Block::Scales(row, scale, min);
        Block::Codes(row, codes);
        for (size_t i = 0; i < 256; i += 4 * L)
            for (size_t u = 0; u < 4; ++u) {
                const size_t e = i + u * L, j = e / Block::kSub;
                const VF q = CodesToFloat(df, codes + e);
                const VF w = Block::kHasMin ? hn::MulSub(q, hn::Set(df, scale[j]), hn::Set(df, min[j])) : hn::Mul(q, hn::Set(df, scale[j]));
                a[u] = hn::MulAdd(w, hn::LoadU(df, x + e), a[u]);
            }
    }
    return hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a[0], a[1]), hn::Add(a[2], a[3]))));
}

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
    case DType::Q6_K: return DotKBlocks<BlockQ6_K>;
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
