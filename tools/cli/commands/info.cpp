// rwkvrt info MODEL (or -m MODEL): what a model file holds, without loading its weights.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace rwkvrt_cli {

namespace {

std::string megabytes(uint64_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f MB", double(bytes) / 1e6);
    return buf;
}

int run_info(const std::string &path, bool json, bool metadata) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(describe(path));
    if (json) {
        if (!metadata) j.erase("metadata"); // a GGUF file's metadata on request, as in the text
        std::printf("%s\n", j.dump().c_str());
        return 0;
    }
    auto u = [&](const char *key) { return j[key].get<uint64_t>(); };
    std::printf("file:        %s\n", path.c_str());
    std::printf("format:      %s\n", j["format"].get<std::string>().c_str());
    std::printf("arch:        %s\n", j["arch"].get<std::string>().c_str());
    std::printf("n_vocab:     %llu\n", static_cast<unsigned long long>(u("n_vocab")));
    std::printf("n_layer:     %llu\n", static_cast<unsigned long long>(u("n_layer")));
    std::printf("n_embd:      %llu\n", static_cast<unsigned long long>(u("n_embd")));
    std::printf("heads:       %llu × %llu\n", static_cast<unsigned long long>(u("n_head")),
                static_cast<unsigned long long>(u("head_size")));
    std::printf("dim_ffn:     %llu\n", static_cast<unsigned long long>(u("dim_ffn")));
    if (j.contains("rescale_every"))
        std::printf("rescale:     residual halved every %llu layers\n", static_cast<unsigned long long>(u("rescale_every")));
    std::printf("weights:     %s, %llu parameters\n", j["weight_type"].get<std::string>().c_str(),
                static_cast<unsigned long long>(u("n_params")));
    for (const auto &t : j["tensors"])
        std::printf("  %-6s     %4llu tensors, %s\n", t["type"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(t["count"].get<uint64_t>()), megabytes(t["bytes"].get<uint64_t>()).c_str());
    const auto &vocab = j["vocab"];
    if (vocab["embedded"].get<bool>())
        std::printf("vocabulary:  embedded, %s, %llu tokens\n", vocab["kind"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(vocab["n_tokens"].get<uint64_t>()));
    else if (vocab.contains("unsupported_kind"))
        std::printf("vocabulary:  embedded of kind '%s', which rwkvrt does not read: pass -t\n",
                    vocab["unsupported_kind"].get<std::string>().c_str());
    else
        std::printf("vocabulary:  not embedded (pass -t, or bytes for 256-token models)\n");
    std::printf("on disk:     %s\n", megabytes(u("file_bytes")).c_str());
    std::printf("in memory:   %s of weights (read from the file at load; with --mmap, mapped from it)\n",
                megabytes(u("weight_bytes")).c_str());
    std::printf("state size:  %llu bytes\n", static_cast<unsigned long long>(u("state_bytes")));
    if (metadata && j.contains("metadata"))
        for (const auto &[key, value] : j["metadata"].items()) std::printf("  %s = %s\n", key.c_str(), value.get<std::string>().c_str());
    return 0;
}

} // namespace

void add_info(CLI::App &app, Commands &out) {
    struct Args {
        std::string path;
        bool json = false;
        bool metadata = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App *cmd = app.add_subcommand("info", "Describe a model file (format, architecture, sizes) without loading its weights");
    cmd->add_option("model,-m,--model", args->path, "Model file (.pth, rwkv.cpp .bin, .safetensors, .gguf)")->required();
    cmd->add_flag("--json", args->json, "Print the description as JSON");
    cmd->add_flag("--metadata", args->metadata, "Also print a GGUF file's metadata");
    out.push_back({cmd, [args] { return run_info(args->path, args->json, args->metadata); }});
}

} // namespace rwkvrt_cli
