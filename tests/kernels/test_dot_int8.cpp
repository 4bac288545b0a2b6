#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "exec/thread_pool.h"
#include "kernels/dot_int8.h"
#include "kernels/gemm_int8.h"
#include "kernels/matrix.h"

using namespace rwkvrt;

namespace {

constexpr Int8Level kLevels[] = {Int8Level::Avx2, Int8Level::Avx512Vnni};

const char *level_name(Int8Level l) { return l == Int8Level::Avx2 ? "AVX2" : "AVX512-VNNI"; }

// The block types of 32 elements with a row kernel, and the affine ones (element = d·u + m).
constexpr DType kRowTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1};
bool affine(DType t) { return t == DType::Q4_1 || t == DType::Q5_1; }

// Rows of random quants (every byte value, −128 included for q8_0, every fifth bit) with finite fp16
// scales (and mins).
std::vector<uint8_t> random_rows(DType t, int64_t rows, int64_t cols, std::mt19937 &rng) {
    const size_t block = size_t(dtype_info(t).block_bytes);
    std::vector<uint8_t> out(size_t(rows * cols / 32) * block);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    for (size_t b = 0; b < out.size(); b += block) {
        const size_t fields = affine(t) ? 2 : 1;
        for (size_t f = 0; f < fields; ++f) {
            const uint16_t h = f32_to_f16(scale(rng));
            std::memcpy(&out[b + 2 * f], &h, 2);
        }
        for (size_t j = 2 * fields; j < block; ++j) out[b + j] = uint8_t(byte(rng));
    }
    return out;
}

std::vector<float> random_vector(int64_t n, std::mt19937 &rng) {
    std::normal_distribution<float> normal;
    std::vector<float> x(static_cast<size_t>(n));
    for (float &v : x) v = normal(rng);
    return x;
}

