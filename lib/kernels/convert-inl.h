// Per-target SIMD decoding of stored weights to fp32 vectors, shared by the dot kernels (dot.cpp), the
// bulk converters (convert.cpp) and the matrix product (linear.cpp). Included once per Highway target
// through foreach_target.h, hence the toggling include guard.
#if defined(RWKVRT_KERNELS_CONVERT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef RWKVRT_KERNELS_CONVERT_INL_H_
#undef RWKVRT_KERNELS_CONVERT_INL_H_
#else
#define RWKVRT_KERNELS_CONVERT_INL_H_
#endif

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/dtype.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes, so that a 32-element block is a whole number of vectors and the 16 nibble bytes of
// a q4/q5 block fill at least one.
using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;

// Exact f16 → f32 for block scales and row tails, inline because it runs once per block.
HWY_INLINE float HalfToFloat(uint16_t h) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    return _cvtsh_ss(h); // F16C
#else
    const uint32_t em = h & 0x7fffu, exp = em >> 10;
    uint32_t bits;
    if (exp == 0) {
        const float f = float(em) * (1.0f / 16777216.0f); // zero or subnormal: m · 2⁻²⁴
        std::memcpy(&bits, &f, 4);
    } else {
        bits = (em << 13) + (exp == 31 ? 224u << 23 : 112u << 23); // rebias; inf/nan to exponent 255
    }
    bits |= uint32_t(h & 0x8000u) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
#endif
}

HWY_INLINE float BF16ToFloat(uint16_t h) {
    const uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

HWY_INLINE VF LoadBF16(DF df, const uint8_t *p) {
    const hn::Rebind<uint16_t, DF> du16;
    const hn::RebindToUnsigned<DF> du32;
    const auto h = hn::LoadU(du16, reinterpret_cast<const uint16_t *>(p));
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, h)));
}

HWY_INLINE VF LoadF16(DF df, const uint8_t *p) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
    // Two 256-bit F16C conversions, not one 512-bit: on Zen 4 the 512-bit form halves the rate at which
    // a core streams f16 rows from memory (docs/PERFORMANCE.md).
    (void)df;
    const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    const __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16)));
    return VF{_mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1)};
#elif HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    // F16C. Highway's emulation on older targets turns inf/nan into finite numbers, hence ours below.
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t *>(p)));
#else
    const hn::Rebind<uint16_t, DF> du16;
    const hn::RebindToUnsigned<DF> du32;
    const hn::RebindToSigned<DF> di32;
    const auto h = hn::PromoteTo(du32, hn::LoadU(du16, reinterpret_cast<const uint16_t *>(p)));
    const auto em = hn::And(h, hn::Set(du32, 0x7fffu));
    const auto exp = hn::ShiftRight<10>(em);
    auto normal = hn::Add(hn::ShiftLeft<13>(em), hn::Set(du32, 112u << 23));
    normal = hn::IfThenElse(hn::Eq(exp, hn::Set(du32, 31u)), hn::Add(normal, hn::Set(du32, 112u << 23)), normal);
    const auto sub = hn::BitCast(du32, hn::Mul(hn::ConvertTo(df, hn::BitCast(di32, em)), hn::Set(df, 1.0f / 16777216.0f)));
    const auto bits = hn::IfThenElse(hn::Eq(exp, hn::Zero(du32)), sub, normal);
    return hn::BitCast(df, hn::Or(hn::ShiftLeft<16>(hn::And(h, hn::Set(du32, 0x8000u))), bits));
#endif
}

// ggml blocks of 32: Quant(df, block, j) gives the integer values of elements j .. j+lanes-1 as floats;
// an element is d·q, or d·q + m when kHasMin. Q8_0's and Q4_0's also take narrower tags (GemmFewTokens).
struct BlockQ8_0 {
    static constexpr int kBytes = 34;
    static constexpr bool kHasMin = false;
    static float Scale(const uint8_t *b) { return HalfToFloat(load_u16(b)); }
    static float Min(const uint8_t *) { return 0.0f; }
    template <class D = DF>
    static hn::Vec<D> Quant(D df, const uint8_t *b, size_t j) {
        const hn::Rebind<int8_t, D> di8;
        const hn::RebindToSigned<D> di32;
        return hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, reinterpret_cast<const int8_t *>(b + 2 + j))));
    }
};

