// RWKV-4 against the reference logits (official math, float64), in every file format.
#include "arch/arch_checks.h"

namespace {

const char *const kRef = "reference/expected-logits-4v0-660K.bin";

} // namespace

TEST_CASE("rwkv4 fp32 weights match the reference logits") {
    REQUIRE_TESTDATA();
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-4v0-660K-FP32.bin", kRef, "rwkv4") <= 1e-3);
    CHECK(ac::reference_diff("pth/tiny-rwkv-4v0-660K-fp32.pth", kRef, "rwkv4") <= 1e-3);
    CHECK(ac::reference_diff("safetensors/tiny-rwkv-4v0-660K-fp32.safetensors", kRef, "rwkv4") <= 1e-3);
}

TEST_CASE("rwkv4 half-precision and quantized weights") {
    REQUIRE_TESTDATA();
    // Half-precision files round the fp32 weights (unlike v7's, they are not exactly representable),
    // and the reference is the fp32 model's: see ac::kBf16Tolerance.
    CHECK(ac::reference_diff("pth/tiny-rwkv-4v0-660K-bf16.pth", kRef, "rwkv4") <= ac::kBf16Tolerance);
    CHECK(ac::reference_diff("safetensors/tiny-rwkv-4v0-660K-bf16.safetensors", kRef, "rwkv4") <= ac::kBf16Tolerance);
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-4v0-660K-FP16.bin", kRef, "rwkv4") <= ac::kFp16Tolerance);
    // Quantized files are other models; about twice the measured distance (0.12, 0.10), see "Quantized files" in arch_checks.h.
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-4v0-660K-Q5_0.bin", kRef, "rwkv4") <= 0.25);
    CHECK(ac::reference_diff("rwkvcpp/tiny-rwkv-4v0-660K-Q5_1.bin", kRef, "rwkv4") <= 0.2);
    CHECK(ac::quantized_kernel_diff("rwkvcpp/tiny-rwkv-4v0-660K-Q5_0.bin") <= 1e-4);
    CHECK(ac::quantized_kernel_diff("rwkvcpp/tiny-rwkv-4v0-660K-Q5_1.bin") <= 1e-4);
}

TEST_CASE("rwkv4 token mode equals sequence mode, snapshots resume bit-identically") {
    REQUIRE_TESTDATA();
    for (const char *f : {"rwkvcpp/tiny-rwkv-4v0-660K-FP32.bin", "rwkvcpp/tiny-rwkv-4v0-660K-Q5_1.bin"}) {
        th::ModelPtr m = th::load(testdata::path(f), nullptr, 0, "f32");
        CHECK(ac::token_vs_sequence(m.get(), f) <= 1e-4);
        ac::check_snapshot_round_trip(m.get());
    }
}
