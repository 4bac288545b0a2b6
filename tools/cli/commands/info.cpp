// rwkvrt info MODEL: the architecture and sizes.
#include <cstdio>

#include "cli/common.h"

namespace rwkvrt_cli {

namespace {

int run_info(const ModelArgs &a) {
    Model model = load_model(a);
    State state = new_state(model.get());
    std::printf("file:        %s\n", a.path.c_str());
    std::printf("arch:        %s\n", rwkvrt_model_arch(model.get()));
    std::printf("n_vocab:     %d\n", rwkvrt_model_n_vocab(model.get()));
    std::printf("n_layer:     %d\n", rwkvrt_model_n_layer(model.get()));
    std::printf("n_embd:      %d\n", rwkvrt_model_n_embd(model.get()));
    std::printf("weights:     %s, %lld parameters, %.2f MB in the file\n", rwkvrt_model_weight_type(model.get()),
                static_cast<long long>(rwkvrt_model_n_params(model.get())), double(rwkvrt_model_weight_bytes(model.get())) / 1e6);
    std::printf("state size:  %zu bytes (snapshot)\n", rwkvrt_state_snapshot_size(state.get()));
    return 0;
}

} // namespace

void add_info(CLI::App &app, Commands &out) {
    auto args = std::make_shared<ModelArgs>();
    CLI::App *cmd = app.add_subcommand("info", "Print a model's architecture and sizes");
    cmd->add_option("model", args->path, "Model file")->required();
    out.push_back({cmd, [args] { return run_info(*args); }});
}

} // namespace rwkvrt_cli
