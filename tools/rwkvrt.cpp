// rwkvrt — the command-line tool: model info, text generation with resumable sessions, benchmarks.
// Built on the public C API only, like any application.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "rwkvrt.h"

namespace {

struct Failure {
    std::string message;
};

void check(rwkvrt_status st, const std::string &what) {
    if (st != RWKVRT_OK) throw Failure{what + ": " + rwkvrt_last_error()};
}

using ModelPtr = std::unique_ptr<rwkvrt_model, decltype(&rwkvrt_model_free)>;
using StatePtr = std::unique_ptr<rwkvrt_state, decltype(&rwkvrt_state_free)>;

ModelPtr load_model(const std::string &path, int threads, const std::string &weight_type) {
    rwkvrt_load_options opt = rwkvrt_load_options_default();
    opt.n_threads = threads;
    if (!weight_type.empty()) opt.weight_type = weight_type.c_str();
    rwkvrt_model *m = nullptr;
    check(rwkvrt_model_load(path.c_str(), &opt, &m), "cannot load " + path);
    return ModelPtr(m, rwkvrt_model_free);
}

StatePtr new_state(const rwkvrt_model *m) {
    rwkvrt_state *s = nullptr;
    check(rwkvrt_state_new(m, &s), "cannot create a state");
    return StatePtr(s, rwkvrt_state_free);
}

int cmd_info(const std::string &path) {
    ModelPtr model = load_model(path, 0, "");
    StatePtr state = new_state(model.get());
    std::printf("file:        %s\n", path.c_str());
    std::printf("arch:        %s\n", rwkvrt_model_arch(model.get()));
    std::printf("n_vocab:     %d\n", rwkvrt_model_n_vocab(model.get()));
    std::printf("n_layer:     %d\n", rwkvrt_model_n_layer(model.get()));
    std::printf("n_embd:      %d\n", rwkvrt_model_n_embd(model.get()));
    std::printf("weights:     %s\n", rwkvrt_model_weight_type(model.get()));
    std::printf("state size:  %zu bytes (snapshot)\n", rwkvrt_state_snapshot_size(state.get()));
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"rwkvrt: run RWKV language models"};
    app.require_subcommand(1);

    std::string model_path, prompt, weight_type;
    int n_tokens = 64, threads = 0;

    CLI::App *info = app.add_subcommand("info", "Print a model's architecture and sizes");
    info->add_option("model", model_path, "Model file")->required();

    CLI::App *gen = app.add_subcommand("generate", "Generate text from a prompt");
    gen->add_option("-m,--model", model_path, "Model file")->required();
    gen->add_option("-p,--prompt", prompt, "Prompt text");
    gen->add_option("-n,--n-tokens", n_tokens, "Tokens to generate")->check(CLI::NonNegativeNumber);
    gen->add_option("--threads", threads, "Threads (0 = one per core)")->check(CLI::NonNegativeNumber);
    gen->add_option("--weight-type", weight_type, "Convert weights at load: f32, f16, bf16, q8_0");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    }
    try {
        if (*info) return cmd_info(model_path);
    } catch (const Failure &f) {
        std::fprintf(stderr, "rwkvrt: %s\n", f.message.c_str());
        return 1;
    }
    return 0;
}
