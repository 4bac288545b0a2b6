// The integer-product GEMM (kernels/gemm_int8.h): its block codes against the scalar dequantizer,
// and the kernel bit for bit against a scalar reference of its contract at every level this CPU runs
// (AVX2, AVX512-VNNI); the interleaved layouts on CPUs with AVX512-VNNI. Where a level is missing, its
// tests report a skip.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/dtype.h"
#include "exec/thread_pool.h"
#include "kernels/dot_int8.h"
#include "kernels/gemm_int8.h"
#include "kernels/matrix.h"

using namespace rwkvrt;

namespace {

const DType kCodedTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_1,
                             DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// The levels of gemm_int8 this CPU runs.
std::vector<Int8Level> int8_levels() {
    std::vector<Int8Level> levels;
    for (Int8Level l : {Int8Level::Avx2, Int8Level::AvxVnni, Int8Level::Avx512Vnni})
        if (l <= int8_level()) levels.push_back(l);
    if (levels.empty()) std::printf("rwkvrt-test-skipped: this CPU has no AVX2\n");
    return levels;
}

const char *level_name(Int8Level l) {
    switch (l) {
    case Int8Level::Avx2: return "AVX2";
    case Int8Level::AvxVnni: return cpu_features().avx_vnni ? "AVX-VNNI" : "AVX-VNNI's kernels, vpdpbusd in its EVEX form";
    default: return "AVX512-VNNI";
    }
}

void put_f16(uint8_t *p, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// Random bytes for every quant, with finite fp16 constants: every code and scale a file may hold.
std::vector<uint8_t> random_blocks(DType t, size_t n_blocks, std::mt19937 &rng) {
    const DTypeInfo &info = dtype_info(t);
    std::vector<uint8_t> bytes(n_blocks * size_t(info.block_bytes));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
    for (uint8_t &b : bytes) b = uint8_t(byte(rng));
    for (size_t i = 0; i < n_blocks; ++i) {
        uint8_t *b = bytes.data() + i * size_t(info.block_bytes);
        if (t == DType::Q6_K) {
            put_f16(b + 208, scale(rng));
            continue;
        }
        put_f16(b, scale(rng));
        if (t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K) put_f16(b + 2, scale(rng));
    }
    return bytes;
}

struct CodedRow {
    std::vector<uint8_t> u;
    std::vector<float> a, m;
};

CodedRow decode_row(DType t, const uint8_t *row, size_t K, const BlockCodeLayout &layout) {
    const DTypeInfo &info = dtype_info(t);
    const size_t be = size_t(info.block_elems), subs = be / size_t(layout.sub);
    CodedRow r{std::vector<uint8_t>(K), std::vector<float>(K / size_t(layout.sub)), std::vector<float>(K / size_t(layout.sub))};
    for (size_t blk = 0; blk < K / be; ++blk)
        block_codes(t, row + blk * size_t(info.block_bytes), r.u.data() + blk * be, r.a.data() + blk * subs,
                    r.m.data() + blk * subs);
    return r;
}

// The contract of kernels/gemm_int8.h, one output at a time.
float reference_output(const CodedRow &w, const BlockCodeLayout &layout, const Int8Vector &x) {
    float f = 0.0f;
    const size_t sub = size_t(layout.sub);
    for (size_t j = 0; j < w.a.size(); ++j) {
        int32_t uq = 0, sq = 0;
        for (size_t k = j * sub; k < (j + 1) * sub; ++k) {
            uq += int32_t(w.u[k]) * x.q[k];
            sq += x.q[k];
        }
        const float dx = x.d[(j * sub) / 32];
        const float scale = w.a[j] * dx;
        f = std::fma(float(uq - layout.offset * sq), scale, f);
        if (layout.affine) {
            const float sum_dx = float(sq) * dx;
            f = std::fma(w.m[j], sum_dx, f);
        }
    }
    return f;
}

Matrix matrix_of(DType t, int64_t rows, int64_t cols, const std::vector<uint8_t> &bytes) {
    Matrix W;
    W.rows = rows;
    W.cols = cols;
    W.dtype = t;
    W.data = bytes.data();
    return W;
}

} // namespace

TEST_CASE("kernels: block codes reproduce the dequantized weights of every coded type") {
    std::mt19937 rng(11);
    for (DType t : kCodedTypes) {
        const std::string type = dtype_name(t);
        CAPTURE(type);
        BlockCodeLayout layout;
        REQUIRE(block_code_layout(t, &layout));
        CHECK((layout.affine ? layout.offset == 0 : true));
        const size_t be = size_t(dtype_info(t).block_elems);
        const std::vector<uint8_t> blocks = random_blocks(t, 20, rng);
        std::vector<float> expected(20 * be);
        to_f32(t, blocks.data(), expected.data(), expected.size());
        const CodedRow r = decode_row(t, blocks.data(), 20 * be, layout);
        for (size_t i = 0; i < expected.size(); ++i) {
            const size_t j = i / size_t(layout.sub);
            const double got = double(r.a[j]) * (int(r.u[i]) - layout.offset) + (layout.affine ? double(r.m[j]) : 0.0);
            REQUIRE_MESSAGE(std::fabs(got - double(expected[i])) <= 1e-6 * (std::fabs(double(expected[i])) + 1e-3), "element ", i,
                            ": ", got, " vs ", expected[i]);
        }
    }
    BlockCodeLayout layout;
    CHECK_FALSE(block_code_layout(DType::F16, &layout));
    CHECK_FALSE(block_code_layout(DType::BF16, &layout));
    CHECK_FALSE(block_code_layout(DType::F32, &layout));
}

namespace {

// gemm_int8 at every level and thread count against reference_output, bit for bit; for the types
// interleaved at that level, with whole groups of rows, also interleaved, and the mat-vec of each row.
void check_against_contract(const Matrix &W, const std::vector<float> &X, int64_t T, const std::vector<Int8Level> &levels) {
    BlockCodeLayout layout;
    REQUIRE(block_code_layout(W.dtype, &layout));
    std::vector<float> expected(size_t(T * W.rows));
    std::vector<uint8_t> xbuf(int8_vector_bytes(W.cols));
    for (int64_t tok = 0; tok < T; ++tok) {
        const Int8Vector x = quantize_activations(X.data() + tok * W.cols, W.cols, xbuf.data());
        for (int64_t n = 0; n < W.rows; ++n)
            expected[size_t(tok * W.rows + n)] = reference_output(decode_row(W.dtype, W.row(n), size_t(W.cols), layout), layout, x);
    }
    for (Int8Level level : levels)
        for (int threads : {1, 2, 3}) {
            CAPTURE(std::string(level_name(level)));
            CAPTURE(threads);
            ThreadPool pool(threads);
            std::vector<float> Y(size_t(T * W.rows), NAN);
            gemm_int8(W, X.data(), T, Y.data(), pool, level);
            REQUIRE(std::memcmp(Y.data(), expected.data(), Y.size() * sizeof(float)) == 0);
            const bool interleaved_here = W.dtype == DType::Q4_0 || W.dtype == DType::Q4_K || W.dtype == DType::Q5_K || W.dtype == DType::Q6_K ||
                                          (W.dtype == DType::Q8_0 && level == Int8Level::Avx512Vnni);
            if (!interleaved_here || W.rows % int64_t(kInterleavedRows) != 0) continue;
            const Matrix Wi = interleave_rows(W, pool);
            gemm_int8(Wi, X.data(), T, Y.data(), pool, level);
            REQUIRE(std::memcmp(Y.data(), expected.data(), Y.size() * sizeof(float)) == 0);
            for (int64_t tok = 0; tok < T; ++tok) {
                matvec_int8_interleaved(Wi, X.data() + tok * W.cols, Y.data(), pool, level);
                REQUIRE(std::memcmp(Y.data(), expected.data() + tok * W.rows, size_t(W.rows) * sizeof(float)) == 0);
            }
        }
}

} // namespace

TEST_CASE("kernels: the integer-product GEMM matches its scalar contract bit for bit for every coded type, odd sizes, thread counts and levels") {
    const std::vector<Int8Level> levels = int8_levels();
    if (levels.empty()) return;
    std::mt19937 rng(12);
    struct Shape {
        int64_t rows, cols, T;
    };
    CHECK_FALSE(int8_products_supported(DType::F16, int8_level()));
    for (DType t : kCodedTypes) {
        for (Int8Level level : {Int8Level::Avx2, Int8Level::AvxVnni, Int8Level::Avx512Vnni}) CHECK(int8_products_supported(t, level));
        CHECK_FALSE(int8_products_supported(t, Int8Level::None));
        const int64_t be = dtype_info(t).block_elems;
        // 16–64 rows: whole bands of 8, which the few-row kernels read by rows (Q8_0 on AVX2 up to 8
        // activation rows, Q4_1 and Q5_x up to 32, in groups of 4; 9 rows: three groups).
        for (const Shape s : {Shape{7, 256, 2}, Shape{50, 512, 33}, Shape{61, 768, 5}, Shape{33, 256, 70}, Shape{100, 1024, 3},
                              Shape{40, 512, 1}, Shape{48, 256, 2}, Shape{64, 768, 4}, Shape{56, 512, 7}, Shape{16, 256, 8},
                              Shape{24, 256, 9}}) {
            const std::string type = dtype_name(t);
            CAPTURE(type);
            CAPTURE(s.rows);
            CAPTURE(s.cols);
            CAPTURE(s.T);
            const std::vector<uint8_t> bytes = random_blocks(t, size_t(s.rows * s.cols / be), rng);
            std::normal_distribution<float> normal;
            std::vector<float> X(size_t(s.T * s.cols));
            for (float &v : X) v = normal(rng);
            X[0] = 0.0f; // a block of mostly zeros, and a row that is all zeros below
            if (s.T > 2) std::fill_n(X.begin() + s.cols, s.cols, 0.0f);
            check_against_contract(matrix_of(t, s.rows, s.cols, bytes), X, s.T, levels);
        }
    }
}

TEST_CASE("kernels: the integer-product GEMM is exact at the extreme codes and activations, where 16-bit pair sums could saturate") {
    const std::vector<Int8Level> levels = int8_levels();
    if (levels.empty()) return;
    std::mt19937 rng(14);
    const int64_t rows = 48, cols = 512, T = 3;
    // Rows of +1, of −1, and of ±1 alternating: every activation rounds to ±127.
    std::vector<float> X(size_t(T * cols));
    for (int64_t i = 0; i < cols; ++i) {
        X[size_t(i)] = 1.0f;
        X[size_t(cols + i)] = -1.0f;
        X[size_t(2 * cols + i)] = i % 2 ? 1.0f : -1.0f;
    }
    for (DType t : kCodedTypes)
        for (int fill : {0x00, 0x7F, 0x80, 0xFF}) { // with Q8_0: 0, 127, −128, −1; with nibbles: the lowest and highest codes
            const std::string type = dtype_name(t);
            CAPTURE(type);
            CAPTURE(fill);
            const int64_t be = dtype_info(t).block_elems;
            std::vector<uint8_t> bytes = random_blocks(t, size_t(rows * cols / be), rng);
            const std::vector<uint8_t> scales = bytes;
            std::fill(bytes.begin(), bytes.end(), uint8_t(fill));
            // Keep the random blocks' fp16 constants (where random_blocks put them), so that the sums are scaled by finite values.
            const size_t bb = size_t(dtype_info(t).block_bytes);
            for (size_t b = 0; b < bytes.size() / bb; ++b) {
                const size_t at = t == DType::Q6_K ? 208 : 0;
                std::memcpy(bytes.data() + b * bb + at, scales.data() + b * bb + at, 2);
                if (t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K)
                    std::memcpy(bytes.data() + b * bb + 2, scales.data() + b * bb + 2, 2);
            }
            const Matrix W = matrix_of(t, rows, cols, bytes);
            check_against_contract(W, X, T, levels);
            for (int64_t tok = 0; tok < T; ++tok) // one row alone: the few-row kernels
                check_against_contract(W, std::vector<float>(X.begin() + tok * cols, X.begin() + (tok + 1) * cols), 1, levels);
        }
}

TEST_CASE("kernels: the integer-product GEMM gives a row the same bits whatever the other rows") {
    const std::vector<Int8Level> levels = int8_levels();
    std::mt19937 rng(13);
    const std::vector<uint8_t> bytes = random_blocks(DType::Q4_K, 77 * 512 / 256, rng);
    const Matrix W = matrix_of(DType::Q4_K, 77, 512, bytes);
    std::normal_distribution<float> normal;
    std::vector<float> X(size_t(70 * 512));
    for (float &v : X) v = normal(rng);
    ThreadPool pool(2);
    for (Int8Level level : levels) {
        CAPTURE(std::string(level_name(level)));
        std::vector<float> all(size_t(70 * 77)), two(size_t(2 * 77));
        gemm_int8(W, X.data(), 70, all.data(), pool, level);
        for (int64_t t : {0, 31, 32, 68}) {
            gemm_int8(W, X.data() + t * 512, 2, two.data(), pool, level);
            CHECK(std::memcmp(two.data(), all.data() + t * 77, 2 * 77 * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("kernels: interleaved Q8_0, Q4_0, Q4_K, Q5_K and Q6_K rows give the GEMM's bits, and one row alone the bits it gets in any batch, at every level") {
    const std::vector<Int8Level> levels = int8_levels();
    if (levels.empty()) return;
    std::mt19937 rng(15);
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const bool on_avx2 = t != DType::Q8_0; // interleaved on AVX2 too
        for (int64_t rows : {16, 48, 80}) {
            for (int64_t cols : {256, 768}) {
                const std::string type = dtype_name(t);
                CAPTURE(type);
                CAPTURE(rows);
                CAPTURE(cols);
                const std::vector<uint8_t> bytes = random_blocks(t, size_t(rows * cols / dtype_info(t).block_elems), rng);
                const Matrix W = matrix_of(t, rows, cols, bytes);
                REQUIRE(interleavable(W) == (on_avx2 || int8_level() == Int8Level::Avx512Vnni));
                ThreadPool pool(2);
                const Matrix Wi = interleave_rows(W, pool);
                CHECK(Wi.interleaved);
                CHECK_FALSE(interleavable(Wi));
                CHECK(Wi.owned.size() == size_t(rows) / kInterleavedRows * interleaved_group_bytes(W));
                // Steps of up to 4 rows read K-quant groups where they lie; longer ones pack them.
                for (const int64_t T : {2, 3, 4, 9}) {
                    CAPTURE(T);
                    std::normal_distribution<float> normal;
                    std::vector<float> X(size_t(T * cols));
                    for (float &v : X) v = normal(rng);
                    for (Int8Level level : levels) {
                        if (!on_avx2 && level != Int8Level::Avx512Vnni) continue;
                        CAPTURE(std::string(level_name(level)));
                        std::vector<float> plain(size_t(T * rows)), inter(size_t(T * rows)), one(static_cast<size_t>(rows));
                        gemm_int8(W, X.data(), T, plain.data(), pool, level);
                        gemm_int8(Wi, X.data(), T, inter.data(), pool, level);
                        CHECK(std::memcmp(plain.data(), inter.data(), plain.size() * sizeof(float)) == 0);
                        for (int64_t tok = 0; tok < T; ++tok) {
                            matvec_int8_interleaved(Wi, X.data() + tok * cols, one.data(), pool, level);
                            REQUIRE(std::memcmp(one.data(), plain.data() + tok * rows, one.size() * sizeof(float)) == 0);
                        }
                    }
                }
            }
        }
    }
    std::vector<uint8_t> bytes(size_t(7 * 34 * 2));
    CHECK_FALSE(interleavable(matrix_of(DType::Q8_0, 7, 64, bytes)));
    CHECK_FALSE(interleavable(matrix_of(DType::Q5_0, 16, 64, bytes)));
}
