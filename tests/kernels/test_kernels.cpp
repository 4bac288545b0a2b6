#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "exec/thread_pool.h"
#include "kernels/activation.h"
#include "kernels/convert.h"
#include "kernels/dot.h"
#include "kernels/gemm_bf16.h"
#include "kernels/gemm_int8.h"
#include "kernels/dot_int8.h"
#include "kernels/matrix.h"
#include "kernels/matvec_job.h"
#include "kernels/norm.h"
#include "kernels/wkv.h"
#include "state/state_values.h"
#include "targets.h"

using namespace rwkvrt;

namespace {

constexpr DType kAllTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q5_0, DType::Q5_1,
                               DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

bool is_k_quant(DType t) { return dtype_info(t).block_elems == 256; }

void put_u16(uint8_t *p, uint16_t v) { std::memcpy(p, &v, 2); }

// n random elements of type t: plain types from normal floats over a wide range of magnitudes
// (f16 subnormals included); block types with random quants and finite fp16 scales.
std::vector<uint8_t> random_row(DType t, size_t n, std::mt19937 &rng) {
    std::vector<uint8_t> out(dtype_bytes(t, n));
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<int> exponent(-20, 4), byte(0, 255);
    auto value = [&] { return std::ldexp(normal(rng), exponent(rng)); };
    switch (t) {
    case DType::F32:
        for (size_t i = 0; i < n; ++i) {
            const float f = value();
            std::memcpy(out.data() + 4 * i, &f, 4);
        }
        break;
    case DType::F16:
        for (size_t i = 0; i < n; ++i) put_u16(out.data() + 2 * i, f32_to_f16(value()));
        break;
    case DType::BF16:
        for (size_t i = 0; i < n; ++i) put_u16(out.data() + 2 * i, f32_to_bf16(value()));
        break;
    default: {
        // Random quants, sub-block scales and mins; finite fp16 super-block scales (Q6_K's at the end).
        const DTypeInfo &info = dtype_info(t);
        const bool has_min = t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K;
        const size_t scale_at = t == DType::Q6_K ? 208 : 0;
        for (size_t b = 0; b < n / size_t(info.block_elems); ++b) {
            uint8_t *blk = out.data() + b * size_t(info.block_bytes);
            for (int i = 0; i < info.block_bytes; ++i) blk[i] = uint8_t(byte(rng));
            put_u16(blk + scale_at, f32_to_f16(value()));
            if (has_min) put_u16(blk + 2, f32_to_f16(value()));
        }
    }
    }
    return out;
}

std::vector<float> random_vector(size_t n, std::mt19937 &rng) {
    std::normal_distribution<float> normal;
    std::vector<float> x(n);
    for (float &v : x) v = normal(rng);
    return x;
}

// The RWKV-7 recurrence's inputs for R rows of C channels: random r, k, v, a, b, and decays in [0.5, 1).
struct Wkv7Inputs {
    std::vector<float> r, k, v, a, b, w;
    Wkv7Inputs(int64_t R, int64_t C, std::mt19937 &rng) {
        for (std::vector<float> *x : {&r, &k, &v, &a, &b}) *x = random_vector(size_t(R * C), rng);
        std::uniform_real_distribution<float> decay(0.5f, 1.0f);
        w.resize(size_t(R * C));
        for (float &x : w) x = decay(rng);
    }
    void run(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, float *y, ThreadPool &pool) const {
        wkv7(segs, n_segs, H, N, r.data(), w.data(), k.data(), v.data(), a.data(), b.data(), y, pool);
    }
};

std::vector<float> reference_f32(DType t, const uint8_t *row, size_t n) {
    std::vector<float> w(n);
    to_f32(t, row, w.data(), n);
    return w;
}

// Σ w·x in double, and Σ |w·x| to scale the tolerance of a float sum.
struct Ref {
    double dot = 0, abs = 0;
};
Ref reference_dot(const std::vector<float> &w, const float *x) {
    Ref r;
    for (size_t i = 0; i < w.size(); ++i) {
        r.dot += double(w[i]) * x[i];
        r.abs += std::fabs(double(w[i]) * x[i]);
    }
    return r;
}

// Float sums of up to a few thousand terms, in any order: well inside 1e-5 of Σ |w·x|.
void check_close(double got, const Ref &r) { CHECK(std::fabs(got - r.dot) <= 1e-5 * r.abs + 1e-30); }

std::vector<size_t> lengths(DType t) {
    if (is_k_quant(t)) return {256, 512, 768, 256 * 5, 256 * 14};
    if (dtype_info(t).block_elems > 1) return {32, 64, 96, 160, 352, 1024, 32 * 37};
    return {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, 257, 1000, 1031};
}

Matrix random_matrix(DType t, int64_t rows, int64_t cols, std::mt19937 &rng) {
    Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.dtype = t;
    m.owned.allocate(m.nbytes());
    for (int64_t r = 0; r < rows; ++r) {
        const std::vector<uint8_t> row = random_row(t, size_t(cols), rng);
        std::memcpy(m.owned.data() + size_t(r) * m.row_bytes(), row.data(), row.size());
    }
    m.data = m.owned.data();
    return m;
}

} // namespace

TEST_CASE("kernels: dot products match a double-precision reference for every type, length and target") {
    for_each_target([] {
        std::mt19937 rng(7);
        for (DType t : kAllTypes) {
            CAPTURE(std::string(dtype_name(t)));
            const DotFn dot = dot_kernel(t);
            for (size_t n : lengths(t)) {
                CAPTURE(n);
                const std::vector<uint8_t> row = random_row(t, n, rng);
                const std::vector<float> x = random_vector(n, rng);
                check_close(dot(row.data(), x.data(), int64_t(n)), reference_dot(reference_f32(t, row.data(), n), x.data()));
            }
        }
    });
}

TEST_CASE("kernels: two-row dot products give each row the one-row kernel's bits, at every target") {
    for_each_target([] {
        std::mt19937 rng(8);
        int tested = 0;
        for (DType t : kAllTypes) {
            const DotPairFn pair = dot_pair_kernel(t);
            if (!pair) continue;
            CAPTURE(std::string(dtype_name(t)));
            const DotFn dot = dot_kernel(t);
            for (size_t n : lengths(t)) {
                CAPTURE(n);
                const std::vector<uint8_t> row0 = random_row(t, n, rng), row1 = random_row(t, n, rng);
                const std::vector<float> x = random_vector(n, rng);
                float out[2];
                pair(row0.data(), row1.data(), x.data(), int64_t(n), out);
                const float want0 = dot(row0.data(), x.data(), int64_t(n)), want1 = dot(row1.data(), x.data(), int64_t(n));
                CHECK(std::memcmp(&out[0], &want0, 4) == 0);
                CHECK(std::memcmp(&out[1], &want1, 4) == 0);
                ++tested;
            }
        }
        CHECK(tested == 3 * 18); // f32, f16 and bf16, every length
    });
}

