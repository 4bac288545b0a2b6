// The C ABI for samplers: argument checks around rwkvrt::Sampler, every function through api::guard.
#include <cstring>
#include <memory>

#include "api/api_common.h"
#include "api/handles.h"
#include "sampling/sampler.h"

using namespace rwkvrt;

namespace {

SamplerOptions sampler_options(const rwkvrt_sampler_options *o) {
    if (!o) return SamplerOptions{};
    const rwkvrt_sampler_options full = api::read_options(*o, rwkvrt_sampler_options_default(), "rwkvrt_sampler_options_default");
    return SamplerOptions{full.temperature,      full.top_k,            full.top_p,
                          full.min_p,            full.repetition_penalty, full.presence_penalty,
                          full.frequency_penalty, full.penalty_decay,    full.seed};
}

} // namespace

extern "C" {

rwkvrt_sampler_options rwkvrt_sampler_options_default(void) {
    const SamplerOptions d;
    rwkvrt_sampler_options o{};
    o.struct_size = sizeof o;
    o.temperature = d.temperature;
    o.top_k = d.top_k;
    o.top_p = d.top_p;
    o.min_p = d.min_p;
    o.repetition_penalty = d.repetition_penalty;
    o.presence_penalty = d.presence_penalty;
    o.frequency_penalty = d.frequency_penalty;
    o.penalty_decay = d.penalty_decay;
    o.seed = d.seed;
    return o;
}

rwkvrt_status rwkvrt_sampler_new(const rwkvrt_sampler_options *options, int32_t n_vocab, rwkvrt_sampler **out) {
    return api::guard([&] {
        api::require(out, "out");
        auto handle = std::make_unique<rwkvrt_sampler>();
        handle->impl = std::make_unique<Sampler>(sampler_options(options), n_vocab);
        *out = handle.release();
    });
}

void rwkvrt_sampler_free(rwkvrt_sampler *sampler) { delete sampler; }

rwkvrt_status rwkvrt_sample(rwkvrt_sampler *sampler, const float *logits, int32_t *token) {
    return api::guard([&] {
        api::require(sampler, "sampler");
        api::require(logits, "logits");
        api::require(token, "token");
        *token = sampler->impl->sample({logits, size_t(sampler->impl->n_vocab())});
    });
}

rwkvrt_status rwkvrt_sampler_accept(rwkvrt_sampler *sampler, const int32_t *tokens, size_t n_tokens) {
    return api::guard([&] {
        api::require(sampler, "sampler");
        api::require(tokens, "tokens");
        if (n_tokens == 0) fail(RWKVRT_ERR_ARGUMENT, "n_tokens is 0");
        sampler->impl->accept({tokens, n_tokens});
    });
}

rwkvrt_status rwkvrt_sampler_set_logit_bias(rwkvrt_sampler *sampler, int32_t token, float bias) {
    return api::guard([&] {
        api::require(sampler, "sampler");
        sampler->impl->set_logit_bias(token, bias);
    });
}

rwkvrt_status rwkvrt_sampler_reset_penalties(rwkvrt_sampler *sampler) {
    return api::guard([&] {
        api::require(sampler, "sampler");
        sampler->impl->reset_penalties();
    });
}

size_t rwkvrt_sampler_state_size(const rwkvrt_sampler *sampler) { return sampler ? sampler->impl->state_size() : 0; }

rwkvrt_status rwkvrt_sampler_state_save(const rwkvrt_sampler *sampler, void *buf, size_t cap, size_t *written) {
    return api::guard([&] {
        api::require(sampler, "sampler");
        api::require(buf, "buf");
        const size_t need = sampler->impl->state_size();
        if (cap < need) fail(RWKVRT_ERR_BUFFER, "the sampler state needs ", need, " bytes; the buffer has ", cap);
        sampler->impl->save_state(static_cast<uint8_t *>(buf));
        if (written) *written = need;
    });
}

rwkvrt_status rwkvrt_sampler_state_load(rwkvrt_sampler *sampler, const void *buf, size_t len) {
    return api::guard([&] {
        api::require(sampler, "sampler");
        api::require(buf, "buf");
        sampler->impl->load_state(static_cast<const uint8_t *>(buf), len);
    });
}

} // extern "C"
