#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "api/model_helpers.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tensor_file.h"
#include "testdata.h"

using namespace rwkvrt;

namespace {

// Every GGUF test file and the largest |logit − expected| accepted for it. The expected logits are the
// float64 reference run on exactly the weights the file stores (gguf/README.md), and rwkvrt loaded with
// activations = "f32" computes with those weights exactly (blocks decoded to fp32), so what is left is float32
// rounding of the activations: llama.cpp's F32 runs of the same models differ from the reference by
// up to 3e-6, and ours by at most 5.5e-6 (measured: the Q5_K_M file in one call). 5e-5 is ten times that; quantizing
// the activations as ggml does, or decoding one block field wrong, moves the logits by 1e-3 to 1e-1.
constexpr double kTolerance = 5e-5;
constexpr double kInt8Tolerance = 0.1; // the default's int8 rounding: 1.6x the largest measured (0.062)

const char *const kFiles[] = {
    "random-rwkv6-h4-F32",    "random-rwkv6-h4-Q5_K_M",  "random-rwkv6-h4-Q8_0",  "random-rwkv7-h4-BF16",
    "random-rwkv7-h4-F16",    "random-rwkv7-h4-F32",     "random-rwkv7-h4-Q4_0",  "random-rwkv7-h4-Q4_K_M",
    "random-rwkv7-h4-Q6_K",   "random-rwkv7-h4-Q8_0",    "tiny-rwkv-6v0-3m-F16",  "tiny-rwkv-6v0-3m-F32",
    "tiny-rwkv-6v0-3m-Q8_0",  "tiny-rwkv-7v0-834K-F16",  "tiny-rwkv-7v0-834K-F32", "tiny-rwkv-7v0-834K-Q4_0",
    "tiny-rwkv-7v0-834K-Q8_0"};

// Max |a − b| over all elements; NaN anywhere gives NaN, which fails every `<=` check.
double max_diff(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs(double(a[i]) - double(b[i]));
        if (!(e <= d)) d = std::isnan(e) ? e : std::max(d, e);
        if (std::isnan(d)) break;
    }
    return d;
}

// A GGUF file built byte by byte, for the malformed cases.
struct Gguf {
    std::string bytes;
    template <class T>
    Gguf &put(T v) {
        bytes.append(reinterpret_cast<const char *>(&v), sizeof v);
        return *this;
    }
    Gguf &str(const std::string &s) {
        put<uint64_t>(s.size());
        bytes += s;
        return *this;
    }
    Gguf &kv_string(const std::string &key, const std::string &value) { return str(key).put<uint32_t>(gguf::kValString).str(value); }
    Gguf &kv_u32(const std::string &key, uint32_t value) { return str(key).put<uint32_t>(gguf::kValU32).put(value); }
    // One tensor info: 1-D of n f32 at offset.
    Gguf &tensor(const std::string &name, uint64_t n, uint64_t offset, uint32_t type = gguf::kF32) {
        return str(name).put<uint32_t>(1).put<uint64_t>(n).put<uint32_t>(type).put<uint64_t>(offset);
    }
    Gguf &pad() {
        while (bytes.size() % 32) bytes += '\0';
        return *this;
    }
};

Gguf header(uint64_t n_tensors, uint64_t n_kv) {
    Gguf g;
    g.put<uint32_t>(gguf::kMagic).put<uint32_t>(3).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
    return g;
}

std::string write_scratch(const std::string &name, const std::string &bytes) {
    const std::string path = testdata::scratch_dir() + "/" + name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

rwkvrt_status read_status(const std::string &bytes, std::string *message) {
    static int n = 0;
    const std::string path = write_scratch("hostile-" + std::to_string(n++) + ".gguf", bytes);
    try {
        open_tensor_file(path, true);
    } catch (const Error &e) {
        *message = e.what();
        return e.status();
    }
    return RWKVRT_OK;
}

#define CHECK_REFUSED(bytes, status, word)                                                                             \
    do {                                                                                                               \
        std::string message_;                                                                                          \
        CHECK(read_status(bytes, &message_) == (status));                                                              \
        CHECK_MESSAGE(message_.find(word) != std::string::npos, "'" << std::string(word) << "' not in: " << message_); \
    } while (0)

} // namespace