// Element j < 16 is the low nibble of byte j, element 16 + j its high nibble.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<D>> Nibbles(D, const uint8_t *qs, size_t j) {
    const hn::Rebind<uint8_t, D> du8;
    const hn::RebindToUnsigned<D> du32;
    const auto bytes = hn::PromoteTo(du32, hn::LoadU(du8, qs + (j & 15)));
    return j < 16 ? hn::And(bytes, hn::Set(du32, 15u)) : hn::ShiftRight<4>(bytes);
}

// The fifth bit of elements j .. j+lanes-1 (bit j+i of qh), as 16 or 0.
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> HighBits(DF, uint32_t qh, size_t j) {
    static constexpr uint32_t kBit[16] = {1u << 0, 1u << 1, 1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
                                          1u << 8, 1u << 9, 1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15};
    const hn::RebindToUnsigned<DF> du32;
    const auto set = hn::TestBit(hn::Set(du32, qh >> j), hn::LoadU(du32, kBit));
    return hn::IfThenElseZero(set, hn::Set(du32, 16u));
}

struct BlockQ4_0 {
    static constexpr int kBytes = 18;
    static constexpr bool kHasMin = false;
    static float Scale(const uint8_t *b) { return HalfToFloat(load_u16(b)); }
    static float Min(const uint8_t *) { return 0.0f; }
    template <class D = DF>
    static hn::Vec<D> Quant(D df, const uint8_t *b, size_t j) {
        const hn::RebindToSigned<D> di32;
        return hn::ConvertTo(df, hn::Sub(hn::BitCast(di32, Nibbles(df, b + 2, j)), hn::Set(di32, 8)));
    }
};

struct BlockQ4_1 {
    static constexpr int kBytes = 20;
    static constexpr bool kHasMin = true;
    static float Scale(const uint8_t *b) { return HalfToFloat(load_u16(b)); }
    static float Min(const uint8_t *b) { return HalfToFloat(load_u16(b + 2)); }
    static VF Quant(DF df, const uint8_t *b, size_t j) {
        const hn::RebindToSigned<DF> di32;
        return hn::ConvertTo(df, hn::BitCast(di32, Nibbles(df, b + 4, j)));
    }
};

struct BlockQ5_0 {
    static constexpr int kBytes = 22;
    static constexpr bool kHasMin = false;
    static float Scale(const uint8_t *b) { return HalfToFloat(load_u16(b)); }
    static float Min(const uint8_t *) { return 0.0f; }
    static VF Quant(DF df, const uint8_t *b, size_t j) {
        const hn::RebindToSigned<DF> di32;
        const auto q = hn::Or(Nibbles(df, b + 6, j), HighBits(df, load_u32(b + 2), j));
        return hn::ConvertTo(df, hn::Sub(hn::BitCast(di32, q), hn::Set(di32, 16)));
    }
};

struct BlockQ5_1 {
    static constexpr int kBytes = 24;
    static constexpr bool kHasMin = true;
    static float Scale(const uint8_t *b) { return HalfToFloat(load_u16(b)); }
    static float Min(const uint8_t *b) { return HalfToFloat(load_u16(b + 2)); }
    static VF Quant(DF df, const uint8_t *b, size_t j) {
        const hn::RebindToSigned<DF> di32;
        const auto q = hn::Or(Nibbles(df, b + 8, j), HighBits(df, load_u32(b + 4), j));
        return hn::ConvertTo(df, hn::BitCast(di32, q));
    }
};

