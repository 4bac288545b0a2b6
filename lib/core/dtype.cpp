#include "core/dtype.h"

#include <cmath>

namespace rwkvrt {

const DTypeInfo &dtype_info(DType t) {
    static const DTypeInfo table[] = {
        {"f32", 1, 4},   {"f16", 1, 2},   {"bf16", 1, 2},  {"q8_0", 32, 34},
        {"q5_0", 32, 22}, {"q5_1", 32, 24}, {"q4_0", 32, 18}, {"q4_1", 32, 20},
    };
    return table[static_cast<int>(t)];
}

bool dtype_from_name(std::string_view name, DType *out) {
    for (int i = 0; i <= static_cast<int>(DType::Q4_1); ++i) {
        if (name == dtype_info(DType(i)).name) {
            *out = DType(i);
            return true;
        }
    }
    return false;
}

size_t dtype_bytes(DType t, size_t n) {
    const DTypeInfo &info = dtype_info(t);
    return n / size_t(info.block_elems) * size_t(info.block_bytes);
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); // inf / nan
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { // subnormal: normalise
        uint32_t e = 113;
        while (!(mant & 0x400)) {
            mant <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint16_t sign = uint16_t((bits >> 16) & 0x8000);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00; // nan
    if (abs >= 0x477ff000u) return sign | 0x7c00; // rounds to inf
    if (abs < 0x38800000u) { // subnormal or zero in f16
        if (abs < 0x33000000u) return sign;
        const uint32_t e = abs >> 23;
        const uint32_t mant = (abs & 0x7fffff) | 0x800000;
        const uint32_t shift = 126 - e; // 14..24
        uint32_t half = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1);
        const uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) ++half;
        return sign | uint16_t(half);
    }
    uint32_t half = ((abs >> 13) - (112u << 10));
    const uint32_t rem = abs & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
    return sign | uint16_t(half);
}

namespace {

uint16_t load_u16(const uint8_t *p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t load_u32(const uint8_t *p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

void dequant_block(DType t, const uint8_t *b, float *y) {
    switch (t) {
    case DType::Q8_0: {
        const float d = f16_to_f32(load_u16(b));
        for (int j = 0; j < 32; ++j) y[j] = d * float(int8_t(b[2 + j]));
        return;
    }
    case DType::Q4_0: {
        const float d = f16_to_f32(load_u16(b));
        for (int j = 0; j < 16; ++j) {
            y[j] = d * float((b[2 + j] & 0x0f) - 8);
            y[j + 16] = d * float((b[2 + j] >> 4) - 8);
        }
        return;
    }
    case DType::Q4_1: {
        const float d = f16_to_f32(load_u16(b)), m = f16_to_f32(load_u16(b + 2));
        for (int j = 0; j < 16; ++j) {
            y[j] = d * float(b[4 + j] & 0x0f) + m;
            y[j + 16] = d * float(b[4 + j] >> 4) + m;
        }
        return;
    }
    case DType::Q5_0: {
        const float d = f16_to_f32(load_u16(b));
        const uint32_t qh = load_u32(b + 2);
        for (int j = 0; j < 16; ++j) {
            const int hi0 = int((qh >> j) << 4) & 0x10;
            const int hi1 = int(qh >> (j + 12)) & 0x10;
            y[j] = d * float(((b[6 + j] & 0x0f) | hi0) - 16);
            y[j + 16] = d * float(((b[6 + j] >> 4) | hi1) - 16);
        }
        return;
    }
    case DType::Q5_1: {
        const float d = f16_to_f32(load_u16(b)), m = f16_to_f32(load_u16(b + 2));
        const uint32_t qh = load_u32(b + 4);
        for (int j = 0; j < 16; ++j) {
            const int hi0 = int((qh >> j) << 4) & 0x10;
            const int hi1 = int(qh >> (j + 12)) & 0x10;
            y[j] = d * float((b[8 + j] & 0x0f) | hi0) + m;
            y[j + 16] = d * float((b[8 + j] >> 4) | hi1) + m;
        }
        return;
    }
    default:
        return;
    }
}

} // namespace

void to_f32(DType t, const void *src, float *dst, size_t n) {
    const auto *p = static_cast<const uint8_t *>(src);
    switch (t) {
    case DType::F32:
        std::memcpy(dst, p, n * 4);
        return;
    case DType::F16:
        for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(p + 2 * i));
        return;
    case DType::BF16:
        for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(p + 2 * i));
        return;
    default: {
        const DTypeInfo &info = dtype_info(t);
        for (size_t blk = 0; blk < n / size_t(info.block_elems); ++blk)
            dequant_block(t, p + blk * size_t(info.block_bytes), dst + blk * size_t(info.block_elems));
        return;
    }
    }
}

} // namespace rwkvrt