TEST_CASE("kernels: a mat-vec with rows of 8,192 (two rows per load of x) gives every row, the odd last one too, its dot's bits") {
    std::mt19937 rng(9);
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        CAPTURE(std::string(dtype_name(t)));
        const int64_t rows = 37, cols = 8192;
        const Matrix W = random_matrix(t, rows, cols, rng);
        const std::vector<float> x = random_vector(size_t(cols), rng);
        std::vector<float> y(size_t(rows), -1.0f);
        ThreadPool pool(2);
        linear(W, x.data(), 1, y.data(), pool);
        const DotFn dot = dot_kernel(t);
        int differ = 0;
        for (int64_t r = 0; r < rows; ++r) {
            const float want = dot(W.row(r), x.data(), cols);
            differ += std::memcmp(&y[size_t(r)], &want, 4) != 0;
        }
        CHECK(differ == 0);
    }
}

TEST_CASE("kernels: bulk conversion gives the values of to_f32") {
    for_each_target([] {
        std::mt19937 rng(11);
        SUBCASE("every f16 and bf16 value, nan as nan") {
            std::vector<uint8_t> all(65536 * 2);
            for (uint32_t i = 0; i < 65536; ++i) put_u16(all.data() + 2 * i, uint16_t(i));
            for (DType t : {DType::F16, DType::BF16}) {
                CAPTURE(std::string(dtype_name(t)));
                std::vector<float> fast(65536), ref(65536);
                convert_to_f32(t, all.data(), fast.data(), 65536);
                to_f32(t, all.data(), ref.data(), 65536);
                size_t mismatches = 0;
                for (size_t i = 0; i < 65536; ++i) {
                    const bool same = std::isnan(ref[i]) ? std::isnan(fast[i]) : std::memcmp(&fast[i], &ref[i], 4) == 0;
                    mismatches += !same;
                }
                CHECK(mismatches == 0);
            }
        }
        SUBCASE("every type, odd lengths") {
            // d·q is exact in fp32 for the 32-blocks, so fusing d·q + m changes nothing either; the
            // K-quant converters round like the reference.
            for (DType t : kAllTypes) {
                CAPTURE(std::string(dtype_name(t)));
                for (size_t n : lengths(t)) {
                    CAPTURE(n);
                    const std::vector<uint8_t> row = random_row(t, n, rng);
                    const std::vector<float> ref = reference_f32(t, row.data(), n);
                    std::vector<float> fast(n);
                    convert_to_f32(t, row.data(), fast.data(), n);
                    CHECK(std::memcmp(fast.data(), ref.data(), n * 4) == 0);
                }
            }
        }
    });
}

TEST_CASE("kernels: bulk conversion to f16 and bf16 rounds like f32_to_f16 and f32_to_bf16") {
    for_each_target([] {
        std::mt19937 rng(13);
        std::normal_distribution<float> normal;
        std::uniform_int_distribution<int> exponent(-30, 18);
        std::uniform_int_distribution<uint32_t> half(0, 0x7bfe);
        // Wide magnitudes, exact ties between neighbouring halves and bfloats, and the edges.
        std::vector<float> x;
        for (int i = 0; i < 600; ++i) x.push_back(std::ldexp(normal(rng), exponent(rng)));
        for (int i = 0; i < 200; ++i) {
            const uint16_t h = uint16_t(half(rng));
            x.push_back((f16_to_f32(h) + f16_to_f32(uint16_t(h + 1))) / 2);
            const uint32_t tie = uint32_t(half(rng)) << 16 | 0x8000u;
            float f;
            std::memcpy(&f, &tie, 4);
            x.push_back(f);
        }
        for (float f : {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, -70000.0f, 6e-8f, 3e-8f, 1e-40f, INFINITY, -INFINITY})
            x.push_back(f);
        for (DType t : {DType::F16, DType::BF16}) {
            CAPTURE(std::string(dtype_name(t)));
            for (bool with_nan : {false, true}) {
                std::vector<float> in = x;
                if (with_nan) in.insert(in.end() - 5, NAN);
                std::vector<uint16_t> fast(in.size());
                convert_from_f32(t, in.data(), fast.data(), in.size());
                size_t mismatches = 0;
                for (size_t i = 0; i < in.size(); ++i)
                    mismatches += fast[i] != (t == DType::F16 ? f32_to_f16(in[i]) : f32_to_bf16(in[i]));
                CHECK(mismatches == 0);
            }
        }
    });
}

TEST_CASE("kernels: layer_norm and group_norm match statistics in double, in place or not") {
    for_each_target([] {
        std::mt19937 rng(13);
        std::normal_distribution<float> normal(0.5f, 3.0f);
        for (int64_t n : {1, 3, 7, 16, 64, 100, 768}) {
            CAPTURE(n);
            const int64_t T = 3;
            std::vector<float> x(static_cast<size_t>(T * n)), w(static_cast<size_t>(n)), b(static_cast<size_t>(n));
            for (float &v : x) v = normal(rng);
            for (float &v : w) v = normal(rng);
            for (float &v : b) v = normal(rng);
            const int64_t group = n % 2 ? n : n / 2;
            for (bool grouped : {false, true}) {
                const int64_t g = grouped ? group : n;
                std::vector<float> y(x.size()), in_place = x;
                if (grouped) {
                    group_norm(x.data(), y.data(), T, n, g, w.data(), b.data(), 1e-5f);
                    group_norm(in_place.data(), in_place.data(), T, n, g, w.data(), b.data(), 1e-5f);
                } else {
                    layer_norm(x.data(), y.data(), T, n, w.data(), b.data(), 1e-5f);
                    layer_norm(in_place.data(), in_place.data(), T, n, w.data(), b.data(), 1e-5f);
                }
                CHECK(std::memcmp(y.data(), in_place.data(), y.size() * 4) == 0);
                double worst = 0;
                for (int64_t row = 0; row < T * n; row += g) {
                    double mean = 0, var = 0;
                    for (int64_t i = 0; i < g; ++i) mean += x[size_t(row + i)];
                    mean /= double(g);
                    for (int64_t i = 0; i < g; ++i) var += (x[size_t(row + i)] - mean) * (x[size_t(row + i)] - mean);
                    const double inv = 1.0 / std::sqrt(var / double(g) + 1e-5);
                    for (int64_t i = 0; i < g; ++i) {
                        const int64_t c = (row + i) % n;
                        const double want = (x[size_t(row + i)] - mean) * inv * w[size_t(c)] + b[size_t(c)];
                        const double d = std::abs(double(y[size_t(row + i)]) - want) / (1 + std::abs(want));
                        if (!(d <= worst)) worst = d; // a NaN stays, and fails the check below
                    }
                }
                CHECK(worst < 1e-6);
            }
        }
    });
}

TEST_CASE("kernels: f16 to bf16 in one pass rounds as the two scalar conversions do") {
    for_each_target([] {
        std::mt19937 rng(11);
        std::uniform_int_distribution<int> bits(0, 0xffff);
        for (bool specials : {false, true})
            for (size_t n : {size_t(1), size_t(15), size_t(16), size_t(17), size_t(333)}) {
                std::vector<uint16_t> h(n), fast(n);
                for (uint16_t &v : h)
                    do v = uint16_t(bits(rng)); // every finite f16, subnormals included
                    while (!specials && (v & 0x7c00) == 0x7c00);
                if (specials) h[n / 2] = 0x7e00; // and from a NaN on, the scalar tail
                convert_f16_to_bf16(h.data(), fast.data(), n);
                size_t mismatches = 0;
                for (size_t i = 0; i < n; ++i) mismatches += fast[i] != f32_to_bf16(f16_to_f32(h[i]));
                CHECK(mismatches == 0);
            }
    });
}

