// RWKV-5.0 (tiny 5v1) and 5.2 (tiny 5v2) against the reference logits (official math, ln_x eps
// 64e-5, float64) in every file format; 5.1, which has no trained tiny model, on a random checkpoint.
#include "arch/arch_checks.h"

namespace {

struct Tiny {
    const char *name; // tiny-rwkv-<name>-*
    const char *arch;
    double q5_0, q5_1; // tolerances for the quantized files, about twice the measured distance
};

// Measured: 5v1 Q5_0 0.98, Q5_1 0.32; 5v2 Q5_0 0.53, Q5_1 0.44 (see "Quantized files" in arch_checks.h).
const Tiny kTiny[] = {{"5v1-730K", "rwkv5.0", 2.0, 0.65}, {"5v2-730K", "rwkv5.2", 1.0, 0.9}};

std::string ref(const Tiny &t) { return std::string("reference/expected-logits-") + t.name + ".bin"; }
std::string file(const Tiny &t, const char *dir, const char *suffix) {
    return std::string(dir) + "/tiny-rwkv-" + t.name + "-" + suffix;
}

} // namespace

TEST_CASE("rwkv5 fp32 weights match the reference logits") {
    REQUIRE_TESTDATA();
    for (const Tiny &t : kTiny) {
        CHECK(ac::reference_diff(file(t, "rwkvcpp", "FP32.bin"), ref(t), t.arch) <= 1e-3);
        CHECK(ac::reference_diff(file(t, "pth", "fp32.pth"), ref(t), t.arch) <= 1e-3);
        CHECK(ac::reference_diff(file(t, "safetensors", "fp32.safetensors"), ref(t), t.arch) <= 1e-3);
    }
}

TEST_CASE("rwkv5 half-precision and quantized weights") {
    REQUIRE_TESTDATA();
    for (const Tiny &t : kTiny) {
        CHECK(ac::reference_diff(file(t, "pth", "bf16.pth"), ref(t), t.arch) <= ac::kBf16Tolerance);
        CHECK(ac::reference_diff(file(t, "safetensors", "bf16.safetensors"), ref(t), t.arch) <= ac::kBf16Tolerance);
        CHECK(ac::reference_diff(file(t, "rwkvcpp", "FP16.bin"), ref(t), t.arch) <= ac::kFp16Tolerance);
        CHECK(ac::reference_diff(file(t, "rwkvcpp", "Q5_0.bin"), ref(t), t.arch) <= t.q5_0);
        CHECK(ac::reference_diff(file(t, "rwkvcpp", "Q5_1.bin"), ref(t), t.arch) <= t.q5_1);
        CHECK(ac::quantized_kernel_diff(file(t, "rwkvcpp", "Q5_0.bin")) <= 1e-4);
        CHECK(ac::quantized_kernel_diff(file(t, "rwkvcpp", "Q5_1.bin")) <= 1e-4);
    }
}

TEST_CASE("rwkv5 token mode equals sequence mode, snapshots resume bit-identically") {
    REQUIRE_TESTDATA();
    for (const Tiny &t : kTiny)
        for (const char *suffix : {"FP32.bin", "Q5_1.bin"}) {
            const std::string f = file(t, "rwkvcpp", suffix);
            th::ModelPtr m = th::load(testdata::path(f), nullptr, 0, "f32");
            CHECK(ac::token_vs_sequence(m.get(), f) <= 1e-4);
            ac::check_snapshot_round_trip(m.get());
        }
}

TEST_CASE("rwkv5.1 (gate, decay per head) from a random checkpoint") {
    rwkvrt_tools::RandomModelSpec spec;
    spec.arch = "rwkv5.1";
    spec.n_layer = 3;
    spec.n_embd = 128;
    spec.head_size = 32;
    th::ModelPtr m = th::load(ac::write_random(spec, "rwkv5.1"));
    CHECK(std::string(rwkvrt_model_arch(m.get())) == "rwkv5.1");
    CHECK(ac::token_vs_sequence(m.get(), "random rwkv5.1") <= 1e-4);
    ac::check_snapshot_round_trip(m.get());
}
