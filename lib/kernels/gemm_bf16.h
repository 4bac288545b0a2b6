// Matrix products with bf16 products, for steps of 16 rows or more (prefill, batched decoding) when
// a model is loaded with activations = "bf16": the activations and the weights are rounded to bf16
// (exact for bf16 weights; f16 weights lose their three lowest mantissa bits), and AVX512-BF16's
// vdpbf16ps multiplies pairs of them into fp32 accumulators: twice the multiply-adds per instruction
// of the fp32 GEMM. Intrinsics in functions with their own target attributes, since Debian's Highway
// (1.0.3) compiles no target with AVX512-BF16.
//
// The order of additions of one output does not depend on the number of rows (pairs in order within
// blocks of 256 inputs, blocks in order), so a sequence gets the same bits in any step that takes bf16
// products (linear() decides which do), as with the fp32 GEMM.
#pragma once

#include <cstdint>

namespace rwkvrt {

struct Matrix;
class ThreadPool;

// Whether this CPU runs vdpbf16ps (AVX512-BF16 with AVX512F/BW).
bool bf16_products_supported();

// Y (T × W.rows) = X (T × W.cols) · Wᵀ with bf16 products; W of any dense or block type by rows, or
// f16 or bf16 in the lanes (Matrix::lanes), with the same bits. Requires bf16_products_supported().
void gemm_bf16(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool);

} // namespace rwkvrt