TEST_CASE("kernels: linear with T > 1 agrees with T = 1 for every type, and with any thread count") {
    ThreadPool one(1), two(2), three(3);
    for_each_target([&] {
        std::mt19937 rng(3);
        struct Shape {
            int64_t rows, cols, T;
        };
        // Row counts off the micro-tile, token counts off the vector width, inputs over several blocks;
        // matrices of few rows (GemmFewRows) and of many.
        const std::vector<Shape> shapes = {{1, 32, 2},    {7, 64, 3},     {13, 96, 9},  {50, 2048, 40},
                                           {37, 320, 17}, {64, 1024, 33}, {131, 96, 7}, {200, 640, 13}};
        // K-quants: rows of whole super-blocks; 3072 inputs with 40 tokens take several input blocks.
        const std::vector<Shape> k_shapes = {{1, 256, 2}, {7, 512, 3}, {13, 768, 9}, {50, 3072, 40}, {37, 1280, 17}, {150, 512, 11}};
        for (DType t : kAllTypes) {
            CAPTURE(std::string(dtype_name(t)));
            for (const Shape &s : is_k_quant(t) ? k_shapes : shapes) {
                CAPTURE(s.rows);
                CAPTURE(s.cols);
                CAPTURE(s.T);
                const Matrix W = random_matrix(t, s.rows, s.cols, rng);
                const std::vector<float> X = random_vector(size_t(s.T * s.cols), rng);
                std::vector<float> Y(size_t(s.T * s.rows)), Y3(Y.size()), y(size_t(s.rows));
                linear(W, X.data(), s.T, Y.data(), one);
                linear(W, X.data(), s.T, Y3.data(), three);
                CHECK(std::memcmp(Y.data(), Y3.data(), Y.size() * 4) == 0);
                for (int64_t tok = 0; tok < s.T; ++tok) {
                    const float *x = X.data() + tok * s.cols;
                    linear(W, x, 1, y.data(), two);
                    for (int64_t r = 0; r < s.rows; ++r) {
                        const Ref ref = reference_dot(reference_f32(t, W.row(r), size_t(s.cols)), x);
                        check_close(Y[size_t(tok * s.rows + r)], ref);
                        check_close(y[size_t(r)], ref);
                    }
                }
            }
        }
    });
}

TEST_CASE("kernels: linear gives a weight row the same bits in a matrix of few rows as in one of many, at every target") {
    // Matrices of few rows take their own path (GemmFewRows), which must add in Gemm's order.
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(5);
        for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_K}) {
            CAPTURE(std::string(dtype_name(t)));
            for (const int64_t cols : {256, 768}) // one input block, and three
                for (const int64_t T : {2, 7, 33}) {
                    CAPTURE(cols);
                    CAPTURE(T);
                    const Matrix W = random_matrix(t, 300, cols, rng);
                    Matrix few; // its first 100 rows, in place
                    few.rows = 100;
                    few.cols = cols;
                    few.dtype = t;
                    few.data = W.data;
                    const std::vector<float> X = random_vector(size_t(T * cols), rng);
                    std::vector<float> Y(size_t(T * W.rows)), Yf(size_t(T * few.rows), NAN);
                    linear(W, X.data(), T, Y.data(), pool);
                    linear(few, X.data(), T, Yf.data(), pool);
                    for (int64_t tok = 0; tok < T; ++tok)
                        CHECK(std::memcmp(Yf.data() + tok * few.rows, Y.data() + tok * W.rows, size_t(few.rows) * 4) == 0);
                }
        }
    });
}

TEST_CASE("kernels: linear gives a token the same bits in a step of a few rows as in one of many, at every target") {
    // Steps of a few rows run GemmFewTokens (weight rows in the lanes) or narrower vectors, which must
    // give every output Gemm's order of additions.
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(6);
        for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_K})
            // Many tokens run GemmFewRows for 100 rows, the packed GEMM for more; a few run chunks of 32
            // rows, and a last one of fewer for 100 and 300.
            for (const int64_t rows : {100, 256, 300})
                for (const int64_t cols : {768, 771}) { // blocks of 256; then a last one of 3 inputs
                    if (cols % dtype_info(t).block_elems != 0) continue;
                    CAPTURE(std::string(dtype_name(t)));
                    CAPTURE(rows);
                    CAPTURE(cols);
                    const int64_t many = 33;
                    const Matrix W = random_matrix(t, rows, cols, rng);
                    const std::vector<float> X = random_vector(size_t(many * cols), rng);
                    std::vector<float> all(size_t(many * rows));
                    linear(W, X.data(), many, all.data(), pool);
                    for (const int64_t few : {2, 3, 4, 5, 8, 12, 13}) {
                        CAPTURE(few);
                        std::vector<float> Y(size_t(few * rows), NAN);
                        linear(W, X.data(), few, Y.data(), pool);
                        CHECK(std::memcmp(Y.data(), all.data(), Y.size() * 4) == 0);
                    }
                }
    });
}

