// The C shim for writing GGUF files (`rwkvrt convert`, `rwkvrt quantize`).
#include <algorithm>
#include <filesystem>

#include "api/api_common.h"
#include "api/handles.h"
#include "formats/gguf.h"

using namespace rwkvrt;
using rwkvrt::api::guard;
using rwkvrt::api::require;

extern "C" {

rwkvrt_gguf_options rwkvrt_gguf_options_default(void) {
    rwkvrt_gguf_options o{};
    o.struct_size = sizeof o;
    o.type = "f32";
    o.tokenizer = nullptr;
    return o;
}

rwkvrt_status rwkvrt_model_save_gguf(const rwkvrt_model *model, const char *path, const rwkvrt_gguf_options *options) {
    return guard([&] {
        require(model, "model");
        require(path, "path");
        const rwkvrt_gguf_options o =
            options ? api::read_options(*options, rwkvrt_gguf_options_default(), "rwkvrt_gguf_options_default")
                    : rwkvrt_gguf_options_default();
        const Model &m = *model->impl;
        gguf::WriteOptions w;
        w.arch = arch_name(m.hparams().arch);
        w.head_size = m.hparams().head_size;
        static const DType writable[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                                         DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
        if (!o.type || !dtype_from_name(o.type, &w.type) || std::find(std::begin(writable), std::end(writable), w.type) == std::end(writable))
            fail(RWKVRT_ERR_ARGUMENT, "type '", o.type ? o.type : "(null)", "' is not one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k");
        const int64_t n_vocab = m.hparams().n_vocab;
        if (o.tokenizer) {
            const Tokenizer &t = *o.tokenizer->impl;
            if (std::string(t.kind()) != "world" && std::string(t.kind()) != "bytes")
                fail(RWKVRT_ERR_UNSUPPORTED, "a ", t.kind(), " tokenizer cannot be embedded in GGUF by rwkvrt (world and bytes can)");
            if (t.n_vocab() != n_vocab)
                fail(RWKVRT_ERR_MISMATCH, "the tokenizer has ", t.n_vocab(), " tokens but the model's vocabulary has ", n_vocab);
            for (int32_t i = 0; i < t.n_vocab(); ++i) w.vocab.emplace_back(t.token_bytes(i));
        } else if (!m.file_info().vocab.empty()) {
            w.vocab = m.file_info().vocab;
        } else if (n_vocab == 256) {
            for (int i = 0; i < 256; ++i) w.vocab.emplace_back(1, char(i));
        }
        w.name = std::filesystem::path(path).stem().string();
        gguf::write_gguf(*m.stored_tensors(), path, w);
    });
}

} // extern "C"
