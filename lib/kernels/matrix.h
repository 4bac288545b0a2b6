// A weight matrix in any storage type, and the one operation the forward passes apply to it.
// Forward passes never look at the element type: a new type (or a faster kernel for one) is added
// here and in kernels/linear.cpp without touching lib/arch.
#pragma once

#include <cstdint>
#include <span>
#include "core/dtype.h"
#include "core/page_buffer.h"
#include "kernels/matvec_job.h"

namespace rwkvrt {

class ThreadPool;

// y = W·x with W stored row-major as (rows = outputs, cols = inputs), like torch's nn.Linear weight.
struct Matrix {
    int64_t rows = 0;
    int64_t cols = 0;
    DType dtype = DType::F32;
    const uint8_t *data = nullptr; // rows × cols elements; into the mapped file or into `owned`
    PageBuffer owned;
    // Generation rounds the activations to int8 blocks for integer dot products (q8_0 and q4_0 on CPUs
    // with AVX2; kernels/dot_int8.h); other types and CPUs keep fp32 activations.
    bool int8_activations = false;
    // Steps of two or more rows do the same with integer matrix products (block types on CPUs with
    // AVX2 or AVX512-VNNI; kernels/gemm_int8.h).
    bool int8_products = false;
    // data holds the rows interleaved in groups of 16 for the int8 kernels (kernels/gemm_int8.h).
    bool interleaved = false;
    // data holds the rows in groups of kLaneRows with their elements side by side, for the fp32 kernels
    // and bf16 products (to_lanes below); row() is then meaningless.
    bool lanes = false;
    // Steps of 16 rows or more round the activations and weights to bf16 for vdpbf16ps (bf16 and f16
    // weights on CPUs with AVX512-BF16; kernels/gemm_bf16.h).
    bool bf16_products = false;

    size_t row_bytes() const { return dtype_bytes(dtype, size_t(cols)); }
    const uint8_t *row(int64_t r) const { return data + size_t(r) * row_bytes(); }
    size_t nbytes() const { return size_t(rows) * row_bytes(); }
};

// Matrices of at most this many rows (RWKV-7's LoRA projections) have a product of their own, which reads rows.
constexpr int64_t kFewRows = 128;

// The fp32 kernels of block-type matrices (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) read them best with the rows
// in the lanes: stored in groups of kLaneRows rows, and per group and block, each field of the block
// (scales, codes) with byte k of the 16 rows side by side ([k][row]; linear.cpp's LanesType has each
// type's; float types have element k of the 16 rows side by side, bf16 pairs of elements, as
// vdpbf16ps takes them). The same bytes as the file, in another order. One row (a conversation decoding) then streams
// the weights as the row-by-row mat-vec would, yet every output adds in the matrix product's order, so a
// row gets the same bits alone as in any batch.
constexpr int64_t kLaneRows = 16;
// A block-type matrix with more than kFewRows rows, a multiple of kLaneRows, still stored by rows.
bool lanes_layout_applies(const Matrix &W);
// A copy in the lanes layout: of a type lanes_layout_applies() names, rows whole groups of kLaneRows,
// float rows whole blocks of 16 (the load's small low-rank matrices take it too, however few their rows).
Matrix to_lanes(const Matrix &W, ThreadPool &pool);
// Rows [row0, row1) of W (whole groups), stored by rows at `rows`, written in the lanes layout where
// they lie in W.data (writable memory; requires lanes_layout_applies(W)). The load (model/load_pass.h)
// does this a few groups at a time, while the rows it has just read are in cache.
void write_rows_as_lanes(const Matrix &W, int64_t row0, int64_t row1, const uint8_t *rows);

// Y (T × W.rows) = X (T × W.cols) · Wᵀ, all row-major fp32 activations, on the pool's threads. T = 1
// is a matrix-vector product (one conversation decoding); T > 1 a matrix product (prefill, or many
// conversations decoding together).
void linear(const Matrix &W, const float *X, int64_t T, float *Y, ThreadPool &pool);
// One of the products linear_group() runs: Y (T × W.rows) = X (T × W.cols) · Wᵀ.
struct Product {
    const Matrix &W;
    const float *X;
    float *Y;
};
// linear() of each product, none of which reads what another writes. As mat-vecs they run as one job
// on the pool, a single hand-off for all (kernels/matvec_job.h): a decoding step's products of one
// layer that need only its inputs. Matrix products run one after another, each on all the threads.
void linear_group(std::span<const Product> products, int64_t T, ThreadPool &pool);
// Whether linear() runs a step of T rows as mat-vecs: one row, unless a scope below routes it otherwise.
bool matvec_route(int64_t T);
// y = W·x as a job of units of rows (kernels/matvec_job.h), the job linear() runs on that route; what
// its units read besides W (x rounded to int8) goes into the pool's shared buffer `slot`. For a
// caller that runs some of a product's rows within a job of its own (arch/rwkv7.cpp).
MatVecJob matvec_job(const Matrix &W, const float *x, float *y, ThreadPool &pool, size_t slot);
// A matrix-vector product (or a group of them, linear_group) over fewer bytes of weights than this runs
// on the calling thread alone. At 32 KiB a hand-off costs about what the other threads save; RWKV-7's
// LoRA matrices (128 KiB at 1.5B) used to run alone at 256 KiB while the others waited (2 threads,
// q4_0, tok/s, with the recurrence's change in wkv.cpp: 0.1B 290–307 → 316–350, 0.4B 109–118 →
// 119–124, 1.5B 33–41 → 36–48).
constexpr size_t kMatVecOneThreadBytes = size_t(32) << 10;

// While one is alive on a thread (the latest one, for a feed nested in another's progress callback),
// linear() called from that thread with `on` takes one route for every T, so a row gets the same bits
// in a step of any size (rwkvrt_feed_options::batch_invariant): T = 1 as a matrix product of one row,
// at the cost of the mat-vec's speed, and bf16 products at every T when the matrix has them.
class BatchInvariantScope {
public:
    explicit BatchInvariantScope(bool on);
    ~BatchInvariantScope();
    BatchInvariantScope(const BatchInvariantScope &) = delete;
    BatchInvariantScope &operator=(const BatchInvariantScope &) = delete;

private:
    bool previous_;
};

// While one is alive on a thread, linear() called from that thread routes its products (mat-vec or
// matrix product, bf16 or fp32 products) as for a step of `rows` rows, whatever T it is given: the rows
// a step's last layer finishes on their own (arch/blocks.h, StepTail) keep the bits the whole step
// would give them.
class StepRowsScope {
public:
    explicit StepRowsScope(int64_t rows);
    ~StepRowsScope();
    StepRowsScope(const StepRowsScope &) = delete;
    StepRowsScope &operator=(const StepRowsScope &) = delete;

private:
    int64_t previous_;
};

// Y (T × cols) = the rows `ids` of W, as fp32 (embedding lookup).
void gather_rows(const Matrix &W, const int32_t *ids, int64_t T, float *Y);

// A copy of src converted to dtype (any type quantize_row writes), on the pool's threads; cols must be a
// multiple of the block size for block types (throws RWKVRT_ERR_UNSUPPORTED naming `what` otherwise).
Matrix convert_matrix(const Matrix &src, DType dtype, const char *what, ThreadPool &pool);

} // namespace rwkvrt
