// The load options activations = "int8" (integer products with block-quantized weights) and "bf16"
// (prompts with bf16 products), which the default "auto" picks per weight type, stay within the
// tolerances docs/QUANTIZATION.md states of the same weights with exact fp32 activations.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "api/model_helpers.h"
#include "kernels/dot_int8.h"
#include "kernels/gemm_bf16.h"

namespace {

// Logits after each of `n` tokens fed one at a time (the mat-vec path), concatenated.
std::vector<float> generation_logits(const rwkvrt_model *m, size_t n) {
    th::StatePtr s = th::new_state(m);
    const size_t V = size_t(rwkvrt_model_n_vocab(m));
    std::vector<float> out(n * V);
    for (size_t i = 0; i < n; ++i) {
        const int32_t token = int32_t((i * 37 + 11) % V);
        REQUIRE(rwkvrt_feed(m, s.get(), &token, 1, out.data() + i * V) == RWKVRT_OK);
    }
    return out;
}

} // namespace

TEST_CASE("int8 activations keep generation within the stated tolerance of fp32 activations for every block type") {
    REQUIRE_TESTDATA();
    struct Case {
        const char *file, *weight_type;
    };
    const Case cases[] = {{"gguf/tiny-rwkv-7v0-834K-Q4_0.gguf", nullptr},
                          {"gguf/random-rwkv7-h4-Q4_0.gguf", nullptr},
                          {"gguf/random-rwkv7-h4-Q8_0.gguf", nullptr},
                          {"gguf/tiny-rwkv-6v0-3m-Q8_0.gguf", nullptr},
                          {"gguf/random-rwkv7-h4-Q4_K_M.gguf", nullptr},
                          {"gguf/random-rwkv6-h4-Q5_K_M.gguf", nullptr},
                          {"rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin", "q8_0"},
                          {"rwkvcpp/tiny-rwkv-4v0-660K-Q5_1.bin", nullptr},
                          {"rwkvcpp/tiny-rwkv-5v2-730K-Q5_0.bin", nullptr},
                          {"rwkvcpp/tiny-rwkv-6v0-3m-Q5_1.bin", nullptr}};
    // docs/QUANTIZATION.md: the largest difference measured on these models, with a margin. A max over
    // 16 tokens × the vocabulary is set by rare activations that round to the other side of a step
    // (0.31 for the random Q4_K_M model, whose perplexity moves by 0.05%).
    constexpr double kTolerance = 0.5;
    const rwkvrt::Int8Level level = rwkvrt::int8_level();
    for (const Case &c : cases) {
        const std::string name = c.file;
        CAPTURE(name);
        const std::string path = testdata::path(name);
        const std::vector<float> f32 = generation_logits(th::load(path, c.weight_type, 0, "f32").get(), 16);
        const std::vector<float> int8 = generation_logits(th::load(path, c.weight_type, 0, "int8").get(), 16);
        const double d = th::max_abs_diff(f32, int8);
        double largest = 0;
        for (float v : f32) largest = std::max(largest, double(std::fabs(v)));
        MESSAGE(name, std::string(c.weight_type ? " as q8_0" : ""), ": max |logit(int8) - logit(f32)| over 16 generated tokens = ", d,
                " (largest |logit| ", largest, ")");
        CHECK(d <= kTolerance);
        // The option takes effect where the CPU has the kernels (every block type from AVX2 on), and only then.
        if (level != rwkvrt::Int8Level::None) CHECK(d > 0);
        else CHECK(d == 0);
    }
}

