// Writes the seed corpus for fuzz_gguf: small random-weight rwkv6 and rwkv7 models converted to GGUF in
// every type rwkvrt writes, without their leading "GGUF" (fuzz_gguf adds it), and the regression of a
// NaN in a small tensor, which describe once missed while the load refused it. Usage: fuzz_gguf_seeds <folder>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "formats/gguf.h"
#include "formats/mapped_file.h"
#include "random_model.h"
#include "rwkvrt.h"

namespace {

// The GGUF at `path` with the first element of its first 1-D f32 tensor set to NaN; "" if it has none.
std::string with_nan_in_small_tensor(const std::string &path) {
    const rwkvrt::MappedFile file(path, true);
    for (const rwkvrt::gguf::RawTensor &t : rwkvrt::gguf::read_layout(file).tensors) {
        if (t.type != rwkvrt::gguf::kF32 || t.ne.size() != 1) continue;
        std::string bytes(reinterpret_cast<const char *>(file.data()), file.size());
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(bytes.data() + (t.data - file.data()), &nan, sizeof nan);
        return bytes;
    }
    return "";
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
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
                if (embd == 32 && std::string(arch) == "rwkv7" && std::string(type) == "f32") {
                    const std::string nan = with_nan_in_small_tensor(out);
                    if (nan.empty()) {
                        std::fprintf(stderr, "%s has no 1-D f32 tensor\n", out.c_str());
                        return 1;
                    }
                    std::ofstream(dir + "/regression-describe-sees-nan-in-small-tensor", std::ios::binary).write(nan.data() + 4, std::streamsize(nan.size() - 4));
                    ++written;
                }
                // Drop the magic: the fuzzer prepends it to every input.
                std::ifstream in(out, std::ios::binary);
                const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
                in.close();
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
