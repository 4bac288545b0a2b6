#include "model/model.h"

#include <algorithm>
#include <thread>
#include <vector>
#include <xxhash.h>

#include "core/error.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

uint64_t fingerprint_of(const TensorFile &file) {
    std::vector<const TensorView *> sorted;
    for (const TensorView &t : file.tensors()) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(), [](auto *a, auto *b) { return a->name < b->name; });
    XXH3_state_t *h = XXH3_createState();
    if (!h) throw std::bad_alloc();
    XXH3_64bits_reset(h);
    for (const TensorView *t : sorted) {
        XXH3_64bits_update(h, t->name.data(), t->name.size() + 1);
        const uint8_t dtype = static_cast<uint8_t>(t->dtype);
        XXH3_64bits_update(h, &dtype, 1);
        for (int64_t d : t->shape) XXH3_64bits_update(h, &d, sizeof d);
        XXH3_64bits_update(h, t->data, t->nbytes);
    }
    const uint64_t digest = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return digest;
}

} // namespace

Model::Model(const std::string &path, const ModelOptions &options) {
    if (options.n_threads < 0) fail(RWKVRT_ERR_ARGUMENT, "n_threads is ", options.n_threads, "; use 0 for one per core");
    n_threads_ = options.n_threads ? options.n_threads : int(std::max(1u, std::thread::hardware_concurrency()));
    file_ = open_tensor_file(path, options.use_mmap);
    arch_ = build_model(*file_, LoadConfig{options.weight_type});
    fingerprint_ = fingerprint_of(*file_);
}

size_t Model::weight_bytes() const {
    size_t n = 0;
    for (const TensorView &t : file_->tensors()) n += t.nbytes;
    return n;
}

size_t Model::n_params() const {
    size_t n = 0;
    for (const TensorView &t : file_->tensors()) n += size_t(t.numel());
    return n;
}

void Model::feed(State &state, const int32_t *tokens, size_t n, float *logits) const {
    if (&state.model() != this) fail(RWKVRT_ERR_MISMATCH, "the state belongs to another model");
    if (n == 0) fail(RWKVRT_ERR_ARGUMENT, "n_tokens is 0");
    const int64_t vocab = hparams().n_vocab;
    for (size_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= vocab)
            fail(RWKVRT_ERR_TOKEN, "token ", tokens[i], " at position ", i, " is outside the vocabulary [0, ", vocab, ")");
    const RunConfig run{n_threads_};
    for (size_t done = 0; done < n;) {
        const size_t chunk = std::min(kChunk, n - done);
        const bool last = done + chunk == n;
        arch_->forward(state.data(), tokens + done, int64_t(chunk), last ? logits : nullptr, run);
        done += chunk;
        state.add_tokens(chunk);
    }
}

} // namespace rwkvrt
