// The HF/fla RWKV-7 layout and web-rwkv's .st files, written here from the official checkpoints by the
// published name mappings (spec §7.4; web-rwkv's converter), must give the official model's logits.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "api/model_helpers.h"
#include "core/error.h"
#include "formats/tensor_file.h"
#include "testdata.h"

using namespace rwkvrt;

namespace {

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
};

void write_safetensors(const std::string &path, const std::vector<Tensor> &tensors) {
    nlohmann::ordered_json header;
    size_t offset = 0;
    for (const Tensor &t : tensors) {
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.values.size() * 4}}};
        offset += t.values.size() * 4;
    }
    const std::string h = header.dump();
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = h.size();
    out.write(reinterpret_cast<const char *>(&n), 8);
    out << h;
    for (const Tensor &t : tensors) out.write(reinterpret_cast<const char *>(t.values.data()), std::streamsize(t.values.size() * 4));
}

Tensor transposed(Tensor t) {
    const size_t nd = t.shape.size();
    const int64_t a = t.shape[nd - 2], b = t.shape[nd - 1], batch = int64_t(t.values.size()) / (a * b);
    std::vector<float> v(t.values.size());
    for (int64_t k = 0; k < batch; ++k)
        for (int64_t i = 0; i < a; ++i)
            for (int64_t j = 0; j < b; ++j) v[size_t((k * b + j) * a + i)] = t.values[size_t((k * a + i) * b + j)];
    t.values = std::move(v);
    std::swap(t.shape[nd - 2], t.shape[nd - 1]);
    return t;
}

// The official tensors, renamed (and transposed) by `map`, which returns false to drop a tensor.
std::vector<Tensor> remapped(const std::string &pth, const std::function<bool(Tensor &)> &map) {
    const auto tf = open_tensor_file(testdata::path(pth), true);
    std::vector<Tensor> out;
    for (const TensorView &v : tf->tensors()) {
        Tensor t{v.name, v.shape, std::vector<float>(size_t(v.numel()))};
        to_f32(v.dtype, v.data, t.values.data(), t.values.size());
        if (map(t)) out.push_back(std::move(t));
    }
    return out;
}

bool fla_name(Tensor &t) {
    static const std::regex block(R"(blocks\.(\d+)\.(.+))");
    if (t.name == "emb.weight") t.name = "model.embeddings.weight";
    else if (t.name == "head.weight") t.name = "lm_head.weight";
    else if (t.name.rfind("ln_out.", 0) == 0) t.name = "model.norm." + t.name.substr(7);
    std::smatch m;
    const std::string name = t.name;
    if (!std::regex_match(name, m, block)) return true;
    const std::string p = "model.layers." + m[1].str() + ".", s = m[2];
    static const std::pair<const char *, const char *> same[] = {
        {"ln0.", "pre_norm."}, {"ln1.", "attn_norm."}, {"ln2.", "ffn_norm."}, {"att.ln_x.", "attn.g_norm."},
        {"att.receptance.", "attn.r_proj."}, {"att.key.", "attn.k_proj."}, {"att.value.", "attn.v_proj."},
        {"att.output.", "attn.o_proj."}, {"ffn.", "ffn."}, {"att.x_", "attn.x_"}, {"att.k_", "attn.k_"},
        {"att.r_k", "attn.r_k"}};
    for (const auto &[from, to] : same)
        if (s.rfind(from, 0) == 0) {
            t.name = p + to + s.substr(std::strlen(from));
            return true;
        }
    const char kind = s[4]; // att.w0 → w
    if (m[1] == "0" && kind == 'v') return false; // fla has no value-residual LoRA in layer 0
    const std::string lora = p + "attn." + kind + "_lora.lora.";
    if (s[5] == '0') t.name = lora + "2.bias";
    else t = transposed(Tensor{lora + (s[5] == '1' ? "0" : "2") + ".weight", t.shape, t.values});
    if (s[5] == '0') t.shape = {int64_t(t.values.size())};
    return true;
}

} // namespace

