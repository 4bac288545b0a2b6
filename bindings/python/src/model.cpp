// rwkvrt.Model: the weights, immutable and shared by any number of states and threads.
#include "common.h"

#include <pybind11/stl.h>

namespace rwkvrt_py {

namespace {

std::shared_ptr<Model> load(const py::object &path, std::optional<int> threads, std::optional<std::string> weight_type,
                            bool mmap, std::optional<std::string> activations) {
    const std::string absolute = absolute_fs_path(path);
    return std::make_shared<Model>(absolute, threads.value_or(0), c_string(weight_type.value_or(""), "weight_type"),
                                   mmap, c_string(activations.value_or(""), "activations"));
}

py::array_t<float> feed(const Model &model, State &state, const py::object &tokens, bool all_logits, bool batch_invariant) {
    const std::vector<int32_t> ids = token_ids(tokens);
    if (ids.empty()) raise_status(RWKVRT_ERR_ARGUMENT, "no tokens to feed: pass at least one token id");
    // The logits are written straight into the array that is returned.
    py::array_t<float> logits = all_logits ? py::array_t<float>({py::ssize_t(ids.size()), py::ssize_t(model.n_vocab())})
                                           : py::array_t<float>(model.n_vocab());
    float *out = logits.mutable_data();
    Exclusive use(state.busy, "State");
    Interruptible interrupt;
    rwkvrt_feed_options options = interrupt.feed_options();
    options.logits_all = all_logits;
    options.batch_invariant = batch_invariant;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_feed_ex(model.handle, state.handle, ids.data(), ids.size(), out, &options);
    }
    interrupt.check(status);
    return logits;
}

py::list feed_batch(const Model &model, const std::vector<std::shared_ptr<State>> &states, const py::sequence &token_lists,
                    bool batch_invariant) {
    const size_t n = states.size();
    if (size_t(py::len(token_lists)) != n)
        raise_status(RWKVRT_ERR_ARGUMENT, "got " + std::to_string(n) + " states but " + std::to_string(py::len(token_lists)) +
                                              " token lists");
    std::vector<std::vector<int32_t>> ids(n);
    std::vector<py::array_t<float>> arrays;
    std::vector<rwkvrt_state *> handles(n);
    std::vector<const int32_t *> tokens(n);
    std::vector<size_t> counts(n);
    std::vector<float *> logits(n);
    std::vector<std::unique_ptr<Exclusive>> claimed;
    for (size_t i = 0; i < n; ++i) {
        if (!states[i]) raise_status(RWKVRT_ERR_ARGUMENT, "states[" + std::to_string(i) + "] is None");
        ids[i] = token_ids(token_lists[i]);
        handles[i] = states[i]->handle;
        tokens[i] = ids[i].data();
        counts[i] = ids[i].size();
        arrays.emplace_back(model.n_vocab());
        logits[i] = arrays.back().mutable_data();
    }
    // The library names a repeated state; only distinct ones are marked busy here.
    for (size_t i = 0; i < n; ++i) {
        bool repeated = false;
        for (size_t j = 0; j < i; ++j) repeated |= states[j] == states[i];
        if (!repeated) claimed.push_back(std::make_unique<Exclusive>(states[i]->busy, "State"));
    }
    Interruptible interrupt;
    rwkvrt_feed_options options = interrupt.feed_options();
    options.batch_invariant = batch_invariant;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_feed_batch_ex(model.handle, n, handles.data(), tokens.data(), counts.data(), logits.data(), &options);
    }
    interrupt.check(status);
    py::list out;
    for (auto &a : arrays) out.append(a);
    return out;
}

} // namespace

