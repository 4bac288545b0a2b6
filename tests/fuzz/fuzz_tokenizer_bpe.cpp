// libFuzzer target: the tokenizer.json (byte-level BPE) parser (tokenizers/bpe.cpp) on any bytes.
#include "fuzz_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz::make_tokenizer(rwkvrt::make_bpe_tokenizer, data, size);
}
