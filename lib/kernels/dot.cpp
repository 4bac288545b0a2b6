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

float DotF32(const uint8_t *row, const float *x, int64_t n) {
    return DotPlain(
        row, 4, x, size_t(n), [](DF df, const uint8_t *p) { return LoadF32(df, p); },
        [](const uint8_t *p) {
            float f;
            std::memcpy(&f, p, 4);
            return f;
        });
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

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(PickDot);

DotFn dot_kernel(DType dtype) { return HWY_DYNAMIC_DISPATCH(PickDot)(dtype); }

} // namespace rwkvrt
#endif
