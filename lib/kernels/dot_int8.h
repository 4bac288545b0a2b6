// Integer dot products for generation: the activation vector is rounded once per mat-vec to int8 in
// blocks of 32 (one fp32 scale per block), and each q8_0 / q4_0 / q4_1 / q5_0 / q5_1 / q6_k weight row is
// multiplied with it in integer arithmetic (AVX512-VNNI vpdpbusd, or AVX2 maddubs + madd). The default
// for block-quantized weights; rounding the activations changes the logits slightly (docs/QUANTIZATION.md).
//
// Every level returns the same bits: the integer sum Σ = Σ (u − offset)·q of each block is exact, and
// the fp32 part is fixed: block b adds (d_w·d_x)·Σ into accumulator b mod 8 with one fused
// multiply-add (affine types, q4_1 and q5_1, whose element is d·u + m, then add (m_w·d_x)·Σq with
// another), and the eight accumulators are summed as ((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7)).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace rwkvrt {

// A vector of n = 32·blocks elements as int8 blocks: element i ≈ d[i/32]·q[i]; sum[b] = Σ q of block b
// (q4_0 stores its quants with an offset of 8 and subtracts 8·sum), and sum16[j] = Σ q of elements
// 16j .. 16j + 15 (Q6_K's sub-blocks: its offset of 32, subtracted once per row from these, not per
// product).
struct Int8Vector {
    const int8_t *q;
    const float *d;
    const int32_t *sum;
    const int32_t *sum16;
    int64_t n;
};

// Bytes of the buffer quantize_activations() fills for n elements.
size_t int8_vector_bytes(int64_t n);

// Ordered: a CPU runs every level up to int8_level(). AvxVnni is Avx2's kernels with the prompt GEMM's
// tiles summing by vpdpbusd on 256-bit vectors (gemm_int8.cpp); it is AVX-VNNI's VEX form, or on CPUs
// with AVX512-VNNI (which reach it when asked for it, as the tests do) the same instruction's EVEX form.
enum class Int8Level { None, Avx2, AvxVnni, Avx512Vnni };

// The best level this CPU runs, or None (then the fp32 kernels are used).
Int8Level int8_level();
// Avx2 and AvxVnni: the levels that run the AVX2 kernels.
inline bool avx2_kernels(Int8Level level) { return level == Int8Level::Avx2 || level == Int8Level::AvxVnni; }

// Rounds x (n a multiple of 32) into `buffer` (int8_vector_bytes(n), 64-byte aligned): per block
// d = max|x|/127, q = x·(1/d) rounded to nearest even, so |q| ≤ 127. Every level gives the same bits
// (None is the scalar reference); `level` ≤ int8_level().
Int8Vector quantize_activations(const float *x, int64_t n, void *buffer, Int8Level level = int8_level());

using DotInt8Fn = float (*)(const uint8_t *row, const Int8Vector &x);

// The kernel for dtype at `level` (≤ int8_level()): Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q6_K (the head of
// most Q4 GGUF files) at both levels; nullptr otherwise (the fp32 kernels, or interleaved rows, are used).
DotInt8Fn dot_int8_kernel(DType dtype, Int8Level level);

// Q6_K's contract, shared by its kernel and the tests' reference: per super-block, the 16 exact
// integer sums Σ q·x of its sub-blocks (q = 6-bit quant − 32) sit in lanes (lane 4k + j holds sub-block
// q6_k_sub_of_lane(4k + j) = 4j + k); lane l accumulates fma(scale[l], sum, acc[l]) over the super-blocks
// in order, with q6_k_lane_scales' scale = (d·sc)·d_x; q6_k_sum_lanes adds the 16 lanes in a fixed order.
int q6_k_sub_of_lane(int lane);
void q6_k_lane_scales(const uint8_t *block, const float *x_scales, float scale[16]);
float q6_k_sum_lanes(const float lanes[16]);

} // namespace rwkvrt
