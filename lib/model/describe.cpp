#include "model/describe.h"

#include <map>
#include <nlohmann/json.hpp>

#include "arch/arch.h"
#include "exec/thread_pool.h"
#include "formats/gguf.h"
#include "formats/tensor_file.h"
#include "tokenizers/tokenizer.h"

namespace rwkvrt {

std::string describe_model_file(const std::string &path) {
    const std::unique_ptr<TensorFile> file = open_tensor_file(path, true);
    ThreadPool this_thread(1);
    LoadConfig config;
    config.pool = &this_thread;
    config.as_stored = true; // nothing converted: only the header and the small tensors are read
    const std::unique_ptr<ArchModel> arch = build_model(*file, config);
    const HParams &hp = arch->hparams();
    nlohmann::ordered_json j;
    j["path"] = path;
    j["format"] = file->format();
    j["arch"] = arch_name(hp.arch);
    j["n_vocab"] = hp.n_vocab;
    j["n_embd"] = hp.n_embd;
    j["n_layer"] = hp.n_layer;
    j["n_head"] = hp.n_head;
    j["head_size"] = hp.head_size;
    j["dim_att"] = hp.dim_att;
    j["dim_ffn"] = hp.dim_ffn;
    if (hp.rescale_every) j["rescale_every"] = hp.rescale_every;
    j["weight_type"] = dtype_name(arch->weight_dtype());

    // Per storage type as the file stores its tensors (a GGUF file's own, before any mapping).
    std::map<std::string, std::pair<int64_t, size_t>> by_type;
    size_t weight_bytes = 0;
    int64_t n_params = 0;
    for (const TensorView &t : file->tensors()) {
        weight_bytes += t.nbytes;
        n_params += t.numel();
    }
    if (file->format() == "gguf") {
        for (const gguf::RawTensor &t : gguf::read_layout(file->file()).tensors) {
            auto &[count, bytes] = by_type[gguf::ggml_type_name(t.type)];
            ++count;
            bytes += t.nbytes;
        }
    } else {
        for (const TensorView &t : file->tensors()) {
            auto &[count, bytes] = by_type[dtype_name(t.dtype)];
            ++count;
            bytes += t.nbytes;
        }
    }
    nlohmann::ordered_json types = nlohmann::ordered_json::array();
    for (const auto &[name, cb] : by_type) types.push_back({{"type", name}, {"count", cb.first}, {"bytes", cb.second}});
    j["tensors"] = types;
    j["n_params"] = n_params;
    j["file_bytes"] = file->file().size();
    j["weight_bytes"] = weight_bytes; // held once loaded: mapped from the file, or decoded at load
    j["state_bytes"] = arch->state_floats() * sizeof(float);

    const FileInfo &info = file->info();
    nlohmann::ordered_json vocab;
    vocab["embedded"] = !info.vocab.empty();
    if (!info.vocab.empty()) {
        vocab["kind"] = make_embedded_tokenizer(info.vocab, path)->kind();
        vocab["n_tokens"] = info.vocab.size();
    } else if (!info.vocab_kind.empty()) {
        vocab["unsupported_kind"] = info.vocab_kind;
    }
    j["vocab"] = vocab;
    if (!info.metadata.empty()) {
        nlohmann::ordered_json meta;
        for (const auto &[key, value] : info.metadata) meta[key] = value;
        j["metadata"] = meta;
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace rwkvrt
