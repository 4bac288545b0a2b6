// RWKV-7 against the reference logits (official math, float64), in every file format.
#include <cstdio>

#include "api/model_helpers.h"

namespace {

// Max |Δ| to the reference logits after feeding "in to a fresh state.
double reference_diff(const std::string &model, const std::string &expected, const char *weight_type = nullptr) {
    th::ModelPtr m = th::load(testdata::path(model), weight_type, 0, "f32");
    CHECK(std::string(rwkvrt_model_arch(m.get())) == "rwkv7");
    const std::vector<float> ref = testdata::read_floats(testdata::path(expected));
    const double d = th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn), ref);
    MESSAGE(model, ": max |logit - reference| = ", d);
    return d;
}

} // namespace

TEST_CASE("rwkv7 fp32 weights match the reference logits") {
    REQUIRE_TESTDATA();
    CHECK(reference_diff("rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin", "reference/expected-logits-7v0-834K.bin") <= 1e-3);
    CHECK(reference_diff("pth/tiny-rwkv-7v0-834K-fp32.pth", "reference/expected-logits-7v0-834K.bin") <= 1e-3);
    CHECK(reference_diff("safetensors/tiny-rwkv-7v0-834K-fp32.safetensors", "reference/expected-logits-7v0-834K.bin") <= 1e-3);
    // Four heads of 64: the only check of head splitting at the real head size.
    CHECK(reference_diff("random/random-rwkv7-h4-fp32.pth", "random/random-rwkv7-h4-fp32.expected-logits.bin") <= 1e-3);
}

TEST_CASE("rwkv7 half-precision weights") {
    REQUIRE_TESTDATA();
    // bf16 files have their own reference (weights upcast exactly), so fp32-level agreement is expected.
    CHECK(reference_diff("random/random-rwkv7-h4-bf16.pth", "random/random-rwkv7-h4-bf16.expected-logits.bin") <= 1e-3);
    // Against the fp32 weights' reference, rounding the weights to 8 (bf16) or 11 (fp16) mantissa
    // bits moves the logits by up to ~2^-8 resp. 2^-11 relative, accumulated over 12 layers.
    CHECK(reference_diff("pth/tiny-rwkv-7v0-834K-bf16.pth", "reference/expected-logits-7v0-834K.bin") <= 5e-2);
    CHECK(reference_diff("rwkvcpp/tiny-rwkv-7v0-834K-FP16.bin", "reference/expected-logits-7v0-834K.bin") <= 1e-2);
}
