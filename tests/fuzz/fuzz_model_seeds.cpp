// Writes the corpus of fuzz_model (models are not kept in the repository): a small random-weight
// checkpoint of every RWKV version, as .safetensors; RWKV-6 and 7 also as GGUF in f16, q8_0 and q4_0,
// whose readers and kernels reshape and interleave what they load; and, as a regression, an RWKV-7
// whose decay LoRA has rank 0, which once loaded and then died of SIGFPE in its first product.
// Usage: fuzz_model_seeds <folder> (created if missing)
#include <cstdio>
#include <filesystem>
#include <string>

#include "random_model.h"
#include "rwkvrt.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
        return 2;
    }
    std::filesystem::create_directories(argv[1]);
    int written = 0;
    for (const char *arch : {"rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6", "rwkv7"}) {
        rwkvrt_tools::RandomModelSpec spec;
        spec.arch = arch;
        spec.n_layer = 1;
        spec.n_embd = 32;
        spec.n_vocab = 16;
        spec.dim_ffn = 32;
        spec.lora_mix = spec.lora_decay = spec.lora_w = spec.lora_a = spec.lora_v = spec.lora_g = 4;
        const std::string path = std::string(argv[1]) + "/seed-" + arch + ".safetensors";
        rwkvrt_tools::write_random_checkpoint(spec, path);
        ++written;
        if (spec.arch != "rwkv6" && spec.arch != "rwkv7") continue; // the versions GGUF has
        rwkvrt_model *m = nullptr;
        if (rwkvrt_model_load(path.c_str(), nullptr, &m) != RWKVRT_OK) {
            std::fprintf(stderr, "%s\n", rwkvrt_last_error());
            return 1;
        }
        for (const char *type : {"f16", "q8_0", "q4_0"}) {
            rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
            o.type = type;
            const std::string out = std::string(argv[1]) + "/seed-" + arch + "-" + type + ".gguf";
            if (rwkvrt_model_save_gguf(m, out.c_str(), &o) != RWKVRT_OK) {
                std::fprintf(stderr, "%s\n", rwkvrt_last_error());
                return 1;
            }
            ++written;
        }
        rwkvrt_model_free(m);
    }
    rwkvrt_tools::RandomModelSpec rank0;
    rank0.n_layer = 1;
    rank0.n_embd = 32;
    rank0.n_vocab = 16;
    rank0.lora_w = 0;
    rwkvrt_tools::write_random_checkpoint(rank0, std::string(argv[1]) + "/regression-lora-rank-0.safetensors");
    ++written;
    std::printf("wrote %d seeds to %s\n", written, argv[1]);
    return 0;
}