TEST_CASE("kernels: a matrix with its rows in the lanes gives every row count Gemm's bits, a lone row too, at every target") {
    // to_lanes (matrix.h) stores float and block-type matrices for the fp32 kernels; the products that
    // read it (a few rows in place, more through decoded panels; float types always in place) must add
    // as Gemm does over rows.
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(7);
        for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K})
            for (const int64_t rows : {144, 208, 1040}) // chunks of up to 64 rows, then a last one of fewer
                for (const int64_t cols : {64, 256, 768, 800, 1280}) { // Gemm's blocks of 256: part of one, one, three, a last of 32, five
                    if (cols % dtype_info(t).block_elems != 0) continue;
                    if (rows == 1040 && cols > 256) continue; // many chunks over few inputs suffice; keeps the sanitizer runs short
                    const std::string type = dtype_name(t);
                    CAPTURE(type);
                    CAPTURE(rows);
                    CAPTURE(cols);
                    const Matrix W = random_matrix(t, rows, cols, rng);
                    REQUIRE(lanes_layout_applies(W));
                    const Matrix lanes = to_lanes(W, pool);
                    CHECK(!lanes_layout_applies(lanes));
                    { // the same layout, with the file's size, written where the rows lie, a few groups at a time (the load)
                        REQUIRE(lanes.owned.size() == W.nbytes());
                        const Matrix in_place = random_matrix(t, rows, cols, rng);
                        for (int64_t r0 = 0; r0 < rows; r0 += 3 * kLaneRows) {
                            const int64_t r1 = std::min(rows, r0 + 3 * kLaneRows);
                            write_rows_as_lanes(in_place, r0, r1, W.row(r0));
                        }
                        CHECK(std::memcmp(in_place.data, lanes.data, W.nbytes()) == 0);
                    }
                    const int64_t many = 71;
                    const std::vector<float> X = random_vector(size_t(many * cols), rng);
                    std::vector<float> all(size_t(many * rows)), one(static_cast<size_t>(rows));
                    linear(W, X.data(), many, all.data(), pool);
                    {
                        const BatchInvariantScope as_in_batch(true);
                        linear(W, X.data(), 1, one.data(), pool);
                    }
                    CHECK(std::memcmp(one.data(), all.data(), one.size() * 4) == 0);
                    for (const int64_t T : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 33, 64, 71}) { // every tile width; from 64 rows, AVX2 tiles of 6
                        CAPTURE(T);
                        std::vector<float> Y(size_t(T * rows), NAN);
                        const BatchInvariantScope as_in_batch(T == 1);
                        linear(lanes, X.data(), T, Y.data(), pool);
                        CHECK(std::memcmp(Y.data(), all.data(), Y.size() * 4) == 0);
                    }
                    // A lone row by default: the mat-vec's order of additions, so other bits, as close as the row kernels' (check_close's bound).
                    std::vector<float> by_rows(static_cast<size_t>(rows)), Y(static_cast<size_t>(rows), NAN), w(static_cast<size_t>(cols));
                    linear(W, X.data(), 1, by_rows.data(), pool);
                    linear(lanes, X.data(), 1, Y.data(), pool);
                    for (int32_t r = 0; r < int32_t(rows); ++r) {
                        CAPTURE(r);
                        gather_rows(W, &r, 1, w.data());
                        double magnitude = 0; // Σ |w·x|: what the rounding errors of either order scale with
                        for (size_t k = 0; k < w.size(); ++k) magnitude += std::fabs(double(w[k]) * double(X[k]));
                        CHECK(std::fabs(Y[size_t(r)] - all[size_t(r)]) <= 1e-5 * magnitude);
                        CHECK(std::fabs(by_rows[size_t(r)] - all[size_t(r)]) <= 1e-5 * magnitude);
                    }
                }
    });
}

TEST_CASE("kernels: under StepRowsScope a few rows take the route of the step's row count, and get its bits") {
    // The rows a step's last layer finishes on their own (arch/blocks.h, StepTail) must get the bits the
    // whole step gives them: a lone row of a step of several is no mat-vec, and two rows of a step of 16
    // or more take bf16 products.
    ThreadPool pool(2);
    std::mt19937 rng(9);
    for (DType t : {DType::F32, DType::BF16, DType::Q8_0}) {
        CAPTURE(std::string(dtype_name(t)));
        Matrix W = random_matrix(t, 96, 256, rng);
        W.bf16_products = t == DType::BF16 && bf16_products_supported();
        W.int8_products = t == DType::Q8_0 && int8_products_supported(t);
        for (const int64_t step : {2, 15, 16, 40}) {
            CAPTURE(step);
            const std::vector<float> X = random_vector(size_t(step * W.cols), rng);
            std::vector<float> all(size_t(step * W.rows));
            linear(W, X.data(), step, all.data(), pool);
            REQUIRE(std::all_of(all.begin(), all.end(), [](float v) { return std::isfinite(v); })); // memcmp would pass equal NaNs
            for (const int64_t few : {1, 2}) {
                CAPTURE(few);
                std::vector<float> Y(size_t(few * W.rows), NAN);
                const int64_t first = step - few;
                {
                    const StepRowsScope routed(step);
                    linear(W, X.data() + first * W.cols, few, Y.data(), pool);
                }
                CHECK(std::memcmp(Y.data(), all.data() + first * W.rows, Y.size() * sizeof(float)) == 0);
            }
        }
    }
}

TEST_CASE("kernels: linear_group gives each product the bits linear gives it alone, mat-vecs sharing one job, at every target") {
    // A group's mat-vecs run as one job on the pool (kernels/matvec_job.h): its pieces must cover each
    // product's rows once, with that product's kernel and x. One of each mat-vec path, products of under
    // one piece and of many, more products than a job holds (kMaxMatVecJobs), and a group of a step of
    // three rows (one product after another).
    ThreadPool one(1), two(2);
    for_each_target([&] {
        std::mt19937 rng(12);
        std::vector<Matrix> W;
        W.push_back(to_lanes(random_matrix(DType::F16, 208, 768, rng), two)); // the lanes, float
        W.push_back(to_lanes(random_matrix(DType::Q4_K, 144, 512, rng), two)); // the lanes, block type
        W.push_back(random_matrix(DType::F32, 64, 768, rng));                   // rows: a LoRA matrix
        W.push_back(random_matrix(DType::F32, 3, 8192, rng));                   // rows, two per load of x, an odd last one
        W.push_back(random_matrix(DType::F32, 16, 32, rng));                    // under 2 KiB
        W.push_back(random_matrix(DType::BF16, 130, 96, rng));
        Matrix q8 = random_matrix(DType::Q8_0, 100, 256, rng); // rows, x rounded to int8
        q8.int8_activations = dot_int8_kernel(DType::Q8_0, int8_level()) != nullptr;
        W.push_back(std::move(q8));
        Matrix q4 = random_matrix(DType::Q4_0, 160, 320, rng); // interleaved, int8 products
        q4.int8_activations = q4.int8_products = int8_products_supported(DType::Q4_0);
        W.push_back(q4.int8_products ? interleave_rows(q4, two) : std::move(q4));
        W.push_back(to_lanes(random_matrix(DType::F32, 1040, 64, rng), two));
        W.push_back(random_matrix(DType::Q6_K, 17, 256, rng));
        REQUIRE(W.size() > kMaxMatVecJobs);
        for (const int64_t T : {1, 3}) {
            CAPTURE(T);
            std::vector<std::vector<float>> X, alone, grouped;
            std::vector<Product> products;
            for (const Matrix &m : W) {
                X.push_back(random_vector(size_t(T * m.cols), rng));
                alone.emplace_back(size_t(T * m.rows));
                grouped.emplace_back(size_t(T * m.rows), NAN);
            }
            for (size_t i = 0; i < W.size(); ++i) {
                linear(W[i], X[i].data(), T, alone[i].data(), one);
                REQUIRE(std::all_of(alone[i].begin(), alone[i].end(), [](float v) { return std::isfinite(v); }));
                products.push_back({W[i], X[i].data(), grouped[i].data()});
            }
            linear_group(products, T, two);
            for (size_t i = 0; i < W.size(); ++i) {
                CAPTURE(i);
                CHECK(std::memcmp(grouped[i].data(), alone[i].data(), alone[i].size() * sizeof(float)) == 0);
            }
        }
    });
}

