// A loaded model: the file's tensors, the version's forward pass, and what identifies the weights.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "arch/arch.h"
#include "formats/tensor_file.h"

namespace rwkvrt {

class State;

struct ModelOptions {
    int n_threads = 0; // 0 = one per core
    std::optional<DType> weight_type;
    bool use_mmap = true;
};

class Model {
public:
    // Throws Error (IO, FORMAT, UNSUPPORTED) naming the file and the problem.
    Model(const std::string &path, const ModelOptions &options);

    const HParams &hparams() const { return arch_->hparams(); }
    const ArchModel &arch() const { return *arch_; }
    const std::string &path() const { return file_->path(); }
    const std::string &format() const { return file_->format(); }
    int n_threads() const { return n_threads_; }
    // XXH3-64 of every tensor's name, type, shape and bytes as stored, in name order.
    uint64_t fingerprint() const { return fingerprint_; }
    // Bytes of weights held (mapped or in memory), and their number.
    size_t weight_bytes() const;
    size_t n_params() const;

    // Feeds tokens to state (which must belong to this model). Validates every id before touching
    // the state, so a bad id leaves it unchanged. Long inputs are fed in chunks of kChunk tokens.
    void feed(State &state, const int32_t *tokens, size_t n, float *logits) const;

    static constexpr size_t kChunk = 256;

private:
    std::unique_ptr<TensorFile> file_;
    std::unique_ptr<ArchModel> arch_;
    uint64_t fingerprint_ = 0;
    int n_threads_ = 1;
};

} // namespace rwkvrt
