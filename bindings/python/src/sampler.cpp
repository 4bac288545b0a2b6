// rwkvrt.Sampler: logits in, the next token out, with its own seeded random generator and penalties.
#include "common.h"

#include <pybind11/stl.h>

namespace rwkvrt_py {

namespace {

py::bytes save(Sampler &s) {
    Exclusive use(s.busy, "Sampler");
    std::string buf(rwkvrt_sampler_state_size(s.handle), '\0');
    check(rwkvrt_sampler_state_save(s.handle, buf.data(), buf.size(), nullptr));
    return py::bytes(buf);
}

void restore(Sampler &s, const py::buffer &data) {
    const ByteBuffer bytes(data);
    Exclusive use(s.busy, "Sampler");
    check(rwkvrt_sampler_state_load(s.handle, bytes.data(), bytes.size()));
}

std::shared_ptr<Sampler> from_bytes(int32_t n_vocab, const py::buffer &data) {
    auto s = std::make_shared<Sampler>(rwkvrt_sampler_options_default(), n_vocab);
    restore(*s, data);
    return s;
}

int32_t sample(Sampler &s, const py::array_t<float, py::array::c_style | py::array::forcecast> &logits) {
    // The C API reads n_vocab floats: check the length here, where it is known.
    if (logits.ndim() != 1 || logits.shape(0) != s.n_vocab)
        raise_status(RWKVRT_ERR_ARGUMENT, "logits must be " + std::to_string(s.n_vocab) +
                                              " floats in one dimension, got shape " +
                                              py::str(logits.attr("shape")).cast<std::string>());
    Exclusive use(s.busy, "Sampler");
    const float *data = logits.data();
    int32_t token = 0;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_sample(s.handle, data, &token);
    }
    check(status);
    return token;
}

} // namespace

void bind_sampler(SamplerClass &cls) {
    cls.doc() = R"(Picks the next token from logits: bias, penalties, softmax, top-k / top-p /
min-p truncation, temperature, then a draw from its own seeded generator (see
rwkvrt.h for the exact chain). The same options, seed and logits give the same
tokens on every platform. Used by one thread at a time.

Example::

    sampler = rwkvrt.Sampler(model.n_vocab, temperature=1.0, top_p=0.3, seed=42)
    token = sampler.sample(logits)

bytes(sampler) is its whole state (options, generator position, penalty
counts, biases); Sampler.from_bytes() and restore() read it back, and pickling
uses it.)";

    cls.def(py::init([](int32_t n_vocab, std::optional<float> temperature, std::optional<int32_t> top_k,
                        std::optional<float> top_p, std::optional<float> min_p, std::optional<float> repetition_penalty,
                        std::optional<float> presence_penalty, std::optional<float> frequency_penalty,
                        std::optional<float> penalty_decay, std::optional<uint64_t> seed) {
                const SamplingKeywords k{.temperature = temperature,
                                         .top_k = top_k,
                                         .top_p = top_p,
                                         .min_p = min_p,
                                         .repetition_penalty = repetition_penalty,
                                         .presence_penalty = presence_penalty,
                                         .frequency_penalty = frequency_penalty,
                                         .penalty_decay = penalty_decay,
                                         .seed = seed};
                return std::make_shared<Sampler>(k.options(), n_vocab);
            }),
            py::arg("n_vocab"), py::kw_only(), py::arg("temperature") = py::none(), py::arg("top_k") = py::none(),
            py::arg("top_p") = py::none(), py::arg("min_p") = py::none(), py::arg("repetition_penalty") = py::none(),
            py::arg("presence_penalty") = py::none(), py::arg("frequency_penalty") = py::none(),
            py::arg("penalty_decay") = py::none(), py::arg("seed") = py::none(),
            R"(A sampler for logits of n_vocab tokens (Model.n_vocab). An option left None
keeps its default.

Args:
    temperature: >= 0; 0 is greedy. Default 1.
    top_k: keep the k most probable tokens; 0 (default) = off.
    top_p: keep the most probable tokens up to this total probability; 1 (default) = off.
    min_p: keep tokens at least this fraction of the most probable one; 0 (default) = off.
    repetition_penalty: > 1 discourages recorded tokens (multiplicative); 1 (default) = off.
    presence_penalty: subtracted from recorded tokens' logits; 0 (default) = off.
    frequency_penalty: subtracted per (decayed) occurrence; 0 (default) = off.
    penalty_decay: the factor the occurrence counts decay by per recorded token; default 0.996.
    seed: the random generator's seed; default 0.

Raises:
    ArgumentError: an option out of its range (the message names it).)")
        .def_readonly("n_vocab", &Sampler::n_vocab, "The number of logits sample() takes.")
        .def("sample", &sample, py::arg("logits").none(false),
             R"(Picks the next token from n_vocab logits and records it for the penalties.

-inf logits are never picked. Raises ArgumentError for NaN or +inf, or when every
token is banned.)")
        .def(
            "accept",
            [](Sampler &s, const py::object &tokens) {
                const std::vector<int32_t> ids = token_ids(tokens);
                if (ids.empty()) return;
                Exclusive use(s.busy, "Sampler");
                check(rwkvrt_sampler_accept(s.handle, ids.data(), ids.size()));
            },
            py::arg("tokens"), "Records tokens for the penalties as if they had been sampled (e.g. the prompt's).")
        .def(
            "set_logit_bias",
            [](Sampler &s, const py::object &token, float bias) {
                const std::vector<int32_t> id = token_ids(token);
                if (id.size() != 1) throw py::type_error("set_logit_bias() takes one token id");
                Exclusive use(s.busy, "Sampler");
                check(rwkvrt_sampler_set_logit_bias(s.handle, id[0], bias));
            },
            py::arg("token"), py::arg("bias"),
            "Adds bias to token's logit before sampling; -math.inf bans it, 0 removes the bias.")
        .def(
            "reset_penalties",
            [](Sampler &s) {
                Exclusive use(s.busy, "Sampler");
                check(rwkvrt_sampler_reset_penalties(s.handle));
            },
            "Forgets the recorded tokens (options, biases and the generator's position are kept).")
        .def("restore", &restore, py::arg("data"),
             R"(Replaces the whole state, options included, with bytes(sampler) of another sampler.

Raises FormatError, CorruptStateError, UnsupportedError, or ModelMismatchError
(saved by a sampler for another n_vocab).)")
        .def_static("from_bytes", &from_bytes, py::arg("n_vocab"), py::arg("data"),
                    "A sampler restored from bytes(sampler); the errors of restore().")
        .def("__bytes__", &save, "The sampler's whole state.")
        .def("__copy__", [](Sampler &s) { return from_bytes(s.n_vocab, save(s)); })
        .def(
            "__deepcopy__", [](Sampler &s, py::handle) { return from_bytes(s.n_vocab, save(s)); }, py::arg("memo"))
        .def(py::pickle([](Sampler &s) { return py::make_tuple(s.n_vocab, save(s)); },
                        [](const py::tuple &t) { return from_bytes(t[0].cast<int32_t>(), t[1].cast<py::buffer>()); }))
        .def("__repr__", [](const Sampler &s) { return py::str("<rwkvrt.Sampler n_vocab={}>").format(s.n_vocab); });
}

} // namespace rwkvrt_py
