// The C ABI for errors, models and states (saving and restoring states: state_api.cpp). Every function
// funnels through api::guard so that no exception crosses the boundary.
#include <cstring>
#include <string>
#include <vector>

#include "api/api_common.h"
#include "api/handles.h"
#include "core/cpu.h"
#include "core/log.h"

using namespace rwkvrt;

namespace rwkvrt::api {

namespace {
thread_local std::string t_last_error;
}

void set_error(const std::string &message) { t_last_error = message; }
void clear_error() { t_last_error.clear(); }

} // namespace rwkvrt::api

namespace {

#define RWKVRT_STR2(x) #x
#define RWKVRT_STR(x) RWKVRT_STR2(x)
constexpr const char *kVersion =
    RWKVRT_STR(RWKVRT_VERSION_MAJOR) "." RWKVRT_STR(RWKVRT_VERSION_MINOR) "." RWKVRT_STR(RWKVRT_VERSION_PATCH);

ModelOptions model_options(const rwkvrt_load_options *o) {
    if (!cpu_features().error.empty()) fail(RWKVRT_ERR_ARGUMENT, cpu_features().error);
    ModelOptions m;
    const rwkvrt_load_options full =
        o ? api::read_options(*o, rwkvrt_load_options_default(), "rwkvrt_load_options_default") : rwkvrt_load_options_default();
    m.n_threads = full.n_threads;
    m.use_mmap = full.use_mmap != 0;
    if (full.weight_type) {
        DType t;
        if (!dtype_from_name(full.weight_type, &t) || (t != DType::F32 && t != DType::F16 && t != DType::BF16 && t != DType::Q8_0))
            fail(RWKVRT_ERR_ARGUMENT, "weight_type '", full.weight_type, "' is not one of f32, f16, bf16, q8_0");
        m.weight_type = t;
    }
    const std::string a = full.activations ? full.activations : "auto";
    if (a != "auto" && a != "f32" && a != "int8" && a != "bf16")
        fail(RWKVRT_ERR_ARGUMENT, "activations '", a, "' is not one of auto, f32, int8, bf16");
    m.int8_activations = a == "auto" || a == "int8";
    m.bf16_activations = a == "auto" || a == "bf16";
    return m;
}

} // namespace

