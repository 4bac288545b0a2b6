// State-tuning files: time_state tensors land in each layer's WKV matrices in the kernel's
// orientation, and a file for another model is refused with the keys and shapes named.
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "api/handles.h"
#include "state/state_helpers.h"

namespace {

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
};

// A safetensors file: 8-byte little-endian header length, JSON header, raw F32 data.
void write_safetensors(const std::string &path, const std::vector<Tensor> &tensors) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    sh::Bytes data;
    for (const Tensor &t : tensors) {
        const size_t begin = data.size();
        data.resize(begin + t.values.size() * 4);
        std::memcpy(data.data() + begin, t.values.data(), t.values.size() * 4);
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
    }
    const std::string json = header.dump();
    sh::Bytes file(8);
    for (int i = 0; i < 8; ++i) file[size_t(i)] = uint8_t(uint64_t(json.size()) >> (8 * i));
    file.insert(file.end(), json.begin(), json.end());
    file.insert(file.end(), data.begin(), data.end());
    sh::write_file(path, file);
}

// time_state[h][value][key] = a value that encodes its layer and indices.
float tuned(int64_t layer, int64_t h, int64_t v, int64_t k) { return float(layer * 1000 + h * 100 + v) + float(k) / 128.0f; }

std::vector<Tensor> tuning_tensors(const rwkvrt::HParams &hp) {
    std::vector<Tensor> out;
    const int64_t H = hp.n_head, N = hp.head_size;
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        Tensor t{"blocks." + std::to_string(i) + ".att.time_state", {H, N, N}, {}};
        for (int64_t h = 0; h < H; ++h)
            for (int64_t v = 0; v < N; ++v)
                for (int64_t k = 0; k < N; ++k) t.values.push_back(tuned(i, h, v, k));
        out.push_back(std::move(t));
    }
    return out;
}

std::string last_error() { return rwkvrt_last_error(); }

} // namespace

TEST_CASE("a state-tuning file sets every layer's WKV matrices in the model's orientation") {
    REQUIRE_TESTDATA();
    for (const std::string &rel : sh::kTinyModels) {
        th::ModelPtr m = sh::try_load(rel);
        if (!m) continue;
        th::StatePtr s = th::new_state(m.get());
        const rwkvrt::ArchModel &arch = s->impl->model().arch();
        const rwkvrt::HParams &hp = arch.hparams();
        const std::string path = sh::scratch("tuned.safetensors");
        write_safetensors(path, tuning_tensors(hp));
        sh::feed(m.get(), s.get(), "abc");
        REQUIRE(rwkvrt_state_set_metadata(s.get(), "kept", 4) == RWKVRT_OK);
        if (hp.arch == rwkvrt::Arch::rwkv4) {
            CHECK(rwkvrt_state_load_initial(s.get(), path.c_str()) == RWKVRT_ERR_UNSUPPORTED);
            continue;
        }
        REQUIRE_MESSAGE(rwkvrt_state_load_initial(s.get(), path.c_str()) == RWKVRT_OK, last_error());
        CHECK(rwkvrt_state_n_tokens(s.get()) == 0);
        size_t len = 0;
        const void *md = nullptr;
        REQUIRE(rwkvrt_state_get_metadata(s.get(), &md, &len) == RWKVRT_OK);
        CHECK(len == 4);
        // v5/v6 kernels read S[h][key][value], v7's S[h][value][key] (docs/STATE_FORMAT.md).
        const bool key_major = hp.arch != rwkvrt::Arch::rwkv7;
        const int64_t H = hp.n_head, N = hp.head_size;
        bool all_match = true, shifts_zero = true;
        for (int64_t i = 0; i < hp.n_layer; ++i) {
            const rwkvrt::LayerState<float> l = arch.layer(s->impl->data(), i);
            for (int64_t c = 0; c < hp.n_embd; ++c) shifts_zero &= l.att_x[c] == 0 && l.ffn_x[c] == 0;
            for (int64_t h = 0; h < H; ++h)
                for (int64_t v = 0; v < N; ++v)
                    for (int64_t k = 0; k < N; ++k) {
                        const float got = l.wkv[h * N * N + (key_major ? k * N + v : v * N + k)];
                        all_match &= got == tuned(i, h, v, k);
                    }
        }
        CHECK_MESSAGE(all_match, rel);
        CHECK(shifts_zero);

        // A file of zeros is the empty state: feeding from it equals feeding from a fresh state.
        std::vector<Tensor> zeros = tuning_tensors(hp);
        for (Tensor &t : zeros) std::fill(t.values.begin(), t.values.end(), 0.0f);
        write_safetensors(path, zeros);
        REQUIRE(rwkvrt_state_load_initial(s.get(), path.c_str()) == RWKVRT_OK);
        th::StatePtr fresh = th::new_state(m.get());
        CHECK(sh::feed(m.get(), s.get(), sh::kText) == sh::feed(m.get(), fresh.get(), sh::kText));
    }
}

