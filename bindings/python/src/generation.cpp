// Model.generate() and rwkvrt.Generation, the iterator over the generated text.
#include "common.h"

#include <pybind11/stl.h>

namespace rwkvrt_py {

namespace {

// A single str (or bytes-like object) is one stop string, not a sequence of one-character ones; None is none.
std::vector<std::string> stop_strings(const py::object &stop) {
    std::vector<std::string> out;
    if (stop.is_none()) return out;
    if (py::isinstance<py::str>(stop) || PyObject_CheckBuffer(stop.ptr())) {
        out.push_back(c_string(text_bytes(stop, "stop"), "a stop string"));
    } else {
        for (py::handle s : stop) out.push_back(c_string(text_bytes(s, "each stop string"), "a stop string"));
    }
    return out;
}

std::shared_ptr<Generation>
generate(const std::shared_ptr<Model> &model, const std::shared_ptr<State> &state, const py::object &prompt,
         std::shared_ptr<Tokenizer> tokenizer, std::shared_ptr<Sampler> sampler, int32_t max_tokens,
         const py::object &stop, std::optional<int32_t> end_token,
         std::optional<py::array_t<float, py::array::c_style | py::array::forcecast>> logits,
         const SamplingKeywords &keywords) {
    const int32_t n_vocab = model->n_vocab();
    auto g = std::make_shared<Generation>();
    g->model = model;
    g->state = state;
    if (!tokenizer) tokenizer = Tokenizer::of_model(*model);
    if (!tokenizer) {
        if (n_vocab != 256)
            raise_status(RWKVRT_ERR_ARGUMENT, "this model has " + std::to_string(n_vocab) +
                                                  " tokens and its file carries no tokenizer: pass "
                                                  "tokenizer=rwkvrt.Tokenizer(path) (only 256-token models default to "
                                                  "the byte tokenizer)");
        tokenizer = Tokenizer::byte_level();
    }
    g->tokenizer = std::move(tokenizer);
    if (sampler && keywords.any())
        raise_status(RWKVRT_ERR_ARGUMENT, "pass the sampling options either as sampler= or as keywords, not both");
    g->sampler = sampler ? std::move(sampler) : std::make_shared<Sampler>(keywords.options(), n_vocab);

    const std::vector<std::string> stops = stop_strings(stop);
    std::vector<const char *> stop_ptrs;
    for (const std::string &s : stops) stop_ptrs.push_back(s.c_str());
    rwkvrt_generate_options options = rwkvrt_generate_options_default();
    options.max_tokens = max_tokens;
    options.stop = stop_ptrs.data();
    options.n_stop = stop_ptrs.size();
    options.end_token = end_token.value_or(-2); // None: no end token
    options.progress = g->interrupt.callback();
    options.progress_user_data = g->interrupt.user_data();

    // The prompt is text (tokenized by the generator), token ids (fed here), or nothing when
    // generation continues from logits computed earlier.
    std::string text;
    std::vector<int32_t> ids;
    if (py::isinstance<py::str>(prompt) || py::isinstance<py::bytes>(prompt) || py::isinstance<py::bytearray>(prompt)) {
        text = text_bytes(prompt, "prompt");
    } else if (!prompt.is_none()) {
        ids = token_ids(prompt);
        if (ids.empty()) raise_status(RWKVRT_ERR_ARGUMENT, "the prompt has no tokens");
    }
    std::vector<float> initial;
    if (logits) {
        if (!text.empty() || !ids.empty())
            raise_status(RWKVRT_ERR_ARGUMENT, "pass either a prompt or logits, not both");
        if (logits->ndim() != 1 || logits->shape(0) != n_vocab)
            raise_status(RWKVRT_ERR_ARGUMENT, "logits must be " + std::to_string(n_vocab) + " floats in one dimension");
        initial.assign(logits->data(), logits->data() + n_vocab);
    }

    Exclusive use_state(state->busy, "State");
    Exclusive use_sampler(g->sampler->busy, "Sampler");
    rwkvrt_status status = RWKVRT_OK;
    {
        ReleasedGil nogil;
        if (!ids.empty()) {
            // The C generator takes text; token ids are fed first and their logits handed over. A
            // generator made on placeholder logits checks every argument before the state changes.
            initial.assign(size_t(n_vocab), 0.0f);
            status = rwkvrt_generator_new(model->handle, state->handle, g->tokenizer->handle, g->sampler->handle,
                                          nullptr, 0, initial.data(), &options, &g->handle);
            rwkvrt_generator_free(g->handle);
            g->handle = nullptr;
            const rwkvrt_feed_options feed = g->interrupt.feed_options();
            if (status == RWKVRT_OK)
                status = rwkvrt_feed_ex(model->handle, state->handle, ids.data(), ids.size(), initial.data(), &feed);
        }
        if (status == RWKVRT_OK)
            status = rwkvrt_generator_new(model->handle, state->handle, g->tokenizer->handle, g->sampler->handle,
                                          text.data(), text.size(), initial.empty() ? nullptr : initial.data(),
                                          &options, &g->handle);
    }
    g->interrupt.check(status);
    return g;
}

py::str next_piece(Generation &g) {
    if (g.done) throw py::stop_iteration();
    Exclusive use(g.busy, "Generation");
    Exclusive use_state(g.state->busy, "State");
    Exclusive use_sampler(g.sampler->busy, "Sampler");
    size_t len = 0;
    int done = 0;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_generate_next(g.handle, g.piece.data(), g.piece.size(), &len, &done);
        if (status == RWKVRT_ERR_BUFFER) {
            g.piece.resize(len);
            status = rwkvrt_generate_next(g.handle, g.piece.data(), g.piece.size(), &len, &done);
        }
    }
    g.interrupt.check(status);
    if (done) {
        g.done = true;
        throw py::stop_iteration();
    }
    // Pieces are whole UTF-8 characters, except bytes that can never form one (replaced here).
    return py::bytes(g.piece.data(), len).attr("decode")("utf-8", "replace");
}

py::object stop_reason(const Generation &g) {
    switch (rwkvrt_generator_stop_reason(g.handle)) {
    case RWKVRT_STOP_NONE: return py::none();
    case RWKVRT_STOP_MAX_TOKENS: return py::str("max_tokens");
    case RWKVRT_STOP_END_TOKEN: return py::str("end_token");
    case RWKVRT_STOP_STRING: return py::str("stop_string");
    }
    return py::none();
}

} // namespace