TEST_CASE("kernels: a mat-vec job's rows, a stretch at a time in any order, give the bits of linear(), at every target") {
    // RWKV-7's lone decoding step computes each head's rows of its LoRA products within the head's task
    // (arch/rwkv7.cpp), with MatVecJob::output_rows. One matrix of each path a LoRA matrix may take
    // (the lanes, rows), and the others a job can have.
    ThreadPool one(1), two(2);
    for_each_target([&] {
        std::mt19937 rng(13);
        std::vector<Matrix> W;
        W.push_back(to_lanes(random_matrix(DType::F32, 768, 64, rng), two)); // a LoRA matrix in the lanes
        W.push_back(random_matrix(DType::F32, 96, 40, rng));                 // … by rows
        W.push_back(to_lanes(random_matrix(DType::F16, 128, 256, rng), two));
        W.push_back(random_matrix(DType::F32, 4, 8192, rng)); // rows two at a time
        Matrix q4 = random_matrix(DType::Q4_0, 64, 320, rng);
        q4.int8_activations = q4.int8_products = int8_products_supported(DType::Q4_0);
        W.push_back(q4.int8_products ? interleave_rows(q4, two) : std::move(q4));
        for (size_t i = 0; i < W.size(); ++i) {
            CAPTURE(i);
            const std::vector<float> x = random_vector(size_t(W[i].cols), rng);
            std::vector<float> alone(size_t(W[i].rows)), stretched(size_t(W[i].rows), NAN);
            linear(W[i], x.data(), 1, alone.data(), one);
            const MatVecJob job = matvec_job(W[i], x.data(), stretched.data(), two, 0);
            const int64_t stretch = 2 * job.unit_rows(), rows = W[i].rows;
            REQUIRE(rows % stretch == 0);
            CHECK(job.covers(stretch, 2 * stretch));
            if (job.unit_rows() > 1) CHECK(!job.covers(1, stretch));
            for (int64_t r1 = rows; r1 > 0; r1 -= stretch) job.output_rows(r1 - stretch, r1);
            CHECK(std::memcmp(stretched.data(), alone.data(), alone.size() * sizeof(float)) == 0);
        }
    });
}

TEST_CASE("kernels: wkv7_head, head by head in any order, gives wkv7's bits for a lone segment, at every target") {
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(14);
        const int64_t H = 5, N = 64, C = H * N;
        const Wkv7Inputs in(1, C, rng);
        const std::vector<float> S0 = random_vector(size_t(H * N * N), rng);
        std::vector<float> S_all(S0.size(), NAN), S_heads(S0.size(), NAN), y_all(static_cast<size_t>(C)), y_heads(static_cast<size_t>(C), NAN);
        const WkvSegment all{0, 1, S0.data(), S_all.data()}, heads{0, 1, S0.data(), S_heads.data()};
        in.run(&all, 1, H, N, y_all.data(), pool);
        for (int64_t h = H - 1; h >= 0; --h)
            wkv7_head(heads, h, H, N, in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.a.data(), in.b.data(), y_heads.data());
        CHECK(std::memcmp(S_heads.data(), S_all.data(), S_all.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(y_heads.data(), y_all.data(), y_all.size() * sizeof(float)) == 0);
    });
}

TEST_CASE("kernels: float matrices whose rows are not whole blocks of 16 keep their rows") {
    std::mt19937 rng(8);
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        CAPTURE(std::string(dtype_name(t)));
        CHECK(lanes_layout_applies(random_matrix(t, 144, 48, rng)));
        CHECK(!lanes_layout_applies(random_matrix(t, 144, 40, rng))); // the lanes would drop its last 8 inputs
    }
}

TEST_CASE("kernels: convert_matrix round trips") {
    std::mt19937 rng(5);
    ThreadPool pool(2);
    const Matrix src = random_matrix(DType::F32, 5, 96, rng);
    const auto *s = reinterpret_cast<const float *>(src.data);
    auto as_f32 = [](const Matrix &m) {
        std::vector<float> out(size_t(m.rows * m.cols));
        gather_rows(m, std::vector<int32_t>{0, 1, 2, 3, 4}.data(), m.rows, out.data());
        return out;
    };
    SUBCASE("f16 and bf16 hold the rounded values, and come back unchanged") {
        for (DType t : {DType::F16, DType::BF16}) {
            CAPTURE(std::string(dtype_name(t)));
            const Matrix half = convert_matrix(src, t, "w", pool);
            const std::vector<float> back = as_f32(half);
            for (size_t i = 0; i < back.size(); ++i) {
                const float rounded = t == DType::F16 ? f16_to_f32(f32_to_f16(s[i])) : bf16_to_f32(f32_to_bf16(s[i]));
                CHECK(back[i] == rounded);
            }
            const Matrix again = convert_matrix(convert_matrix(half, DType::F32, "w", pool), t, "w", pool);
            CHECK(std::memcmp(again.data, half.data, half.nbytes()) == 0);
        }
    }
    SUBCASE("q8_0 is within half a step of each block's scale") {
        const Matrix q = convert_matrix(src, DType::Q8_0, "w", pool);
        const std::vector<float> back = as_f32(q);
        for (size_t b = 0; b < back.size() / 32; ++b) {
            float amax = 0;
            for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(s[b * 32 + j]));
            for (size_t j = 0; j < 32; ++j) CHECK(std::fabs(back[b * 32 + j] - s[b * 32 + j]) <= 0.5f * amax / 127 * 1.01f);
        }
        const Matrix again = convert_matrix(convert_matrix(q, DType::F32, "w", pool), DType::Q8_0, "w", pool);
        CHECK(std::memcmp(again.data, q.data, q.nbytes()) == 0);
    }
    SUBCASE("block types need whole blocks") {
        const Matrix odd = random_matrix(DType::F32, 2, 40, rng);
        CHECK_THROWS_AS(convert_matrix(odd, DType::Q8_0, "w", pool), Error);
    }
}

TEST_CASE("kernels: wkv4 matches its stable form in double precision at every target, over stretches of channels") {
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(15);
        for (int64_t C : {5, 300}) { // 300: a stretch of 256 channels, then 44 (whole vectors and a tail)
            CAPTURE(C);
            const int64_t T = 120; // rows × channels past the size that takes both threads
            const std::vector<float> k = random_vector(size_t(T * C), rng), v = random_vector(size_t(T * C), rng),
                                     u = random_vector(size_t(C), rng);
            std::vector<float> w = random_vector(size_t(C), rng);
            for (float &x : w) x = -std::exp(x); // −exp(time_decay)
            std::vector<float> S(size_t(3 * C));
            for (int64_t c = 0; c < C; ++c) S[size_t(c)] = 0, S[size_t(C + c)] = 0, S[size_t(2 * C + c)] = -1e38f; // empty context
            std::vector<double> Sd(S.begin(), S.end());
            std::vector<float> S_apart(S.size(), std::nanf("")), y(size_t(T * C)), y_apart(size_t(T * C));
            const std::vector<float> S_before = S;
            const WkvSegment apart{0, T, S_before.data(), S_apart.data()}, whole{0, T, S.data(), S.data()};
            wkv4(&apart, 1, C, k.data(), v.data(), w.data(), u.data(), y_apart.data(), pool);
            wkv4(&whole, 1, C, k.data(), v.data(), w.data(), u.data(), y.data(), pool);
            CHECK(std::memcmp(S_apart.data(), S.data(), S.size() * sizeof(float)) == 0);
            CHECK(y_apart == y);
            for (int64_t t = 0; t < T; ++t)
                for (int64_t c = 0; c < C; ++c) {
                    double &aa = Sd[size_t(c)], &bb = Sd[size_t(C + c)], &pp = Sd[size_t(2 * C + c)];
                    const double kc = k[size_t(t * C + c)], vc = v[size_t(t * C + c)];
                    double ww = u[size_t(c)] + kc, q = std::max(pp, ww);
                    double e1 = std::exp(pp - q), e2 = std::exp(ww - q);
                    const double expected = (e1 * aa + e2 * vc) / (e1 * bb + e2);
                    CHECK(std::fabs(y[size_t(t * C + c)] - expected) <= 1e-4 * (1 + std::fabs(expected)));
                    ww = pp + w[size_t(c)];
                    q = std::max(ww, kc);
                    e1 = std::exp(ww - q);
                    e2 = std::exp(kc - q);
                    aa = e1 * aa + e2 * vc;
                    bb = e1 * bb + e2;
                    pp = q;
                }
        }
    });
}

