#include "state/state.h"

#include "core/error.h"
#include "model/model.h"

namespace rwkvrt {

State::State(const Model &model) : model_(&model), data_(model.arch().state_floats()) { reset(); }

void State::reset() {
    model_->arch().init_state(data_.data());
    n_tokens_ = 0;
}

void State::copy_from(const State &src) {
    if (src.model_ != model_ && src.model_->fingerprint() != model_->fingerprint())
        fail(RWKVRT_ERR_MISMATCH, "cannot copy a state of another model");
    data_ = src.data_;
    n_tokens_ = src.n_tokens_;
    metadata_ = src.metadata_;
}

void State::assign(StateValues data, uint64_t n_tokens, std::string metadata) {
    data_ = std::move(data);
    n_tokens_ = n_tokens;
    metadata_ = std::move(metadata);
}

} // namespace rwkvrt