TEST_CASE("bf16 activations keep prompts within the stated tolerance for bf16 and f16 weights, and leave steps of up to 15 rows exact") {
    REQUIRE_TESTDATA();
    struct Case {
        const char *file, *weight_type;
    };
    const Case cases[] = {{"random/random-rwkv7-h4-bf16.pth", nullptr},
                          {"gguf/random-rwkv7-h4-F16.gguf", nullptr},
                          {"gguf/tiny-rwkv-6v0-3m-F16.gguf", nullptr},
                          {"pth/tiny-rwkv-5v2-730K-fp32.pth", "bf16"},
                          {"pth/tiny-rwkv-4v0-660K-fp32.pth", "f16"},
                          // Matrices converted at load and wide enough for the lanes layout: the copy in
                          // the lanes once lost the choice of bf16 products.
                          {"random/random-rwkv7-h4-fp32.pth", "bf16"},
                          {"random/random-rwkv6-h4-fp32.pth", "f16"}};
    // docs/QUANTIZATION.md: the largest difference measured on these models, with a margin.
    constexpr double kTolerance = 0.05;
    const bool products = rwkvrt::bf16_products_supported();
    std::vector<int32_t> prompt(300);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 37 + 11) % 256);
    for (const Case &c : cases) {
        const std::string name = c.file;
        CAPTURE(name);
        const std::string path = testdata::path(name);
        th::ModelPtr f32 = th::load(path, c.weight_type, 0, "f32"), bf16 = th::load(path, c.weight_type, 0, "bf16");
        const size_t V = size_t(rwkvrt_model_n_vocab(f32.get()));
        std::vector<float> a(V), b(V);
        th::StatePtr sa = th::new_state(f32.get()), sb = th::new_state(bf16.get());
        REQUIRE(rwkvrt_feed(f32.get(), sa.get(), prompt.data(), prompt.size(), a.data()) == RWKVRT_OK);
        REQUIRE(rwkvrt_feed(bf16.get(), sb.get(), prompt.data(), prompt.size(), b.data()) == RWKVRT_OK);
        const double d = th::max_abs_diff(a, b);
        MESSAGE(name, ": max |logit(bf16) - logit(f32)| after a 300-token prompt = ", d);
        CHECK(d <= kTolerance);
        if (products) CHECK(d > 0);
        else CHECK(d == 0);
        // Generation (one row per step) keeps fp32 activations, and so do steps of up to 15 rows: the
        // same kernels on the same layout as the f32 load's, so the same bits.
        CHECK(generation_logits(f32.get(), 4) == generation_logits(bf16.get(), 4));
        for (size_t rows : {2, 15}) {
            CAPTURE(rows);
            th::StatePtr ra = th::new_state(f32.get()), rb = th::new_state(bf16.get());
            REQUIRE(rwkvrt_feed(f32.get(), ra.get(), prompt.data(), rows, a.data()) == RWKVRT_OK);
            REQUIRE(rwkvrt_feed(bf16.get(), rb.get(), prompt.data(), rows, b.data()) == RWKVRT_OK);
            CHECK(a == b);
        }
    }
}

TEST_CASE("int8 activations round a prompt's products within the stated tolerance for every coded type and version") {
    REQUIRE_TESTDATA();
    const char *files[] = {"gguf/tiny-rwkv-7v0-834K-Q4_0.gguf",     "gguf/random-rwkv7-h4-Q4_K_M.gguf",
                           "gguf/random-rwkv7-h4-Q6_K.gguf",        "gguf/random-rwkv7-h4-Q8_0.gguf",
                           "gguf/random-rwkv6-h4-Q5_K_M.gguf",      "gguf/tiny-rwkv-6v0-3m-Q8_0.gguf",
                           "rwkvcpp/tiny-rwkv-4v0-660K-Q5_0.bin",   "rwkvcpp/tiny-rwkv-5v1-730K-Q5_1.bin",
                           "rwkvcpp/tiny-rwkv-5v2-730K-Q5_0.bin",   "rwkvcpp/tiny-rwkv-7v0-834K-Q5_1.bin"};
    // docs/QUANTIZATION.md: the largest difference measured on these models, with a margin.
    constexpr double kTolerance = 0.25;
    const rwkvrt::Int8Level level = rwkvrt::int8_level();
    std::vector<int32_t> prompt(300);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 37 + 11) % 256);
    for (const char *file : files) {
        const std::string name = file;
        CAPTURE(name);
        const std::string path = testdata::path(name);
        th::ModelPtr f32 = th::load(path, nullptr, 0, "f32"), int8 = th::load(path, nullptr, 0, "int8");
        const size_t V = size_t(rwkvrt_model_n_vocab(f32.get()));
        std::vector<float> a(V), b(V);
        th::StatePtr sa = th::new_state(f32.get()), sb = th::new_state(int8.get());
        REQUIRE(rwkvrt_feed(f32.get(), sa.get(), prompt.data(), prompt.size(), a.data()) == RWKVRT_OK);
        REQUIRE(rwkvrt_feed(int8.get(), sb.get(), prompt.data(), prompt.size(), b.data()) == RWKVRT_OK);
        const double d = th::max_abs_diff(a, b);
        MESSAGE(name, ": max |logit(int8) - logit(f32)| after a 300-token prompt = ", d);
        CHECK(d <= kTolerance);
        if (level != rwkvrt::Int8Level::None) CHECK(d > 0);
        else CHECK(d == 0);
    }
}

