// What every RWKV version provides: its hyper-parameters, its state layout and its forward pass.
// One file per version (rwkv4.cpp … rwkv7.cpp) builds an ArchModel from a TensorFile; detect.cpp
// decides which one from the tensor names and shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "exec/engine.h"
#include "kernels/wkv.h"

namespace rwkvrt {

struct Matrix;

class TensorFile;

enum class Arch : uint32_t { rwkv4 = 1, rwkv5_0 = 2, rwkv5_1 = 3, rwkv5_2 = 4, rwkv6 = 5, rwkv7 = 6 };
const char *arch_name(Arch arch); // the spec's naming: "rwkv4", "rwkv5.0", …

struct HParams {
    Arch arch = Arch::rwkv7;
    int64_t n_vocab = 0;
    int64_t n_embd = 0;  // C
    int64_t n_layer = 0; // L
    int64_t dim_att = 0; // C_att
    int64_t dim_ffn = 0; // F
    int64_t n_head = 0;  // H (v5+); C_att for v4, whose recurrence is per channel
    int64_t head_size = 0; // N (v5+); 1 for v4
    int64_t rescale_every = 0; // v6 from GGUF: the residual stream is halved after every n-th layer (0: never)
};

// Per-layer state: [x_prev_att (C)][x_prev_ffn (C)][recurrence]. The recurrence is v4's aa, bb, pp
// (C_att each) or the H × N × N matrices of v5+ (key-major for v5/v6, value-major for v7, as each
// kernel reads them). Sizes come from the model; docs/STATE_FORMAT.md describes the layout.
template <class Float> // float, or const float for a state only read
struct LayerState {
    Float *att_x;
    Float *ffn_x;
    Float *wkv;
};

struct LoadConfig {
    std::optional<DType> weight_type; // convert the large matrices to this type; nullopt = as stored
    bool int8_activations = false;    // generation rounds the activations to int8 (Matrix::int8_activations)
    bool bf16_activations = false;    // steps of 2+ rows use bf16 products (Matrix::bf16_products)
    // If set, receives the names of the tensors the model holds in another type or layout: it no longer
    // reads their bytes in the file.
    std::vector<std::string> *copied = nullptr;
    // If set, matrices whose lanes layout (kernels/matrix.h) has their size and whose bytes are not in
    // mapped pages are not copied: they are marked Matrix::lanes and listed here (at the address where
    // their bytes lie once read), for the load pass (model/load_pass.h) to write in that layout.
    std::vector<Matrix> *lanes_at_load = nullptr;
    // The threads that convert matrices (to another type or layout); required.
    ThreadPool *pool = nullptr;
    // Every large matrix as the file stores it, in no other type or layout: for describing a file
    // (model/describe.cpp), whose model never runs.
    bool as_stored = false;
};

// One sequence of a forward step: its new tokens are rows [row0, row0 + T) of the step.
struct StepSeq {
    const float *state_in; // the sequence's whole state (ArchModel::state_floats()) before the step
    float *state_out;      // … after it, every float written; state_in (in place), or memory not overlapping it
    int64_t row0;
    int64_t T;      // ≥ 1
    float *logits;  // nullptr, or receives the n_vocab logits after the sequence's last row
    bool all_rows = false; // logits receives T × n_vocab: the logits after every row, not only the last
    int64_t logit_rows() const { return logits ? (all_rows ? T : 1) : 0; }
};

// A forward step over B sequences: their tokens are the consecutive rows of one R × C activation
// matrix, so every projection of every sequence is one matrix product, and only the token shift and
// the recurrence look at sequence boundaries.
struct Step {
    const int32_t *tokens; // R token ids, already validated
    int64_t rows;          // R
    std::vector<StepSeq> seqs;
};

// The cost of one token: two FLOPs per multiply-add of every matrix it goes through (the head
// included, since every decoded token needs logits), and the bytes of weights one decoding step reads
// (every matrix as stored, one row of the embedding). Vectors and the recurrence are left out: they
// are under 1 % of either at every real shape.
struct WorkPerToken {
    double flops = 0;
    double bytes = 0;
    double head_flops = 0; // of flops: the output head's, which a prompt needs after its last token only
    double tail_flops = 0; // of flops: the last layer's products after its recurrence, which a step runs
                           // on its StepTail rows only (arch/blocks.h)
};

class ArchModel {
public:
    explicit ArchModel(const HParams &hp) : hp_(hp) {}
    virtual ~ArchModel() = default;

    const HParams &hparams() const { return hp_; }
    size_t wkv_floats_per_layer() const;
    size_t layer_floats() const { return size_t(2 * hp_.n_embd) + wkv_floats_per_layer(); }
    size_t state_floats() const { return size_t(hp_.n_layer) * layer_floats(); }
    template <class Float>
    LayerState<Float> layer(Float *state, int64_t i) const {
        Float *base = state + size_t(i) * layer_floats();
        return {base, base + hp_.n_embd, base + 2 * hp_.n_embd};
    }
    void init_state(float *state) const; // the state of an empty context

    // Feeds a step's tokens through every layer, from each sequence's state_in to its state_out, and
    // writes the logits the sequences asked for. Calls ctx.checkpoint() between layers; if that throws,
    // the state_out are partly written and the state_in untouched (unless they are the same).
    virtual void forward(const Step &step, ExecContext &ctx) const = 0;


    // The element type of the large matrices, for `rwkvrt info`.
    virtual DType weight_dtype() const = 0;

    const WorkPerToken &work_per_token() const { return work_; }
    void set_work_per_token(const WorkPerToken &w) { work_ = w; }

protected:
    // Token shift of the R × C rows A (the input of the norm of layer l's time mix, or of its channel
    // mix when ffn): per sequence, P[row0] = its x_prev, P[t] = A[t−1]; then x_prev = its last row.
    void token_shift(const Step &step, int64_t l, bool ffn, const float *A, float *P, ThreadPool &pool) const;
    // Each sequence's rows and its recurrent state for layer l.
    std::vector<WkvSegment> segments(const Step &step, int64_t l) const;

private:
    HParams hp_;
    WorkPerToken work_;
};

// Detects the version (strictly: the exact tensor set and shapes) and builds its model.
// Throws Error(RWKVRT_ERR_UNSUPPORTED / RWKVRT_ERR_FORMAT) naming the tensor at fault.
std::unique_ptr<ArchModel> build_model(const TensorFile &file, const LoadConfig &config);

std::unique_ptr<ArchModel> build_rwkv4(const TensorFile &file, const LoadConfig &config);
std::unique_ptr<ArchModel> build_rwkv5(const TensorFile &file, const LoadConfig &config, Arch arch);
std::unique_ptr<ArchModel> build_rwkv6(const TensorFile &file, const LoadConfig &config);
std::unique_ptr<ArchModel> build_rwkv7(const TensorFile &file, const LoadConfig &config);

} // namespace rwkvrt
