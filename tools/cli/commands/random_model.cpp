// rwkvrt random-model: a random-weight checkpoint of any version and shape, for tests and benchmarks.
#include <cstdio>

#include "cli/common.h"
#include "random_model.h"

namespace rwkvrt_cli {

void add_random_model(CLI::App &app, Commands &out) {
    auto spec = std::make_shared<rwkvrt_tools::RandomModelSpec>();
    auto path = std::make_shared<std::string>();
    CLI::App *cmd = app.add_subcommand("random-model", "Write a small random-weight checkpoint (.safetensors)");
    cmd->add_option("--arch", spec->arch, "rwkv4, rwkv5.0, rwkv5.1, rwkv5.2, rwkv6 or rwkv7")->capture_default_str();
    cmd->add_option("--layers", spec->n_layer, "Layers")->capture_default_str();
    cmd->add_option("--embd", spec->n_embd, "Width")->capture_default_str();
    cmd->add_option("--head-size", spec->head_size, "Head size (v5+)")->capture_default_str();
    cmd->add_option("--vocab", spec->n_vocab, "Vocabulary size")->capture_default_str();
    auto ranks = std::make_shared<std::vector<int64_t>>();
    cmd->add_option("--lora-ranks", *ranks, "RWKV-7's low-rank paths w,a,v,g (default 16,16,8,16; the official 0.1B's: 64,64,32,128)")
        ->expected(4)->delimiter(',')->check(CLI::NonNegativeNumber);
    cmd->add_option("--seed", spec->seed, "Seed")->capture_default_str();
    cmd->add_option("-o,--output", *path, "Output file")->required();
    out.push_back({cmd, [spec, path, ranks] {
                       if (!ranks->empty()) {
                           spec->lora_w = (*ranks)[0], spec->lora_a = (*ranks)[1];
                           spec->lora_v = (*ranks)[2], spec->lora_g = (*ranks)[3];
                       }
                       rwkvrt_tools::write_random_checkpoint(*spec, *path);
                       std::printf("wrote a random-weight %s checkpoint to %s (its output is noise)\n", spec->arch.c_str(), path->c_str());
                       return 0;
                   }});
}

} // namespace rwkvrt_cli
