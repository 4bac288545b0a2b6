// Helpers shared by the state tests: the tiny models, snapshots as byte vectors, files as bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "api/model_helpers.h"

namespace sh {

using Bytes = std::vector<uint8_t>;

// The tiny trained models, one per version.
inline const std::vector<std::string> kTinyModels = {
    "pth/tiny-rwkv-4v0-660K-fp32.pth", "pth/tiny-rwkv-5v1-730K-fp32.pth", "pth/tiny-rwkv-5v2-730K-fp32.pth",
    "pth/tiny-rwkv-6v0-3m-fp32.pth",   "pth/tiny-rwkv-7v0-834K-fp32.pth",
};

// The model, or null (with a message) while its version is not implemented.
inline th::ModelPtr try_load(const std::string &rel) {
    rwkvrt_model *m = nullptr;
    const rwkvrt_status st = rwkvrt_model_load(testdata::path(rel).c_str(), nullptr, &m);
    if (st == RWKVRT_ERR_UNSUPPORTED) MESSAGE("skipped ", rel, ": ", rwkvrt_last_error());
    else REQUIRE_MESSAGE(st == RWKVRT_OK, rel, ": ", rwkvrt_last_error());
    return th::ModelPtr(m, rwkvrt_model_free);
}

inline Bytes snapshot(const rwkvrt_state *s) {
    Bytes b(rwkvrt_state_snapshot_size(s));
    size_t written = 0;
    REQUIRE(rwkvrt_state_snapshot(s, b.data(), b.size(), &written) == RWKVRT_OK);
    REQUIRE(written == b.size());
    return b;
}

inline Bytes file_bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open ", path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::string &path, const Bytes &bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(out.good());
}

// Feeds bytes (the tiny models are byte-level) in one call; returns the logits after the last.
inline std::vector<float> feed(const rwkvrt_model *m, rwkvrt_state *s, const std::string &text) {
    std::vector<int32_t> tokens(text.begin(), text.end());
    std::vector<float> logits(size_t(rwkvrt_model_n_vocab(m)));
    REQUIRE(rwkvrt_feed(m, s, tokens.data(), tokens.size(), logits.data()) == RWKVRT_OK);
    return logits;
}

// Feeds bytes one at a time; returns the logits after each.
inline std::vector<std::vector<float>> feed_each(const rwkvrt_model *m, rwkvrt_state *s, const std::string &text) {
    std::vector<std::vector<float>> out;
    for (unsigned char c : text) {
        std::vector<float> logits(size_t(rwkvrt_model_n_vocab(m)));
        const int32_t t = c;
        REQUIRE(rwkvrt_feed(m, s, &t, 1, logits.data()) == RWKVRT_OK);
        out.push_back(std::move(logits));
    }
    return out;
}

// A prompt (fed in one call) and its continuation (fed one token at a time, which is slow under the
// sanitizers, hence short).
inline const std::string kText = "The quick brown fox jumps over the lazy dog. Once upon a time, there was a ";
inline const std::string kMore = "little girl who lived in a";

// A scratch path for one test file; any previous file of that name is removed.
inline std::string scratch(const std::string &name) {
    const std::string p = testdata::scratch_dir() + "/" + name;
    std::filesystem::remove(p);
    return p;
}

} // namespace sh
