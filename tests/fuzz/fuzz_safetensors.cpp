// libFuzzer target: the safetensors reader (formats/safetensors.cpp) on any bytes.
#include "fuzz_tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz::read_tensor_file(rwkvrt::read_safetensors, data, size);
}
