// The C shim for tokenizers.
#include <cstring>

#include "api/api_common.h"
#include "api/handles.h"
#include "tokenizers/tokenizer.h"

using rwkvrt::fail;
using rwkvrt::api::guard;
using rwkvrt::api::require;

namespace {

// Reports the size needed, and copies only when everything fits.
template <class T>
void copy_out(const T *src, size_t n, T *dst, size_t cap, size_t *written, const char *what) {
    *written = n;
    if (n > cap) fail(RWKVRT_ERR_BUFFER, "the ", what, " need room for ", n, " but the buffer holds ", cap);
    if (n) std::memcpy(dst, src, n * sizeof(T));
}

} // namespace

extern "C" {

rwkvrt_status rwkvrt_tokenizer_load(const char *path, rwkvrt_tokenizer **out) {
    return guard([&] {
        require(path, "path");
        require(out, "out");
        *out = new rwkvrt_tokenizer{rwkvrt::load_tokenizer(path)};
    });
}

rwkvrt_status rwkvrt_tokenizer_new_bytes(rwkvrt_tokenizer **out) {
    return guard([&] {
        require(out, "out");
        *out = new rwkvrt_tokenizer{rwkvrt::make_byte_tokenizer()};
    });
}

rwkvrt_status rwkvrt_tokenizer_from_model(const rwkvrt_model *model, rwkvrt_tokenizer **out) {
    return guard([&] {
        require(model, "model");
        require(out, "out");
        const rwkvrt::FileInfo &info = model->impl->file_info();
        if (info.vocab.empty())
            fail(RWKVRT_ERR_UNSUPPORTED, "'", model->impl->path(), "' embeds no tokenizer rwkvrt reads",
                 info.vocab_kind.empty() ? std::string() : " (it names one of kind '" + info.vocab_kind + "')",
                 "; load one with rwkvrt_tokenizer_load()");
        if (info.vocab.size() > size_t(model->impl->hparams().n_vocab))
            fail(RWKVRT_ERR_FORMAT, "'", model->impl->path(), "' embeds ", info.vocab.size(),
                 " tokens but its embedding has ", model->impl->hparams().n_vocab, " rows");
        *out = new rwkvrt_tokenizer{rwkvrt::make_embedded_tokenizer(info.vocab, "'" + model->impl->path() + "' embedded vocabulary")};
    });
}

void rwkvrt_tokenizer_free(rwkvrt_tokenizer *tok) { delete tok; }

const char *rwkvrt_tokenizer_kind(const rwkvrt_tokenizer *tok) { return tok ? tok->impl->kind() : ""; }

int32_t rwkvrt_tokenizer_n_vocab(const rwkvrt_tokenizer *tok) { return tok ? tok->impl->n_vocab() : 0; }

rwkvrt_status rwkvrt_tokenize(const rwkvrt_tokenizer *tok, const char *text, size_t len, int32_t *tokens,
                              size_t cap, size_t *n_tokens) {
    return guard([&] {
        require(tok, "tok");
        require(n_tokens, "n_tokens");
        if (len) require(text, "text");
        if (cap) require(tokens, "tokens");
        const std::vector<int32_t> ids = tok->impl->encode(std::string_view(len ? text : "", len));
        copy_out(ids.data(), ids.size(), tokens, cap, n_tokens, "tokens");
    });
}

rwkvrt_status rwkvrt_detokenize(const rwkvrt_tokenizer *tok, const int32_t *tokens, size_t n_tokens, char *text,
                                size_t cap, size_t *len) {
    return guard([&] {
        require(tok, "tok");
        require(len, "len");
        if (n_tokens) require(tokens, "tokens");
        if (cap) require(text, "text");
        const std::string s = tok->impl->decode(std::span<const int32_t>(tokens, n_tokens));
        copy_out(s.data(), s.size(), text, cap, len, "text bytes");
    });
}

rwkvrt_status rwkvrt_token_to_bytes(const rwkvrt_tokenizer *tok, int32_t token, char *buf, size_t cap,
                                    size_t *len) {
    return guard([&] {
        require(tok, "tok");
        require(len, "len");
        if (cap) require(buf, "buf");
        const std::string_view s = tok->impl->token_bytes(token);
        copy_out(s.data(), s.size(), buf, cap, len, "token bytes");
    });
}

} // extern "C"
