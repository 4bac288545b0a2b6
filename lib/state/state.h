// One conversation: the model's recurrent state (fixed size) and a little bookkeeping. Work buffers
// are never kept here, so an idle conversation costs only its state.
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>
#include <string>

#include "state/state_values.h"

namespace rwkvrt {

class Model;

class State {
public:
    explicit State(const Model &model);

    const Model &model() const { return *model_; }
    float *data() { return data_.data(); }
    const float *data() const { return data_.data(); }
    size_t floats() const { return data_.size(); }

    uint64_t n_tokens() const { return n_tokens_; }
    void add_tokens(uint64_t n) { n_tokens_ += n; }
    void set_n_tokens(uint64_t n) { n_tokens_ = n; }

    // Application data saved with the state (e.g. a transcript); opaque bytes.
    const std::string &metadata() const { return metadata_; }
    void set_metadata(std::string bytes) { metadata_ = std::move(bytes); }

    void reset();                     // the state of an empty context; keeps the metadata
    void copy_from(const State &src); // same model required (RWKVRT_ERR_MISMATCH otherwise)

    // Replaces everything at once (used by restore after all checks passed).
    void assign(StateValues data, uint64_t n_tokens, std::string metadata);
    // Exchanges the values with a buffer of the same size, without copying: a feed computes the next
    // state into a buffer of its own and swaps it in once the step has succeeded.
    void swap_values(StateValues &other) {
        assert(other.size() == data_.size());
        data_.swap(other);
    }

    // A state is used by one call at a time: a call that changes it claims it first, and a second
    // call that finds it claimed fails instead of racing (ClaimedStates in model.cpp).
    bool try_claim() { return !busy_.exchange(true, std::memory_order_acquire); }
    void release() { busy_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> busy_{false};
    const Model *model_;
    StateValues data_;
    uint64_t n_tokens_ = 0;
    std::string metadata_;
};

} // namespace rwkvrt
