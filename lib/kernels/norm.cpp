#include "kernels/norm.h"

#include <cmath>

namespace rwkvrt {

namespace {

// Statistics in double: the tiny models' outputs are compared against a float64 reference.
void normalize(const float *x, float *y, int64_t n, const float *weight, const float *bias, float eps) {
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i];
    mean /= double(n);
    double var = 0;
    for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= double(n);
    const double inv = 1.0 / std::sqrt(var + double(eps));
    for (int64_t i = 0; i < n; ++i) y[i] = float((x[i] - mean) * inv) * weight[i] + bias[i];
}

} // namespace

void layer_norm(const float *x, float *y, int64_t T, int64_t n, const float *weight, const float *bias, float eps) {
    for (int64_t t = 0; t < T; ++t) normalize(x + t * n, y + t * n, n, weight, bias, eps);
}

void group_norm(const float *x, float *y, int64_t T, int64_t n, int64_t group, const float *weight,
                const float *bias, float eps) {
    for (int64_t t = 0; t < T; ++t)
        for (int64_t g = 0; g < n; g += group)
            normalize(x + t * n + g, y + t * n + g, group, weight + g, bias + g, eps);
}

} // namespace rwkvrt
