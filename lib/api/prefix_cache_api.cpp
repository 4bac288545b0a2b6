// The C ABI of the prefix-state cache (state/prefix_cache.h).
#include "api/api_common.h"
#include "api/handles.h"

using namespace rwkvrt;

extern "C" {

rwkvrt_prefix_cache_options rwkvrt_prefix_cache_options_default(void) {
    rwkvrt_prefix_cache_options o{};
    o.struct_size = sizeof o;
    o.max_bytes = PrefixCacheOptions{}.max_bytes;
    o.dir = nullptr;
    o.max_disk_bytes = 0;
    return o;
}

rwkvrt_status rwkvrt_prefix_cache_new(const rwkvrt_model *model, const rwkvrt_prefix_cache_options *options,
                                      rwkvrt_prefix_cache **out) {
    return api::guard([&] {
        api::require(model, "model");
        api::require(out, "out");
        const rwkvrt_prefix_cache_options o =
            options ? api::read_options(*options, rwkvrt_prefix_cache_options_default(), "rwkvrt_prefix_cache_options_default")
                    : rwkvrt_prefix_cache_options_default();
        PrefixCacheOptions po;
        po.max_bytes = o.max_bytes;
        if (o.dir) {
            if (!*o.dir) fail(RWKVRT_ERR_ARGUMENT, "options->dir is empty; use NULL for a cache in memory only");
            po.dir = o.dir;
        }
        po.max_disk_bytes = o.max_disk_bytes;
        auto handle = std::make_unique<rwkvrt_prefix_cache>();
        handle->impl = std::make_unique<PrefixCache>(*model->impl, po);
        *out = handle.release();
    });
}

void rwkvrt_prefix_cache_free(rwkvrt_prefix_cache *cache) { delete cache; }

rwkvrt_status rwkvrt_prefix_cache_lookup(rwkvrt_prefix_cache *cache, const int32_t *tokens, size_t n_tokens,
                                         rwkvrt_state *state, size_t *matched) {
    return api::guard([&] {
        api::require(cache, "cache");
        api::require(state, "state");
        api::require(matched, "matched");
        *matched = cache->impl->lookup(tokens, n_tokens, *state->impl);
    });
}

rwkvrt_status rwkvrt_prefix_cache_insert(rwkvrt_prefix_cache *cache, const int32_t *tokens, size_t n_tokens,
                                         const rwkvrt_state *state) {
    return api::guard([&] {
        api::require(cache, "cache");
        api::require(state, "state");
        cache->impl->insert(tokens, n_tokens, *state->impl);
    });
}

rwkvrt_status rwkvrt_prefix_cache_get_stats(const rwkvrt_prefix_cache *cache, rwkvrt_prefix_cache_stats *stats) {
    return api::guard([&] {
        api::require(cache, "cache");
        api::require(stats, "stats");
        if (stats->struct_size < sizeof(size_t) || stats->struct_size > sizeof(rwkvrt_prefix_cache_stats))
            fail(RWKVRT_ERR_ARGUMENT, "stats->struct_size is ", stats->struct_size, "; set it to sizeof(rwkvrt_prefix_cache_stats)");
        const PrefixCacheStats s = cache->impl->stats();
        rwkvrt_prefix_cache_stats full{};
        full.struct_size = stats->struct_size;
        full.hits = s.hits;
        full.misses = s.misses;
        full.tokens_saved = s.tokens_saved;
        full.entries = s.entries;
        full.bytes_used = s.bytes_used;
        full.disk_bytes = s.disk_bytes;
        std::memcpy(stats, &full, stats->struct_size);
    });
}

} // extern "C"
