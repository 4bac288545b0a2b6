// Small random-weight RWKV checkpoints (v4, v5.0/5.1/5.2, v6, v7) with the official .pth tensor
// names and shapes, written as fp32 .safetensors: test models for versions that have no tiny trained
// model (RWKV-5.1), and for `rwkvrt random-model`. Plain C++, independent of the library's internals.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rwkvrt_tools {

struct RandomTensor {
    std::string name;
    std::vector<int64_t> shape; // PyTorch order
    std::vector<float> data;    // row-major; as many values as the shape holds
};

struct RandomModelSpec {
    std::string arch = "rwkv7"; // "rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6" or "rwkv7"
    int64_t n_layer = 2;
    int64_t n_embd = 64;
    int64_t dim_att = 0;    // 0: n_embd (RWKV-7 has no separate attention width)
    int64_t head_size = 16; // v5+; must divide dim_att
    int64_t n_vocab = 256;
    int64_t dim_ffn = 0;    // 0: the version's default, 4·C (v4, v7) or int(3.5·C)/32·32 (v5, v6)
    int64_t lora_mix = 8, lora_decay = 16;                      // v6: D_mix, D_decay
    int64_t lora_w = 16, lora_a = 16, lora_v = 8, lora_g = 16; // v7: D_w, D_a, D_v, D_g
    uint64_t seed = 1;
    // Called with the finished tensor list before it is written, so tests can drop, add, rename or
    // reshape tensors.
    std::function<void(std::vector<RandomTensor> &)> edit;
};

// The tensors of the checkpoint `spec` describes (before `edit`). Throws std::invalid_argument for an
// unknown arch or inconsistent sizes.
std::vector<RandomTensor> random_checkpoint(const RandomModelSpec &spec);

// Writes random_checkpoint(spec), passed through spec.edit, to `path` as .safetensors. Throws
// std::invalid_argument (bad spec, or an edit that left a shape and its data disagreeing) or
// std::runtime_error (I/O).
void write_random_checkpoint(const RandomModelSpec &spec, const std::string &path);

} // namespace rwkvrt_tools
