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

// From a vector holding a nan on, the scalar conversion finishes the row: it writes one canonical nan.
void FromF32(DType t, const float *src, void *dst, size_t n) {
    auto *out = static_cast<uint16_t *>(dst);
    const DF df;
    const size_t L = hn::Lanes(df);
    const hn::Rebind<uint16_t, DF> du16;
    const hn::RebindToUnsigned<DF> du32;
    const hn::RebindToSigned<DF> di32;
    size_t i = 0;
    if (t == DType::F32) {
        std::memcpy(dst, src, n * 4);
        return;
    }
    if (t == DType::BF16) {
        for (; i + L <= n; i += L) {
            const VF v = hn::LoadU(df, src + i);
            if (!hn::AllFalse(df, hn::IsNaN(v))) break;
            const auto u = hn::BitCast(du32, v); // round to nearest even, as f32_to_bf16
            const auto odd = hn::And(hn::ShiftRight<16>(u), hn::Set(du32, 1u));
            const auto h = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du32, 0x7fffu), odd)));
            hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di32, h)), du16, out + i);
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

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(ToF32);
HWY_EXPORT(FromF32);

void convert_to_f32(DType t, const void *src, float *dst, size_t n) { HWY_DYNAMIC_DISPATCH(ToF32)(t, src, dst, n); }

void convert_from_f32(DType t, const float *src, void *dst, size_t n) {
    HWY_DYNAMIC_DISPATCH(FromF32)(t, src, dst, n);
}

} // namespace rwkvrt
#endif