TEST_CASE("gguf: every test file matches its reference logits, token by token and in one call") {
    REQUIRE_TESTDATA();
    for (const std::string stem : kFiles) {
        CAPTURE(stem);
        const std::string base = testdata::path("gguf/" + stem);
        th::ModelPtr m = th::load(base + ".gguf", nullptr, 0, "f32");
        CHECK(std::string(rwkvrt_model_arch(m.get())) == (stem.find("rwkv6") != std::string::npos || stem.find("6v0") != std::string::npos
                                                              ? "rwkv6"
                                                              : "rwkv7"));
        const std::vector<float> expected = testdata::read_floats(base + ".expected-logits.bin");
        REQUIRE(expected.size() == 256);
        const double one = max_diff(th::logits_after(m.get(), th::kPromptIn, true), expected);
        const double seq = max_diff(th::logits_after(m.get(), th::kPromptIn, false), expected);
        MESSAGE(stem, ": max |logit - expected| = ", one, " token by token, ", seq, " in one call");
        CHECK(one <= kTolerance);
        CHECK(seq <= kTolerance);
        // The default rounds a block-quantized model's activations to int8, as llama.cpp does. That moves
        // these logits by 0.008-0.062 from the exact math, and llama.cpp's own by 0.008-0.18
        // (NAME.llamacpp-logits.bin); float weights keep the exact products.
        th::ModelPtr d = th::load(base + ".gguf");
        const std::string type = rwkvrt_model_weight_type(d.get());
        const double allowed = type == "f32" || type == "f16" || type == "bf16" ? kTolerance : kInt8Tolerance;
        CHECK(max_diff(th::logits_after(d.get(), th::kPromptIn, true), expected) <= allowed);
        CHECK(max_diff(th::logits_after(d.get(), th::kPromptIn, false), expected) <= allowed);
    }
}

TEST_CASE("gguf: rwkv6 rescale_every_n_layers halves the residual stream") {
    // The community's v6 files are converted with rescale_every = 6: the output weights of block b are
    // divided by 2^(b / 6) and the residual stream is halved after every 6th block. The same model
    // written that way must give the same logits (up to LayerNorm's epsilon on the halved stream).
    REQUIRE_TESTDATA();
    const std::string src = testdata::path("gguf/tiny-rwkv-6v0-3m-F32.gguf");
    std::vector<char> bytes = testdata::read_bytes(src);
    {
        const auto tf = open_tensor_file(src, true);
        const uint8_t *base = tf->file().data();
        for (int b = 6; b < 12; ++b)
            for (const char *name : {".att.output.weight", ".ffn.value.weight"}) {
                const TensorView *t = tf->find("blocks." + std::to_string(b) + name);
                REQUIRE(t);
                REQUIRE(t->dtype == DType::F32);
                auto *v = reinterpret_cast<float *>(bytes.data() + (t->data - base));
                for (int64_t i = 0; i < t->numel(); ++i) v[i] *= 0.5f;
            }
    }
    const std::string key = "rwkv6.rescale_every_n_layers";
    const auto at = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
    REQUIRE(at != bytes.end());
    uint32_t type, value;
    std::memcpy(&type, &*(at + std::ptrdiff_t(key.size())), 4);
    REQUIRE(type == gguf::kValU32);
    std::memcpy(&value, &*(at + std::ptrdiff_t(key.size()) + 4), 4);
    REQUIRE(value == 0);
    value = 6;
    std::memcpy(&*(at + std::ptrdiff_t(key.size()) + 4), &value, 4);
    const std::string path = write_scratch("rescaled-6v0.gguf", std::string(bytes.begin(), bytes.end()));

    th::ModelPtr m = th::load(path);
    const std::vector<float> expected = testdata::read_floats(testdata::path("gguf/tiny-rwkv-6v0-3m-F32.expected-logits.bin"));
    const double d = max_diff(th::logits_after(m.get(), th::kPromptIn, true), expected);
    MESSAGE("rescaled every 6 layers: max |logit - expected| = ", d);
    CHECK(d <= 1e-3);
}

