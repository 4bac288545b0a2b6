// The C ABI for the generation loop.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "api/api_common.h"
#include "api/handles.h"
#include "generate/generator.h"

using namespace rwkvrt;

struct rwkvrt_generator {
    std::unique_ptr<Generator> impl;
    std::optional<std::string> piece; // produced but not yet handed out (the caller's buffer was short)
};

namespace {

GenerateOptions generate_options(const rwkvrt_generate_options *o) {
    GenerateOptions g;
    if (!o) return g;
    const rwkvrt_generate_options full = api::read_options(*o, rwkvrt_generate_options_default(), "rwkvrt_generate_options_default");
    g.max_tokens = full.max_tokens;
    g.end_token = full.end_token;
    if (full.progress)
        g.progress = [cb = full.progress, user = full.progress_user_data](uint64_t done, uint64_t total) {
            return cb(done, total, user) != 0;
        };
    if (full.n_stop && !full.stop) fail(RWKVRT_ERR_ARGUMENT, "options->stop is NULL but n_stop is ", full.n_stop);
    for (size_t i = 0; i < full.n_stop; ++i) {
        if (!full.stop[i]) fail(RWKVRT_ERR_ARGUMENT, "options->stop[", i, "] is NULL");
        g.stop.emplace_back(full.stop[i]);
    }
    return g;
}

} // namespace

extern "C" {

rwkvrt_generate_options rwkvrt_generate_options_default(void) {
    rwkvrt_generate_options o{};
    o.struct_size = sizeof o;
    o.max_tokens = GenerateOptions{}.max_tokens;
    o.stop = nullptr;
    o.n_stop = 0;
    o.end_token = -1;
    o.progress = nullptr;
    o.progress_user_data = nullptr;
    return o;
}

rwkvrt_status rwkvrt_generator_new(const rwkvrt_model *model, rwkvrt_state *state, const rwkvrt_tokenizer *tokenizer,
                                   rwkvrt_sampler *sampler, const char *prompt, size_t prompt_len,
                                   const float *initial_logits, const rwkvrt_generate_options *options,
                                   rwkvrt_generator **out) {
    return api::guard([&] {
        api::require(model, "model");
        api::require(state, "state");
        api::require(tokenizer, "tokenizer");
        api::require(sampler, "sampler");
        api::require(out, "out");
        if (prompt_len && !prompt) fail(RWKVRT_ERR_ARGUMENT, "prompt is NULL but prompt_len is ", prompt_len);
        auto gen = std::make_unique<rwkvrt_generator>();
        gen->impl = std::make_unique<Generator>(*model->impl, *state->impl, *tokenizer->impl, *sampler->impl,
                                                generate_options(options));
        if (prompt_len) {
            gen->impl->feed_text(std::string_view(prompt, prompt_len));
        } else if (initial_logits) {
            gen->impl->set_logits({initial_logits, size_t(model->impl->hparams().n_vocab)});
        } else {
            fail(RWKVRT_ERR_ARGUMENT, "the prompt is empty and no initial logits were given");
        }
        *out = gen.release();
    });
}

rwkvrt_status rwkvrt_generate_next(rwkvrt_generator *gen, char *buf, size_t cap, size_t *len, int *done) {
    return api::guard([&] {
        api::require(gen, "gen");
        api::require(len, "len");
        api::require(done, "done");
        if (!gen->piece) gen->piece = gen->impl->next();
        if (!gen->piece) {
            *len = 0;
            *done = 1;
            return;
        }
        if (cap < gen->piece->size()) {
            *len = gen->piece->size();
            fail(RWKVRT_ERR_BUFFER, "the piece needs ", gen->piece->size(), " bytes; the buffer has ", cap);
        }
        if (!gen->piece->empty()) api::require(buf, "buf");
        std::memcpy(buf, gen->piece->data(), gen->piece->size());
        *len = gen->piece->size();
        *done = 0;
        gen->piece.reset();
    });
}

rwkvrt_stop_reason rwkvrt_generator_stop_reason(const rwkvrt_generator *gen) {
    return gen && !gen->piece ? static_cast<rwkvrt_stop_reason>(gen->impl->stop_reason()) : RWKVRT_STOP_NONE;
}

size_t rwkvrt_generator_n_tokens(const rwkvrt_generator *gen) { return gen ? gen->impl->n_generated() : 0; }

const float *rwkvrt_generator_logits(const rwkvrt_generator *gen) { return gen ? gen->impl->logits().data() : nullptr; }

void rwkvrt_generator_free(rwkvrt_generator *gen) { delete gen; }

} // extern "C"
