// libFuzzer target: the World vocabulary parser (tokenizers/world.cpp) on any bytes.
#include "fuzz_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz::make_tokenizer(rwkvrt::make_world_tokenizer, data, size);
}
