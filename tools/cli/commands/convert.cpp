// rwkvrt convert IN OUT.gguf and rwkvrt quantize IN.gguf OUT.gguf TYPE: write a model as GGUF in
// llama.cpp's layout, from any file rwkvrt loads (convert) or from a GGUF file (quantize).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace rwkvrt_cli {

namespace {

struct ConvertArgs {
    std::string input, output, type = "f32", tokenizer;
};

int write_gguf(const ConvertArgs &a) {
    ModelArgs m;
    m.path = a.input;
    Model model = load_model(m);
    Tokenizer tok;
    rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
    o.type = a.type.c_str();
    if (!a.tokenizer.empty()) {
        tok = load_tokenizer(a.tokenizer);
        o.tokenizer = tok.get();
    }
    check(rwkvrt_model_save_gguf(model.get(), a.output.c_str(), &o), "cannot write " + a.output);
    // The types as written: matrices whose rows are not whole blocks of the type asked for fall back
    // to another, as llama-quantize does.
    const nlohmann::json written = nlohmann::json::parse(describe(a.output));
    std::string types;
    for (const auto &t : written["tensors"])
        types += (types.empty() ? "" : ", ") + t["type"].get<std::string>() + " ×" + std::to_string(t["count"].get<uint64_t>());
    std::printf("wrote %s (%s; tensors: %s)\n", a.output.c_str(), rwkvrt_model_arch(model.get()), types.c_str());
    return 0;
}

const char *const kTypes = "f32, f16, bf16, q8_0, q4_0, q4_k, q5_k or q6_k";

} // namespace

void add_convert(CLI::App &app, Commands &out) {
    auto a = std::make_shared<ConvertArgs>();
    CLI::App *cmd = app.add_subcommand("convert", "Write a model (any format rwkvrt loads) as GGUF for rwkvrt and llama.cpp");
    cmd->add_option("input", a->input, "Model file (.pth, rwkv.cpp .bin, .safetensors, .gguf)")->required();
    cmd->add_option("output", a->output, "GGUF file to write")->required();
    cmd->add_option("--type", a->type, std::string("Type of the large matrices: ") + kTypes)->capture_default_str();
    cmd->add_option("-t,--tokenizer", a->tokenizer,
                    "World vocabulary to embed (rwkv_vocab_v20230424.txt); by default the input's own, or bytes for 256-token models");
    out.push_back({cmd, [a] { return write_gguf(*a); }});
}

void add_quantize(CLI::App &app, Commands &out) {
    auto a = std::make_shared<ConvertArgs>();
    CLI::App *cmd = app.add_subcommand("quantize", "Re-write a GGUF model with its large matrices in another type");
    cmd->add_option("input", a->input, "GGUF file")->required();
    cmd->add_option("output", a->output, "GGUF file to write")->required();
    cmd->add_option("type", a->type, kTypes)->required();
    out.push_back({cmd, [a] { return write_gguf(*a); }});
}

} // namespace rwkvrt_cli
