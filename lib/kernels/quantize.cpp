#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/convert.h"

namespace rwkvrt {

namespace {

void put_f16(uint8_t *p, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

int clamp_round(float v, int lo, int hi) { return std::clamp(int(std::lround(v)), lo, hi); }

void q8_0(const float *x, uint8_t *out, size_t n) {
    for (size_t b = 0; b < n / 32; ++b, x += 32, out += 34) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f, inv = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int j = 0; j < 32; ++j) out[2 + j] = uint8_t(int8_t(std::lround(x[j] * inv)));
    }
}

void q4_0(const float *x, uint8_t *out, size_t n) {
    for (size_t b = 0; b < n / 32; ++b, x += 32, out += 18) {
        float max = 0; // the value of largest magnitude, with its sign: it becomes −8
        for (int j = 0; j < 32; ++j)
            if (std::fabs(x[j]) > std::fabs(max)) max = x[j];
        const float d = max / -8.0f, inv = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int j = 0; j < 16; ++j) {
            const int lo = std::min(15, int(x[j] * inv + 8.5f)), hi = std::min(15, int(x[j + 16] * inv + 8.5f));
            out[2 + j] = uint8_t(lo | hi << 4);
        }
    }
}

// Q4_K / Q5_K: 8 sub-blocks of 32, element = d·sc·q − dmin·m with q < 2^bits.
void q45_k(const float *x, uint8_t *out, size_t n, int bits) {
    const int levels = (1 << bits) - 1;
    const size_t block_bytes = bits == 5 ? 176 : 144;
    for (size_t b = 0; b < n / 256; ++b, x += 256, out += block_bytes) {
        std::memset(out, 0, block_bytes);
        float scale[8], min[8], max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            const float *s = x + 32 * j;
            const float lo = std::min(0.0f, *std::min_element(s, s + 32)), hi = *std::max_element(s, s + 32);
            scale[j] = (hi - lo) / float(levels);
            min[j] = -lo;
            max_scale = std::max(max_scale, scale[j]);
            max_min = std::max(max_min, min[j]);
        }
        put_f16(out, max_scale / 63.0f);
        put_f16(out + 2, max_min / 63.0f);
        const float d = f16_to_f32(f32_to_f16(max_scale / 63.0f)), dmin = f16_to_f32(f32_to_f16(max_min / 63.0f));
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = uint8_t(d > 0 ? clamp_round(scale[j] / d, 0, 63) : 0);
            m[j] = uint8_t(dmin > 0 ? clamp_round(min[j] / dmin, 0, 63) : 0);
        }
        uint8_t *packed = out + 4;
        for (int j = 0; j < 4; ++j) {
            packed[j] = uint8_t(sc[j] | (sc[j + 4] >> 4) << 6);
            packed[j + 4] = uint8_t(m[j] | (m[j + 4] >> 4) << 6);
            packed[j + 8] = uint8_t((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
        }
        uint8_t *qh = out + 16, *qs = out + (bits == 5 ? 48 : 16);
        for (int j = 0; j < 8; ++j) {
            const float dl = d * float(sc[j]), ml = dmin * float(m[j]);
            for (int l = 0; l < 32; ++l) {
                const int q = dl > 0 ? clamp_round((x[32 * j + l] + ml) / dl, 0, levels) : 0;
                qs[32 * (j / 2) + l] |= uint8_t((q & 15) << (j % 2 ? 4 : 0));
                if (bits == 5 && (q & 16)) qh[l] |= uint8_t(1 << j);
            }
        }
    }
}

// Q6_K: 16 sub-blocks of 16, element = d·sc·(q − 32) with 8-bit sc and 6-bit q.
void q6_k(const float *x, uint8_t *out, size_t n) {
    for (size_t b = 0; b < n / 256; ++b, x += 256, out += 210) {
        std::memset(out, 0, 210);
        float scale[16], max_scale = 0;
        for (int j = 0; j < 16; ++j) {
            float amax = 0;
            for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * j + l]));
            scale[j] = amax / 31.0f;
            max_scale = std::max(max_scale, scale[j]);
        }
        put_f16(out + 208, max_scale / 127.0f);
        const float d = f16_to_f32(f32_to_f16(max_scale / 127.0f));
        uint8_t *ql = out, *qh = out + 128;
        for (int j = 0; j < 16; ++j) {
            const int sc = d > 0 ? clamp_round(scale[j] / d, 0, 127) : 0;
            out[192 + j] = uint8_t(int8_t(sc));
            const float dl = d * float(sc);
            for (int l = 0; l < 16; ++l) {
                const int i = 16 * j + l, h = i / 128, quarter = (i % 128) / 32, k = i % 32;
                const int q = (dl > 0 ? clamp_round(x[i] / dl, -32, 31) : 0) + 32;
                ql[64 * h + 32 * (quarter % 2) + k] |= uint8_t((q & 15) << (quarter < 2 ? 0 : 4));
                qh[32 * h + k] |= uint8_t((q >> 4) << (2 * quarter));
            }
        }
    }
}

} // namespace

void quantize_row(DType t, const float *x, uint8_t *out, size_t n) {
    switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: return convert_from_f32(t, x, out, n);
    case DType::Q8_0: return q8_0(x, out, n);
    case DType::Q4_0: return q4_0(x, out, n);
    case DType::Q4_K: return q45_k(x, out, n, 4);
    case DType::Q5_K: return q45_k(x, out, n, 5);
    case DType::Q6_K: return q6_k(x, out, n);
    default: fail(RWKVRT_ERR_UNSUPPORTED, "rwkvrt does not write ", dtype_name(t), " tensors");
    }
}

} // namespace rwkvrt
