// rwkvrt.Tokenizer: text to token ids and back. Immutable, so shared freely across threads; the GIL is
// released while it works.
#include "common.h"

#include <pybind11/stl.h>

namespace rwkvrt_py {

namespace {

std::shared_ptr<Tokenizer> load(const py::object &path) {
    const std::string file = absolute_fs_path(path);
    rwkvrt_tokenizer *handle = nullptr;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_tokenizer_load(file.c_str(), &handle);
    }
    check(status);
    return std::make_shared<Tokenizer>(handle, file);
}

// The C calls report the size they need when the buffer is short: guess, then retry once at that size.
std::vector<int32_t> encode(const Tokenizer &tok, const py::object &text) {
    const std::string bytes = text_bytes(text, "text");
    std::vector<int32_t> ids(bytes.size() + 16);
    size_t n = 0;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_tokenize(tok.handle, bytes.data(), bytes.size(), ids.data(), ids.size(), &n);
        if (status == RWKVRT_ERR_BUFFER) {
            ids.resize(n);
            status = rwkvrt_tokenize(tok.handle, bytes.data(), bytes.size(), ids.data(), ids.size(), &n);
        }
    }
    check(status);
    ids.resize(n);
    return ids;
}

py::bytes decode_bytes(const Tokenizer &tok, const py::object &tokens) {
    const std::vector<int32_t> ids = token_ids(tokens);
    std::string text(ids.size() * 8 + 16, '\0');
    size_t len = 0;
    rwkvrt_status status;
    {
        ReleasedGil nogil;
        status = rwkvrt_detokenize(tok.handle, ids.data(), ids.size(), text.data(), text.size(), &len);
        if (status == RWKVRT_ERR_BUFFER) {
            text.resize(len);
            status = rwkvrt_detokenize(tok.handle, ids.data(), ids.size(), text.data(), text.size(), &len);
        }
    }
    check(status);
    text.resize(len);
    return py::bytes(text);
}

py::bytes token_bytes(const Tokenizer &tok, const py::object &token) {
    const std::vector<int32_t> id = token_ids(token);
    if (id.size() != 1) throw py::type_error("token_bytes() takes one token id");
    std::string buf(64, '\0');
    size_t len = 0;
    rwkvrt_status status = rwkvrt_token_to_bytes(tok.handle, id[0], buf.data(), buf.size(), &len);
    if (status == RWKVRT_ERR_BUFFER) {
        buf.resize(len);
        status = rwkvrt_token_to_bytes(tok.handle, id[0], buf.data(), buf.size(), &len);
    }
    check(status);
    buf.resize(len);
    return py::bytes(buf);
}

} // namespace

void bind_tokenizer(TokenizerClass &cls) {
    cls.doc() = R"(Turns text into token ids and back.

The kind is recognized from the file's content: "world" (rwkv_vocab_v20230424.txt,
v5/v6/v7 World and G1 models), "bpe" (a Hugging Face tokenizer.json, e.g. the
GPT-NeoX 20B tokenizer of RWKV-4 Pile models) or "sentencepiece" (.model).
Tokenizer.byte_level() is the tokenizer of 256-token models (id = byte value).
A tokenizer is immutable: threads may share one.

Example::

    tok = rwkvrt.Tokenizer("rwkv_vocab_v20230424.txt")
    ids = tok.encode("Hello")
    assert tok.decode(ids) == "Hello"

Pickling stores the file's absolute path, which unpickling loads again.)";

    cls.def(py::init(&load), py::arg("path"),
            R"(Loads a tokenizer file.

Raises:
    FileError: the file cannot be read.
    FormatError: not a tokenizer file, or a malformed one (the message names the line).
    UnsupportedError: a tokenizer.json using a feature this library lacks.)")
        .def_static("byte_level", &Tokenizer::byte_level, "The tokenizer of 256-token models: token id = byte value.")
        .def_static(
            "from_model",
            [](const Model &model) {
                std::shared_ptr<Tokenizer> t = Tokenizer::of_model(model);
                if (!t) raise_status(RWKVRT_ERR_UNSUPPORTED, "'" + model.path + "' carries no tokenizer");
                return t;
            },
            py::arg("model"), R"(The tokenizer a model file carries (a GGUF file's vocabulary).

Raises:
    UnsupportedError: the file carries none (.pth, .safetensors, rwkv.cpp files).)")
        .def_property_readonly(
            "kind", [](const Tokenizer &t) { return rwkvrt_tokenizer_kind(t.handle); },
            R"("world", "bpe", "sentencepiece" or "bytes".)")
        .def_property_readonly(
            "n_vocab", [](const Tokenizer &t) { return rwkvrt_tokenizer_n_vocab(t.handle); },
            "The number of token ids; equals Model.n_vocab of the models it serves.")
        .def_property_readonly(
            "path", [](const Tokenizer &t) { return t.path.empty() ? py::object(py::none()) : fs_decode(t.path); },
            "The absolute path it was loaded from (the model file's for an embedded one); None for the byte tokenizer.")
        .def("encode", &encode, py::arg("text"),
             R"(Token ids of text (str, encoded as UTF-8, or bytes). No begin- or end-of-text token is added.)")
        .def(
            "decode",
            [](const Tokenizer &t, const py::object &tokens) {
                return decode_bytes(t, tokens).attr("decode")("utf-8", "replace");
            },
            py::arg("tokens"),
            R"(The text of token ids. Bytes that are not valid UTF-8 (e.g. a character cut in
two) become U+FFFD; decode_bytes() gives the exact bytes.

Raises:
    TokenError: an id outside [0, n_vocab), named in the message.)")
        .def("decode_bytes", &decode_bytes, py::arg("tokens"), "The exact bytes of token ids.")
        .def("token_bytes", &token_bytes, py::arg("token"),
             "The bytes one token stands for in running text (possibly part of a UTF-8 character).")
        .def("__copy__", [](py::object self) { return self; })
        .def(
            "__deepcopy__", [](py::object self, py::handle) { return self; }, py::arg("memo"))
        .def(py::pickle(
            [](const Tokenizer &t) {
                if (t.embedded)
                    throw py::type_error("a model's embedded tokenizer cannot be pickled; pickle the model and "
                                         "call Tokenizer.from_model() on it");
                return py::make_tuple(t.path.empty() ? py::object(py::none()) : fs_decode(t.path));
            },
            [](const py::tuple &t) { return t[0].is_none() ? Tokenizer::byte_level() : load(t[0]); }))
        .def("__repr__", [](const Tokenizer &t) {
            return py::str("<rwkvrt.Tokenizer {} n_vocab={}>")
                .format(rwkvrt_tokenizer_kind(t.handle), rwkvrt_tokenizer_n_vocab(t.handle));
        });
}

} // namespace rwkvrt_py