TEST_CASE("gguf: names and layouts map onto the official tensors") {
    REQUIRE_TESTDATA();
    const auto v7 = open_tensor_file(testdata::path("gguf/random-rwkv7-h4-Q4_K_M.gguf"), true);
    CHECK(v7->format() == "gguf");
    CHECK(v7->info().arch == "rwkv7");
    REQUIRE(v7->find("emb.weight"));
    CHECK(v7->find("emb.weight")->dtype == DType::Q4_K);
    CHECK(v7->find("head.weight")->dtype == DType::Q6_K);
    CHECK(v7->find("emb.weight")->shape == std::vector<int64_t>{256, 256});
    CHECK(v7->find("blocks.0.att.r_k")->shape == std::vector<int64_t>{4, 64});
    CHECK(v7->find("blocks.1.att.x_g")->shape == std::vector<int64_t>{1, 1, 256});
    CHECK(v7->info().vocab.size() == 256);
    for (int i = 0; i < 256; ++i) CHECK(v7->info().vocab[size_t(i)] == std::string(1, char(i)));
    CHECK(v7->info().vocab_kind == "rwkv");

    // The mapped tensors equal those of the .pth the file was converted from (F32: the round trip is exact).
    const auto gg = open_tensor_file(testdata::path("gguf/tiny-rwkv-6v0-3m-F32.gguf"), true);
    const auto pth = open_tensor_file(testdata::path("pth/tiny-rwkv-6v0-3m-fp32.pth"), true);
    CHECK(gg->info().rescale_every == 0);
    CHECK(gg->tensors().size() == pth->tensors().size());
    for (const TensorView &t : pth->tensors()) {
        CAPTURE(t.name);
        const TensorView *g = gg->find(t.name);
        REQUIRE(g);
        REQUIRE(g->numel() == t.numel());
        std::vector<float> a(size_t(t.numel())), b(a.size());
        to_f32(t.dtype, t.data, a.data(), a.size());
        to_f32(g->dtype, g->data, b.data(), b.size());
        CHECK(max_diff(a, b) == 0.0);
    }
}

TEST_CASE("gguf: the K-quant decoders agree with gguf-py's, through the reference logits") {
    // Q4_K, Q5_K and Q6_K are checked by the logits above; Q2_K and Q3_K (decoded at load only) here,
    // on hand-made blocks whose values follow from the layout: every sub-block scale and quant set.
    std::vector<uint8_t> q2(kQ2KBlockBytes, 0);
    for (int s = 0; s < 16; ++s) q2[size_t(s)] = uint8_t((s % 16) | (1 << 4)); // scale s, min 1
    for (int i = 0; i < 64; ++i) q2[16 + size_t(i)] = 0xE4;                     // quants 0,1,2,3 by shift
    const uint16_t one = f32_to_f16(1.0f), half = f32_to_f16(0.5f);
    std::memcpy(&q2[80], &one, 2);
    std::memcpy(&q2[82], &half, 2);
    std::vector<float> y(256);
    dequantize_q2_k(q2.data(), y.data(), 256);
    for (int i = 0; i < 256; ++i) {
        const int h = i / 128, j = (i % 128) / 32, l = i % 32;
        const int scale = (8 * h + 2 * j + l / 16) % 16;
        CHECK(y[size_t(i)] == float(scale * j) - 0.5f);
    }

    std::vector<uint8_t> q3(kQ3KBlockBytes, 0);
    for (int i = 0; i < 32; ++i) q3[size_t(i)] = 0x0F;    // high bit set for j < 4 of the first half only
    for (int i = 0; i < 64; ++i) q3[32 + size_t(i)] = 0x1B; // quants 3,2,1,0 by shift
    for (int i = 0; i < 12; ++i) q3[96 + size_t(i)] = 0;    // every 6-bit scale 0 → sc − 32 = −32 ...
    q3[96] = 0x05;                                          // ... except sub-block 0: 5, and 8: 0
    q3[104] = 0x03 << 0;                                    // sub-block 0's high bits 3 → scale 53 − 32 = 21
    std::memcpy(&q3[108], &one, 2);
    dequantize_q3_k(q3.data(), y.data(), 256);
    for (int i = 0; i < 256; ++i) {
        const int h = i / 128, j = (i % 128) / 32, l = i % 32, s = 8 * h + 2 * j + l / 16;
        const int scale = s == 0 ? 21 : -32;
        const int q = 3 - j - (h == 0 ? 0 : 4);
        CHECK(y[size_t(i)] == float(scale * q));
    }
}

