// RWKV-6 against the reference logits (official math, float64), in every file format. The tiny
// model's reference was computed from tiny-rwkv-6v0-3m-Q5_1dq-FP32.bin, the exact dequantization of
// the Q5_1 file (testdata/README.md), from which the pth/safetensors files derive too.
#include "arch/arch_checks.h"

namespace {

const char *const kRef = "reference/expected-logits-6v0-3m.bin";

} // namespace

TEST_CASE("rwkv6 fp32 weights match the reference logits") {
    REQUIRE_TESTDATA();
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-6v0-3m-Q5_1dq-FP32.bin", kRef, "rwkv6") <= 1e-3);
    CHECK(ac::reference_diff("pth/tiny-rwkv-6v0-3m-fp32.pth", kRef, "rwkv6") <= 1e-3);
    CHECK(ac::reference_diff("safetensors/tiny-rwkv-6v0-3m-fp32.safetensors", kRef, "rwkv6") <= 1e-3);
    // Four heads of 64: the only check of head splitting at the real head size.
    CHECK(ac::reference_diff("random/random-rwkv6-h4-fp32.pth", "random/random-rwkv6-h4-fp32.expected-logits.bin", "rwkv6") <= 1e-3);
}

TEST_CASE("rwkv6 half-precision and quantized weights") {
    REQUIRE_TESTDATA();
    // Its own reference (weights upcast exactly): fp32-level agreement.
    CHECK(ac::reference_diff("random/random-rwkv6-h4-bf16.pth", "random/random-rwkv6-h4-bf16.expected-logits.bin", "rwkv6") <= 1e-3);
    CHECK(ac::reference_diff("pth/tiny-rwkv-6v0-3m-bf16.pth", kRef, "rwkv6") <= ac::kBf16Tolerance);
    CHECK(ac::reference_diff("safetensors/tiny-rwkv-6v0-3m-bf16.safetensors", kRef, "rwkv6") <= ac::kBf16Tolerance);
    // The reference's own model, kept quantized (its LoRA matrices, quantized by rwkv.cpp, are
    // dequantized at load): fp32-level agreement checks Q5_1 decoding against an independent one.
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-6v0-3m-Q5_1.bin", kRef, "rwkv6") <= 1e-3);
    // Another model: about twice the measured distance (0.16), see "Quantized files" in arch_checks.h.
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-6v0-3m-Q5_0.bin", kRef, "rwkv6") <= 0.3);
    CHECK(ac::quantized_kernel_diff("rwkvcpp/tiny-rwkv-6v0-3m-Q5_0.bin") <= 1e-4);
    CHECK(ac::quantized_kernel_diff("rwkvcpp/tiny-rwkv-6v0-3m-Q5_1.bin") <= 1e-4);
}

TEST_CASE("rwkv6 token mode equals sequence mode, snapshots resume bit-identically") {
    REQUIRE_TESTDATA();
    for (const char *f : {"rwkvcpp/tiny-rwkv-6v0-3m-Q5_1dq-FP32.bin", "rwkvcpp/tiny-rwkv-6v0-3m-Q5_1.bin",
                          "random/random-rwkv6-h4-bf16.pth"}) {
        th::ModelPtr m = th::load(testdata::path(f), nullptr, 0, "f32");
        CHECK(ac::token_vs_sequence(m.get(), f) <= 1e-4);
        ac::check_snapshot_round_trip(m.get());
    }
}
