// Weight checks at load: a NaN or infinite weight is refused (it would make every state it touches NaN
// for good), in every storage type; so is an empty tensor (a low-rank matrix of rank 0).
#include <cmath>
#include <limits>

#include "arch/arch_checks.h"
#include "core/dtype.h"
#include "targets.h"

namespace {

template <class T>
std::vector<uint8_t> bytes_of(const std::vector<T> &v) {
    std::vector<uint8_t> out(v.size() * sizeof(T));
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

} // namespace

TEST_CASE("first_nonfinite finds NaN and infinity in every storage type") {
    using rwkvrt::DType;
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    for_each_target([&] {
        // Every position of the bad value: the vector blocks, their scalar tail, and past both.
        for (size_t n : {size_t(1), size_t(37), size_t(300)})
            for (size_t at = 0; at < n; ++at) {
                std::vector<float> f(n, 1.5f);
                CHECK(rwkvrt::first_nonfinite(DType::F32, f.data(), n) == n);
                for (float bad : {nan, inf, -inf}) {
                    f[at] = bad;
                    if (at + 1 < n) f[n - 1] = bad; // a later one does not hide the first
                    std::vector<uint16_t> h(n), b(n);
                    for (size_t i = 0; i < n; ++i) {
                        h[i] = rwkvrt::f32_to_f16(f[i]);
                        b[i] = rwkvrt::f32_to_bf16(f[i]);
                    }
                    REQUIRE(rwkvrt::first_nonfinite(DType::F32, f.data(), n) == at);
                    REQUIRE(rwkvrt::first_nonfinite(DType::F16, h.data(), n) == at);
                    REQUIRE(rwkvrt::first_nonfinite(DType::BF16, b.data(), n) == at);
                    std::fill(f.begin(), f.end(), 1.5f);
                }
            }
        // Large finite values are not mistaken for infinity: f16's 65504, bf16's and f32's maxima.
        const uint16_t f16_max = 0x7bff, bf16_max = 0x7f7f;
        const float f32_max = std::numeric_limits<float>::max();
        CHECK(rwkvrt::first_nonfinite(DType::F16, &f16_max, 1) == 1);
        CHECK(rwkvrt::first_nonfinite(DType::BF16, &bf16_max, 1) == 1);
        CHECK(rwkvrt::first_nonfinite(DType::F32, &f32_max, 1) == 1);
        CHECK(rwkvrt::first_nonfinite(DType::F32, &f32_max, 0) == 0);
    });
    // Block types: three blocks, one fp16 constant of the second one made NaN: the scale (and the
    // minimum of the _1 types and dmin of Q4_K/Q5_K), Q6_K's d at the end of its block.
    const std::pair<DType, std::vector<size_t>> constants[] = {
        {DType::Q8_0, {0}}, {DType::Q5_0, {0}},    {DType::Q5_1, {0, 2}}, {DType::Q4_0, {0}},
        {DType::Q4_1, {0, 2}}, {DType::Q4_K, {0, 2}}, {DType::Q5_K, {0, 2}}, {DType::Q6_K, {208}}};
    for (const auto &entry : constants) {
        const DType t = entry.first; // not a structured binding: INFO captures it in a lambda (clang 14)
        const std::vector<size_t> &offsets = entry.second;
        const rwkvrt::DTypeInfo &info = rwkvrt::dtype_info(t);
        std::vector<uint8_t> blocks(3 * size_t(info.block_bytes), 0x11);
        const size_t n = 3 * size_t(info.block_elems);
        CHECK(rwkvrt::first_nonfinite(t, blocks.data(), n) == n);
        const uint16_t h = rwkvrt::f32_to_f16(nan);
        for (size_t offset : offsets) {
            std::vector<uint8_t> bad = blocks;
            std::memcpy(&bad[size_t(info.block_bytes) + offset], &h, 2);
            INFO(rwkvrt::dtype_name(t), " constant at offset ", offset);
            CHECK(rwkvrt::first_nonfinite(t, bad.data(), n) == size_t(info.block_elems));
        }
    }
}

TEST_CASE("a model with a NaN or infinite weight is refused at load, naming the tensor") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    for (const char *tensor : {"emb.weight", "blocks.1.att.key.weight", "blocks.0.ln1.weight", "blocks.0.att.w1"}) {
        for (float bad : {nan, -inf}) {
            rwkvrt_tools::RandomModelSpec spec;
            spec.edit = [&](std::vector<rwkvrt_tools::RandomTensor> &ts) {
                for (auto &t : ts)
                    if (t.name == tensor) t.data[t.data.size() / 2] = bad;
            };
            const std::string path = ac::write_random(spec, "nonfinite");
            for (const char *weight_type : {static_cast<const char *>(nullptr), "f16", "q8_0"})
                for (const int mapped : {0, 1}) { // checked as read into memory, or where the file's pages lie
                    rwkvrt_load_options o = rwkvrt_load_options_default();
                    o.weight_type = weight_type;
                    o.use_mmap = mapped;
                    rwkvrt_model *m = nullptr;
                    INFO(tensor, " = ", bad, " loaded as ", weight_type ? weight_type : "stored", mapped ? ", mapped" : "");
                    CHECK(rwkvrt_model_load(path.c_str(), &o, &m) == RWKVRT_ERR_CORRUPT);
                    CHECK(m == nullptr);
                    CHECK(std::string(rwkvrt_last_error()).find(tensor) != std::string::npos);
                }
        }
    }
}

TEST_CASE("half-precision and quantized model files are checked too") {
    REQUIRE_TESTDATA();
    // The shipped files are finite: all of them load (the check must not refuse good models).
    for (const char *file : {"safetensors/tiny-rwkv-7v0-834K-bf16.safetensors", "rwkvcpp/tiny-rwkv-7v0-834K-FP16.bin",
                             "rwkvcpp/tiny-rwkv-7v0-834K-Q5_1.bin", "rwkvcpp/tiny-rwkv-7v0-834K-Q5_0.bin"})
        th::load(testdata::path(file));
}

TEST_CASE("a low-rank matrix of rank 0 is refused at load, before a kernel can divide by its size") {
    // Such a model used to load, and its first token then died of SIGFPE in the GEMM (rwkvrt generate
    // and rwkvrt convert alike); under UBSan, a memcpy from the empty tensor's NULL data was reported.
    // RWKV-7's four paths (w, a, v, g), then RWKV-6's two (the mixes' and the decay's).
    for (int path = 0; path < 6; ++path) {
        rwkvrt_tools::RandomModelSpec spec;
        int64_t *const rank[] = {&spec.lora_w, &spec.lora_a, &spec.lora_v, &spec.lora_g, &spec.lora_mix, &spec.lora_decay};
        if (path >= 4) spec.arch = "rwkv6";
        *rank[path] = 0;
        const std::string file = ac::write_random(spec, "rank0-" + std::to_string(path));
        rwkvrt_model *m = nullptr;
        CAPTURE(path);
        CHECK(rwkvrt_model_load(file.c_str(), nullptr, &m) == RWKVRT_ERR_FORMAT);
        CHECK(m == nullptr);
        CHECK(std::string(rwkvrt_last_error()).find(": it is empty") != std::string::npos);
    }
}
