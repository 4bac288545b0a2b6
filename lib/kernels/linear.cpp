#include "kernels/matrix.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/dot.h"

namespace rwkvrt {

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor>;
using Map = Eigen::Map<RowMajor>;

// Rows of a non-f32 matrix converted per tile for the BLAS product: big enough to keep sgemm
// efficient, small enough to stay in cache.
constexpr int64_t kTileRows = 128;

void matvec(const Matrix &W, const float *x, float *y, int n_threads) {
    const DotFn dot = dot_kernel(W.dtype);
    const int64_t rows = W.rows;
    const size_t rb = W.row_bytes();
    // Small products are not worth waking threads for.
    const int threads = W.nbytes() < (1u << 18) ? 1 : n_threads;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; ++r) y[r] = dot(W.data + size_t(r) * rb, x, W.cols);
}

} // namespace

void linear(const Matrix &W, const float *X, int64_t T, float *Y, int n_threads) {
    if (T == 1) {
        matvec(W, X, Y, n_threads);
        return;
    }
    ConstMap x(X, T, W.cols);
    Map y(Y, T, W.rows);
    if (W.dtype == DType::F32) {
        y.noalias() = x * ConstMap(reinterpret_cast<const float *>(W.data), W.rows, W.cols).transpose();
        return;
    }
    std::vector<float> tile(size_t(std::min(kTileRows, W.rows) * W.cols));
    for (int64_t r0 = 0; r0 < W.rows; r0 += kTileRows) {
        const int64_t n = std::min(kTileRows, W.rows - r0);
        to_f32(W.dtype, W.row(r0), tile.data(), size_t(n * W.cols));
        y.middleCols(r0, n).noalias() = x * ConstMap(tile.data(), n, W.cols).transpose();
    }
}

void gather_rows(const Matrix &W, const int32_t *ids, int64_t T, float *Y) {
    for (int64_t t = 0; t < T; ++t) to_f32(W.dtype, W.row(ids[t]), Y + t * W.cols, size_t(W.cols));
}

namespace {

void quantize_q8_0_row(const float *x, int64_t n, uint8_t *out) {
    for (int64_t b = 0; b < n / 32; ++b, x += 32, out += 34) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const uint16_t dh = f32_to_f16(d);
        const float inv = d != 0 ? 1.0f / d : 0.0f;
        out[0] = uint8_t(dh & 0xff);
        out[1] = uint8_t(dh >> 8);
        for (int j = 0; j < 32; ++j) out[2 + j] = uint8_t(int8_t(std::lround(x[j] * inv)));
    }
}

} // namespace

Matrix convert_matrix(const Matrix &src, DType dtype, const char *what) {
    const int block = dtype_info(dtype).block_elems;
    if (src.cols % block != 0)
        fail(RWKVRT_ERR_UNSUPPORTED, "cannot store ", what, " as ", dtype_name(dtype), ": its ", src.cols,
             " columns are not a multiple of the block size ", block);
    Matrix out;
    out.rows = src.rows;
    out.cols = src.cols;
    out.dtype = dtype;
    out.owned.resize(dtype_bytes(dtype, size_t(src.rows * src.cols)));
    out.data = out.owned.data();
    std::vector<float> row(size_t(src.cols));
    for (int64_t r = 0; r < src.rows; ++r) {
        to_f32(src.dtype, src.row(r), row.data(), row.size());
        uint8_t *dst = out.owned.data() + size_t(r) * out.row_bytes();
        switch (dtype) {
        case DType::F32:
            std::memcpy(dst, row.data(), row.size() * 4);
            break;
        case DType::F16:
            for (int64_t c = 0; c < src.cols; ++c) {
                const uint16_t h = f32_to_f16(row[size_t(c)]);
                std::memcpy(dst + 2 * c, &h, 2);
            }
            break;
        case DType::BF16:
            for (int64_t c = 0; c < src.cols; ++c) {
                const uint16_t h = f32_to_bf16(row[size_t(c)]);
                std::memcpy(dst + 2 * c, &h, 2);
            }
            break;
        case DType::Q8_0:
            quantize_q8_0_row(row.data(), src.cols, dst);
            break;
        default:
            fail(RWKVRT_ERR_UNSUPPORTED, "cannot convert weights to ", dtype_name(dtype));
        }
    }
    return out;
}

} // namespace rwkvrt
