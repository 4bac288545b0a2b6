// libFuzzer target: the sampler-state parser (sampling/sampler_state.cpp). Any bytes must give a
// documented status; a state that loads must sample a token or give a status, never fault. Each input
// is tried as is and with its trailing checksum recomputed, which reaches every check behind it.
#include <cmath>
#include <vector>

#include <xxhash.h>

#include "core/error.h"
#include "fuzz_common.h"
#include "sampling/sampler.h"

namespace {

void try_state(const std::vector<uint8_t> &blob) {
    // The vocabulary size the blob declares, when it is a small one, so that loading can succeed.
    int32_t n_vocab = 64;
    if (blob.size() >= 16) {
        const int32_t declared = int32_t(uint32_t(blob[12]) | uint32_t(blob[13]) << 8 | uint32_t(blob[14]) << 16 |
                                         uint32_t(blob[15]) << 24);
        if (declared > 0 && declared <= 4096) n_vocab = declared;
    }
    rwkvrt::Sampler sampler(rwkvrt::SamplerOptions{}, n_vocab);
    try {
        sampler.load_state(blob.data(), blob.size());
    } catch (const rwkvrt::Error &e) {
        fuzz::expect_documented(e.status(), e.what());
        return;
    }
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(double(i))) * 10.0f;
    logits[0] = 3.0e38f;
    for (int i = 0; i < 3; ++i) {
        try {
            const int32_t t = sampler.sample(logits);
            if (t < 0 || t >= n_vocab) fuzz::die("sampled a token outside the vocabulary");
        } catch (const rwkvrt::Error &e) {
            if (e.status() != RWKVRT_ERR_ARGUMENT) fuzz::die("sample: unexpected status:", e.what());
        }
    }
    std::vector<uint8_t> again(sampler.state_size());
    sampler.save_state(again.data());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::vector<uint8_t> blob(data, data + size);
    try_state(blob);
    if (size >= 16) {
        const uint64_t sum = XXH3_64bits(blob.data(), size - 8);
        for (int i = 0; i < 8; ++i) blob[size - 8 + size_t(i)] = uint8_t(sum >> (8 * i));
        try_state(blob);
    }
    return 0;
}
