// first_nonfinite (core/dtype.h): every weight is checked at load, so the check runs at the speed the
// file's bytes arrive. Compiled once per SIMD target (Highway's foreach_target).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/nonfinite.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include <cstring>

#include "core/dtype.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The index of the first of n values whose exponent bits (mask) are all ones (NaN or infinity), or n.
// Four vectors are tested per branch; the block that holds one is searched value by value.
template <class Bits>
size_t FirstAllOnes(const uint8_t *p, size_t n, Bits mask) {
    const hn::ScalableTag<Bits> d;
    const size_t L = hn::Lanes(d), step = 4 * L;
    const auto m = hn::Set(d, mask);
    const auto all_ones = [&](size_t i) { return hn::Eq(hn::And(hn::LoadU(d, reinterpret_cast<const Bits *>(p) + i), m), m); };
    size_t i = 0;
    for (; i + step <= n; i += step) {
        const auto any = hn::Or(hn::Or(all_ones(i), all_ones(i + L)), hn::Or(all_ones(i + 2 * L), all_ones(i + 3 * L)));
        if (!hn::AllFalse(d, any)) break;
    }
    for (; i < n; ++i) {
        Bits v;
        std::memcpy(&v, p + i * sizeof(Bits), sizeof(Bits));
        if ((v & mask) == mask) return i;
    }
    return n;
}

size_t FirstNonfinite(DType t, const void *src, size_t n) {
    const auto *p = static_cast<const uint8_t *>(src);
    constexpr uint16_t kF16Exponent = 0x7c00;
    // The ggml block types are integers times fp16 block constants, finite exactly when those are: the
    // scale (and the minimum of the _1 types, dmin of Q4_K and Q5_K) in front, Q6_K's d at its end; the
    // K-quants' sub-block scales are integers. No default, so that a new type gets a warning here.
    size_t offsets[2] = {0, 0}, n_offsets = 1;
    switch (t) {
    case DType::F32: return FirstAllOnes<uint32_t>(p, n, 0x7f800000u);
    case DType::F16: return FirstAllOnes<uint16_t>(p, n, kF16Exponent);
    case DType::BF16: return FirstAllOnes<uint16_t>(p, n, 0x7f80);
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: offsets[1] = 2, n_offsets = 2; break;
    case DType::Q6_K: offsets[0] = 208; break;
    case DType::Q8_0:
    case DType::Q5_0:
    case DType::Q4_0: break;
    }
    const DTypeInfo &info = dtype_info(t);
    for (size_t blk = 0; blk < n / size_t(info.block_elems); ++blk) {
        const uint8_t *b = p + blk * size_t(info.block_bytes);
        for (size_t k = 0; k < n_offsets; ++k)
            if (((b[offsets[k]] | b[offsets[k] + 1] << 8) & kF16Exponent) == kF16Exponent) return blk * size_t(info.block_elems);
    }
    return n;
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(FirstNonfinite);

size_t first_nonfinite(DType t, const void *src, size_t n) { return HWY_DYNAMIC_DISPATCH(FirstNonfinite)(t, src, n); }

} // namespace rwkvrt
#endif