// The integer products of a prompt's rows do not depend on the other rows: the state is the same bits;
// the last token's logits come from the head's mat-vec alone and its GEMM in a batch, which sum the
// same exact block sums in another order.
TEST_CASE("int8 activations give a prompt the same state alone or in a batch") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("gguf/random-rwkv7-h4-Q4_K_M.gguf"), nullptr, 0, "int8");
    const size_t V = size_t(rwkvrt_model_n_vocab(m.get()));
    std::vector<int32_t> first(200), second(37);
    for (size_t i = 0; i < first.size(); ++i) first[i] = int32_t((i * 37 + 11) % V);
    for (size_t i = 0; i < second.size(); ++i) second[i] = int32_t((i * 53 + 5) % V);
    std::vector<float> alone(V), batched_first(V), batched_second(V);
    th::StatePtr s = th::new_state(m.get()), s1 = th::new_state(m.get()), s2 = th::new_state(m.get());
    REQUIRE(rwkvrt_feed(m.get(), s.get(), first.data(), first.size(), alone.data()) == RWKVRT_OK);
    rwkvrt_state *states[] = {s1.get(), s2.get()};
    const int32_t *tokens[] = {first.data(), second.data()};
    const size_t counts[] = {first.size(), second.size()};
    float *logits[] = {batched_first.data(), batched_second.data()};
    REQUIRE(rwkvrt_feed_batch(m.get(), 2, states, tokens, counts, logits) == RWKVRT_OK);
    CHECK(th::max_abs_diff(alone, batched_first) <= 1e-5);
    std::vector<uint8_t> a(rwkvrt_state_snapshot_size(s.get())), b(a.size());
    size_t written = 0;
    REQUIRE(rwkvrt_state_snapshot(s.get(), a.data(), a.size(), &written) == RWKVRT_OK);
    REQUIRE(rwkvrt_state_snapshot(s1.get(), b.data(), b.size(), &written) == RWKVRT_OK);
    CHECK(a == b);
}

TEST_CASE("int8 activations leave other weight types exact") {
    REQUIRE_TESTDATA();
    const std::string path = testdata::path("gguf/tiny-rwkv-7v0-834K-F16.gguf");
    CHECK(th::max_abs_diff(generation_logits(th::load(path, nullptr, 0, "f32").get(), 4),
                           generation_logits(th::load(path, nullptr, 0, "int8").get(), 4)) == 0);
    std::vector<std::vector<uint8_t>> snapshots;
    for (const char *activations : {"f32", "int8"}) {
        th::ModelPtr m = th::load(path, nullptr, 0, activations);
        th::StatePtr s = th::new_state(m.get());
        REQUIRE(rwkvrt_feed(m.get(), s.get(), th::kPromptIn.data(), th::kPromptIn.size(), nullptr) == RWKVRT_OK);
        std::vector<uint8_t> bytes(rwkvrt_state_snapshot_size(s.get()));
        size_t written = 0;
        REQUIRE(rwkvrt_state_snapshot(s.get(), bytes.data(), bytes.size(), &written) == RWKVRT_OK);
        snapshots.push_back(bytes);
    }
    CHECK(snapshots[0] == snapshots[1]);
}

// Logits after a 40-token prompt fed in one call (a step of 16 rows or more) and 4 generated tokens.
std::vector<float> prompt_and_generation_logits(const rwkvrt_model *m) {
    std::vector<int32_t> prompt(40);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 37 + 11) % 256);
    th::StatePtr s = th::new_state(m);
    std::vector<float> out(size_t(rwkvrt_model_n_vocab(m)));
    REQUIRE(rwkvrt_feed(m, s.get(), prompt.data(), prompt.size(), out.data()) == RWKVRT_OK);
    const std::vector<float> generated = generation_logits(m, 4);
    out.insert(out.end(), generated.begin(), generated.end());
    return out;
}

TEST_CASE("the default activations are auto (NULL options too): int8 with block types, bf16 with half types, exact with f32") {
    REQUIRE_TESTDATA();
    CHECK(std::string(rwkvrt_load_options_default().activations) == "auto");
    struct Case {
        const char *file, *rounded; // the option "auto" amounts to for this file
        bool rounds;                // whether this CPU has its products
    };
    const Case cases[] = {{"gguf/tiny-rwkv-7v0-834K-Q4_0.gguf", "int8", rwkvrt::int8_level() != rwkvrt::Int8Level::None},
                          {"gguf/random-rwkv7-h4-F16.gguf", "bf16", rwkvrt::bf16_products_supported()},
                          {"gguf/random-rwkv7-h4-BF16.gguf", "bf16", rwkvrt::bf16_products_supported()},
                          {"gguf/tiny-rwkv-7v0-834K-F32.gguf", "f32", false}};
    for (const Case &c : cases) {
        const std::string name = c.file;
        CAPTURE(name);
        const std::string path = testdata::path(name);
        rwkvrt_model *raw = nullptr;
        REQUIRE(rwkvrt_model_load(path.c_str(), nullptr, &raw) == RWKVRT_OK);
        const th::ModelPtr null_options(raw, rwkvrt_model_free);
        const std::vector<float> rounded = prompt_and_generation_logits(th::load(path, nullptr, 0, c.rounded).get());
        const std::vector<float> exact = prompt_and_generation_logits(th::load(path, nullptr, 0, "f32").get());
        CHECK(prompt_and_generation_logits(th::load(path).get()) == rounded);
        CHECK(prompt_and_generation_logits(th::load(path, nullptr, 0, "auto").get()) == rounded);
        CHECK(prompt_and_generation_logits(null_options.get()) == rounded);
        CHECK((th::max_abs_diff(rounded, exact) > 0) == c.rounds);
    }
}