// The contract of dot_int8.h written out: exact integer sums per block (codes from block_codes(), which
// tests/kernels/test_gemm_int8.cpp checks against the dequantizer), then in fp32 one fused multiply-add
// per block into accumulator b mod 8 (two for affine types), and the fixed sum of the eight.
float reference_dot(DType t, const uint8_t *row, const Int8Vector &x) {
    BlockCodeLayout layout;
    REQUIRE(block_code_layout(t, &layout));
    float acc[8] = {};
    for (int64_t b = 0; b < x.n / 32; ++b) {
        uint8_t u[32];
        float a = 0, m = 0;
        block_codes(t, row + size_t(b) * size_t(dtype_info(t).block_bytes), u, &a, &m);
        int64_t s = 0, x_sum = 0;
        for (int j = 0; j < 32; ++j) {
            s += int64_t(int(u[j]) - layout.offset) * x.q[32 * b + j];
            x_sum += x.q[32 * b + j];
        }
        acc[b % 8] = std::fma(a * x.d[b], float(s), acc[b % 8]);
        if (layout.affine) acc[b % 8] = std::fma(m * x.d[b], float(x_sum), acc[b % 8]);
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

} // namespace

TEST_CASE("kernels: activations round to int8 blocks within half a step") {
    std::mt19937 rng(11);
    std::vector<float> x = random_vector(96, rng);
    x[40] = 0; // a block of zeros gets scale 0
    std::fill(x.begin() + 64, x.end(), 0.0f);
    std::vector<uint8_t> buffer(int8_vector_bytes(96));
    const Int8Vector q = quantize_activations(x.data(), 96, buffer.data());
    for (int64_t b = 0; b < 3; ++b) {
        int32_t sum = 0, halves[2] = {};
        for (int j = 0; j < 32; ++j) {
            const int64_t i = 32 * b + j;
            CHECK(std::abs(int(q.q[i])) <= 127);
            CHECK(std::fabs(x[size_t(i)] - q.d[b] * float(q.q[i])) <= 0.5001f * q.d[b]);
            sum += q.q[i];
            halves[j / 16] += q.q[i];
        }
        CHECK(q.sum[b] == sum);
        CHECK(q.sum16[2 * b] == halves[0]);
        CHECK(q.sum16[2 * b + 1] == halves[1]);
    }
    CHECK(q.d[2] == 0.0f);
}

TEST_CASE("kernels: rounding the activations gives the scalar reference's bits at every level") {
    std::mt19937 rng(14);
    const int64_t n = 32 * 40;
    std::vector<float> x = random_vector(size_t(n), rng);
    std::fill_n(x.begin() + 64, 32, 0.0f); // a block of zeros
    for (int j = 0; j < 32; ++j) x[size_t(96 + j)] = float(j % 8) - 3.5f; // halves: ties to even
    x[96] = 127.0f / 32.0f; // scale 1/32: x·32 lands on .5 for the others
    x[130] = -1e30f;        // one huge value, the rest of its block rounds to 0
    std::vector<uint8_t> reference(int8_vector_bytes(n)), got(int8_vector_bytes(n));
    const Int8Vector ref = quantize_activations(x.data(), n, reference.data(), Int8Level::None);
    for (int64_t j = 0; j < n / 16; ++j) { // the sums the kernels subtract offsets with: of q, per 16 and per 32
        int32_t s = 0;
        for (int64_t k = 16 * j; k < 16 * j + 16; ++k) s += ref.q[k];
        REQUIRE(ref.sum16[j] == s);
        if (j % 2) REQUIRE(ref.sum[j / 2] == ref.sum16[j - 1] + s);
    }
    int tested = 0;
    for (Int8Level level : kLevels) {
        if (level > int8_level()) continue;
        CAPTURE(std::string(level_name(level)));
        std::fill(got.begin(), got.end(), uint8_t(0xAA));
        quantize_activations(x.data(), n, got.data(), level);
        CHECK(got == reference);
        ++tested;
    }
    MESSAGE("activation rounding tested at ", tested, " SIMD level(s) against the scalar reference");
}

TEST_CASE("kernels: integer dot products equal the scalar int8 reference bit for bit at every level") {
    const Int8Level best = int8_level();
    for (Int8Level level : kLevels) {
        if (level > best) {
            MESSAGE("skipped: this CPU does not run the ", level_name(level), " integer kernels");
            continue;
        }
        CAPTURE(std::string(level_name(level)));
        for (DType t : kRowTypes) {
            CAPTURE(std::string(dtype_name(t)));
            const DotInt8Fn dot = dot_int8_kernel(t, level);
            REQUIRE(bool(dot));
            std::mt19937 rng(5);
            // Blocks below, at and around the group of eight, and tails of every length.
            for (int64_t blocks : {1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 64, 101}) {
                CAPTURE(blocks);
                const int64_t cols = 32 * blocks, rows = 5;
                const std::vector<uint8_t> W = random_rows(t, rows, cols, rng);
                const std::vector<float> x = random_vector(cols, rng);
                std::vector<uint8_t> buffer(int8_vector_bytes(cols));
                const Int8Vector q = quantize_activations(x.data(), cols, buffer.data());
                for (int64_t r = 0; r < rows; ++r) {
                    const uint8_t *row = W.data() + size_t(r) * W.size() / rows;
                    const float got = dot(row, q), want = reference_dot(t, row, q);
                    CHECK_MESSAGE(same_bits(got, want), "row ", r, ": ", got, " != ", want);
                }
            }
        }
    }
    const bool other_type = dot_int8_kernel(DType::F16, best) != nullptr;
    const bool no_level = dot_int8_kernel(DType::Q8_0, Int8Level::None) != nullptr;
    CHECK_FALSE(other_type);
    CHECK_FALSE(no_level);
}

// Q6_K's contract (kernels/dot_int8.h) written out: exact sub-block sums, lane scales, one fma per lane
// and super-block, the fixed sum of the lanes.
float reference_dot_q6_k(const uint8_t *row, const Int8Vector &x) {
    float acc[16] = {};
    for (int64_t sb = 0; sb < x.n / 256; ++sb, row += 210) {
        float scale[16];
        q6_k_lane_scales(row, x.d + 8 * sb, scale);
        for (int lane = 0; lane < 16; ++lane) {
            const int s = q6_k_sub_of_lane(lane);
            int64_t sum = 0;
            for (int l = 0; l < 16; ++l) {
                const int i = 16 * s + l, half = i / 128, quarter = (i % 128) / 32, j = i % 32;
                const uint8_t lo = row[64 * half + 32 * (quarter % 2) + j];
                const int low = quarter < 2 ? lo & 15 : lo >> 4, high = (row[128 + 32 * half + j] >> (2 * quarter)) & 3;
                sum += int64_t((low | high << 4) - 32) * x.q[256 * sb + i];
            }
            acc[lane] = std::fma(scale[lane], float(sum), acc[lane]);
        }
    }
    return q6_k_sum_lanes(acc);
}

TEST_CASE("kernels: the Q6_K integer kernel equals its scalar contract bit for bit at every level, and is close to the fp32 dot") {
    std::vector<DotInt8Fn> dots;
    for (Int8Level level : {Int8Level::Avx2, Int8Level::Avx512Vnni})
        if (level <= int8_level()) dots.push_back(dot_int8_kernel(DType::Q6_K, level));
    if (dots.empty()) {
        std::printf("rwkvrt-test-skipped: this CPU has no AVX2, so Q6_K keeps fp32 activations\n");
        return;
    }
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.01f, 0.01f);
    for (int64_t supers : {1, 2, 3, 12}) {
        CAPTURE(supers);
        const int64_t cols = 256 * supers;
        std::vector<uint8_t> row(size_t(supers) * 210);
        for (size_t b = 0; b < row.size(); b += 210) {
            for (size_t j = 0; j < 208; ++j) row[b + j] = uint8_t(byte(rng)); // quants and int8 scales
            const uint16_t d = f32_to_f16(scale(rng));
            std::memcpy(&row[b + 208], &d, 2);
        }
        const std::vector<float> x = random_vector(cols, rng);
        std::vector<uint8_t> buffer(int8_vector_bytes(cols));
        const Int8Vector q = quantize_activations(x.data(), cols, buffer.data());
        const float want = reference_dot_q6_k(row.data(), q), got = dots.back()(row.data(), q);
        for (DotInt8Fn dot : dots) {
            const float level_got = dot(row.data(), q);
            CHECK_MESSAGE(same_bits(level_got, want), level_got, " != ", want);
        }
        std::vector<float> w(static_cast<size_t>(cols));
        to_f32(DType::Q6_K, row.data(), w.data(), w.size());
        double exact = 0, magnitude = 0;
        for (int64_t i = 0; i < cols; ++i) {
            exact += double(w[size_t(i)]) * x[size_t(i)];
            magnitude += std::fabs(double(w[size_t(i)]) * x[size_t(i)]);
        }
        CHECK(std::fabs(got - exact) <= 0.02 * magnitude); // the rounding of x to int8
    }
    // The extremes, where 16-bit pair sums come nearest to saturating: every code 0 or 63, every
    // activation ±127.
    for (uint8_t fill : {uint8_t{0x00}, uint8_t{0xFF}})
        for (float sign : {1.0f, -1.0f}) {
            CAPTURE(int(fill));
            std::vector<uint8_t> row(2 * 210, fill);
            for (size_t b = 0; b < row.size(); b += 210) {
                for (size_t j = 192; j < 208; ++j) row[b + j] = uint8_t(j % 2 ? 0x7F : 0x81); // scales ±127
                const uint16_t d = f32_to_f16(0.01f);
                std::memcpy(&row[b + 208], &d, 2);
            }
            const std::vector<float> x(512, sign);
            std::vector<uint8_t> buffer(int8_vector_bytes(512));
            const Int8Vector q = quantize_activations(x.data(), 512, buffer.data());
            const float want = reference_dot_q6_k(row.data(), q);
            for (DotInt8Fn dot : dots) {
                const float got = dot(row.data(), q);
                CHECK_MESSAGE(same_bits(got, want), got, " != ", want);
            }
        }
}