TEST_CASE("hf layouts: an fla RWKV-7 folder (config.json and shards) and a single fla file") {
    REQUIRE_TESTDATA();
    const std::vector<Tensor> fla = remapped("pth/tiny-rwkv-7v0-834K-fp32.pth", fla_name);
    const std::string dir = testdata::scratch_dir() + "/fla-7v0";
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << R"({"model_type": "rwkv7", "head_dim": 64, "num_hidden_layers": 12})";
    const size_t half = fla.size() / 2;
    write_safetensors(dir + "/model-00001-of-00002.safetensors", {fla.begin(), fla.begin() + std::ptrdiff_t(half)});
    write_safetensors(dir + "/model-00002-of-00002.safetensors", {fla.begin() + std::ptrdiff_t(half), fla.end()});
    const std::string single = testdata::scratch_dir() + "/fla-7v0.safetensors";
    write_safetensors(single, fla);

    const std::vector<float> expected = testdata::read_floats(testdata::path("reference/expected-logits-7v0-834K.bin"));
    for (const std::string &path : {dir, single}) {
        CAPTURE(path);
        th::ModelPtr m = th::load(path);
        CHECK(std::string(rwkvrt_model_arch(m.get())) == "rwkv7");
        const double d = th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn, true), expected);
        MESSAGE("fla layout: max |logit - reference| = ", d);
        CHECK(d <= 5e-5); // the same fp32 weights as the .pth: float32 rounding only
    }

    // Folders that are not an fla RWKV-7 model say so.
    const std::string other = testdata::scratch_dir() + "/not-rwkv7";
    std::filesystem::create_directories(other);
    std::ofstream(other + "/config.json") << R"({"model_type": "llama"})";
    rwkvrt_model *m = nullptr;
    CHECK(rwkvrt_model_load(other.c_str(), nullptr, &m) == RWKVRT_ERR_UNSUPPORTED);
    CHECK(std::string(rwkvrt_last_error()).find("model_type 'llama'") != std::string::npos);
    const std::string empty = testdata::scratch_dir() + "/empty-folder";
    std::filesystem::create_directories(empty);
    CHECK(rwkvrt_model_load(empty.c_str(), nullptr, &m) == RWKVRT_ERR_FORMAT);
    // A config.json that is a FIFO is refused at once, never waited on.
    const std::string fifo_dir = testdata::scratch_dir() + "/fifo-config";
    std::filesystem::create_directories(fifo_dir);
    std::filesystem::remove(fifo_dir + "/config.json");
    REQUIRE(::mkfifo((fifo_dir + "/config.json").c_str(), 0600) == 0);
    CHECK(rwkvrt_model_load(fifo_dir.c_str(), nullptr, &m) == RWKVRT_ERR_IO);
    CHECK(std::string(rwkvrt_last_error()).find("a FIFO") != std::string::npos);
}

TEST_CASE("hf layouts: web-rwkv .st files (v6 and v7)") {
    REQUIRE_TESTDATA();
    for (const std::string stem : {"random-rwkv6-h4", "random-rwkv7-h4"}) {
        CAPTURE(stem);
        const std::vector<Tensor> st = remapped("random/" + stem + "-fp32.pth", [](Tensor &t) {
            static const std::regex lora(R"(.*\.att\.(time_maa_w[12]|time_decay_w[12]|[wavg][12])$)");
            const bool transpose = std::regex_match(t.name, lora);
            if (const size_t at = t.name.find(".time_maa_"); at != std::string::npos) t.name.replace(at, 10, ".time_mix_");
            if (const size_t at = t.name.find(".time_faaaa"); at != std::string::npos) t.name.replace(at, 11, ".time_first");
            if (transpose) t = transposed(t);
            return true;
        });
        const std::string path = testdata::scratch_dir() + "/" + stem + ".st";
        write_safetensors(path, st);
        th::ModelPtr m = th::load(path);
        const std::vector<float> expected = testdata::read_floats(testdata::path("random/" + stem + "-fp32.expected-logits.bin"));
        const double d = th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn, true), expected);
        MESSAGE(stem, " as web-rwkv .st: max |logit - reference| = ", d);
        CHECK(d <= 5e-5);
    }
}
