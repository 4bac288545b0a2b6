// Normalisations, row by row over T × n row-major activations.
#pragma once

#include <cstdint>

namespace rwkvrt {

// LayerNorm (population variance), per row of n; y may alias x.
void layer_norm(const float *x, float *y, int64_t T, int64_t n, const float *weight, const float *bias, float eps);

// GroupNorm with groups of `group` consecutive channels (one head), per row of n; y may alias x.
void group_norm(const float *x, float *y, int64_t T, int64_t n, int64_t group, const float *weight,
                const float *bias, float eps);

} // namespace rwkvrt