void bind_model(ModelClass &cls) {
    cls.doc() = R"(An RWKV model: the weights, loaded once and shared.

A model is immutable: any number of threads may use it at the same time, each
with its own State. The file format (.pth, rwkv.cpp .bin, .safetensors) and the
RWKV version (4, 5.x, 6, 7) are detected from the file's content.

Example::

    model = rwkvrt.Model("model.pth")
    state = model.new_state()
    logits = model.feed(state, [34, 105, 110])   # numpy float32, n_vocab values

Pickling a Model stores its absolute path and load options, not its weights:
unpickling loads the file again from that path.)";

    cls.def(py::init(&load), py::arg("path"), py::kw_only(), py::arg("threads") = py::none(),
            py::arg("weight_type") = py::none(), py::arg("mmap") = false, py::arg("activations") = py::none(),
            R"(Loads a model file.

Args:
    path: the model file (str or os.PathLike).
    threads: threads one feed() call uses; None = one per core.
    weight_type: None keeps the stored type; "f32", "f16", "bf16" or "q8_0"
        converts the large matrices at load.
    mmap: map the file instead of reading it into memory (processes share
        its pages, but the file must not change while loaded; generation is
        slower than from memory).
    activations: None or "auto" rounds them as llama.cpp does: "int8" with
        block-quantized weights and "bf16" with f16/bf16 ones; "f32" keeps
        every product exact; "int8" rounds the activations to 8 bits for
        integer products with block-quantized weights (prompts, batches and
        generation; docs/QUANTIZATION.md); "bf16"
        uses bf16 products for prompts and batches with bf16 and f16 weights
        (faster; logits change slightly, see docs/QUANTIZATION.md).

Raises:
    FileError: the file cannot be read.
    FormatError: the file is malformed or truncated.
    UnsupportedError: a valid file of an architecture this library does not run.
    ArgumentError: a bad option.)")
        .def_property_readonly(
            "path", [](const Model &m) { return fs_decode(m.path); }, "The absolute path the model was loaded from.")
        .def_property_readonly(
            "arch", [](const Model &m) { return rwkvrt_model_arch(m.handle); },
            R"("rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6" or "rwkv7".)")
        .def_property_readonly("n_vocab", &Model::n_vocab, "The number of tokens (the length of the logits).")
        .def_property_readonly("n_layer", [](const Model &m) { return rwkvrt_model_n_layer(m.handle); },
                               "The number of layers (blocks).")
        .def_property_readonly("n_embd", [](const Model &m) { return rwkvrt_model_n_embd(m.handle); },
                               "The width of the embedding (the model dimension).")
        .def_property_readonly(
            "weight_type", [](const Model &m) { return rwkvrt_model_weight_type(m.handle); },
            R"(The storage type of the large matrices, e.g. "f32", "bf16", "q5_1".)")
        .def(
            "new_state", [](const std::shared_ptr<Model> &m) { return std::make_shared<State>(m); },
            "A fresh State (an empty context) for this model.")
        .def("feed", &feed, py::arg("state"), py::arg("tokens"), py::kw_only(), py::arg("all_logits") = false,
             py::arg("batch_invariant") = false,
             R"(Feeds tokens to state, advancing it, and returns the logits after the last one.

Args:
    state: a State of this model.
    tokens: one token id, a sequence of ids or a 1-D integer array (at least one).
    all_logits: return the logits after every token (for perplexity), not only the last.
    batch_invariant: give one token the bits it gets in a batch (feed_batch with
        batch_invariant), with a matrix product of one row; slower than the default.

Returns:
    A new float32 numpy array of n_vocab logits, or of shape (len(tokens), n_vocab)
    with all_logits.

A long input is processed in one pass (prefill); the result equals feeding the
tokens one at a time. The GIL is released meanwhile, so threads feeding
different states can overlap (their steps take turns on the model's threads).
Ctrl-C raises KeyboardInterrupt within about 0.1 s; the state then holds
the tokens of the steps completed (see State.n_tokens).

Raises:
    TokenError: an id outside [0, n_vocab); the state is then unchanged.
    ModelMismatchError: the state belongs to another model.)")
        .def("feed_batch", &feed_batch, py::arg("states"), py::arg("token_lists"), py::kw_only(),
             py::arg("batch_invariant") = false,
             R"(Feeds several conversations in one pass and returns each one's logits.

Args:
    states: States of this model, all different.
    token_lists: for each state, its tokens (at least one; an int, a sequence
        of ids or a 1-D integer array). Decoding (one token) and prompts (many)
        may be mixed.
    batch_invariant: every conversation gets the same bits whatever the others
        of its steps: a lone row runs as a matrix product of one row (slower),
        not a matrix-vector product. What a server that promises reproducible
        replies passes at every step.

Returns:
    A list of float32 numpy arrays of n_vocab logits, one per state.

Every projection of all conversations is one matrix product, so N
conversations decoding together cost far less than N feed() calls. The
result equals feeding each state alone (up to the order of additions). All or
nothing: a bad id, a repeated state or a state of another model changes no
state. The GIL is released; Ctrl-C raises KeyboardInterrupt within about
0.1 s, and each state then holds the tokens of the steps completed.)")
        .def("__copy__", [](py::object self) { return self; })
        .def(
            "__deepcopy__", [](py::object self, py::handle) { return self; }, py::arg("memo"))
        .def(py::pickle(
            [](const Model &m) {
                return py::make_tuple(fs_decode(m.path), m.threads,
                                      m.weight_type.empty() ? py::object(py::none()) : py::str(m.weight_type), m.mmap,
                                      m.activations.empty() ? py::object(py::none()) : py::str(m.activations));
            },
            [](const py::tuple &t) {
                return std::make_shared<Model>(fs_path(t[0]), t[1].cast<int>(),
                                               t[2].is_none() ? std::string() : t[2].cast<std::string>(),
                                               t[3].cast<bool>(),
                                               t.size() < 5 || t[4].is_none() ? std::string() : t[4].cast<std::string>());
            }))
        .def("__repr__", [](const Model &m) {
            return py::str("<rwkvrt.Model {} n_layer={} n_embd={} n_vocab={} {} path={!r}>")
                .format(rwkvrt_model_arch(m.handle), rwkvrt_model_n_layer(m.handle), rwkvrt_model_n_embd(m.handle),
                        m.n_vocab(), rwkvrt_model_weight_type(m.handle), fs_decode(m.path));
        });
}

} // namespace rwkvrt_py
