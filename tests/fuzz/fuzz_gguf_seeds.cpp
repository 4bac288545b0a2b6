// Writes the seed corpus for fuzz_gguf: small random-weight rwkv6 and rwkv7 models converted to GGUF in
// every type rwkvrt writes, without their leading "GGUF" (fuzz_gguf adds it). Usage: fuzz_gguf_seeds <folder>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "random_model.h"
#include "rwkvrt.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    int written = 0;
    for (const char *arch : {"rwkv6", "rwkv7"}) {
        for (int64_t embd : {32, 256}) { // 256: rows of whole K-quant super-blocks
            rwkvrt_tools::RandomModelSpec spec;
            spec.arch = arch;
            spec.n_layer = 1;
            spec.n_embd = embd;
            spec.n_vocab = 16;
            spec.dim_ffn = embd;
            const std::string src = dir + "/seed-source.safetensors";
            rwkvrt_tools::write_random_checkpoint(spec, src);
            rwkvrt_model *m = nullptr;
            if (rwkvrt_model_load(src.c_str(), nullptr, &m) != RWKVRT_OK) {
                std::fprintf(stderr, "%s\n", rwkvrt_last_error());
                return 1;
            }
            for (const char *type : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"}) {
                if (embd == 32 && type[2] == 'k') continue;
                const std::string out = dir + "/" + arch + "-" + std::to_string(embd) + "-" + type + ".gguf";
                rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
                o.type = type;
                if (rwkvrt_model_save_gguf(m, out.c_str(), &o) != RWKVRT_OK) {
                    std::fprintf(stderr, "%s\n", rwkvrt_last_error());
                    return 1;
                }
                // Drop the magic: the fuzzer prepends it to every input.
                std::ifstream in(out, std::ios::binary);
                const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
                std::ofstream(out, std::ios::binary | std::ios::trunc).write(bytes.data() + 4, std::streamsize(bytes.size() - 4));
                ++written;
            }
            rwkvrt_model_free(m);
            std::remove(src.c_str());
        }
    }
    std::printf("wrote %d seeds to %s\n", written, dir.c_str());
    return written ? 0 : 1;
}
