// Safetensors files whose tensors are not named as the official checkpoints (spec §7.4): the HF/fla
// RWKV-7 layout (a folder with config.json and shards, or one file) and web-rwkv's .st. Both are
// recognized from their tensors and mapped onto the official names and orientations.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "formats/mapped_file.h"
#include "formats/tensor_file.h"

namespace rwkvrt {

namespace {

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Swaps the last two dimensions of tensor `name` (TensorFile::transposed_last2).
void transpose_last2(TensorFile &tf, const std::string &name) { tf.replace(tf.transposed_last2(*tf.find(name))); }

// fla names → official (spec §7.4). LoRA pairs: lora.0.weight (D, C) is W1ᵀ, lora.2.weight (C, D) is
// W2ᵀ, lora.2.bias the base vector.
void map_fla(TensorFile &tf) {
    static const std::regex layer(R"(model\.layers\.(\d+)\.(.+))");
    static const std::pair<const char *, const char *> fixed[] = {
        {"model.embeddings.weight", "emb.weight"}, {"model.norm.weight", "ln_out.weight"},
        {"model.norm.bias", "ln_out.bias"},        {"lm_head.weight", "head.weight"}};
    static const std::pair<const char *, const char *> per_layer[] = {
        {"pre_norm.weight", "ln0.weight"},        {"pre_norm.bias", "ln0.bias"},
        {"attn_norm.weight", "ln1.weight"},       {"attn_norm.bias", "ln1.bias"},
        {"ffn_norm.weight", "ln2.weight"},        {"ffn_norm.bias", "ln2.bias"},
        {"attn.r_proj.weight", "att.receptance.weight"}, {"attn.k_proj.weight", "att.key.weight"},
        {"attn.v_proj.weight", "att.value.weight"},      {"attn.o_proj.weight", "att.output.weight"},
        {"attn.g_norm.weight", "att.ln_x.weight"},       {"attn.g_norm.bias", "att.ln_x.bias"},
        {"attn.k_k", "att.k_k"},   {"attn.k_a", "att.k_a"},   {"attn.r_k", "att.r_k"},
        {"attn.x_r", "att.x_r"},   {"attn.x_w", "att.x_w"},   {"attn.x_k", "att.x_k"},
        {"attn.x_v", "att.x_v"},   {"attn.x_a", "att.x_a"},   {"attn.x_g", "att.x_g"},
        {"attn.w_lora.lora.2.bias", "att.w0"}, {"attn.a_lora.lora.2.bias", "att.a0"},
        {"attn.v_lora.lora.2.bias", "att.v0"},
        {"attn.w_lora.lora.0.weight", "att.w1"}, {"attn.w_lora.lora.2.weight", "att.w2"},
        {"attn.a_lora.lora.0.weight", "att.a1"}, {"attn.a_lora.lora.2.weight", "att.a2"},
        {"attn.v_lora.lora.0.weight", "att.v1"}, {"attn.v_lora.lora.2.weight", "att.v2"},
        {"attn.g_lora.lora.0.weight", "att.g1"}, {"attn.g_lora.lora.2.weight", "att.g2"},
        {"ffn.x_k", "ffn.x_k"},    {"ffn.key.weight", "ffn.key.weight"}, {"ffn.value.weight", "ffn.value.weight"}};
    std::vector<std::string> names;
    for (const TensorView &t : tf.tensors()) names.push_back(t.name);
    for (const std::string &name : names) {
        std::string to;
        for (const auto &[from, official] : fixed)
            if (name == from) to = official;
        std::smatch m;
        if (to.empty() && std::regex_match(name, m, layer)) {
            for (const auto &[from, official] : per_layer)
                if (m[2] == from) to = "blocks." + m[1].str() + "." + official;
        }
        if (to.empty())
            fail(RWKVRT_ERR_UNSUPPORTED, "'", tf.path(), "': tensor '", name, "' is not part of the HF/fla RWKV-7 layout rwkvrt reads");
        tf.rename(name, to);
        if (name.find("_lora.lora.") != name.npos && ends_with(name, ".weight")) transpose_last2(tf, to);
    }
    tf.set_format("safetensors (HF/fla)");
}

// web-rwkv's converter: time_maa → time_mix, time_faaaa → time_first, the LoRA matrices transposed.
// v4/v5 files keep official names (v4 and v5.0 use time_first; the v5 builder accepts either).
void map_web_rwkv(TensorFile &tf, bool v6) {
    std::vector<std::string> names;
    for (const TensorView &t : tf.tensors()) names.push_back(t.name);
    const std::vector<std::string> loras =
        v6 ? std::vector<std::string>{".att.time_mix_w1", ".att.time_mix_w2", ".att.time_decay_w1", ".att.time_decay_w2"}
           : std::vector<std::string>{".att.w1", ".att.w2", ".att.a1", ".att.a2", ".att.v1", ".att.v2", ".att.g1", ".att.g2"};
    for (const std::string &name : names) {
        std::string to = name;
        if (v6) {
            if (const size_t at = to.find(".time_mix_"); at != to.npos) to.replace(at, 10, ".time_maa_");
            if (ends_with(to, ".att.time_first")) to.replace(to.size() - 10, 10, "time_faaaa");
        }
        const bool lora = std::any_of(loras.begin(), loras.end(), [&](const std::string &s) { return ends_with(name, s); });
        if (to != name) tf.rename(name, to);
        if (lora) transpose_last2(tf, to);
    }
    tf.set_format("safetensors (web-rwkv)");
}

} // namespace

void map_safetensors_layout(TensorFile &tf) {
    if (tf.find("model.embeddings.weight")) return map_fla(tf);
    const TensorView *emb = tf.find("emb.weight");
    if (!emb || emb->shape.size() != 2) return;
    const int64_t C = emb->shape[1];
    // v6: the official time_maa_* are time_mix_* in .st files.
    if (tf.find("blocks.0.att.time_mix_x") && tf.find("blocks.0.att.time_mix_w1")) return map_web_rwkv(tf, true);
    // v7: att.w1 is (C, D) officially, (D, C) in .st files.
    const TensorView *w1 = tf.find("blocks.0.att.w1");
    if (w1 && tf.find("blocks.0.att.r_k") && w1->shape.size() == 2 && w1->shape[1] == C && w1->shape[0] != C)
        return map_web_rwkv(tf, false);
}

std::unique_ptr<TensorFile> read_hf_folder(const std::string &dir, bool use_mmap) {
    namespace fs = std::filesystem;
    const fs::path root(dir);
    if (!fs::exists(root / "config.json"))
        fail(RWKVRT_ERR_FORMAT, "'", dir, "' is a folder without config.json: not a Hugging Face model folder rwkvrt knows");
    const MappedFile config_file((root / "config.json").string(), false); // type-checked: a FIFO never blocks
    const std::string text = config_file.size() == 0 ? std::string()
                                                     : std::string(reinterpret_cast<const char *>(config_file.data()), config_file.size());
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception &e) {
        fail(RWKVRT_ERR_FORMAT, "'", (root / "config.json").string(), "' is not valid JSON: ", e.what());
    }
    const std::string type = config.is_object() && config.contains("model_type") && config["model_type"].is_string()
                                 ? config["model_type"].get<std::string>()
                                 : "";
    if (type != "rwkv7")
        fail(RWKVRT_ERR_UNSUPPORTED, "'", dir, "': config.json has model_type '", type,
             "'; rwkvrt reads HF folders of the fla RWKV-7 layout (model_type rwkv7)");
    // The shards: model.safetensors, or those named by the index, else every model-*.safetensors.
    std::vector<fs::path> shards;
    if (fs::exists(root / "model.safetensors")) shards.push_back(root / "model.safetensors");
    else {
        for (const auto &e : fs::directory_iterator(root))
            if (e.path().extension() == ".safetensors" && e.path().filename().string().rfind("model-", 0) == 0) shards.push_back(e.path());
        std::sort(shards.begin(), shards.end());
    }
    if (shards.empty()) fail(RWKVRT_ERR_FORMAT, "'", dir, "' has config.json but no model.safetensors or model-*.safetensors shards");
    std::unique_ptr<TensorFile> out;
    for (const fs::path &p : shards) {
        auto shard = read_safetensors(std::make_unique<MappedFile>(p.string(), use_mmap));
        if (!out) out = std::move(shard);
        else out->merge(std::move(shard));
    }
    if (!out->find("model.embeddings.weight"))
        fail(RWKVRT_ERR_FORMAT, "'", dir, "': no tensor 'model.embeddings.weight' in its shards (not the fla RWKV-7 layout)");
    map_fla(*out);
    return out;
}

} // namespace rwkvrt
