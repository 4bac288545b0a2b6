// rwkvrt.PrefixCache: states keyed by the tokens that produced them (experimental in the C API).
#include "common.h"

#include <pybind11/stl.h>

namespace rwkvrt_py {

PrefixCache::PrefixCache(std::shared_ptr<Model> model_, const rwkvrt_prefix_cache_options &options) : model(std::move(model_)) {
    check(rwkvrt_prefix_cache_new(model->handle, &options, &handle));
}

void bind_prefix_cache(PrefixCacheClass &cls) {
    cls.doc() = R"(A prefix-state cache: states keyed by the exact tokens that produced them.

A prompt that starts with a cached prefix (a shared system prompt, an earlier
turn) then feeds only the rest::

    cache = rwkvrt.PrefixCache(model, max_bytes=512 << 20, dir="cache/")
    matched = cache.lookup(prompt[:-1], state)   # restores the longest prefix
    logits = model.feed(state, prompt[matched:])
    cache.insert(prompt, state)

Entries live in memory under max_bytes (least recently used go first) and,
with dir, as verified state files there that a later process finds again.
Thread-safe.)";
    cls.def(py::init([](const std::shared_ptr<Model> &model, std::optional<size_t> max_bytes, const py::object &dir,
                        size_t max_disk_bytes) {
                rwkvrt_prefix_cache_options o = rwkvrt_prefix_cache_options_default();
                if (max_bytes) o.max_bytes = *max_bytes;
                std::string folder;
                if (!dir.is_none()) {
                    folder = c_string(fs_path(dir), "dir");
                    o.dir = folder.c_str();
                }
                o.max_disk_bytes = max_disk_bytes;
                return std::make_shared<PrefixCache>(model, o);
            }),
            py::arg("model").none(false), py::kw_only(), py::arg("max_bytes") = py::none(), py::arg("dir") = py::none(),
            py::arg("max_disk_bytes") = 0,
            R"(Creates a cache for model.

Args:
    model: the Model whose states it holds.
    max_bytes: memory budget (default 256 MiB).
    dir: None (memory only) or an existing folder for state files.
    max_disk_bytes: budget for the folder, 0 = unlimited.)")
        .def(
            "lookup",
            [](PrefixCache &c, const py::object &tokens, State &state) {
                const std::vector<int32_t> ids = token_ids(tokens);
                Exclusive use(state.busy, "State");
                size_t matched = 0;
                rwkvrt_status status;
                {
                    ReleasedGil nogil;
                    status = rwkvrt_prefix_cache_lookup(c.handle, ids.data(), ids.size(), state.handle, &matched);
                }
                check(status);
                return matched;
            },
            py::arg("tokens"), py::arg("state"),
            R"(Restores the longest cached prefix of tokens into state and returns its
length (0: nothing matched, state unchanged). Look up all but the last token of
a prompt, so that at least one is left to feed for the logits.)")
        .def(
            "insert",
            [](PrefixCache &c, const py::object &tokens, State &state) {
                const std::vector<int32_t> ids = token_ids(tokens);
                Exclusive use(state.busy, "State");
                rwkvrt_status status;
                {
                    ReleasedGil nogil;
                    status = rwkvrt_prefix_cache_insert(c.handle, ids.data(), ids.size(), state.handle);
                }
                check(status);
            },
            py::arg("tokens"), py::arg("state"), "Stores a copy of state as the state after tokens.")
        .def_property_readonly(
            "stats",
            [](const PrefixCache &c) {
                rwkvrt_prefix_cache_stats s{};
                s.struct_size = sizeof s;
                check(rwkvrt_prefix_cache_get_stats(c.handle, &s));
                py::dict d;
                d["hits"] = s.hits;
                d["misses"] = s.misses;
                d["tokens_saved"] = s.tokens_saved;
                d["entries"] = s.entries;
                d["bytes_used"] = s.bytes_used;
                d["disk_bytes"] = s.disk_bytes;
                return d;
            },
            "hits, misses, tokens_saved, entries, bytes_used and disk_bytes, as a dict.");
}

} // namespace rwkvrt_py
