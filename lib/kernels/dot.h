// Dot products of one stored weight row with an fp32 vector, one function per storage type.
// Picked once per matrix; the SIMD variant is chosen at run time for the machine (kernels/dot.cpp).
// The result is the dot of the row as to_f32 converts it, up to the order of the additions.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace rwkvrt {

using DotFn = float (*)(const uint8_t *row, const float *x, int64_t n);

DotFn dot_kernel(DType dtype);

// out[0], out[1] = the dots of row0 and row1 with x, loading x once for both; each has the bits
// dot_kernel(dtype) gives it. For f32, f16 and bf16 rows (nullptr for the others): rows of 8,192 f16
// fill the L1 with their 32 KB x, and one row at a time then streams at half speed (docs/PERFORMANCE.md).
using DotPairFn = void (*)(const uint8_t *row0, const uint8_t *row1, const float *x, int64_t n, float out[2]);

DotPairFn dot_pair_kernel(DType dtype);

} // namespace rwkvrt
