// Checks every version's tests share: logits against reference files, token mode against sequence
// mode, snapshot round trips, and random checkpoints written to the scratch folder. They check the
// exact math, so models load with f32 activations (tests/api/test_activations.cpp covers int8's).
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "api/model_helpers.h"
#include "random_model.h"

namespace ac {

// Tolerances for half-precision files of the tiny v4–v6 models against the fp32 weights' reference.
// Unlike the v7 tiny model's, their fp32 weights are not exactly representable (all but a few in
// 10^4 change when rounded; 75 % for 6v0), so the files are slightly different models: rounding to 8
// (bf16) or 11 (fp16) significant bits moves the logits (std 1.5–5) by a measured 0.004–0.050 (bf16)
// and 0.0016–0.0055 (fp16). Twice the worst measurement still fails on any real error (a wrong
// norm epsilon alone moves 5v1 by 1.3).
constexpr double kBf16Tolerance = 0.1;
constexpr double kFp16Tolerance = 0.01;

// Quantized files: rwkv.cpp's Q5 files are quantized models (5-bit blocks of 32: ~4 % error per weight);
// against the fp32 reference they are held to about twice the measured distance, which flags a
// change in how they are decoded or applied. Their decoding itself is checked exactly twice over:
// the 6v0 Q5_1 file against the reference computed from its independent dequantization, and every
// Q5 file's quantized kernels against the same matrices dequantized to f32 at load.

// Max |Δ| between the logits after "in (fed one token at a time, as the references were made) and
// the 256 floats of `expected`; also checks the detected architecture.
inline double reference_diff(const std::string &model, const std::string &expected, const char *arch,
                             const char *weight_type = nullptr) {
    th::ModelPtr m = th::load(testdata::path(model), weight_type, 0, "f32");
    CHECK(std::string(rwkvrt_model_arch(m.get())) == arch);
    const std::vector<float> ref = testdata::read_floats(testdata::path(expected));
    const double d = th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn, true), ref);
    MESSAGE(model, (weight_type ? std::string(" as ") + weight_type : std::string()), ": max |logit - reference| = ", d);
    return d;
}

// Max |Δ| between the logits after "in of a quantized file with its matrices kept quantized, and of
// the same file with them dequantized to f32 at load: the error of the quantized kernels alone.
inline double quantized_kernel_diff(const std::string &model) {
    th::ModelPtr q = th::load(testdata::path(model), nullptr, 0, "f32"), f = th::load(testdata::path(model), "f32");
    const double d = th::max_abs_diff(th::logits_after(q.get(), th::kPromptIn, true), th::logits_after(f.get(), th::kPromptIn, true));
    MESSAGE(model, ": max |logit(quantized kernels) - logit(dequantized f32)| = ", d);
    return d;
}

inline const std::vector<int32_t> kLongPrompt = [] {
    const std::string text = "\"in the beginning was the word\", he said.";
    return std::vector<int32_t>(text.begin(), text.end());
}();

// Max |Δ| between feeding kLongPrompt one token per call and in one call, over the logits after the
// prompt and after one more token (which also compares the states the two left behind).
inline double token_vs_sequence(const rwkvrt_model *m, const std::string &what) {
    th::StatePtr one = th::new_state(m), all = th::new_state(m);
    std::vector<float> a(size_t(rwkvrt_model_n_vocab(m))), b(a.size());
    for (int32_t t : kLongPrompt) REQUIRE(rwkvrt_feed(m, one.get(), &t, 1, a.data()) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(m, all.get(), kLongPrompt.data(), kLongPrompt.size(), b.data()) == RWKVRT_OK);
    double d = th::max_abs_diff(a, b);
    const int32_t next = 'x';
    REQUIRE(rwkvrt_feed(m, one.get(), &next, 1, a.data()) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(m, all.get(), &next, 1, b.data()) == RWKVRT_OK);
    d = th::worse(d, th::max_abs_diff(a, b));
    MESSAGE(what, ": max |logit(token mode) - logit(sequence mode)| = ", d);
    return d;
}

inline std::vector<uint8_t> snapshot(const rwkvrt_state *s) {
    std::vector<uint8_t> buf(rwkvrt_state_snapshot_size(s));
    size_t written = 0;
    REQUIRE(rwkvrt_state_snapshot(s, buf.data(), buf.size(), &written) == RWKVRT_OK);
    buf.resize(written);
    return buf;
}

// Snapshot after half of kLongPrompt, restore into a fresh state and finish the prompt there: logits
// and final state must be bit-identical to one uninterrupted run (both fed one token per call).
inline void check_snapshot_round_trip(const rwkvrt_model *m) {
    const size_t half = kLongPrompt.size() / 2;
    const size_t V = size_t(rwkvrt_model_n_vocab(m));
    std::vector<float> straight(V), resumed(V);
    th::StatePtr s = th::new_state(m);
    for (size_t i = 0; i < half; ++i) REQUIRE(rwkvrt_feed(m, s.get(), &kLongPrompt[i], 1, nullptr) == RWKVRT_OK);
    const std::vector<uint8_t> mid = snapshot(s.get());
    for (size_t i = half; i < kLongPrompt.size(); ++i) REQUIRE(rwkvrt_feed(m, s.get(), &kLongPrompt[i], 1, straight.data()) == RWKVRT_OK);

    th::StatePtr r = th::new_state(m);
    REQUIRE(rwkvrt_state_restore(r.get(), mid.data(), mid.size()) == RWKVRT_OK);
    for (size_t i = half; i < kLongPrompt.size(); ++i) REQUIRE(rwkvrt_feed(m, r.get(), &kLongPrompt[i], 1, resumed.data()) == RWKVRT_OK);
    CHECK(std::memcmp(straight.data(), resumed.data(), V * sizeof(float)) == 0);
    CHECK(snapshot(s.get()) == snapshot(r.get()));
}

// Writes a random checkpoint into the test scratch folder and returns its path.
inline std::string write_random(const rwkvrt_tools::RandomModelSpec &spec, const std::string &name) {
    const std::string path = testdata::scratch_dir() + "/" + name + ".safetensors";
    rwkvrt_tools::write_random_checkpoint(spec, path);
    return path;
}

} // namespace ac
