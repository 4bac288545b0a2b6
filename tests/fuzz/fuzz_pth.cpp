// libFuzzer target: the PyTorch .pth reader (formats/pth.cpp: zip and the pickle subset) on any bytes.
#include "fuzz_tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz::read_tensor_file(rwkvrt::read_pth, data, size);
}