TEST_CASE("kernels: wkv5 matches the recurrence written out in double precision, with decay per row or per model") {
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(10);
        for (int64_t N : {4, 11, 64, 72}) { // 72: four vectors, then one, then the tail, at 16 lanes
            for (bool per_row : {true, false}) {
                CAPTURE(N);
                CAPTURE(per_row);
                const int64_t T = 3, H = 2, C = H * N, w_stride = per_row ? C : 0;
                const std::vector<float> r = random_vector(size_t(T * C), rng), k = random_vector(size_t(T * C), rng),
                                         v = random_vector(size_t(T * C), rng), u = random_vector(size_t(C), rng);
                std::vector<float> w(size_t(per_row ? T * C : C));
                std::uniform_real_distribution<float> decay(0.5f, 1.0f);
                for (float &x : w) x = decay(rng);
                std::vector<float> S = random_vector(size_t(H * N * N), rng), y(size_t(T * C));
                std::vector<double> Sd(S.begin(), S.end());
                // Out of place from a copy: every float of the output written (it starts as NaN), and the
                // same bits as in place.
                const std::vector<float> S_before = S;
                std::vector<float> S_apart(S.size(), std::nanf("")), y_apart(y.size());
                const WkvSegment apart{0, T, S_before.data(), S_apart.data()};
                wkv5(&apart, 1, H, N, r.data(), k.data(), v.data(), w.data(), w_stride, u.data(), y_apart.data(), pool);
                const WkvSegment whole{0, T, S.data(), S.data()};
                wkv5(&whole, 1, H, N, r.data(), k.data(), v.data(), w.data(), w_stride, u.data(), y.data(), pool);
                CHECK(std::memcmp(S_apart.data(), S.data(), S.size() * sizeof(float)) == 0);
                CHECK(y_apart == y);
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t h = 0; h < H; ++h) {
                        const int64_t o = t * C + h * N;
                        for (int64_t j = 0; j < N; ++j) {
                            double out = 0, mag = 0;
                            for (int64_t i = 0; i < N; ++i) {
                                double &s = Sd[size_t((h * N + i) * N + j)];
                                const double kv = double(k[size_t(o + i)]) * v[size_t(o + j)];
                                const double term = double(r[size_t(o + i)]) * (double(u[size_t(h * N + i)]) * kv + s);
                                out += term;
                                mag += std::fabs(term);
                                s = s * w[size_t(t * w_stride + h * N + i)] + kv;
                            }
                            CHECK(std::fabs(y[size_t(o + j)] - out) <= 1e-4 * (mag + 1));
                        }
                    }
                for (size_t i = 0; i < S.size(); ++i) CHECK(std::fabs(S[i] - Sd[i]) <= 1e-4 * (std::fabs(Sd[i]) + 1));
            }
        }
    });
}

TEST_CASE("kernels: wkv7 matches the recurrence written out in double precision") {
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(9);
        for (int64_t N : {4, 11, 64}) {
            CAPTURE(N);
            const int64_t T = 3, H = 2, C = H * N;
            const Wkv7Inputs in(T, C, rng);
            const std::vector<float> &r = in.r, &w = in.w, &k = in.k, &v = in.v, &a = in.a, &b = in.b;
            std::vector<float> S = random_vector(size_t(H * N * N), rng), y(size_t(T * C));
            std::vector<double> Sd(S.begin(), S.end());
            // Out of place from a copy: every float of the output written (it starts as NaN), and the
            // same bits as in place.
            const std::vector<float> S_before = S;
            std::vector<float> S_apart(S.size(), std::nanf("")), y_apart(y.size());
            const WkvSegment apart{0, T, S_before.data(), S_apart.data()};
            in.run(&apart, 1, H, N, y_apart.data(), pool);
            const WkvSegment whole{0, T, S.data(), S.data()};
            in.run(&whole, 1, H, N, y.data(), pool);
            CHECK(S_apart == S);
            CHECK(y_apart == y);
            for (int64_t t = 0; t < T; ++t)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t i = 0; i < N; ++i) {
                        const int64_t o = t * C + h * N;
                        double *row = Sd.data() + (h * N + i) * N;
                        double sa = 0, out = 0, mag = 0;
                        for (int64_t j = 0; j < N; ++j) sa += double(a[size_t(o + j)]) * row[j];
                        for (int64_t j = 0; j < N; ++j) {
                            row[j] = row[j] * w[size_t(o + j)] + sa * b[size_t(o + j)] + double(v[size_t(o + i)]) * k[size_t(o + j)];
                            out += row[j] * r[size_t(o + j)];
                            mag += std::fabs(row[j] * r[size_t(o + j)]);
                        }
                        CHECK(std::fabs(y[size_t(o + i)] - out) <= 1e-4 * (mag + 1));
                    }
            for (size_t i = 0; i < S.size(); ++i) CHECK(std::fabs(S[i] - Sd[i]) <= 1e-4 * (std::fabs(Sd[i]) + 1));
        }
    });
}

TEST_CASE("kernels: wkv7 gives a prompt's tokens the bits of the same tokens fed one at a time, at every target") {
    // A prompt carries each token's S·a from the previous token's update (up to 256 keys); one token
    // at a time computes it from the state. Head sizes: odd, one vector, the kept-in-registers 64, a
    // reloaded 128, and 320, past the carried size.
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(13);
        for (int64_t N : {11, 16, 64, 128, 320}) {
            CAPTURE(N);
            const int64_t T = 5, H = 2, C = H * N;
            const Wkv7Inputs in(T, C, rng);
            const std::vector<float> S0 = random_vector(size_t(H * N * N), rng);
            std::vector<float> S_prompt = S0, S_steps = S0, y_prompt(size_t(T * C)), y_steps(size_t(T * C));
            const WkvSegment prompt{0, T, S_prompt.data(), S_prompt.data()};
            in.run(&prompt, 1, H, N, y_prompt.data(), pool);
            for (int64_t t = 0; t < T; ++t) {
                const WkvSegment step{t, 1, S_steps.data(), S_steps.data()};
                in.run(&step, 1, H, N, y_steps.data(), pool);
            }
            CHECK(S_prompt == S_steps);
            CHECK(y_prompt == y_steps);
        }
    });
}

