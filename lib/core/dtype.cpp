#include "core/dtype.h"

#include <algorithm>
#include <cmath>

namespace rwkvrt {

const DTypeInfo &dtype_info(DType t) {
    static const DTypeInfo table[] = {
        {"f32", 1, 4},   {"f16", 1, 2},   {"bf16", 1, 2},  {"q8_0", 32, 34},
        {"q5_0", 32, 22}, {"q5_1", 32, 24}, {"q4_0", 32, 18}, {"q4_1", 32, 20},
        {"q4_k", 256, 144}, {"q5_k", 256, 176}, {"q6_k", 256, 210},
    };
    return table[static_cast<int>(t)];
}

bool dtype_from_name(std::string_view name, DType *out) {
    for (int i = 0; i <= static_cast<int>(DType::Q6_K); ++i) {
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
    case DType::Q4_K:
    case DType::Q5_K: {
        // 8 sub-blocks of 32: element = d·scale_j·q − dmin·min_j, q of 4 (+1 high) bits.
        const bool q5 = t == DType::Q5_K;
        const float d = f16_to_f32(load_u16(b)), dmin = f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + (q5 ? 48 : 16);
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            k_scale_min(scales, j, &sc, &m);
            const float dl = d * float(sc), ml = dmin * float(m);
            const uint8_t *q = qs + 32 * (j / 2);
            for (int l = 0; l < 32; ++l) {
                int v = j % 2 ? q[l] >> 4 : q[l] & 15;
                if (q5 && (qh[l] >> j) & 1) v += 16;
                y[32 * j + l] = dl * float(v) - ml;
            }
        }
        return;
    }
    case DType::Q6_K: {
        // 16 sub-blocks of 16: element = d·scale·(q − 32), q of 6 bits (4 in ql, 2 in qh).
        const float d = f16_to_f32(load_u16(b + 208));
        const uint8_t *ql = b, *qh = b + 128;
        const auto *sc = reinterpret_cast<const int8_t *>(b + 192);
        for (int i = 0; i < 256; ++i) {
            const int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
            const uint8_t lo = ql[64 * half + 32 * (quarter % 2) + l];
            const int low = quarter < 2 ? lo & 15 : lo >> 4;
            const int high = (qh[32 * half + l] >> (2 * quarter)) & 3;
            y[i] = d * float(sc[8 * half + 2 * quarter + l / 16]) * float((low | high << 4) - 32);
        }
        return;
    }
    default:
        return;
    }
}

} // namespace

void to_f32(DType t, const void *src, float *dst, size_t n) {
    if (n == 0) return; // an empty tensor may have no storage at all (src and dst NULL)
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

void dequantize_q2_k(const uint8_t *src, float *dst, size_t n) {
    // 16 sub-blocks of 16 with a 4-bit scale and min each: element = d·sc·q − dmin·m, q of 2 bits.
    for (size_t blk = 0; blk < n / 256; ++blk, src += kQ2KBlockBytes, dst += 256) {
        const uint8_t *scales = src, *qs = src + 16;
        const float d = f16_to_f32(load_u16(src + 80)), dmin = f16_to_f32(load_u16(src + 82));
        for (int i = 0; i < 256; ++i) {
            const int half = i / 128, r = i % 128, shift = 2 * (r / 32), l = r % 32;
            const uint8_t sc = scales[8 * half + 2 * (r / 32) + l / 16];
            const int q = (qs[32 * half + l] >> shift) & 3;
            dst[i] = d * float(sc & 15) * float(q) - dmin * float(sc >> 4);
        }
    }
}

void dequantize_q3_k(const uint8_t *src, float *dst, size_t n) {
    // 16 sub-blocks of 16 with 6-bit signed scales: element = d·(sc − 32)·(q − 4·!high), q of 2 bits.
    for (size_t blk = 0; blk < n / 256; ++blk, src += kQ3KBlockBytes, dst += 256) {
        const uint8_t *hmask = src, *qs = src + 32, *packed = src + 96;
        const float d = f16_to_f32(load_u16(src + 108));
        int scales[16];
        for (int s = 0; s < 16; ++s) {
            const int low = s < 8 ? packed[s] & 15 : packed[s - 8] >> 4;
            const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
            scales[s] = (low | high << 4) - 32;
        }
        for (int i = 0; i < 256; ++i) {
            const int half = i / 128, r = i % 128, j = r / 32, l = r % 32;
            const int q = (qs[32 * half + l] >> (2 * j)) & 3;
            const bool high = (hmask[l] >> (4 * half + j)) & 1;
            dst[i] = d * float(scales[8 * half + 2 * j + l / 16]) * float(q - (high ? 0 : 4));
        }
    }
}

} // namespace rwkvrt
