// Element types of stored tensors and the conversions between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace rwkvrt {

enum class DType : uint8_t {
    F32,
    F16,
    BF16,
    Q8_0, // ggml block: fp16 scale + 32 int8
    Q5_0, // ggml block: fp16 scale, 32 high bits, 16 bytes of nibbles
    Q5_1, // ggml block: fp16 scale, fp16 min, 32 high bits, 16 bytes of nibbles
    Q4_0, // ggml block: fp16 scale, 16 bytes of nibbles
    Q4_1, // ggml block: fp16 scale, fp16 min, 16 bytes of nibbles
    // ggml's K-quants: super-blocks of 256 in sub-blocks with quantized scales (and mins).
    Q4_K, // fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins for 8 × 32, 128 bytes of nibbles
    Q5_K, // as Q4_K plus 32 bytes of fifth bits
    Q6_K, // 128 bytes of low nibbles, 64 of high 2 bits, 16 int8 scales for 16 × 16, fp16 d
};

// Elements per block (1 for plain types) and bytes per block.
struct DTypeInfo {
    const char *name;
    int block_elems;
    int block_bytes;
};
const DTypeInfo &dtype_info(DType t);
// f32, f16 and bf16: one element a block, no constants.
constexpr bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }
inline const char *dtype_name(DType t) { return dtype_info(t).name; }
bool dtype_from_name(std::string_view name, DType *out);

// Bytes for n elements (n must be a multiple of the block size for block types).
size_t dtype_bytes(DType t, size_t n);

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t f32_to_bf16(float f) { // round to nearest even; NaN stays NaN
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1);
    return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// The fields of stored blocks: little-endian, at any alignment (as on every CPU the kernels target).
inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Converts n elements of type t at src to float. For block types n must be a multiple of the block.
// The portable reference that the SIMD kernels (lib/kernels) are tested against.
void to_f32(DType t, const void *src, float *dst, size_t n);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block's 12 packed bytes.
inline void k_scale_min(const uint8_t *q, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// ggml's Q2_K (84-byte blocks) and Q3_K (110-byte blocks) of 256 elements, which rwkvrt only decodes
// (GGUF files holding them are dequantized at load). n must be a multiple of 256.
constexpr size_t kQ2KBlockBytes = 84, kQ3KBlockBytes = 110;
void dequantize_q2_k(const uint8_t *src, float *dst, size_t n);
void dequantize_q3_k(const uint8_t *src, float *dst, size_t n);

// The index of the first NaN or infinite element of n elements of type t at src (for block types, the
// first element of the first block whose constants are not finite), or n if all are finite.
size_t first_nonfinite(DType t, const void *src, size_t n);

} // namespace rwkvrt
