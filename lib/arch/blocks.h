// Pieces every version's forward pass shares: norms, the embedding and output head, the step's
// scratch memory; and the layer skeleton and channel mix of v4, v5 and v6.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "arch/weights.h"
#include "core/page_buffer.h"
#include "exec/thread_pool.h"
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
    void embed(const int32_t *tokens, int64_t T, float *X) const; // X: T × C
    // The logits of every sequence that asked for them, from the last of its rows of X (or all of them,
    // StepSeq::all_rows): these rows go through ln_out and the head together, as one matrix product.
    static size_t logits_floats(const Step &step, const HParams &hp);
    void logits(const Step &step, const float *X, class Scratch &s, ThreadPool &pool) const;
};

// The rows a step's last layer must finish. Its recurrence takes every row, but after it only these
// count: the rows whose logits are wanted, the row before each (its channel mix's token shift), and each
// sequence's last row (the shift its state keeps). Per sequence they are its last one, two or all rows.
// `step` holds them packed into a step of their own (the same states and logits), `from` the row of the
// whole step each one is. A sequence's first packed row that is not its first row is there only as the
// next row's shift: its own channel mix runs and is not used. Prompts skip nearly all of the last
// layer's output projection and channel mix (0.1B: 6% of a prompt's FLOPs).
struct StepTail {
    Step step;
    std::vector<int64_t> from;

    explicit StepTail(const Step &whole);
    // What the rest of a layer runs on after its recurrence: `whole`, or in the last layer this tail,
    // with the rows `from` of each (whole step) × C matrix given packed in place, to the top.
    const Step &rest_of_layer(const Step &whole, bool last_layer, std::initializer_list<float *> matrices, int64_t C) const;
    // Rows of a sequence of T rows, `logit_rows` of them wanted, that its last layer finishes.
    static int64_t rows_of(int64_t T, int64_t logit_rows) { return std::min(T, logit_rows + 1); }
};

// Two FLOPs per multiply-add of each matrix, for WorkPerToken.
double product_flops(std::initializer_list<const Matrix *> matrices);

// Bump allocator over the engine's activation buffer for one forward step, so a state never carries
// work buffers and no step allocates once the buffer has grown to the largest step. The buffer starts
// on a page, so with widths a multiple of 16 floats every buffer taken starts on a cache line: a
// mat-vec's 64-byte loads of x then never straddle two lines.
class Scratch {
public:
    Scratch(PageBuffer &buf, size_t floats) : buf_(buf) {
        if (buf_.size() < floats * sizeof(float)) buf_.allocate(floats * sizeof(float));
    }
    float *take(size_t n) {
        assert((used_ + n) * sizeof(float) <= buf_.size());
        float *p = reinterpret_cast<float *>(buf_.data()) + used_;
        used_ += n;
        return p;
    }
    // Buffers taken after mark() are handed back by release(): every layer reuses the same memory.
    size_t mark() const { return used_; }
    void release(size_t mark) { used_ = mark; }

private:
    PageBuffer &buf_;
    size_t used_ = 0;
};

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Token-shift mixes are kept as the weight of the previous token, the v6/v7 convention (spec §3.3):
// mixed = x + (prev − x)·μ. v4/v5 files store the weight of the current token, x·μ + prev·(1 − μ);
// load_mix(…, weights_current = true) turns those around.
std::vector<float> load_mix(WeightLoader &w, const std::string &name, int64_t C, bool weights_current);
// out = A + (P − A)·μ for T rows of C.
void mix(const float *A, const float *P, const float *mu, int64_t T, int64_t C, float *out);

// The channel mix of v4, v5 and v6 (spec §4.2.2, §4.4): σ(Wr·xr) ⊙ Wv·relu²(Wk·xk).
struct ChannelMix {
    std::vector<float> mix_k, mix_r; // weight of the previous token
    Matrix key, receptance, value;

    void load(WeightLoader &w, const std::string &prefix, const HParams &hp); // prefix "blocks.i.ffn."
    static size_t scratch_floats(const HParams &hp, int64_t T);
    // A: the ln2 output, P: its token-shifted rows (T × C each); out: T × C.
    void forward(const float *A, const float *P, int64_t T, float *out, Scratch &s, ThreadPool &pool) const;
};

// What distinguishes v4, v5 and v6: the time mix. It reads the ln1 output A and its token-shifted
// rows P (T × C), advances each sequence's recurrence (`segs`) and writes the block's output (T × C).
class TimeMix {
public:
    virtual ~TimeMix() = default;
    virtual size_t scratch_floats(int64_t T) const = 0;
    virtual void forward(const float *A, const float *P, int64_t T, const std::vector<WkvSegment> &segs, float *out,
                         Scratch &s, ThreadPool &pool) const = 0;
};

// Builds a v4/v5/v6 model around the skeleton of spec §4.1: emb → ln0, then per layer
// x += TimeMix(ln1(x)), x += ChannelMix(ln2(x)), then ln_out → head. load_att loads one layer's time
// mix from the prefix "blocks.i.att."; every tensor is checked and unexpected ones refused.
using TimeMixLoader = std::function<std::unique_ptr<TimeMix>(WeightLoader &w, const std::string &prefix)>;
std::unique_ptr<ArchModel> build_classic(WeightLoader &w, const HParams &hp, const TimeMixLoader &load_att);

} // namespace rwkvrt
