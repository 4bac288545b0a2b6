#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "api/model_helpers.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/mapped_file.h"
#include "exec/thread_pool.h"
#include "formats/tensor_file.h"
#include "kernels/quantize.h"
#include "model/load_pass.h"
#include "random_model.h"
#include "testdata.h"

using namespace rwkvrt;

namespace {

std::string convert(const std::string &src, const std::string &name, const char *type, const rwkvrt_tokenizer *tok = nullptr) {
    th::ModelPtr m = th::load(src);
    const std::string out = testdata::scratch_dir() + "/" + name;
    rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
    o.type = type;
    o.tokenizer = tok;
    REQUIRE_MESSAGE(rwkvrt_model_save_gguf(m.get(), out.c_str(), &o) == RWKVRT_OK, rwkvrt_last_error());
    return out;
}

// Max |a − b|; NaN anywhere gives NaN, which fails every `<=` check.
double max_diff(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs(double(a[i]) - double(b[i]));
        if (std::isnan(e)) return e;
        d = std::max(d, e);
    }
    return d;
}

// Compares our file's layout with one llama.cpp's tools wrote: the same tensors (name, dims, type
// and, where `same_bytes`, bytes) and metadata keys of the same value types, apart from the naming
// keys gguf-py derives from a model's name (general.basename/finetune/size_label).
void check_same_layout(const std::string &ours, const std::string &theirs, bool same_bytes) {
    const MappedFile a(ours, true), b(theirs, true);
    const gguf::Layout la = gguf::read_layout(a), lb = gguf::read_layout(b);
    std::map<std::string, const gguf::RawTensor *> mine;
    for (const auto &t : la.tensors) mine[t.name] = &t;
    CHECK(la.tensors.size() == lb.tensors.size());
    for (const auto &t : lb.tensors) {
        CAPTURE(t.name);
        REQUIRE(mine.count(t.name));
        const gguf::RawTensor &m = *mine[t.name];
        CHECK(m.ne == t.ne);
        CHECK(gguf::ggml_type_name(m.type) == gguf::ggml_type_name(t.type));
        if (same_bytes && m.nbytes == t.nbytes) CHECK(std::memcmp(m.data, t.data, t.nbytes) == 0);
    }
    std::map<std::string, uint32_t> keys(la.keys.begin(), la.keys.end());
    for (const auto &entry : lb.keys) {
        const auto &key = entry.first; // not a structured binding: CAPTURE takes it into a lambda (clang 14)
        const auto &type = entry.second;
        CAPTURE(key);
        if (key == "general.basename" || key == "general.finetune" || key == "general.size_label") continue;
        REQUIRE(keys.count(key));
        CHECK(keys[key] == type);
    }
    CHECK(la.keys.size() <= lb.keys.size());
}

} // namespace