void bind_generation(GenerationClass &cls, ModelClass &model_cls) {
    cls.doc() = R"(An iterator over generated text, made by Model.generate().

Each item is a piece of text of whole characters. The GIL is released while a
piece is computed, so generations on different states run in parallel.)";

    cls.def("__iter__", [](py::object self) { return self; }, "The generation itself: it is its own iterator.")
        .def("__next__", &next_piece,
             "The next piece of text; StopIteration once generation has stopped (see stop_reason).")
        .def_property_readonly("stop_reason", &stop_reason,
                               R"(None while running, then "max_tokens", "end_token" or "stop_string".)")
        .def_property_readonly(
            "n_tokens", [](const Generation &g) { return rwkvrt_generator_n_tokens(g.handle); },
            "The number of tokens generated so far.")
        .def_property_readonly(
            "logits",
            [](Generation &g) {
                Exclusive use(g.busy, "Generation");
                const float *data = rwkvrt_generator_logits(g.handle);
                py::array_t<float> out(g.model->n_vocab());
                std::copy(data, data + g.model->n_vocab(), out.mutable_data());
                return out;
            },
            "A copy of the logits after the last token fed: pass them as logits= to continue later.")
        .def_property_readonly(
            "state", [](const Generation &g) { return g.state; }, "The state being advanced.")
        .def_property_readonly(
            "sampler", [](const Generation &g) { return g.sampler; },
            "The sampler in use (e.g. to save with the state: state.save(path, sampler=...)).");

    model_cls.def(
        "generate",
        [](const std::shared_ptr<Model> &model, const std::shared_ptr<State> &state, const py::object &prompt,
           std::shared_ptr<Tokenizer> tokenizer, std::shared_ptr<Sampler> sampler, int32_t max_tokens,
           const py::object &stop, std::optional<int32_t> end_token,
           std::optional<py::array_t<float, py::array::c_style | py::array::forcecast>> logits,
           std::optional<float> temperature, std::optional<int32_t> top_k, std::optional<float> top_p,
           std::optional<float> min_p, std::optional<float> repetition_penalty, std::optional<float> presence_penalty,
           std::optional<float> frequency_penalty, std::optional<float> penalty_decay, std::optional<uint64_t> seed) {
            const SamplingKeywords keywords{.temperature = temperature,
                                            .top_k = top_k,
                                            .top_p = top_p,
                                            .min_p = min_p,
                                            .repetition_penalty = repetition_penalty,
                                            .presence_penalty = presence_penalty,
                                            .frequency_penalty = frequency_penalty,
                                            .penalty_decay = penalty_decay,
                                            .seed = seed};
            return generate(model, state, prompt, std::move(tokenizer), std::move(sampler), max_tokens, stop, end_token,
                            std::move(logits), keywords);
        },
        py::arg("state").none(false), py::arg("prompt"), py::kw_only(), py::arg("tokenizer") = py::none(),
        py::arg("sampler") = py::none(), py::arg("max_tokens") = 256, py::arg("stop") = py::tuple(),
        py::arg("end_token") = -1, py::arg("logits") = py::none(), py::arg("temperature") = py::none(),
        py::arg("top_k") = py::none(), py::arg("top_p") = py::none(), py::arg("min_p") = py::none(),
        py::arg("repetition_penalty") = py::none(), py::arg("presence_penalty") = py::none(),
        py::arg("frequency_penalty") = py::none(), py::arg("penalty_decay") = py::none(), py::arg("seed") = py::none(),
        R"(Feeds a prompt to state, then generates text: an iterator of pieces.

Each step samples a token, feeds it back to state and yields its text.
Generation stops after max_tokens tokens, at the end-of-text token (neither fed
nor yielded), or at a stop string (not yielded; the state has consumed it, as a
chat's next turn needs).

Example::

    for piece in model.generate(state, "User: hi\n\nAssistant:", stop="\n\n",
                                tokenizer=tok, temperature=1.0, top_p=0.3):
        print(piece, end="", flush=True)

Args:
    state: a State of this model; it advances as the text is generated.
    prompt: text (str or bytes), token ids, or None to continue from logits.
    tokenizer: the model's Tokenizer; None for the one its file carries (GGUF), or
        bytes for 256-token models.
    sampler: a Sampler to use; else one is made from the sampling keywords
        (temperature, top_k, top_p, min_p, repetition_penalty,
        presence_penalty, frequency_penalty, penalty_decay, seed; see Sampler).
    max_tokens: the most tokens to generate.
    stop: a stop string or a sequence of them; None or () for none.
    end_token: -1 for the tokenizer's end of text (token 0 for World and BPE;
        none for bytes), None for none, or a token id.
    logits: instead of a prompt, the logits to continue from (Generation.logits
        of an earlier generation on this state).

Raises:
    ArgumentError: no tokenizer for a model whose vocabulary is not 256 tokens,
        both sampler and sampling keywords, a bad option.
    ModelMismatchError: a tokenizer or sampler of another vocabulary size, or a
        state of another model.)");
}

} // namespace rwkvrt_py