TEST_CASE("kernels: the recurrences over a batch of segments equal each segment alone, in place or not") {
    ThreadPool pool(2);
    std::mt19937 rng(11);
    const int64_t H = 3, N = 8, C = H * N;
    const int64_t lengths[] = {1, 5, 2, 1};
    const int64_t R = 9;
    const std::vector<float> r = random_vector(size_t(R * C), rng), k = random_vector(size_t(R * C), rng),
                             v = random_vector(size_t(R * C), rng), a = random_vector(size_t(R * C), rng),
                             b = random_vector(size_t(R * C), rng), u = random_vector(size_t(C), rng);
    std::vector<float> w(size_t(R * C));
    std::uniform_real_distribution<float> decay(0.5f, 1.0f);
    for (float &x : w) x = decay(rng);
    std::vector<float> w4 = random_vector(size_t(C), rng);
    for (float &x : w4) x = -std::fabs(x);

    const size_t state = size_t(H * N * N);
    const std::vector<float> S0 = random_vector(4 * state, rng);
    // Out of place, S receives the new states and S0 must stay as it was.
    auto run = [&](const char *which, bool together, bool in_place, std::vector<float> &S, std::vector<float> &y) {
        const size_t stride = std::string(which) == "wkv4" ? size_t(3 * C) : state; // aa, bb, pp or H × N × N
        S = in_place ? std::vector<float>(S0.begin(), S0.begin() + 4 * stride) : std::vector<float>(4 * stride, std::nanf(""));
        y.assign(size_t(R * C), 0.0f);
        std::vector<WkvSegment> segs;
        int64_t row = 0;
        for (size_t i = 0; i < 4; ++i) {
            segs.push_back({row, lengths[i], (in_place ? S.data() : S0.data()) + i * stride, S.data() + i * stride});
            row += lengths[i];
        }
        const auto call = [&](const WkvSegment *sg, int64_t n) {
            if (std::string(which) == "wkv7") wkv7(sg, n, H, N, r.data(), w.data(), k.data(), v.data(), a.data(), b.data(), y.data(), pool);
            else if (std::string(which) == "wkv5") wkv5(sg, n, H, N, r.data(), k.data(), v.data(), w.data(), C, u.data(), y.data(), pool);
            else wkv4(sg, n, C, k.data(), v.data(), w4.data(), u.data(), y.data(), pool);
        };
        if (together) call(segs.data(), int64_t(segs.size()));
        else
            for (const WkvSegment &sg : segs) call(&sg, 1);
    };
    for (const char *which : {"wkv4", "wkv5", "wkv7"}) {
        CAPTURE(which);
        std::vector<float> S1, y1, S2, y2, S3, y3;
        run(which, true, true, S1, y1);
        run(which, false, true, S2, y2);
        run(which, true, false, S3, y3);
        CHECK(S1 == S2);
        CHECK(y1 == y2);
        CHECK(S1 != std::vector<float>(S0.begin(), S0.begin() + ptrdiff_t(S1.size())));
        CHECK(S3 == S1); // every float of the output written (it started as NaN), the same bits
        CHECK(y3 == y1);
    }
}

TEST_CASE("kernels: next states marked stream_out get the bits of plain stores, wherever they lie, at every target") {
    // wkv5, wkv7 and wkv7_head write an out-of-place, aligned segment's last state with streaming
    // stores; in place or misaligned (hn::Stream would fault) or with rows not whole vectors, plain ones.
    ThreadPool pool(2);
    for_each_target([&] {
        std::mt19937 rng(12);
        for (int64_t N : {64, 16, 12}) {
            CAPTURE(N);
            const int64_t H = 3, C = H * N, n_segs = 5;
            // Each segment's state in a slot of 16 floats more, so that one a float off stays in its slot.
            const size_t state = size_t(H * N * N), slot = state + 16;
            std::vector<WkvSegment> segs;
            int64_t R = 0;
            for (int64_t i = 0; i < n_segs; ++i) {
                segs.push_back({R, 1 + i % 2, nullptr, nullptr});
                R += 1 + i % 2;
            }
            const Wkv7Inputs in(R, C, rng);
            const std::vector<float> u = random_vector(size_t(C), rng), S0 = random_vector(size_t(n_segs) * slot, rng);
            for (const char *which : {"wkv5", "wkv7", "wkv7_head"}) {
                CAPTURE(which);
                const auto run = [&](bool stream_out, StateValues &S, std::vector<float> &y) {
                    S.assign(S0.size(), std::nanf("")); // 64-byte aligned
                    std::copy_n(S0.begin(), state, S.begin());
                    y.assign(size_t(R * C), std::nanf(""));
                    std::vector<WkvSegment> run_segs = segs;
                    for (int64_t i = 0; i < n_segs; ++i) {
                        WkvSegment &seg = run_segs[size_t(i)];
                        seg.stream_out = stream_out;
                        // Segment 0 in place, segment 3 one float off the alignment, the others aligned.
                        seg.S_in = i == 0 ? S.data() : S0.data() + size_t(i) * slot;
                        seg.S_out = S.data() + size_t(i) * slot + (i == 3 ? 1 : 0);
                    }
                    if (std::string(which) == "wkv5")
                        wkv5(run_segs.data(), n_segs, H, N, in.r.data(), in.k.data(), in.v.data(), in.w.data(), C, u.data(), y.data(), pool);
                    else if (std::string(which) == "wkv7")
                        in.run(run_segs.data(), n_segs, H, N, y.data(), pool);
                    else
                        for (const WkvSegment &seg : run_segs)
                            if (seg.T == 1) // wkv7_head takes a lone token's step
                                for (int64_t h = 0; h < H; ++h)
                                    wkv7_head(seg, h, H, N, in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.a.data(), in.b.data(), y.data());
                };
                StateValues S_plain, S_stream;
                std::vector<float> y_plain, y_stream;
                run(false, S_plain, y_plain);
                run(true, S_stream, y_stream);
                CHECK(std::memcmp(S_stream.data(), S_plain.data(), S_plain.size() * sizeof(float)) == 0);
                CHECK(std::memcmp(y_stream.data(), y_plain.data(), y_plain.size() * sizeof(float)) == 0);
                // Segment 2 (out of place, aligned, a lone token) was written whole.
                CHECK(std::none_of(S_stream.begin() + ptrdiff_t(2 * slot), S_stream.begin() + ptrdiff_t(2 * slot + state),
                                   [](float x) { return std::isnan(x); }));
            }
        }
    });
}