TEST_CASE("kernels: linear with int8 activations quantizes x once and matches the reference for every row") {
    if (int8_level() == Int8Level::None) {
        MESSAGE("skipped: this CPU has no AVX2, so int8 activations fall back to fp32");
        return;
    }
    ThreadPool pool(2);
    std::mt19937 rng(7);
    // Odd row counts; the larger ones exceed one chunk of rows and run on both threads.
    for (DType t : kRowTypes) {
        CAPTURE(std::string(dtype_name(t)));
        for (const std::pair<int64_t, int64_t> shape : {std::pair<int64_t, int64_t>{1, 32}, {13, 96}, {37, 320}, {1001, 544}, {4097, 288}}) {
            const int64_t rows = shape.first, cols = shape.second;
            CAPTURE(rows);
            CAPTURE(cols);
            const std::vector<uint8_t> data = random_rows(t, rows, cols, rng);
            Matrix W;
            W.rows = rows;
            W.cols = cols;
            W.dtype = t;
            W.data = data.data();
            W.int8_activations = true;
            const std::vector<float> x = random_vector(cols, rng);
            std::vector<float> y(static_cast<size_t>(rows));
            linear(W, x.data(), 1, y.data(), pool);
            std::vector<uint8_t> buffer(int8_vector_bytes(cols));
            const Int8Vector q = quantize_activations(x.data(), cols, buffer.data());
            int mismatches = 0;
            for (int64_t r = 0; r < rows; ++r)
                mismatches += !same_bits(y[size_t(r)], reference_dot(t, W.row(r), q));
            CHECK(mismatches == 0);
        }
    }
}
