// Writes the seed corpus for fuzz_model: a small random-weight checkpoint of every RWKV version, as
// .safetensors (the other formats have targets of their own). Usage: fuzz_model_seeds <folder>
#include <cstdio>
#include <string>

#include "random_model.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
        return 2;
    }
    int written = 0;
    for (const char *arch : {"rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6", "rwkv7"}) {
        rwkvrt_tools::RandomModelSpec spec;
        spec.arch = arch;
        spec.n_layer = 1;
        spec.n_embd = 32;
        spec.n_vocab = 16;
        spec.dim_ffn = 32;
        spec.lora_mix = spec.lora_decay = spec.lora_w = spec.lora_a = spec.lora_v = spec.lora_g = 4;
        rwkvrt_tools::write_random_checkpoint(spec, std::string(argv[1]) + "/seed-" + arch + ".safetensors");
        ++written;
    }
    std::printf("wrote %d seeds to %s\n", written, argv[1]);
    return 0;
}