TEST_CASE("a state-tuning file for another model is refused, naming what does not fit") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr s = th::new_state(m.get());
    sh::feed(m.get(), s.get(), "abc");
    const sh::Bytes before = sh::snapshot(s.get());
    const rwkvrt::HParams &hp = s->impl->model().hparams();
    const std::string path = sh::scratch("bad-tuning.safetensors");
    auto expect = [&](const std::vector<Tensor> &tensors, rwkvrt_status want, std::vector<std::string> needles) {
        write_safetensors(path, tensors);
        CHECK(rwkvrt_state_load_initial(s.get(), path.c_str()) == want);
        for (const std::string &n : needles)
            CHECK_MESSAGE(last_error().find(n) != std::string::npos, last_error(), " lacks ", n);
        CHECK(sh::snapshot(s.get()) == before);
    };

    std::vector<Tensor> t = tuning_tensors(hp);
    t.erase(t.begin() + 1);
    expect(t, RWKVRT_ERR_MISMATCH, {"missing blocks.1.att.time_state"});

    t = tuning_tensors(hp);
    t.push_back({"blocks." + std::to_string(hp.n_layer) + ".att.time_state", {hp.n_head, hp.head_size, hp.head_size},
                 std::vector<float>(size_t(hp.n_head * hp.head_size * hp.head_size))});
    t.push_back({"blocks.0.att.time_decay", {4}, {1, 2, 3, 4}});
    t.push_back({"blocks.-1.att.time_state", {1}, {0}}); // not layer -1, nor layer 1
    t.push_back({"blocks.01.att.time_state", {1}, {0}});
    t.push_back({"blocks.att.time_state", {1}, {0}});
    expect(t, RWKVRT_ERR_MISMATCH,
           {"unexpected blocks." + std::to_string(hp.n_layer) +
                ".att.time_state, blocks.0.att.time_decay, blocks.-1.att.time_state, blocks.01.att.time_state and 1 more"});

    t = tuning_tensors(hp);
    t[2].shape = {hp.n_head, hp.head_size * hp.head_size};
    expect(t, RWKVRT_ERR_MISMATCH, {"blocks.2.att.time_state has shape (" + std::to_string(hp.n_head) + ", ", "expected ("});

    expect({{"emb.weight", {2, 2}, {1, 2, 3, 4}}}, RWKVRT_ERR_FORMAT, {"not a state-tuning file"});

    t = tuning_tensors(hp); // a NaN had loaded, and every feed after it failed
    t[1].values[7] = std::numeric_limits<float>::quiet_NaN();
    expect(t, RWKVRT_ERR_FORMAT, {"blocks.1.att.time_state holds a non-finite value", "at index 7"});

    // A model file is not a state-tuning file either.
    const std::string model_file = testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth");
    CHECK(rwkvrt_state_load_initial(s.get(), model_file.c_str()) == RWKVRT_ERR_FORMAT);
    CHECK(rwkvrt_state_load_initial(s.get(), (path + ".missing").c_str()) == RWKVRT_ERR_IO);
    CHECK(sh::snapshot(s.get()) == before);
}
