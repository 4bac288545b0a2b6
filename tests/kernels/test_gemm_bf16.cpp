// The bf16-product GEMM (kernels/gemm_bf16.h) against a scalar reference of its contract, on CPUs
// with AVX512-BF16; elsewhere it is never chosen, and these tests report a skip.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "exec/thread_pool.h"
#include "kernels/gemm_bf16.h"
#include "kernels/matrix.h"

using namespace rwkvrt;

namespace {

bool skip_without_bf16() {
    if (bf16_products_supported()) return false;
    std::printf("rwkvrt-test-skipped: this CPU has no AVX512-BF16\n");
    return true;
}

float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// The contract: every product of bf16-rounded activations and weights, summed exactly (double), is
// what vdpbf16ps approximates with fp32 accumulation; the bound is a few fp32 ulps of Σ|products|.
void check_against_reference(const Matrix &W, const std::vector<float> &X, int64_t T, const std::vector<float> &Y) {
    const int64_t K = W.cols;
    std::vector<float> w(static_cast<size_t>(K)), row(static_cast<size_t>(K));
    for (int64_t n = 0; n < W.rows; ++n) {
        to_f32(W.dtype, W.row(n), row.data(), row.size());
        for (int64_t k = 0; k < K; ++k) w[size_t(k)] = bf16_round(row[size_t(k)]);
        for (int64_t t = 0; t < T; ++t) {
            double sum = 0, magnitude = 0;
            for (int64_t k = 0; k < K; ++k) {
                const double p = double(w[size_t(k)]) * double(bf16_round(X[size_t(t * K + k)]));
                sum += p;
                magnitude += std::fabs(p);
            }
            const double got = Y[size_t(t * W.rows + n)];
            REQUIRE_MESSAGE(std::isfinite(got), "row ", n, " token ", t);
            REQUIRE_MESSAGE(std::fabs(got - sum) <= 1e-5 * magnitude + 1e-30, "row ", n, " token ", t, ": ", got, " vs ", sum);
        }
    }
}

Matrix random_matrix(DType t, int64_t rows, int64_t cols, std::mt19937 &rng, std::vector<float> &as_f32) {
    std::normal_distribution<float> normal(0.0f, 0.5f);
    as_f32.resize(size_t(rows * cols));
    for (float &v : as_f32) v = normal(rng);
    Matrix f32;
    f32.rows = rows;
    f32.cols = cols;
    f32.data = reinterpret_cast<const uint8_t *>(as_f32.data());
    if (t == DType::F32) return f32;
    static ThreadPool converting(2);
    return convert_matrix(f32, t, "test", converting);
}

} // namespace

TEST_CASE("kernels: the bf16-product GEMM matches its scalar contract for every weight type, odd sizes and thread counts") {
    if (skip_without_bf16()) return;
    std::mt19937 rng(5);
    struct Shape {
        int64_t rows, cols, T;
    };
    for (DType t : {DType::BF16, DType::F16, DType::F32, DType::Q8_0}) {
        for (const Shape s : {Shape{7, 64, 2}, Shape{50, 96, 33}, Shape{61, 512, 70}, Shape{13, 33, 5}, Shape{100, 800, 3},
                                Shape{200, 64, 37}}) { // the last: whole 16 × 16 blocks of the write-back, and its edges
            if (dtype_info(t).block_elems > 1 && s.cols % dtype_info(t).block_elems) continue;
            CAPTURE(std::string(dtype_name(t)));
            CAPTURE(s.rows);
            CAPTURE(s.cols);
            CAPTURE(s.T);
            std::vector<float> w32;
            const Matrix W = random_matrix(t, s.rows, s.cols, rng, w32);
            std::normal_distribution<float> normal;
            std::vector<float> X(size_t(s.T * s.cols));
            for (float &v : X) v = normal(rng);
            for (int threads : {1, 2, 3}) {
                ThreadPool pool(threads);
                std::vector<float> Y(size_t(s.T * s.rows), NAN);
                gemm_bf16(W, X.data(), s.T, Y.data(), pool);
                check_against_reference(W, X, s.T, Y);
            }
        }
    }
}

TEST_CASE("kernels: the bf16-product GEMM gives a row the same bits whatever the other rows") {
    if (skip_without_bf16()) return;
    std::mt19937 rng(6);
    std::vector<float> w32;
    const Matrix W = random_matrix(DType::BF16, 77, 640, rng, w32);
    std::normal_distribution<float> normal;
    std::vector<float> X(size_t(70 * 640));
    for (float &v : X) v = normal(rng);
    ThreadPool pool(2);
    std::vector<float> all(size_t(70 * 77)), two(size_t(2 * 77));
    gemm_bf16(W, X.data(), 70, all.data(), pool);
    for (int64_t t : {0, 31, 32, 68}) {
        gemm_bf16(W, X.data() + t * 640, 2, two.data(), pool);
        CHECK(std::memcmp(two.data(), all.data() + t * 77, 2 * 77 * sizeof(float)) == 0);
    }
}

