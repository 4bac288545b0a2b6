// Matrix products with integer products, for steps of two or more rows (prefill, batched decoding)
// when a model is loaded with activations = "int8" and a weight matrix is of a block type: each
// activation row is rounded to int8 in blocks of 32 (as for generation, kernels/dot_int8.h), each
// weight block is decoded to unsigned 8-bit codes with per-sub-block constants, and AVX512-VNNI's
// vpdpbusd multiplies 64 pairs of bytes per instruction: four times the multiply-adds of the fp32 GEMM.
// CPUs with AVX2 and no AVX512-VNNI run the same contract with vpmaddubsw and vpmaddwd.
//
// The contract, shared by the kernel and its test's reference: for weight row n and activation row t,
// f = 0; for each sub-block j in order, with the codes u, the activation quants q (|q| ≤ 127) and d_x
// the scale of q's 32-block:
//     s = Σ u·q − offset·Σ q                          (exact, int32)
//     f = fma(float(s), a_j·d_x, f)
//     f = fma(m_j, float(Σ q)·d_x, f)                  (affine types only)
// The result does not depend on the number of rows, so a sequence gets the same bits alone or in any
// batch of steps of two or more rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/dot_int8.h"
#include "kernels/matvec_job.h"

namespace rwkvrt {

struct Matrix;
class ThreadPool;

// How a block type decodes to codes: element i of a block = a[i / sub]·(u[i] − offset) + m[i / sub],
// u in [0, 255]; m is 0 unless `affine`.
struct BlockCodeLayout {
    int sub;    // elements per sub-block: 16 (Q6_K) or 32
    int offset; // subtracted from every code: 128 (Q8_0), 8 (Q4_0), 16 (Q5_0), 32 (Q6_K), else 0
    bool affine;
};

// Whether dtype has codes (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), and their layout.
bool block_code_layout(DType dtype, BlockCodeLayout *layout);

// Decodes one stored block of dtype: its block_elems codes into u, and per sub-block a and m.
void block_codes(DType dtype, const uint8_t *block, uint8_t *u, float *a, float *m);

// Whether gemm_int8 runs W of this type at `level` (AVX2 or AVX512-VNNI, and a type with codes).
bool int8_products_supported(DType dtype, Int8Level level = int8_level());

// Y (T × W.rows) = X (T × W.cols) · Wᵀ with int8 activations; requires int8_products_supported(W.dtype,
// level). Every level gives the same bits; `level` (≤ int8_level()) is there for the tests, and an
// interleaved Q8_0 needs AVX512-VNNI.
void gemm_int8(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool, Int8Level level = int8_level());

// Q4_0, Q4_K, Q5_K and Q6_K matrices with int8 products (and Q8_0 ones with AVX512-VNNI) are stored at
// load with their rows interleaved in groups of kInterleavedRows, the layout the kernels stream at full
// width: per group and block, the 16 fp16 scales, then the codes as 64-byte vectors of four consecutive codes of each row (q8_0: eight vectors
// of q + 128; q4_0: four vectors of the stored bytes, low nibbles for elements 4c.., high for 16 + 4c..).
// The same bytes as the file, in another order; row() is then meaningless.
// Q4_K super-blocks of 16 rows hold d and dmin (16 fp16 each), the 6-bit scales and mins unpacked to
// bytes ([sub-block][row] each), then the nibbles as 32 vectors of four bytes per row: 2,368 bytes
// instead of 2,304. Q5_K's also hold the fifth bits as 8 vectors before the nibbles: 2,880 for 2,816.
// Q6_K's hold d, the int8 scales as [sub-block][row], then ql's 32 and qh's 16 vectors of four bytes per
// row in the order the kernels first read them (gemm_int8.cpp's Q6KLow/Q6KHigh): the file's 3,360.
constexpr size_t kInterleavedRows = 16, kQ4KGroupBlockBytes = 2368, kQ5KGroupBlockBytes = 2880;
// Q4_0, Q4_K, Q5_K or Q6_K (and, with AVX512-VNNI, Q8_0), rows a multiple of 16, not interleaved yet.
bool interleavable(const Matrix &W);
Matrix interleave_rows(const Matrix &W, ThreadPool &pool);          // a copy in the interleaved layout; requires interleavable(W)
size_t interleaved_group_bytes(const Matrix &W); // bytes of one group of 16 rows

// y = W·x for an interleaved W, with the GEMM's contract for one row (the same bits as gemm_int8 gives
// that row in any batch, at any level); `level` as for gemm_int8: an interleaved Q8_0 needs AVX512-VNNI.
void matvec_int8_interleaved(const Matrix &W, const float *x, float *y, ThreadPool &pool, Int8Level level = int8_level());
// The same as a job (kernels/matvec_job.h), with x rounded into the pool's shared buffer `slot`.
MatVecJob matvec_int8_interleaved_job(const Matrix &W, const float *x, float *y, ThreadPool &pool, size_t slot,
                                      Int8Level level = int8_level());

} // namespace rwkvrt
