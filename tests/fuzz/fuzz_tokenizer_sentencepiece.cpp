// libFuzzer target: sentencepiece .model files (tokenizers/sentencepiece.cpp, through the sentencepiece library) on any bytes.
#include "fuzz_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz::make_tokenizer(rwkvrt::make_sentencepiece_tokenizer, data, size);
}
