// Compiled once per SIMD target (Highway's foreach_target); the best one the CPU runs is called.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/norm.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include <cmath>

#include "hwy/highway.h"
#include "kernels/norm.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Statistics in double, as the float64 reference computes them (the tiny models' outputs are compared
// against it), with floats widened a half-vector at a time.
void Normalize(const float *x, float *y, int64_t n, const float *weight, const float *bias, float eps) {
    const hn::ScalableTag<double> dd;
    const hn::Rebind<float, decltype(dd)> df; // as many floats as doubles
    const int64_t L = int64_t(hn::Lanes(dd));
    auto sum0 = hn::Zero(dd), sum1 = hn::Zero(dd);
    int64_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
        sum0 = hn::Add(sum0, hn::PromoteTo(dd, hn::LoadU(df, x + i)));
        sum1 = hn::Add(sum1, hn::PromoteTo(dd, hn::LoadU(df, x + i + L)));
    }
    double mean = hn::GetLane(hn::SumOfLanes(dd, hn::Add(sum0, sum1)));
    for (; i < n; ++i) mean += x[i];
    mean /= double(n);

    const auto vmean = hn::Set(dd, mean);
    sum0 = hn::Zero(dd), sum1 = hn::Zero(dd);
    for (i = 0; i + 2 * L <= n; i += 2 * L) {
        const auto d0 = hn::Sub(hn::PromoteTo(dd, hn::LoadU(df, x + i)), vmean);
        const auto d1 = hn::Sub(hn::PromoteTo(dd, hn::LoadU(df, x + i + L)), vmean);
        sum0 = hn::MulAdd(d0, d0, sum0);
        sum1 = hn::MulAdd(d1, d1, sum1);
    }
    double var = hn::GetLane(hn::SumOfLanes(dd, hn::Add(sum0, sum1)));
    for (; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= double(n);

    const double inv = 1.0 / std::sqrt(var + double(eps));
    const auto vinv = hn::Set(dd, inv);
    for (i = 0; i + L <= n; i += L) {
        const auto z = hn::DemoteTo(df, hn::Mul(hn::Sub(hn::PromoteTo(dd, hn::LoadU(df, x + i)), vmean), vinv));
        hn::StoreU(hn::MulAdd(z, hn::LoadU(df, weight + i), hn::LoadU(df, bias + i)), df, y + i);
    }
    for (; i < n; ++i) y[i] = float((x[i] - mean) * inv) * weight[i] + bias[i];
}

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rwkvrt {

HWY_EXPORT(Normalize);

void layer_norm(const float *x, float *y, int64_t T, int64_t n, const float *weight, const float *bias, float eps) {
    for (int64_t t = 0; t < T; ++t) HWY_DYNAMIC_DISPATCH(Normalize)(x + t * n, y + t * n, n, weight, bias, eps);
}

void group_norm(const float *x, float *y, int64_t T, int64_t n, int64_t group, const float *weight,
                const float *bias, float eps) {
    for (int64_t t = 0; t < T; ++t)
        for (int64_t g = 0; g < n; g += group)
            HWY_DYNAMIC_DISPATCH(Normalize)(x + t * n + g, y + t * n + g, group, weight + g, bias + g, eps);
}

} // namespace rwkvrt
#endif
