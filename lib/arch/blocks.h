// Pieces every version's forward pass shares: norms, the embedding and output head, token shift,
// and per-call scratch memory.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "arch/weights.h"
#include "kernels/matrix.h"

namespace rwkvrt {

constexpr float kLayerNormEps = 1e-5f;
constexpr float kGroupNormEps = 64e-5f; // ln_x of v5/v6/v7 (= eps 1e-5 on x / head_size_divisor 8)

struct Norm {
    std::vector<float> weight, bias;

    void load(WeightLoader &w, const std::string &prefix, int64_t n);
    void layer_norm(const float *x, float *y, int64_t T) const; // eps 1e-5
};

// emb → ln0 at the start; ln_out → head at the end.
struct Ends {
    Matrix emb;
    Norm ln0;
    Norm ln_out;
    Matrix head;

    void load(WeightLoader &w, const HParams &hp);
    void embed(const int32_t *tokens, int64_t T, float *X) const;          // X: T × C
    void logits(const float *x_last, float *out, int n_threads) const;      // out: n_vocab
};

// Token shift of the T × C rows A: P[0] = x_prev, P[t] = A[t−1]; then x_prev = A[T−1].
void token_shift(const float *A, int64_t T, int64_t C, float *x_prev, float *P);

// Bump allocator for one forward call's activations, so a state never carries work buffers.
class Scratch {
public:
    explicit Scratch(size_t floats) : buf_(floats) {}
    float *take(size_t n) {
        float *p = buf_.data() + used_;
        used_ += n;
        return p;
    }

private:
    std::vector<float> buf_;
    size_t used_ = 0;
};

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

} // namespace rwkvrt
