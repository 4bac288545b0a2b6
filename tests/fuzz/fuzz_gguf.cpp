// libFuzzer target for the GGUF reader: any bytes given as a model file must load, or be refused with
// a documented status (RWKVRT_ERR_FORMAT, RWKVRT_ERR_UNSUPPORTED), never crash or read out of bounds
// (run under ASan and UBSan). Both entry points are tried: rwkvrt_model_load (reader, mapping, the
// version's builder) and rwkvrt_model_describe; a model that loads is fed one token.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <unistd.h>

#include "rwkvrt.h"

namespace {

std::string g_file;

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_gguf: %s (%s)\n", what, rwkvrt_last_error());
        std::abort();
    }
}

// CORRUPT: a weight that is NaN or infinite (refused by a load).
bool documented(rwkvrt_status st) {
    return st == RWKVRT_OK || st == RWKVRT_ERR_FORMAT || st == RWKVRT_ERR_UNSUPPORTED || st == RWKVRT_ERR_CORRUPT;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    const char *tmp = std::getenv("TMPDIR");
    g_file = std::string(tmp ? tmp : "/tmp") + "/fuzz_gguf." + std::to_string(::getpid()) + ".gguf";
    std::atexit([] { std::remove(g_file.c_str()); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Only inputs that are GGUF to the sniffer reach the reader; make every input one.
    std::vector<uint8_t> bytes = {'G', 'G', 'U', 'F'};
    bytes.insert(bytes.end(), data, data + size);
    FILE *f = std::fopen(g_file.c_str(), "wb");
    check(f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fclose(f) == 0, "cannot write the input file");

    size_t len = 0;
    std::string text(1 << 16, '\0');
    const rwkvrt_status described = rwkvrt_model_describe(g_file.c_str(), text.data(), text.size(), &len);
    check(documented(described) || described == RWKVRT_ERR_BUFFER, "describe: undocumented status");

    rwkvrt_load_options o = rwkvrt_load_options_default();
    o.n_threads = 1;
    rwkvrt_model *m = nullptr;
    const rwkvrt_status loaded = rwkvrt_model_load(g_file.c_str(), &o, &m);
    check(documented(loaded), "load: undocumented status");
    // Both accept the file's structure or both refuse it; a NaN describe saw, the load saw too.
    const auto structural = [](rwkvrt_status st) { return st == RWKVRT_ERR_FORMAT || st == RWKVRT_ERR_UNSUPPORTED; };
    check(structural(loaded) == structural(described), "load and describe disagree");
    check(described != RWKVRT_ERR_CORRUPT || loaded == RWKVRT_ERR_CORRUPT, "describe saw a NaN the load did not");
    if (m) {
        rwkvrt_state *s = nullptr;
        check(rwkvrt_state_new(m, &s) == RWKVRT_OK, "cannot create a state");
        const int32_t token = 0;
        check(rwkvrt_feed(m, s, &token, 1, nullptr) == RWKVRT_OK, "feed failed");
        rwkvrt_tokenizer *tok = nullptr;
        const rwkvrt_status t = rwkvrt_tokenizer_from_model(m, &tok);
        check(t == RWKVRT_OK || t == RWKVRT_ERR_UNSUPPORTED || t == RWKVRT_ERR_FORMAT, "tokenizer: undocumented status");
        rwkvrt_tokenizer_free(tok);
        rwkvrt_state_free(s);
        rwkvrt_model_free(m);
    }
    return 0;
}