TEST_CASE("gguf writer: the layout is llama.cpp's, tensor for tensor and byte for byte") {
    REQUIRE_TESTDATA();
    // F32: what llama.cpp's converter wrote from the same weights, exactly.
    check_same_layout(convert(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"), "t7-f32.gguf", "f32"),
                      testdata::path("gguf/tiny-rwkv-7v0-834K-F32.gguf"), true);
    check_same_layout(convert(testdata::path("pth/tiny-rwkv-6v0-3m-fp32.pth"), "t6-f32.gguf", "f32"),
                      testdata::path("gguf/tiny-rwkv-6v0-3m-F32.gguf"), true);
    check_same_layout(convert(testdata::path("random/random-rwkv6-h4-fp32.pth"), "r6-f32.gguf", "f32"),
                      testdata::path("gguf/random-rwkv6-h4-F32.gguf"), true);
    // Q8_0 and Q4_0 round as ggml's reference quantizers do: the same bytes as llama-quantize's files.
    check_same_layout(convert(testdata::path("gguf/tiny-rwkv-7v0-834K-F32.gguf"), "t7-q8_0.gguf", "q8_0"),
                      testdata::path("gguf/tiny-rwkv-7v0-834K-Q8_0.gguf"), true);
    check_same_layout(convert(testdata::path("gguf/tiny-rwkv-7v0-834K-F32.gguf"), "t7-q4_0.gguf", "q4_0"),
                      testdata::path("gguf/tiny-rwkv-7v0-834K-Q4_0.gguf"), true);
    check_same_layout(convert(testdata::path("gguf/random-rwkv6-h4-F32.gguf"), "r6-q8_0.gguf", "q8_0"),
                      testdata::path("gguf/random-rwkv6-h4-Q8_0.gguf"), true);
    // K-quants: the same tensors and types as llama-quantize's (our scales are chosen more simply).
    check_same_layout(convert(testdata::path("gguf/random-rwkv7-h4-F32.gguf"), "r7-q6_k.gguf", "q6_k"),
                      testdata::path("gguf/random-rwkv7-h4-Q6_K.gguf"), false);
}

TEST_CASE("gguf writer: converted files load and match the source within each type's tolerance") {
    REQUIRE_TESTDATA();
    // Against the float64 reference of the fp32 source. f32 is exact up to float32 rounding (as the
    // GGUF reference files). The others are lossy: the bounds are about 1.5 × the largest distance
    // measured on these random-weight models (the most sensitive test models: logits in [-2.8, 2.6]),
    // which is what llama-quantize's own files of them show too (gguf/README.md; their expected logits
    // against this reference: Q8_0 0.040/0.057, Q6_K 0.137, Q4_K_M 0.44, Q4_0 0.55, Q5_K_M 0.64).
    // Measured (rwkv7 / rwkv6): f16 0.0015/0.0024, bf16 0.011/0.026, q8_0 0.040/0.057 (the bytes of
    // llama-quantize's), q6_k 0.14/0.17, q5_k 0.30/0.33, q4_k 0.49/0.94, q4_0 0.55/2.1.
    struct Case {
        const char *type;
        double tolerance;
    };
    const Case cases[] = {{"f32", 5e-5}, {"f16", 0.005}, {"bf16", 0.05}, {"q8_0", 0.09},
                          {"q6_k", 0.25}, {"q5_k", 0.5},  {"q4_k", 1.5},  {"q4_0", 3.0}};
    for (const std::string stem : {"random-rwkv7-h4", "random-rwkv6-h4"}) {
        const std::string src = testdata::path("random/" + stem + "-fp32.pth");
        const std::vector<float> expected = testdata::read_floats(testdata::path("random/" + stem + "-fp32.expected-logits.bin"));
        for (const Case &c : cases) {
            CAPTURE(stem);
            CAPTURE(std::string(c.type));
            const std::string out = convert(src, stem + "-" + c.type + ".gguf", c.type);
            th::ModelPtr m = th::load(out);
            const double d = max_diff(th::logits_after(m.get(), th::kPromptIn, true), expected);
            MESSAGE(stem, " as ", std::string(c.type), ": max |logit - reference| = ", d);
            CHECK(d <= c.tolerance);
        }
    }
}

TEST_CASE("gguf writer: quantize re-writes a GGUF file, keeping its vocabulary") {
    REQUIRE_TESTDATA();
    const std::string q = convert(testdata::path("gguf/random-rwkv7-h4-Q8_0.gguf"), "requant-q6_k.gguf", "q6_k");
    th::ModelPtr m = th::load(q);
    CHECK(std::string(rwkvrt_model_weight_type(m.get())) == "q6_k");
    rwkvrt_tokenizer *tok = nullptr;
    REQUIRE(rwkvrt_tokenizer_from_model(m.get(), &tok) == RWKVRT_OK);
    CHECK(rwkvrt_tokenizer_n_vocab(tok) == 256);
    rwkvrt_tokenizer_free(tok);
}

TEST_CASE("gguf writer: a model holding its matrices in another layout writes its file's bytes, and refuses once the file changed") {
    REQUIRE_TESTDATA();
    // With f32 activations the Q8_0 matrices are held with their rows in the lanes, and the file's pages
    // of them handed back: writing reads the file again.
    const std::string copy = testdata::scratch_dir() + "/lanes-source-q8_0.gguf";
    std::filesystem::copy_file(testdata::path("gguf/tiny-rwkv-7v0-834K-Q8_0.gguf"), copy, std::filesystem::copy_options::overwrite_existing);
    th::ModelPtr m = th::load(copy, nullptr, 0, "f32");
    const std::string out = testdata::scratch_dir() + "/lanes-q8_0.gguf";
    rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
    o.type = "q8_0";
    REQUIRE_MESSAGE(rwkvrt_model_save_gguf(m.get(), out.c_str(), &o) == RWKVRT_OK, rwkvrt_last_error());
    check_same_layout(out, copy, true);
    std::filesystem::copy_file(testdata::path("gguf/tiny-rwkv-7v0-834K-Q4_0.gguf"), copy, std::filesystem::copy_options::overwrite_existing);
    CHECK(rwkvrt_model_save_gguf(m.get(), out.c_str(), &o) == RWKVRT_ERR_MISMATCH);
    CHECK(std::string(rwkvrt_last_error()).find("has changed since the model was loaded") != std::string::npos);
}

TEST_CASE("tensor file: pages are handed back only for a tensor whose bytes no other tensor shares") {
    // A file may store tied weights once (two names, one storage): the model may hold one of them in
    // another layout, but the other still reads the bytes.
    const std::string path = testdata::scratch_dir() + "/three-tensors.bin";
    constexpr size_t kBytes = 1 << 16; // whole pages inside each tensor
    {
        std::ofstream out(path, std::ios::binary);
        const std::vector<char> bytes(2 * kBytes, char(0x5a));
        out.write(bytes.data(), std::streamsize(bytes.size()));
    }
    TensorFile file(std::make_unique<MappedFile>(path, /*use_mmap=*/false), "test");
    const uint8_t *const data = file.file().data();
    const int64_t n = int64_t(kBytes / 4);
    file.add(TensorView{"tied", DType::F32, {n}, data, kBytes});
    file.add(TensorView{"tied_again", DType::F32, {n}, data, kBytes});
    file.add(TensorView{"alone", DType::F32, {n}, data + kBytes, kBytes});
    CHECK(file.shares_bytes("tied"));
    CHECK(!file.shares_bytes("alone"));
    CHECK(!file.in_mapped_pages(data));
    ThreadPool pool(2);
    load_tensors(file, LoadPlan{}, pool); // the bytes read into memory, the tied ones once
    const uint8_t *const read = file.find("tied")->data;
    CHECK(file.find("tied_again")->data == read);
    CHECK(file.find("alone")->data == read + kBytes);
    CHECK(read[kBytes / 2] == 0x5a);
    CHECK(read[kBytes + kBytes / 2] == 0x5a);
    file.give_back("tied");
    file.give_back("alone");
    CHECK(read[kBytes / 2] == 0x5a);         // still read through "tied_again"
    CHECK(read[kBytes + kBytes / 2] == 0x00); // given back: the pages read as zeros now
}

TEST_CASE("gguf writer: a World vocabulary is embedded as llama.cpp's converter writes it") {
    REQUIRE_TESTDATA();
    // A 65536-token model shape: random weights; only the vocabulary is looked at.
    rwkvrt_tokenizer *world = nullptr;
    REQUIRE(rwkvrt_tokenizer_load(testdata::path("tokenizers/rwkv_vocab_v20230424.txt").c_str(), &world) == RWKVRT_OK);
    th::ModelPtr small = th::load(testdata::path("random/random-rwkv7-h4-fp32.pth"));
    rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
    o.tokenizer = world;
    const std::string out = testdata::scratch_dir() + "/world-mismatch.gguf";
    CHECK(rwkvrt_model_save_gguf(small.get(), out.c_str(), &o) == RWKVRT_ERR_MISMATCH);
    rwkvrt_tokenizer_free(world);
    o = rwkvrt_gguf_options_default();
    o.type = "q3_k";
    CHECK(rwkvrt_model_save_gguf(small.get(), out.c_str(), &o) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_model_save_gguf(small.get(), "/nonexistent-dir/x.gguf", nullptr) == RWKVRT_ERR_IO);
}

TEST_CASE("quantize_row: every written block type decodes to within its step of the input") {
    std::mt19937 rng(17);
    std::normal_distribution<float> normal;
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        CAPTURE(dtype_name(t));
        const size_t n = 1024;
        std::vector<float> x(n), back(n);
        for (float &v : x) v = normal(rng) * (1 + 3 * float(rng() % 4)); // sub-blocks of different ranges
        std::vector<uint8_t> q(dtype_bytes(t, n));
        quantize_row(t, x.data(), q.data(), n);
        to_f32(t, q.data(), back.data(), n);
        // Relative to the range of each 32-element group: 8-bit ≈ 1/254, 6-bit 1/63, 5-bit 1/31, 4-bit 1/15,
        // plus the rounding of the 6/8-bit sub-block scales (K-quants): a generous factor 2.
        const double levels = t == DType::Q8_0 ? 254 : t == DType::Q6_K ? 62 : t == DType::Q5_K ? 31 : 15;
        for (size_t g = 0; g < n; g += 32) {
            float lo = 0, hi = 0;
            for (size_t i = g; i < g + 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
            const double step = std::max(double(hi - lo), 2.0 * std::max(-lo, hi)) / levels;
            for (size_t i = g; i < g + 32; ++i) CHECK(std::fabs(back[i] - x[i]) <= 2 * step);
        }
    }
}

TEST_CASE("gguf writer: the World vocabulary survives the round trip through llama.cpp's token escaping") {
    REQUIRE_TESTDATA();
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_layer = 1;
    spec.n_embd = 32;
    spec.n_vocab = 65536;
    const std::string src = testdata::scratch_dir() + "/world-shaped.safetensors";
    rwkvrt_tools::write_random_checkpoint(spec, src);
    rwkvrt_tokenizer *world = nullptr;
    REQUIRE(rwkvrt_tokenizer_load(testdata::path("tokenizers/rwkv_vocab_v20230424.txt").c_str(), &world) == RWKVRT_OK);
    const std::string out = convert(src, "world.gguf", "f16", world);

    // The metadata of a World file, as llama.cpp's converter writes it.
    const MappedFile f(out, true);
    std::map<std::string, uint32_t> keys;
    for (const auto &[k, t] : gguf::read_layout(f).keys) keys[k] = t;
    for (const char *k : {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                          "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.chat_template"})
        CHECK_MESSAGE(keys.count(k), k);

    th::ModelPtr m = th::load(out);
    rwkvrt_tokenizer *embedded = nullptr;
    REQUIRE(rwkvrt_tokenizer_from_model(m.get(), &embedded) == RWKVRT_OK);
    CHECK(std::string(rwkvrt_tokenizer_kind(embedded)) == "world");
    REQUIRE(rwkvrt_tokenizer_n_vocab(embedded) == 65536);
    size_t differ = 0;
    for (int32_t id = 0; id < 65536; ++id) {
        char a[1024], b[1024];
        size_t la = 0, lb = 0;
        REQUIRE(rwkvrt_token_to_bytes(world, id, a, sizeof a, &la) == RWKVRT_OK);
        REQUIRE(rwkvrt_token_to_bytes(embedded, id, b, sizeof b, &lb) == RWKVRT_OK);
        differ += la != lb || std::memcmp(a, b, la) != 0;
    }
    CHECK(differ == 0);
    const std::string text = "User: héllo\\ 'quoted' \"x\"\t\r\n\nAssistant: \x01\xff";
    int32_t ta[256], tb[256];
    size_t na = 0, nb = 0;
    REQUIRE(rwkvrt_tokenize(world, text.data(), text.size(), ta, 256, &na) == RWKVRT_OK);
    REQUIRE(rwkvrt_tokenize(embedded, text.data(), text.size(), tb, 256, &nb) == RWKVRT_OK);
    CHECK(std::vector<int32_t>(ta, ta + na) == std::vector<int32_t>(tb, tb + nb));
    rwkvrt_tokenizer_free(embedded);
    rwkvrt_tokenizer_free(world);
}