TEST_CASE("gguf: hostile files are refused with RWKVRT_ERR_FORMAT naming the field") {
    CHECK_REFUSED(header(0, 0).bytes.substr(0, 10), RWKVRT_ERR_FORMAT, "tensor_count");
    CHECK_REFUSED(header(uint64_t(1) << 63, 0).bytes, RWKVRT_ERR_FORMAT, "tensor_count");
    CHECK_REFUSED(header(0, uint64_t(1) << 63).bytes, RWKVRT_ERR_FORMAT, "metadata_kv_count");
    {
        Gguf g = header(0, 1);
        g.put<uint64_t>(uint64_t(1) << 62).bytes += std::string(32, 'k');
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "metadata key #0");
    }
    {
        Gguf g = header(0, 1);
        g.str("general.architecture").put<uint32_t>(gguf::kValString).put<uint64_t>(1000).bytes += "rwkv7";
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "general.architecture");
    }
    {
        Gguf g = header(0, 1);
        g.str("x").put<uint32_t>(99).put<uint32_t>(0);
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "value type 99");
    }
    {
        Gguf g = header(0, 1);
        g.str("x").put<uint32_t>(gguf::kValArray).put<uint32_t>(gguf::kValU32).put<uint64_t>(uint64_t(1) << 63);
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "element count");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7").tensor("token_embd.weight", 8, 0, 1000).pad();
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "type id 1000");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7").tensor("token_embd.weight", 64, 0, 16).pad();
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_UNSUPPORTED, "iq2_xxs");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7");
        g.str("t").put<uint32_t>(5);
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "n_dims 5");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7");
        g.str("t").put<uint32_t>(2).put<uint64_t>(uint64_t(1) << 40).put<uint64_t>(uint64_t(1) << 40);
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "impossible dimension");
    }
    {
        Gguf g = header(2, 1);
        g.kv_string("general.architecture", "rwkv7").tensor("a", 16, 0).tensor("b", 16, 32).pad();
        g.bytes += std::string(96, '\0');
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "overlap");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7").tensor("a", 16, 8).pad();
        g.bytes += std::string(96, '\0');
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "alignment");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7").tensor("a", 1024, 0).pad();
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "runs past the end");
    }
    {
        Gguf g = header(1, 1);
        g.kv_string("general.architecture", "rwkv7").tensor("a", uint64_t(1) << 38, uint64_t(1) << 62).pad();
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "runs past the end");
    }
    {
        Gguf g = header(0, 1);
        g.kv_string("general.architecture", "llama").pad();
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_UNSUPPORTED, "llama");
    }
    {
        Gguf g;
        g.put<uint32_t>(gguf::kMagic).put<uint32_t>(0x03000000);
        CHECK_REFUSED(g.bytes, RWKVRT_ERR_FORMAT, "big-endian");
    }
    REQUIRE_TESTDATA();
    // A real file cut anywhere: never anything but a clean refusal.
    const std::vector<char> real = testdata::read_bytes(testdata::path("gguf/tiny-rwkv-7v0-834K-Q4_0.gguf"));
    for (size_t cut : {size_t(5), size_t(24), size_t(200), size_t(4000), size_t(20000), real.size() / 2, real.size() - 1}) {
        CAPTURE(cut);
        std::string msg;
        CHECK(read_status(std::string(real.data(), cut), &msg) == RWKVRT_ERR_FORMAT);
    }
}

TEST_CASE("gguf: the embedded vocabulary is the model's tokenizer") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("gguf/tiny-rwkv-7v0-834K-Q8_0.gguf"));
    rwkvrt_tokenizer *tok = nullptr;
    REQUIRE(rwkvrt_tokenizer_from_model(m.get(), &tok) == RWKVRT_OK);
    CHECK(std::string(rwkvrt_tokenizer_kind(tok)) == "bytes"); // the 256 single bytes, in order
    CHECK(rwkvrt_tokenizer_n_vocab(tok) == 256);
    rwkvrt_tokenizer_free(tok);

    th::ModelPtr pth = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    CHECK(rwkvrt_tokenizer_from_model(pth.get(), &tok) == RWKVRT_ERR_UNSUPPORTED);
    CHECK(std::string(rwkvrt_last_error()).find("embeds no tokenizer") != std::string::npos);
    CHECK(rwkvrt_tokenizer_from_model(nullptr, &tok) == RWKVRT_ERR_ARGUMENT);
}

TEST_CASE("gguf: rwkvrt_model_describe reports the file without loading it") {
    REQUIRE_TESTDATA();
    const std::string path = testdata::path("gguf/random-rwkv7-h4-Q4_K_M.gguf");
    size_t len = 0;
    char small[8];
    REQUIRE(rwkvrt_model_describe(path.c_str(), small, sizeof small, &len) == RWKVRT_ERR_BUFFER);
    std::string text(len + 1, '\0');
    REQUIRE(rwkvrt_model_describe(path.c_str(), text.data(), text.size(), &len) == RWKVRT_OK);
    text.resize(len);
    for (const char *part : {"\"format\":\"gguf\"", "\"arch\":\"rwkv7\"", "\"weight_type\":\"q4_k\"",
                             "{\"type\":\"q4_K\",\"count\":19,", "{\"type\":\"q6_K\",\"count\":1,", "{\"type\":\"f32\",\"count\":70,", "\"embedded\":true",
                             "\"file_bytes\":2211328", "\"general.file_type\":\"15\""})
        CHECK_MESSAGE(text.find(part) != std::string::npos, part, " not in ", text);
    CHECK(rwkvrt_model_describe("/nonexistent.gguf", nullptr, 0, &len) == RWKVRT_ERR_IO);
}
