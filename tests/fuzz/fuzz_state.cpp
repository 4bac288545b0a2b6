// libFuzzer target for the state parser: any bytes given to rwkvrt_state_restore() and to a state
// file load must give a documented status, never a crash or an out-of-bounds read (run under ASan and
// UBSan by scripts/fuzz.sh). Each input is tried twice: as is, which mostly exercises the checksum and
// truncation checks, and with its trailing checksum recomputed, which reaches every check behind it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <unistd.h>
#include <xxhash.h>

#include "fuzz_common.h"

namespace {

rwkvrt_model *g_model = nullptr;
rwkvrt_state *g_state = nullptr;
rwkvrt_sampler *g_sampler = nullptr;
std::string g_file;

void check(bool ok, const char *what) {
    if (!ok) fuzz::die(what, rwkvrt_last_error());
}

using fuzz::documented;

void try_bytes(const uint8_t *data, size_t size) {
    // In memory: an exact-size heap copy, so that ASan sees any read past the end.
    std::vector<uint8_t> copy(data, data + size);
    const void *bytes = size ? static_cast<const void *>(copy.data()) : "";
    check(documented(rwkvrt_state_restore(g_state, bytes, size)), "restore: undocumented status");
    // Through a file, with the sampler state (if any) parsed by the sampler.
    FILE *f = std::fopen(g_file.c_str(), "wb");
    check(f && std::fwrite(data, 1, size, f) == size && std::fclose(f) == 0, "cannot write the input file");
    int loaded = 0;
    check(documented(rwkvrt_state_load_ex(g_state, g_file.c_str(), g_sampler, &loaded)), "load: undocumented status");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    const std::string model = std::string(RWKVRT_TESTDATA) + "/pth/tiny-rwkv-7v0-834K-fp32.pth";
    check(rwkvrt_model_load(model.c_str(), nullptr, &g_model) == RWKVRT_OK, "cannot load the tiny v7 model");
    check(rwkvrt_state_new(g_model, &g_state) == RWKVRT_OK, "cannot create a state");
    check(rwkvrt_sampler_new(nullptr, rwkvrt_model_n_vocab(g_model), &g_sampler) == RWKVRT_OK, "cannot create a sampler");
    const char *tmp = std::getenv("TMPDIR");
    g_file = std::string(tmp ? tmp : "/tmp") + "/fuzz_state." + std::to_string(::getpid()) + ".rwkvstate";
    std::atexit([] { std::remove(g_file.c_str()); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_bytes(data, size);
    if (size >= 16) {
        std::vector<uint8_t> fixed(data, data + size);
        const uint64_t sum = XXH3_64bits(fixed.data(), size - 8);
        for (int i = 0; i < 8; ++i) fixed[size - 8 + size_t(i)] = uint8_t(sum >> (8 * i));
        try_bytes(fixed.data(), size);
    }
    return 0;
}
