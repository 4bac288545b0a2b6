// libFuzzer target: the safetensors reader (formats/safetensors.cpp) on any bytes, followed, as when a
// model is opened, by the mapping of the HF/fla and web-rwkv layouts to the official names and shapes
// (formats/hf_layouts.cpp).
#include "fuzz_tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz::read_tensor_file(
        [](std::unique_ptr<rwkvrt::MappedFile> file) {
            auto tf = rwkvrt::read_safetensors(std::move(file));
            rwkvrt::map_safetensors_layout(*tf);
            return tf;
        },
        data, size);
}
