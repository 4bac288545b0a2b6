// Rounding fp32 rows to a storage type, for writing files (GGUF) and converting weights at load.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace rwkvrt {

// Rounds n floats (one row; n a multiple of t's block) to type t at out (dtype_bytes(t, n) bytes).
// f32, f16, bf16: round to nearest even. q8_0 and q4_0: ggml's reference rounding. q4_k, q5_k, q6_k:
// each sub-block's scale (and min) from its range, then 6- or 8-bit scales of the super-block's
// largest; simpler than ggml's searched scales (slightly larger error), the same layout.
// Throws Error(RWKVRT_ERR_UNSUPPORTED) for q4_1, q5_0, q5_1, which it does not write.
void quantize_row(DType t, const float *x, uint8_t *out, size_t n);

} // namespace rwkvrt
