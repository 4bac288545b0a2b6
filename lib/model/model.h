// A loaded model: the file's tensors, the version's forward pass, and what identifies the weights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "arch/arch.h"
#include "exec/engine.h"
#include "formats/tensor_file.h"

namespace rwkvrt {

class State;

// One sequence of a batched feed: n ≥ 1 tokens for state; logits null or room for n_vocab floats.
struct FeedRequest {
    State *state;
    const int32_t *tokens;
    size_t n;
    float *logits;
    bool logits_all = false; // logits receives n × n_vocab, the logits after every token
};

// Receives (tokens done, tokens total) between layers; returning true stops the feed.
using ProgressFn = std::function<bool(uint64_t done, uint64_t total)>;

struct ModelOptions {
    int n_threads = 0; // 0 = one per core
    std::optional<DType> weight_type;
    bool use_mmap = false;
    bool int8_activations = true; // rwkvrt_load_options.activations = "int8" or "auto" (the default)
    bool bf16_activations = true; // rwkvrt_load_options.activations = "bf16" or "auto"
};

class Model {
public:
    // Throws Error (IO, FORMAT, UNSUPPORTED) naming the file and the problem.
    Model(const std::string &path, const ModelOptions &options);
    ~Model();

    const HParams &hparams() const { return arch_->hparams(); }
    const ArchModel &arch() const { return *arch_; }
    const std::string &path() const { return file_->path(); }
    const std::string &format() const { return file_->format(); }
    const FileInfo &file_info() const { return file_->info(); }
    // The tensors as stored, in the official layout. The pages of those the model holds in another type
    // or layout are handed back at load, or rewritten in place, so this reads the file again when there
    // were any; it fails
    // (RWKVRT_ERR_MISMATCH) if the file no longer holds the tensors that were loaded.
    std::shared_ptr<const TensorFile> stored_tensors() const;
    int n_threads() const { return engine_->n_threads(); }
    // What ties a state to these weights: fingerprint_of (model/load_pass.h) of the tensors as stored.
    uint64_t fingerprint() const { return fingerprint_; }
    // The fingerprint that state format version 1 recorded (fingerprint_v1_of), taken on first use: it
    // reads the tensors as stored once more.
    uint64_t fingerprint_v1() const;
    // Bytes of weights held (mapped or in memory), and their number.
    size_t weight_bytes() const;
    size_t n_params() const;

    // Feeds tokens to state (which must belong to this model): feed_batch with one sequence.
    void feed(State &state, const int32_t *tokens, size_t n, float *logits, const ProgressFn &progress = {}) const;

    // Feeds every request's tokens to its state. All or nothing: every state, id and pointer is
    // checked first (the error names the sequence), and if the feed fails later (cancelled by
    // `progress`, non-finite logits) every state is restored: to the start of the step that was
    // cancelled (so it holds exactly the tokens of the steps completed), or to the start of the call.
    // Each step feeds up to kStepRows rows, shared fairly among the unfinished sequences, as one
    // forward pass; concurrent callers' steps take turns on the model's threads.
    // batch_invariant: a step of one row runs the matrix products of a batch (BatchInvariantScope), so
    // that every sequence gets the same bits whatever the others in its steps.
    void feed_batch(std::span<const FeedRequest> requests, const ProgressFn &progress = {}, bool batch_invariant = false) const;

    // The FLOPs of feeding n_seqs prompts of n_tokens each in one feed_batch, with logits after each
    // one's last token: every matrix for every row, but the head once per prompt and the last layer's
    // products after its recurrence on each step's StepTail rows only (arch/blocks.h).
    double prompt_flops(size_t n_seqs, size_t n_tokens) const;

    static constexpr size_t kStepRows = 256;
    static constexpr int kMaxThreads = 1024;

private:
    std::unique_ptr<TensorFile> file_;
    std::unique_ptr<ArchModel> arch_;
    uint64_t fingerprint_ = 0;
    mutable std::once_flag fingerprint_v1_once_;
    mutable uint64_t fingerprint_v1_ = 0;
    bool file_differs_ = false; // tensors given back or rewritten in place: stored_tensors() reads the file again
    std::unique_ptr<Engine> engine_; // mutable state behind a const model: its threads and buffers
};

} // namespace rwkvrt