TEST_CASE("kernels: RWKV-7's per-head key terms and bonus match double precision at every target and head size") {
    for_each_target([] {
        std::mt19937 rng(17);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        // Heads of 64 and 16 fill AVX-512 and AVX2 vectors; 12 and 5 take the one-at-a-time sums.
        for (size_t N : {size_t(64), size_t(16), size_t(12), size_t(5)}) {
            CAPTURE(N);
            const size_t R = 3, C = 4 * N;
            auto vec = [&](size_t m) {
                std::vector<float> v(m);
                for (float &e : v) e = normal(rng);
                return v;
            };
            std::vector<float> kk = vec(R * C), a = vec(R * C), r = vec(R * C), k = vec(R * C), v = vec(R * C), g = vec(R * C);
            const std::vector<float> r_k = vec(C), y0 = vec(R * C);
            std::fill_n(kk.begin() + ptrdiff_t(N), N, 0.0f); // a head of zeros: divided by 1e-12, not by 0
            std::vector<float> ka(R * C), kb(R * C), y = y0;
            rwkv7_key_terms(R, C, N, kk.data(), a.data(), ka.data(), kb.data());
            rwkv7_bonus(R, C, N, r.data(), k.data(), r_k.data(), v.data(), g.data(), y.data());
            for (size_t o = 0; o < R * C; o += N) {
                double norm = 0, bonus = 0;
                for (size_t j = 0; j < N; ++j) {
                    norm += double(kk[o + j]) * kk[o + j];
                    bonus += double(r[o + j]) * k[o + j] * r_k[(o + j) % C];
                }
                const double inv = 1 / std::max(std::sqrt(norm), 1e-12);
                for (size_t i = o; i < o + N; ++i) {
                    CHECK(std::fabs(ka[i] + kk[i] * inv) <= 1e-6);
                    CHECK(std::fabs(kb[i] - kk[i] * inv * a[i]) <= 1e-6 * (1 + std::fabs(a[i])));
                    const double expected = (y0[i] + bonus * v[i]) * g[i];
                    CHECK(std::fabs(y[i] - expected) <= 1e-5 * (1 + std::fabs(expected)));
                }
            }
        }
    });
}

TEST_CASE("kernels: RWKV-6's mix and decay and the silu gate match double precision at every target") {
    for_each_target([] {
        std::mt19937 rng(14);
        std::normal_distribution<float> normal(0.0f, 2.0f);
        const size_t R = 3, C = 37; // 37: whole vectors and a partial one at every width
        auto vec = [&](size_t n) {
            std::vector<float> v(n);
            for (float &e : v) e = normal(rng);
            return v;
        };
        const std::vector<float> A = vec(R * C), P = vec(R * C), mu = vec(C), m = vec(R * C), g = vec(R * C), w0 = vec(C);
        std::vector<float> x(R * C), w = vec(R * C), y = vec(R * C);
        w[1] = 100.0f; // e^(w0 + w) overflows: the decay is 0, as std::exp(−inf)
        w[2] = INFINITY;
        w[3] = NAN;
        w[4] = -200.0f; // a decay of exactly 1
        const std::vector<float> w_in = w, y_in = y;
        rwkv6_mix(R, C, A.data(), P.data(), mu.data(), m.data(), x.data());
        rwkv6_decay(R, C, w0.data(), w.data());
        silu_gate(y.data(), g.data(), R * C);
        for (size_t i = 0; i < R * C; ++i) {
            CAPTURE(i);
            const size_t c = i % C;
            const double ex = A[i] + (double(P[i]) - A[i]) * (double(mu[c]) + m[i]);
            CHECK(std::fabs(x[i] - ex) <= 1e-6 * (1 + std::fabs(ex)));
            const double ew = std::exp(-std::exp(double(w0[c]) + w_in[i]));
            if (std::isnan(ew)) CHECK(std::isnan(w[i]));
            else CHECK(std::fabs(w[i] - ew) <= 1e-6);
            const double gi = g[i], ey = y_in[i] * gi / (1 + std::exp(-gi));
            CHECK(std::fabs(y[i] - ey) <= 1e-6 * (1 + std::fabs(ey)));
        }
        CHECK(w[1] == 0.0f);
        CHECK(w[2] == 0.0f);
        CHECK(w[4] == 1.0f);
    });
}

TEST_CASE("kernels: activations match the scalar formulas at every target, whatever the position") {
    for_each_target([] {
        std::mt19937 rng(13);
        std::normal_distribution<float> wide(0.0f, 6.0f);
        for (size_t n : {size_t(1), size_t(7), size_t(16), size_t(33), size_t(100)}) {
            CAPTURE(n);
            std::vector<float> x(n);
            for (float &v : x) v = wide(rng);
            x[0] = 95.0f; // past expf's range: the sigmoid saturates instead of turning NaN
            std::vector<float> t = x, s = x;
            tanh_inplace(t.data(), n);
            sigmoid_inplace(s.data(), n);
            for (size_t i = 0; i < n; ++i) {
                CHECK(std::fabs(t[i] - std::tanh(double(x[i]))) <= 4e-7 * (1 + std::fabs(std::tanh(double(x[i])))));
                const double sig = 1 / (1 + std::exp(-double(x[i])));
                CHECK(std::fabs(s[i] - sig) <= 4e-7 * (1 + sig));
            }
            // The same values one element at a time: results never depend on position.
            for (size_t i = 0; i < n; ++i) {
                float one = x[i];
                tanh_inplace(&one, 1);
                CHECK(one == t[i]);
            }
            // relu² exactly as the scalar std::max(x, 0)², NaN kept.
            std::vector<float> q = x;
            if (n > 2) q[2] = NAN;
            std::vector<float> expected = q;
            for (float &e : expected) e = std::max(e, 0.0f) * std::max(e, 0.0f);
            relu_square_inplace(q.data(), n);
            for (size_t i = 0; i < n; ++i) CHECK((std::isnan(expected[i]) ? std::isnan(q[i]) : q[i] == expected[i]));
        }

        const size_t R = 3, C = 37;
        auto vec = [&](size_t m) {
            std::vector<float> v(m);
            for (float &e : v) e = wide(rng) / 3;
            return v;
        };
        std::vector<float> w = vec(R * C), a = vec(R * C), k = vec(R * C), v = vec(R * C), vf = vec(R * C), vres = vec(R * C);
        const std::vector<float> w0 = vec(C), a0 = vec(C), k_k = vec(C), k_a = vec(C), v0 = vec(C);
        std::vector<float> w1 = w, a1 = a, k1 = k, v1 = v, kk(R * C);
        rwkv7_gates(R, C, w1.data(), a1.data(), k1.data(), kk.data(), v1.data(), vf.data(), vres.data(), w0.data(), a0.data(),
                    k_k.data(), k_a.data(), v0.data());
        auto sigmoid = [](double z) { return 1 / (1 + std::exp(-z)); };
        for (size_t i = 0; i < R * C; ++i) {
            const size_t c = i % C;
            const double ew = std::exp(-0.606531 * sigmoid(w0[c] + w[i])), ea = sigmoid(a0[c] + a[i]);
            const double ek = k[i] * (1 + (ea - 1) * k_a[c]), ev = v[i] + (vf[i] - v[i]) * sigmoid(v0[c] + vres[i]);
            CHECK(std::fabs(w1[i] - ew) <= 1e-6);
            CHECK(std::fabs(a1[i] - ea) <= 1e-6);
            CHECK(kk[i] == doctest::Approx(double(k[i]) * k_k[c]).epsilon(1e-6));
            CHECK(std::fabs(k1[i] - ek) <= 1e-5 * (1 + std::fabs(ek)));
            CHECK(std::fabs(v1[i] - ev) <= 1e-5 * (1 + std::fabs(ev)));
        }
    });
}
