// Bulk conversions between stored elements and fp32 with the machine's SIMD: the same values as
// to_f32, f32_to_f16 and f32_to_bf16 (core/dtype.h), which stay the portable reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace rwkvrt {

// Converts n elements of type t at src to float. For block types n must be a multiple of the block.
void convert_to_f32(DType t, const void *src, float *dst, size_t n);

// Converts n floats to t, which must be f32, f16 or bf16 (rounding to nearest even).
void convert_from_f32(DType t, const float *src, void *dst, size_t n);

// n f16 values to bf16, rounded as f32_to_bf16(f16_to_f32(h)).
void convert_f16_to_bf16(const void *src, uint16_t *dst, size_t n);

} // namespace rwkvrt
