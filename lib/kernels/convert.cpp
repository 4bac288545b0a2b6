// Compiled once per SIMD target (Highway's foreach_target); the best one the CPU runs is called.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/convert.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/convert-inl.h"
#include "kernels/convert.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {

void ToF32(DType t, const void *src, float *dst, size_t n) { ConvertRow(t, static_cast<const uint8_t *>(src), dst, n); }

// Rounds a vector without NaN to bf16, to nearest even as f32_to_bf16.
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, DF>> RoundToBF16(VF v) {
    const hn::RebindToUnsigned<DF> du32;
    const hn::RebindToSigned<DF> di32;
    const auto u = hn::BitCast(du32, v);
    const auto odd = hn::And(hn::ShiftRight<16>(u), hn::Set(du32, 1u));
    const auto h = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du32, 0x7fffu), odd)));
    return hn::DemoteTo(hn::Rebind<uint16_t, DF>(), hn::BitCast(di32, h));
}

// From a vector holding a nan on, the scalar conversion finishes the row: it writes one canonical nan.
void FromF32(DType t, const float *src, void *dst, size_t n) {
    auto *out = static_cast<uint16_t *>(dst);
    const DF df;
    const size_t L = hn::Lanes(df);
    const hn::Rebind<uint16_t, DF> du16;
    size_t i = 0;
    if (t == DType::F32) {
        std::memcpy(dst, src, n * 4);
        return;
    }
    if (t == DType::BF16) {
        for (; i + L <= n; i += L) {
            const VF v = hn::LoadU(df, src + i);
            if (!hn::AllFalse(df, hn::IsNaN(v))) break;
            hn::StoreU(RoundToBF16(v), du16, out + i);
        }
        for (; i < n; ++i) out[i] = f32_to_bf16(src[i]);
        return;
    }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    // F16C rounds to nearest even, like f32_to_f16; older targets use the scalar conversion.
    const hn::Rebind<hwy::float16_t, DF> dh;
    for (; i + L <= n; i += L) {
        const VF v = hn::LoadU(df, src + i);
        if (!hn::AllFalse(df, hn::IsNaN(v))) break;
        hn::StoreU(hn::DemoteTo(dh, v), dh, reinterpret_cast<hwy::float16_t *>(out + i));
    }
#endif
    for (; i < n; ++i) out[i] = f32_to_f16(src[i]);
}

// f16 → bf16 in one pass, for the bf16-product GEMM's weight panels: f16_to_f32 then f32_to_bf16.
void F16ToBF16(const void *src, uint16_t *dst, size_t n) {
    const auto *in = static_cast<const uint8_t *>(src);
    const DF df;
    const size_t L = hn::Lanes(df);
    size_t i = 0;
    for (; i + L <= n; i += L) {
        const VF v = LoadF16(df, in + 2 * i);
        if (!hn::AllFalse(df, hn::IsNaN(v))) break;
        hn::StoreU(RoundToBF16(v), hn::Rebind<uint16_t, DF>(), dst + i);
    }
    for (; i < n; ++i) dst[i] = f32_to_bf16(HalfToFloat(load_u16(in + 2 * i)));
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(ToF32);
HWY_EXPORT(FromF32);
HWY_EXPORT(F16ToBF16);

void convert_to_f32(DType t, const void *src, float *dst, size_t n) { HWY_DYNAMIC_DISPATCH(ToF32)(t, src, dst, n); }

void convert_from_f32(DType t, const float *src, void *dst, size_t n) {
    HWY_DYNAMIC_DISPATCH(FromF32)(t, src, dst, n);
}

void convert_f16_to_bf16(const void *src, uint16_t *dst, size_t n) { HWY_DYNAMIC_DISPATCH(F16ToBF16)(src, dst, n); }

} // namespace rwkvrt
#endif
