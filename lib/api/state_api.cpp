// The C ABI for saving and restoring states: snapshots in memory, state files, state-tuning files
// and the metadata they carry. Every function funnels through api::guard.
#include <cstring>
#include <string>

#include "api/api_common.h"
#include "api/handles.h"
#include "state/snapshot.h"
#include "state/state_file.h"
#include "state/state_tuning.h"

using namespace rwkvrt;

namespace {

StateDType value_type(const char *name) {
    const std::string n = name ? name : "f32";
    if (n == "f32") return StateDType::f32;
    if (n == "f16") return StateDType::f16;
    if (n == "bf16") return StateDType::bf16;
    fail(RWKVRT_ERR_ARGUMENT, "value_type '", n, "' is not one of f32, f16, bf16");
}

rwkvrt_state_save_options save_options(const rwkvrt_state_save_options *o) {
    if (!o) return rwkvrt_state_save_options_default();
    const rwkvrt_state_save_options full = api::read_options(*o, rwkvrt_state_save_options_default(), "rwkvrt_state_save_options_default");
    return full;
}

// The sampler's blob through its own C functions, which own the rwkvrt_sampler handle.
std::string sampler_blob(const rwkvrt_sampler *sampler) {
    std::string blob(rwkvrt_sampler_state_size(sampler), '\0');
    const rwkvrt_status st = rwkvrt_sampler_state_save(sampler, blob.data(), blob.size(), nullptr);
    if (st != RWKVRT_OK) fail(st, "cannot save the sampler's state: ", rwkvrt_last_error());
    return blob;
}

} // namespace

extern "C" {

size_t rwkvrt_state_snapshot_size(const rwkvrt_state *state) { return state ? snapshot_size(*state->impl) : 0; }

rwkvrt_status rwkvrt_state_snapshot(const rwkvrt_state *state, void *buf, size_t cap, size_t *written) {
    return api::guard([&] {
        api::require(state, "state");
        api::require(buf, "buf");
        const size_t need = snapshot_size(*state->impl);
        if (cap < need) fail(RWKVRT_ERR_BUFFER, "the snapshot needs ", need, " bytes; the buffer has ", cap);
        write_snapshot(*state->impl, static_cast<uint8_t *>(buf));
        if (written) *written = need;
    });
}

rwkvrt_status rwkvrt_state_restore(rwkvrt_state *state, const void *buf, size_t len) {
    return api::guard([&] {
        api::require(state, "state");
        api::require(buf, "buf");
        read_snapshot(*state->impl, static_cast<const uint8_t *>(buf), len);
    });
}

rwkvrt_state_save_options rwkvrt_state_save_options_default(void) {
    rwkvrt_state_save_options o{};
    o.struct_size = sizeof o;
    o.value_type = nullptr;
    o.sampler = nullptr;
    return o;
}

rwkvrt_status rwkvrt_state_save(const rwkvrt_state *state, const char *path) {
    return rwkvrt_state_save_ex(state, path, nullptr);
}

rwkvrt_status rwkvrt_state_save_ex(const rwkvrt_state *state, const char *path, const rwkvrt_state_save_options *options) {
    return api::guard([&] {
        api::require(state, "state");
        api::require(path, "path");
        const rwkvrt_state_save_options o = save_options(options);
        SnapshotExtras extras;
        extras.dtype = value_type(o.value_type);
        if (o.sampler) {
            // A sampler for another vocabulary could never be loaded back beside this state.
            const int64_t vocab = state->impl->model().hparams().n_vocab;
            if (o.sampler->impl->n_vocab() != vocab)
                fail(RWKVRT_ERR_MISMATCH, "the sampler is for a vocabulary of ", o.sampler->impl->n_vocab(),
                     " tokens, the state's model has ", vocab);
            extras.sampler = sampler_blob(o.sampler);
        }
        save_state_file(*state->impl, path, extras);
    });
}

rwkvrt_status rwkvrt_state_load(rwkvrt_state *state, const char *path) {
    return rwkvrt_state_load_ex(state, path, nullptr, nullptr);
}

rwkvrt_status rwkvrt_state_load_ex(rwkvrt_state *state, const char *path, rwkvrt_sampler *sampler, int *sampler_loaded) {
    return api::guard([&] {
        api::require(state, "state");
        api::require(path, "path");
        Snapshot s = read_state_file(state->impl->model(), path);
        const bool load_sampler = sampler && !s.extras.sampler.empty();
        // The sampler checks its blob and stays unchanged on failure; the state changes only after.
        if (load_sampler) {
            const rwkvrt_status st = rwkvrt_sampler_state_load(sampler, s.extras.sampler.data(), s.extras.sampler.size());
            if (st != RWKVRT_OK) fail(st, "'", path, "': its sampler state: ", rwkvrt_last_error());
        }
        state->impl->assign(std::move(s.values), s.n_tokens, std::move(s.metadata));
        if (sampler_loaded) *sampler_loaded = load_sampler;
    });
}

rwkvrt_status rwkvrt_state_load_initial(rwkvrt_state *state, const char *path) {
    return api::guard([&] {
        api::require(state, "state");
        api::require(path, "path");
        load_initial_state(*state->impl, path);
    });
}

uint64_t rwkvrt_state_n_tokens(const rwkvrt_state *state) { return state ? state->impl->n_tokens() : 0; }

rwkvrt_status rwkvrt_state_set_metadata(rwkvrt_state *state, const void *data, size_t len) {
    return api::guard([&] {
        api::require(state, "state");
        if (len) api::require(data, "data");
        state->impl->set_metadata(len ? std::string(static_cast<const char *>(data), len) : std::string());
    });
}

rwkvrt_status rwkvrt_state_get_metadata(const rwkvrt_state *state, const void **data, size_t *len) {
    return api::guard([&] {
        api::require(state, "state");
        api::require(data, "data");
        api::require(len, "len");
        *data = state->impl->metadata().c_str();
        *len = state->impl->metadata().size();
    });
}

} // extern "C"
