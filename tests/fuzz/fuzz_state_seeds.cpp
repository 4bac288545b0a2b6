// Writes the seed corpus for fuzz_state: real state files of every tiny model this build runs, in each
// value type, with and without metadata and sampler state. Usage: fuzz_state_seeds <folder>
#include <cstdio>
#include <string>
#include <vector>

#include "rwkvrt.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const char *models[] = {"4v0-660K", "5v1-730K", "5v2-730K", "6v0-3m", "7v0-834K"};
    int written = 0;
    for (const char *name : models) {
        const std::string path = std::string(RWKVRT_TESTDATA) + "/pth/tiny-rwkv-" + name + "-fp32.pth";
        rwkvrt_model *m = nullptr;
        if (rwkvrt_model_load(path.c_str(), nullptr, &m) != RWKVRT_OK) {
            std::fprintf(stderr, "skipping %s: %s\n", name, rwkvrt_last_error());
            continue;
        }
        rwkvrt_state *s = nullptr;
        rwkvrt_sampler *sampler = nullptr;
        if (rwkvrt_state_new(m, &s) != RWKVRT_OK ||
            rwkvrt_sampler_new(nullptr, rwkvrt_model_n_vocab(m), &sampler) != RWKVRT_OK) {
            std::fprintf(stderr, "%s\n", rwkvrt_last_error());
            return 1;
        }
        for (int fed = 0; fed < 2; ++fed) {
            if (fed) {
                const int32_t tokens[] = {72, 101, 108, 108, 111};
                int32_t next = 0;
                std::vector<float> logits(size_t(rwkvrt_model_n_vocab(m)));
                rwkvrt_feed(m, s, tokens, 5, logits.data());
                rwkvrt_sample(sampler, logits.data(), &next);
                rwkvrt_state_set_metadata(s, "user: hi", 8);
            }
            for (const char *type : {"f32", "f16", "bf16"}) {
                rwkvrt_state_save_options o = rwkvrt_state_save_options_default();
                o.value_type = type;
                o.sampler = fed ? sampler : nullptr;
                const std::string out = dir + "/" + name + "-" + (fed ? "fed" : "fresh") + "-" + type + ".rwkvstate";
                if (rwkvrt_state_save_ex(s, out.c_str(), &o) != RWKVRT_OK) {
                    std::fprintf(stderr, "%s\n", rwkvrt_last_error());
                    return 1;
                }
                ++written;
            }
        }
        rwkvrt_sampler_free(sampler);
        rwkvrt_state_free(s);
        rwkvrt_model_free(m);
    }
    std::printf("wrote %d seeds to %s\n", written, dir.c_str());
    return written ? 0 : 1;
}
