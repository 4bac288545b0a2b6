#include "kernels/dot.h"

#include <vector>

namespace rwkvrt {

namespace {

float dot_f32(const uint8_t *row, const float *x, int64_t n) {
    const auto *w = reinterpret_cast<const float *>(row);
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += w[i + j] * x[i + j];
    float s = 0;
    for (; i < n; ++i) s += w[i] * x[i];
    for (float a : acc) s += a;
    return s;
}

float dot_bf16(const uint8_t *row, const float *x, int64_t n) {
    const auto *w = reinterpret_cast<const uint16_t *>(row);
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += bf16_to_f32(w[i + j]) * x[i + j];
    float s = 0;
    for (; i < n; ++i) s += bf16_to_f32(w[i]) * x[i];
    for (float a : acc) s += a;
    return s;
}

// Block and half types: convert a chunk to fp32, then a plain dot.
template <DType T>
float dot_converted(const uint8_t *row, const float *x, int64_t n) {
    constexpr int64_t kChunk = 256; // a multiple of every block size
    float buf[kChunk];
    float s = 0;
    for (int64_t i = 0; i < n; i += kChunk) {
        const int64_t m = n - i < kChunk ? n - i : kChunk;
        to_f32(T, row + dtype_bytes(T, size_t(i)), buf, size_t(m));
        s += dot_f32(reinterpret_cast<const uint8_t *>(buf), x + i, m);
    }
    return s;
}

} // namespace

DotFn dot_kernel(DType dtype) {
    switch (dtype) {
    case DType::F32: return dot_f32;
    case DType::BF16: return dot_bf16;
    case DType::F16: return dot_converted<DType::F16>;
    case DType::Q8_0: return dot_converted<DType::Q8_0>;
    case DType::Q5_0: return dot_converted<DType::Q5_0>;
    case DType::Q5_1: return dot_converted<DType::Q5_1>;
    case DType::Q4_0: return dot_converted<DType::Q4_0>;
    case DType::Q4_1: return dot_converted<DType::Q4_1>;
    }
    return dot_f32;
}

} // namespace rwkvrt
