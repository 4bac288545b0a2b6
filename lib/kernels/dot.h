// Dot products of one stored weight row with an fp32 vector, one function per storage type.
// Picked once per matrix; the SIMD variant is chosen at run time for the machine (kernels/dot.cpp).
// The result is the dot of the row as to_f32 converts it, up to the order of the additions.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace rwkvrt {

using DotFn = float (*)(const uint8_t *row, const float *x, int64_t n);

DotFn dot_kernel(DType dtype);

} // namespace rwkvrt
