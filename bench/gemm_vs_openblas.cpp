// rwkvrt_bench_gemm: rwkvrt's matrix products against OpenBLAS's cblas_sgemm on the shapes of
// prefill and of batched decoding, interleaved run by run on one machine. For bf16 weights OpenBLAS
// gets them widened to f32 beforehand (free for it): Debian's OpenBLAS 0.3.21 declares cblas_sbgemm
// but its library does not export it. The decision it informs is recorded in docs/PERFORMANCE.md. Not a test: it prints.
//   rwkvrt_bench_gemm [threads] [repetitions]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "exec/thread_pool.h"
#include "kernels/matrix.h"

using namespace rwkvrt;

namespace {

double seconds(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Matrix matrix(DType t, int64_t rows, int64_t cols, std::mt19937 &rng) {
    std::normal_distribution<float> d(0, 0.05f);
    Matrix f;
    f.rows = rows;
    f.cols = cols;
    f.owned.allocate(size_t(rows * cols) * 4);
    auto *p = reinterpret_cast<float *>(f.owned.data());
    for (int64_t i = 0; i < rows * cols; ++i) p[i] = d(rng);
    f.data = f.owned.data();
    if (t == DType::F32) return f; // moved: `data` points into `owned`, whose buffer moves with it
    ThreadPool converting(2);
    return convert_matrix(f, t, "bench", converting);
}

} // namespace

int main(int argc, char **argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
    openblas_set_num_threads(threads);
    ThreadPool pool(threads);
    std::mt19937 rng(1);
    struct Shape {
        int64_t T, out, in;
        const char *what;
    };
    const Shape shapes[] = {{16, 768, 768, "16 conversations, 0.1B att"}, {64, 768, 768, "64 conversations, 0.1B att"}, {64, 3072, 768, "64 conversations, 0.1B ffn"}, {256, 1024, 1024, "prefill step, 0.4B att"}, {512, 4096, 1024, "prefill, 0.4B ffn"}, {64, 65536, 768, "64 conversations, 0.1B head"}};
    std::printf("| weights | T x out x in | shape | rwkvrt GFLOP/s | OpenBLAS GFLOP/s |\n|---|---|---|---:|---:|\n");
    for (DType t : {DType::F32, DType::BF16}) {
        for (const Shape &s : shapes) {
            const Matrix W = matrix(t, s.out, s.in, rng);
            std::vector<float> X(size_t(s.T * s.in)), Y(size_t(s.T * s.out));
            for (float &x : X) x = std::normal_distribution<float>(0, 1)(rng);
            std::vector<float> Wf(size_t(s.out * s.in));
            for (int64_t r = 0; r < s.out; ++r) to_f32(t, W.row(r), Wf.data() + r * s.in, size_t(s.in));
            const double flop = 2.0 * double(s.T) * double(s.out) * double(s.in);
            double best_own = 0, best_blas = 0;
            for (int r = 0; r < reps; ++r) { // interleaved, best of reps
                auto t0 = std::chrono::steady_clock::now();
                linear(W, X.data(), s.T, Y.data(), pool);
                best_own = std::max(best_own, flop / seconds(t0) / 1e9);
                t0 = std::chrono::steady_clock::now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(s.T), int(s.out), int(s.in), 1.0f, X.data(), int(s.in),
                            Wf.data(), int(s.in), 0.0f, Y.data(), int(s.out));
                best_blas = std::max(best_blas, flop / seconds(t0) / 1e9);
            }
            std::printf("| %s | %lld x %lld x %lld | %s | %.1f | %.1f |\n", dtype_name(t), (long long)s.T, (long long)s.out,
                        (long long)s.in, s.what ? s.what : "", best_own, best_blas);
        }
    }
    return 0;
}