TEST_CASE("an unknown activations option is an argument error") {
    REQUIRE_TESTDATA();
    rwkvrt_load_options o = rwkvrt_load_options_default();
    o.activations = "int4";
    rwkvrt_model *m = nullptr;
    CHECK(rwkvrt_model_load(testdata::path("gguf/tiny-rwkv-7v0-834K-Q4_0.gguf").c_str(), &o, &m) == RWKVRT_ERR_ARGUMENT);
    CHECK(m == nullptr);
    CHECK(std::string(rwkvrt_last_error()).find("int4") != std::string::npos);
    CHECK(std::string(rwkvrt_last_error()).find("bf16") != std::string::npos);
}

TEST_CASE("batch_invariant: a conversation decoding alone gets the bits it gets beside another, for every weight type and activations") {
    REQUIRE_TESTDATA();
    struct Case {
        const char *file, *weight_type, *activations;
    };
    const bool bf16 = rwkvrt::bf16_products_supported();
    const Case cases[] = {{"rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin", nullptr, "f32"},
                          {"rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin", "f16", "f32"},
                          {"rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin", "bf16", bf16 ? "bf16" : "f32"},
                          {"gguf/random-rwkv7-h4-Q8_0.gguf", nullptr, "f32"},
                          {"gguf/random-rwkv7-h4-Q8_0.gguf", nullptr, "int8"},
                          {"gguf/random-rwkv7-h4-Q4_K_M.gguf", nullptr, "f32"},
                          {"gguf/random-rwkv7-h4-Q4_K_M.gguf", nullptr, "int8"},
                          {"gguf/tiny-rwkv-7v0-834K-Q4_0.gguf", nullptr, "int8"},
                          {"gguf/tiny-rwkv-6v0-3m-Q8_0.gguf", nullptr, "int8"},
                          {"pth/tiny-rwkv-5v2-730K-fp32.pth", nullptr, "f32"},
                          {"pth/tiny-rwkv-4v0-660K-fp32.pth", nullptr, "f32"}};
    rwkvrt_feed_options invariant = rwkvrt_feed_options_default();
    invariant.batch_invariant = 1;
    for (const Case &c : cases) {
        const std::string name = std::string(c.file) + ", " + (c.weight_type ? c.weight_type : "as stored") + ", " + c.activations;
        CAPTURE(name);
        th::ModelPtr m = th::load(testdata::path(c.file), c.weight_type, 0, c.activations);
        const size_t V = size_t(rwkvrt_model_n_vocab(m.get()));
        // A prompt, then 6 tokens one at a time: alone, and beside a second conversation that feeds a
        // prompt of 3 tokens, then decodes.
        std::vector<int32_t> tokens(11), other(9);
        for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 37 + 11) % V);
        for (size_t i = 0; i < other.size(); ++i) other[i] = int32_t((i * 53 + 5) % V);
        th::StatePtr alone = th::new_state(m.get()), together = th::new_state(m.get()), company = th::new_state(m.get());
        std::vector<float> a(V), b(V), unused(V);
        size_t differing = 0;
        for (size_t at = 0, n = 5, k = 0; at < tokens.size(); at += n, n = 1, ++k) {
            REQUIRE(rwkvrt_feed_ex(m.get(), alone.get(), tokens.data() + at, n, a.data(), &invariant) == RWKVRT_OK);
            rwkvrt_state *states[] = {together.get(), company.get()};
            const int32_t *t[] = {tokens.data() + at, other.data() + (k ? k + 2 : 0)};
            const size_t counts[] = {n, size_t(k ? 1 : 3)};
            float *logits[] = {b.data(), unused.data()};
            REQUIRE(rwkvrt_feed_batch_ex(m.get(), 2, states, t, counts, logits, &invariant) == RWKVRT_OK);
            differing += a != b;
        }
        CHECK(differing == 0);
        std::vector<uint8_t> sa(rwkvrt_state_snapshot_size(alone.get())), sb(sa.size());
        size_t written = 0;
        REQUIRE(rwkvrt_state_snapshot(alone.get(), sa.data(), sa.size(), &written) == RWKVRT_OK);
        REQUIRE(rwkvrt_state_snapshot(together.get(), sb.data(), sb.size(), &written) == RWKVRT_OK);
        CHECK(sa == sb);
    }
}