// ggml's K-quants: super-blocks of 256 elements in sub-blocks of kSub with their own scale (and min).
// Scales(block, scale, min) gives each sub-block's factor d·sc and offset dmin·m; Codes(block, codes)
// the 256 integer values (Code: uint8_t, or int8_t for Q6_K), assembled 32 at a time with byte
// operations, so that an element is scale·code − min. The layouts are those of core/dtype.cpp's
// reference decoder.
using D8 = hn::CappedTag<uint8_t, 32>; // the 32 bytes of a sub-block's codes, or a whole number of vectors of them

template <bool kFifthBit>
struct BlockQ45K {
    using Code = uint8_t;
    static constexpr int kBytes = kFifthBit ? 176 : 144;
    static constexpr int kSub = 32;
    static constexpr bool kHasMin = true;
    static void Scales(const uint8_t *b, float *scale, float *min) {
        const float d = HalfToFloat(load_u16(b)), dmin = HalfToFloat(load_u16(b + 2));
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            k_scale_min(b + 4, j, &sc, &m);
            scale[j] = d * float(sc);
            min[j] = dmin * float(m);
        }
    }
    // Sub-block 2p holds the low nibbles of qs[32p ..], 2p + 1 the high ones; bit j of qh[l] is the fifth bit.
    static void Codes(const uint8_t *b, uint8_t *codes) {
        const D8 d8;
        const auto low4 = hn::Set(d8, uint8_t{15}), one = hn::Set(d8, uint8_t{1});
        const uint8_t *qs = b + (kFifthBit ? 48 : 16), *qh = b + 16;
        for (int p = 0; p < 4; ++p)
            for (size_t l = 0; l < 32; l += hn::Lanes(d8)) {
                const auto q = hn::LoadU(d8, qs + 32 * p + l);
                auto lo = hn::And(q, low4), hi = hn::ShiftRight<4>(q);
                if constexpr (kFifthBit) {
                    const auto h = hn::LoadU(d8, qh + l);
                    lo = hn::Or(lo, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * p), one)));
                    hi = hn::Or(hi, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * p + 1), one)));
                }
                hn::StoreU(lo, d8, codes + 64 * p + l);
                hn::StoreU(hi, d8, codes + 64 * p + 32 + l);
            }
    }
};
using BlockQ4_K = BlockQ45K<false>;
using BlockQ5_K = BlockQ45K<true>;

struct BlockQ6_K {
    using Code = int8_t;
    static constexpr int kBytes = 210;
    static constexpr int kSub = 16;
    static constexpr bool kHasMin = false;
    static void Scales(const uint8_t *b, float *scale, float *min) {
        const float d = HalfToFloat(load_u16(b + 208));
        for (int j = 0; j < 16; ++j) {
            scale[j] = d * float(int8_t(b[192 + j]));
            min[j] = 0.0f;
        }
    }
    // Element 128·h + 32·quarter + l: low 4 bits from ql, high 2 from qh, minus 32 (as int8).
    static void Codes(const uint8_t *b, int8_t *codes) {
        const D8 d8;
        const auto low4 = hn::Set(d8, uint8_t{15}), low2 = hn::Set(d8, uint8_t{3}), offset = hn::Set(d8, uint8_t{32});
        for (int h = 0; h < 2; ++h)
            for (int quarter = 0; quarter < 4; ++quarter)
                for (size_t l = 0; l < 32; l += hn::Lanes(d8)) {
                    const auto ql = hn::LoadU(d8, b + 64 * h + 32 * (quarter % 2) + l);
                    const auto lo = quarter < 2 ? hn::And(ql, low4) : hn::ShiftRight<4>(ql);
                    const auto hi = hn::And(hn::ShiftRightSame(hn::LoadU(d8, b + 128 + 32 * h + l), 2 * quarter), low2);
                    const auto q = hn::Sub(hn::Or(lo, hn::ShiftLeft<4>(hi)), offset); // wraps to q − 32 as int8
                    hn::StoreU(q, d8, reinterpret_cast<uint8_t *>(codes) + 128 * h + 32 * quarter + l);
                }
    }
};