extern "C" {

const char *rwkvrt_version(void) { return kVersion; }

const char *rwkvrt_system_info(void) { return cpu_features().summary.c_str(); }

const char *rwkvrt_status_name(rwkvrt_status status) {
    switch (status) {
    case RWKVRT_OK: return "RWKVRT_OK";
    case RWKVRT_ERR_ARGUMENT: return "RWKVRT_ERR_ARGUMENT";
    case RWKVRT_ERR_IO: return "RWKVRT_ERR_IO";
    case RWKVRT_ERR_FORMAT: return "RWKVRT_ERR_FORMAT";
    case RWKVRT_ERR_UNSUPPORTED: return "RWKVRT_ERR_UNSUPPORTED";
    case RWKVRT_ERR_MISMATCH: return "RWKVRT_ERR_MISMATCH";
    case RWKVRT_ERR_CORRUPT: return "RWKVRT_ERR_CORRUPT";
    case RWKVRT_ERR_TOKEN: return "RWKVRT_ERR_TOKEN";
    case RWKVRT_ERR_NOMEM: return "RWKVRT_ERR_NOMEM";
    case RWKVRT_ERR_BUFFER: return "RWKVRT_ERR_BUFFER";
    case RWKVRT_ERR_INTERNAL: return "RWKVRT_ERR_INTERNAL";
    case RWKVRT_ERR_CANCELLED: return "RWKVRT_ERR_CANCELLED";
    }
    return "RWKVRT_UNKNOWN_STATUS";
}

const char *rwkvrt_last_error(void) { return api::t_last_error.c_str(); }

void rwkvrt_log_set(rwkvrt_log_callback callback, void *user_data) { log_set(callback, user_data); }

rwkvrt_load_options rwkvrt_load_options_default(void) {
    rwkvrt_load_options o{};
    o.struct_size = sizeof o;
    o.n_threads = 0;
    o.weight_type = nullptr;
    o.use_mmap = 0;
    o.activations = "auto";
    return o;
}

rwkvrt_status rwkvrt_model_load(const char *path, const rwkvrt_load_options *options, rwkvrt_model **out) {
    return api::guard([&] {
        api::require(path, "path");
        api::require(out, "out");
        auto handle = std::make_unique<rwkvrt_model>();
        handle->impl = std::make_unique<Model>(path, model_options(options));
        const HParams &hp = handle->impl->hparams();
        log(LogLevel::info, cat("loaded ", path, ": ", arch_name(hp.arch), ", ", hp.n_layer, " layers, n_embd ", hp.n_embd,
                                ", vocab ", hp.n_vocab, " (", handle->impl->format(), ")"));
        *out = handle.release();
    });
}

void rwkvrt_model_free(rwkvrt_model *model) { delete model; }

const char *rwkvrt_model_arch(const rwkvrt_model *model) { return model ? arch_name(model->impl->hparams().arch) : ""; }
int32_t rwkvrt_model_n_vocab(const rwkvrt_model *model) { return model ? int32_t(model->impl->hparams().n_vocab) : 0; }
int32_t rwkvrt_model_n_layer(const rwkvrt_model *model) { return model ? int32_t(model->impl->hparams().n_layer) : 0; }
int32_t rwkvrt_model_n_embd(const rwkvrt_model *model) { return model ? int32_t(model->impl->hparams().n_embd) : 0; }
const char *rwkvrt_model_weight_type(const rwkvrt_model *model) { return model ? dtype_name(model->impl->arch().weight_dtype()) : ""; }
int64_t rwkvrt_model_n_params(const rwkvrt_model *model) { return model ? int64_t(model->impl->n_params()) : 0; }
int64_t rwkvrt_model_weight_bytes(const rwkvrt_model *model) { return model ? int64_t(model->impl->weight_bytes()) : 0; }

rwkvrt_status rwkvrt_model_work_per_token(const rwkvrt_model *model, double *flops, double *bytes) {
    return api::guard([&] {
        api::require(model, "model");
        api::require(flops, "flops");
        api::require(bytes, "bytes");
        const WorkPerToken &w = model->impl->arch().work_per_token();
        *flops = w.flops;
        *bytes = w.bytes;
    });
}

constexpr size_t kMaxPromptFlopsTokens = size_t(1) << 24;

rwkvrt_status rwkvrt_model_prompt_flops(const rwkvrt_model *model, size_t n_seqs, size_t n_tokens, double *flops) {
    return api::guard([&] {
        api::require(model, "model");
        api::require(flops, "flops");
        if (n_seqs == 0 || n_tokens == 0) fail(RWKVRT_ERR_ARGUMENT, "n_seqs and n_tokens must be at least 1");
        // The count follows feed_batch's steps one by one: a bound keeps it to about a second.
        if (n_tokens > kMaxPromptFlopsTokens / n_seqs)
            fail(RWKVRT_ERR_ARGUMENT, "n_seqs x n_tokens must be at most ", kMaxPromptFlopsTokens, " tokens");
        *flops = model->impl->prompt_flops(n_seqs, n_tokens);
    });
}

rwkvrt_status rwkvrt_state_new(const rwkvrt_model *model, rwkvrt_state **out) {
    return api::guard([&] {
        api::require(model, "model");
        api::require(out, "out");
        auto handle = std::make_unique<rwkvrt_state>();
        handle->impl = std::make_unique<State>(*model->impl);
        *out = handle.release();
    });
}

void rwkvrt_state_free(rwkvrt_state *state) { delete state; }

rwkvrt_status rwkvrt_state_reset(rwkvrt_state *state) {
    return api::guard([&] {
        api::require(state, "state");
        state->impl->reset();
    });
}

rwkvrt_status rwkvrt_state_copy(rwkvrt_state *dst, const rwkvrt_state *src) {
    return api::guard([&] {
        api::require(dst, "dst");
        api::require(src, "src");
        dst->impl->copy_from(*src->impl);
    });
}

rwkvrt_feed_options rwkvrt_feed_options_default(void) {
    rwkvrt_feed_options o{};
    o.struct_size = sizeof o;
    return o;
}

rwkvrt_status rwkvrt_feed(const rwkvrt_model *model, rwkvrt_state *state, const int32_t *tokens, size_t n_tokens,
                          float *logits) {
    return rwkvrt_feed_ex(model, state, tokens, n_tokens, logits, nullptr);
}

rwkvrt_status rwkvrt_feed_ex(const rwkvrt_model *model, rwkvrt_state *state, const int32_t *tokens, size_t n_tokens,
                             float *logits, const rwkvrt_feed_options *options) {
    return rwkvrt_feed_batch_ex(model, 1, &state, &tokens, &n_tokens, &logits, options);
}

rwkvrt_status rwkvrt_feed_batch(const rwkvrt_model *model, size_t n_seqs, rwkvrt_state *const *states,
                                const int32_t *const *tokens, const size_t *n_tokens, float *const *logits) {
    return rwkvrt_feed_batch_ex(model, n_seqs, states, tokens, n_tokens, logits, nullptr);
}

rwkvrt_status rwkvrt_feed_batch_ex(const rwkvrt_model *model, size_t n_seqs, rwkvrt_state *const *states,
                                   const int32_t *const *tokens, const size_t *n_tokens, float *const *logits,
                                   const rwkvrt_feed_options *options) {
    return api::guard([&] {
        api::require(model, "model");
        if (n_seqs == 0) fail(RWKVRT_ERR_ARGUMENT, "n_seqs is 0");
        api::require(states, "states");
        api::require(tokens, "tokens");
        api::require(n_tokens, "n_tokens");
        const rwkvrt_feed_options o = options ? api::read_options(*options, rwkvrt_feed_options_default(), "rwkvrt_feed_options_default")
                                              : rwkvrt_feed_options_default();
        std::vector<FeedRequest> requests(n_seqs);
        for (size_t i = 0; i < n_seqs; ++i) {
            if (!states[i]) fail(RWKVRT_ERR_ARGUMENT, n_seqs == 1 ? "state is NULL" : cat("states[", i, "] is NULL"));
            requests[i] = {states[i]->impl.get(), tokens[i], n_tokens[i], logits ? logits[i] : nullptr, o.logits_all != 0};
        }
        ProgressFn progress;
        if (o.progress) progress = [o](uint64_t done, uint64_t total) { return o.progress(done, total, o.user_data) != 0; };
        model->impl->feed_batch(requests, progress, o.batch_invariant != 0);
    });
}

} // extern "C"