TEST_CASE("kernels: the bf16-product GEMM gives a matrix in the lanes the bits of its rows, at every row count") {
    if (skip_without_bf16()) return;
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    struct Shape {
        int64_t rows, cols;
    };
    // 208 rows end in a chunk of one group; 272 and 800 inputs in a part block.
    for (DType t : {DType::BF16, DType::F16}) {
        for (const Shape s : {Shape{144, 64}, Shape{208, 272}, Shape{320, 800}, Shape{1040, 256}}) {
            CAPTURE(std::string(dtype_name(t)));
            CAPTURE(s.rows);
            CAPTURE(s.cols);
            std::vector<float> w32;
            Matrix W = random_matrix(t, s.rows, s.cols, rng, w32);
            if (t == DType::F16) // subnormal f16 weights, normal once in bf16
                for (int64_t k = 0; k < s.cols; k += 7) std::memcpy(const_cast<uint8_t *>(W.row(3)) + 2 * k, "\x05\x00", 2);
            REQUIRE(lanes_layout_applies(W));
            ThreadPool converting(2);
            const Matrix lanes = to_lanes(W, converting);
            std::vector<float> X(size_t(70 * s.cols));
            for (float &v : X) v = normal(rng);
            X[5] = 1e-40f; // a denormal activation, rounded by the same conversion in both
            X[6] = 3e38f;
            for (int threads : {1, 2, 3}) {
                ThreadPool pool(threads);
                for (int64_t T : {1, 2, 5, 6, 7, 13, 33, 70}) {
                    CAPTURE(threads);
                    CAPTURE(T);
                    std::vector<float> by_rows(size_t(T * s.rows), NAN), in_lanes(size_t(T * s.rows), NAN);
                    gemm_bf16(W, X.data(), T, by_rows.data(), pool);
                    gemm_bf16(lanes, X.data(), T, in_lanes.data(), pool);
                    // Both start as NaN: equal bytes must also be written ones.
                    CHECK(std::none_of(by_rows.begin(), by_rows.end(), [](float v) { return std::isnan(v); }));
                    CHECK(std::memcmp(by_rows.data(), in_lanes.data(), by_rows.size() * sizeof(float)) == 0);
                }
            }
        }
    }
}

TEST_CASE("kernels: the bf16-product GEMM rounds activations as f32_to_bf16: ties to even, the largest denormal up to a normal") {
    // Identity weights: output n of a token is its input n rounded to bf16, exactly (the other products
    // are zeros), or zero where that is a denormal, which vdpbf16ps takes as zero. 67 inputs: two
    // vectors of 32 and an odd tail; 17 tokens take the bf16 products.
    if (skip_without_bf16()) return;
    const int64_t K = 67, T = 17;
    std::vector<float> eye(size_t(K * K), 0.0f);
    for (int64_t n = 0; n < K; ++n) eye[size_t(n * K + n)] = 1.0f;
    Matrix f32;
    f32.rows = f32.cols = K;
    f32.data = reinterpret_cast<const uint8_t *>(eye.data());
    ThreadPool pool(2);
    const Matrix W = convert_matrix(f32, DType::BF16, "identity", pool);
    const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f808001u, 0x3f807fffu, 0x007fffffu, 0x80400000u,
                                0x00000001u, 0x7f7f7fffu, 0x00800000u, 0x80000000u};
    std::mt19937 rng(8);
    std::normal_distribution<float> normal;
    std::vector<float> X(size_t(T * K));
    for (float &v : X) v = normal(rng);
    for (int64_t t = 0; t < T; ++t) // the special values at every position within a vector, in turn
        for (size_t i = 0; i < std::size(special); ++i) std::memcpy(&X[size_t(t * K + (t * 5 + int64_t(i) * 6) % K)], &special[i], 4);
    std::vector<float> Y(size_t(T * K));
    gemm_bf16(W, X.data(), T, Y.data(), pool);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < K; ++n) {
            const float x = X[size_t(t * K + n)], want = bf16_to_f32(f32_to_bf16(x));
            CAPTURE(t);
            CAPTURE(n);
            CAPTURE(x);
            if (std::fpclassify(want) == FP_SUBNORMAL || want == 0) CHECK(Y[size_t(t * K + n)] == 0.0f); // vdpbf16ps takes them as 0
            else CHECK(std::memcmp(&Y[size_t(t * K + n)], &want, 4) == 0);
        }
}
