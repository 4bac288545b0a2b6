// libFuzzer target: a whole model from any bytes through the C API, as an application opens one: the
// format's reader, version detection, the strict weight loading with its shape checks, and, when it
// loads, a prompt and a decoding step. A file whose shapes agree with each other but not with the
// kernels (a low-rank matrix of rank 0) once loaded and then died of SIGFPE in its first product.
#include <vector>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string &path = fuzz::write_input(data, size);
    rwkvrt_load_options options = rwkvrt_load_options_default();
    options.n_threads = 1;
    rwkvrt_model *model = nullptr;
    const rwkvrt_status loaded = rwkvrt_model_load(path.c_str(), &options, &model);
    if (loaded != RWKVRT_OK) {
        fuzz::expect_documented(loaded, rwkvrt_last_error());
        return 0;
    }
    const int32_t n_vocab = rwkvrt_model_n_vocab(model);
    if (n_vocab < 1) fuzz::die("a loaded model has no vocabulary");
    rwkvrt_state *state = nullptr;
    if (rwkvrt_state_new(model, &state) != RWKVRT_OK) fuzz::die("no state for a loaded model:", rwkvrt_last_error());
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    const int32_t prompt[] = {0, n_vocab - 1, n_vocab / 2}, next = n_vocab - 1;
    for (const auto &[tokens, n] : {std::pair{prompt, size_t(3)}, std::pair{&next, size_t(1)}}) {
        const rwkvrt_status fed = rwkvrt_feed(model, state, tokens, n, logits.data());
        // Random weights may overflow: non-finite logits are refused as CORRUPT, with the state kept.
        if (fed != RWKVRT_OK && fed != RWKVRT_ERR_CORRUPT) fuzz::die("feed failed:", rwkvrt_last_error());
    }
    rwkvrt_state_free(state);
    rwkvrt_model_free(model);
    return 0;
}