// Codes i .. i + lanes − 1 of a decoded super-block as floats.
template <class Code>
HWY_INLINE VF CodesToFloat(DF df, const Code *codes) {
    const hn::Rebind<Code, DF> dc;
    const hn::RebindToSigned<DF> di32;
    if constexpr (std::is_signed_v<Code>) return hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(dc, codes)));
    else return hn::ConvertTo(df, hn::BitCast(di32, hn::PromoteTo(hn::RebindToUnsigned<DF>(), hn::LoadU(dc, codes))));
}

template <class Block>
HWY_INLINE void ConvertKBlocks(const uint8_t *src, float *dst, size_t n) {
    const DF df;
    const size_t L = hn::Lanes(df);
    HWY_ALIGN typename Block::Code codes[256];
    float scale[16], min[16];
    for (size_t b = 0; b < n / 256; ++b, src += Block::kBytes, dst += 256) {
        Block::Scales(src, scale, min);
        Block::Codes(src, codes);
        for (size_t i = 0; i < 256; i += L) {
            const size_t j = i / Block::kSub;
            const VF q = CodesToFloat(df, codes + i);
            // Not fused: the same roundings as to_f32 (core/dtype.cpp), so the values are identical.
            hn::StoreU(hn::Sub(hn::Mul(q, hn::Set(df, scale[j])), hn::Set(df, min[j])), df, dst + i);
        }
    }
}

// Converts n elements of a plain (f32, f16, bf16) row.
template <class Load, class Scalar>
HWY_INLINE void ConvertPlain(const uint8_t *src, size_t elem_bytes, float *dst, size_t n, Load load, Scalar scalar) {
    const DF df;
    const size_t L = hn::Lanes(df);
    size_t i = 0;
    for (; i + L <= n; i += L) hn::StoreU(load(df, src + i * elem_bytes), df, dst + i);
    for (; i < n; ++i) dst[i] = scalar(src + i * elem_bytes);
}

template <class Block>
HWY_INLINE void ConvertBlocks(const uint8_t *src, float *dst, size_t n) {
    const DF df;
    const size_t L = hn::Lanes(df);
    for (size_t b = 0; b < n / 32; ++b, src += Block::kBytes, dst += 32) {
        const auto d = hn::Set(df, Block::Scale(src));
        const auto m = hn::Set(df, Block::Min(src));
        for (size_t j = 0; j < 32; j += L) {
            const VF q = Block::Quant(df, src, j);
            hn::StoreU(Block::kHasMin ? hn::MulAdd(q, d, m) : hn::Mul(q, d), df, dst + j);
        }
    }
}

// Converts n elements of type t at src to fp32 (n a multiple of the block for block types).
HWY_INLINE void ConvertRow(DType t, const uint8_t *src, float *dst, size_t n) {
    switch (t) {
    case DType::F32:
        std::memcpy(dst, src, n * 4);
        return;
    case DType::F16:
        return ConvertPlain(
            src, 2, dst, n, [](DF df, const uint8_t *p) { return LoadF16(df, p); },
            [](const uint8_t *p) { return HalfToFloat(load_u16(p)); });
    case DType::BF16:
        return ConvertPlain(
            src, 2, dst, n, [](DF df, const uint8_t *p) { return LoadBF16(df, p); },
            [](const uint8_t *p) { return BF16ToFloat(load_u16(p)); });
    case DType::Q8_0: return ConvertBlocks<BlockQ8_0>(src, dst, n);
    case DType::Q5_0: return ConvertBlocks<BlockQ5_0>(src, dst, n);
    case DType::Q5_1: return ConvertBlocks<BlockQ5_1>(src, dst, n);
    case DType::Q4_0: return ConvertBlocks<BlockQ4_0>(src, dst, n);
    case DType::Q4_1: return ConvertBlocks<BlockQ4_1>(src, dst, n);
    case DType::Q4_K: return ConvertKBlocks<BlockQ4_K>(src, dst, n);
    case DType::Q5_K: return ConvertKBlocks<BlockQ5_K>(src, dst, n);
    case DType::Q6_K: return ConvertKBlocks<BlockQ6_K>(src, dst, n);
    }
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#endif // RWKVRT_KERNELS_CONVERT_INL_H_
