// The C API's model and state contract: consistency between feeding modes, snapshots, threads,
// weight conversion and every documented error.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "api/model_helpers.h"

namespace {

const char *kTiny7 = "pth/tiny-rwkv-7v0-834K-fp32.pth";
const char *kRandom7 = "random/random-rwkv7-h4-fp32.pth";

std::vector<int32_t> text_tokens(size_t n) {
    const std::string text = "The quick brown fox jumps over the lazy dog. RWKV is a recurrent network. ";
    std::vector<int32_t> out;
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<unsigned char>(text[i % text.size()]));
    return out;
}

std::vector<uint8_t> snapshot(const rwkvrt_state *s) {
    std::vector<uint8_t> buf(rwkvrt_state_snapshot_size(s));
    size_t written = 0;
    REQUIRE(rwkvrt_state_snapshot(s, buf.data(), buf.size(), &written) == RWKVRT_OK);
    CHECK(written == buf.size());
    return buf;
}

void write_file(const std::string &path, const void *data, size_t n) {
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char *>(data), std::streamsize(n));
}

rwkvrt_status try_load(const std::string &path) {
    rwkvrt_model *m = nullptr;
    const rwkvrt_status st = rwkvrt_model_load(path.c_str(), nullptr, &m);
    CHECK((st == RWKVRT_OK) == (m != nullptr));
    rwkvrt_model_free(m);
    return st;
}

} // namespace

TEST_CASE("rwkvrt_system_info names the levels the kernels run at, none above RWKVRT_MAX_CPU_ISA") {
    const std::string info = rwkvrt_system_info();
    MESSAGE(info);
    CHECK(info.find("kernels: ") == 0);
    CHECK(info.find("; int8 products: ") != std::string::npos);
    CHECK(info.find("; bf16 products: ") != std::string::npos);
    const char *cap = std::getenv("RWKVRT_MAX_CPU_ISA"); // scripts/test.sh runs the suite again with avx2
    if (cap && std::string(cap) == "avx2") {
        CHECK(info.find("AVX3") == std::string::npos);
        CHECK(info.find("AVX512") == std::string::npos);
    }
}

TEST_CASE("a prompt's FLOPs: the head once, the last layer after its recurrence for the rows that give logits or state") {
    REQUIRE_TESTDATA();
    for (const char *file : {kRandom7, "pth/tiny-rwkv-6v0-3m-fp32.pth"}) {
        CAPTURE(file);
        th::ModelPtr m = th::load(testdata::path(file));
        double per_token = 0, bytes = 0;
        REQUIRE(rwkvrt_model_work_per_token(m.get(), &per_token, &bytes) == RWKVRT_OK);
        const auto prompt = [&](size_t seqs, size_t n) {
            double flops = 0;
            REQUIRE(rwkvrt_model_prompt_flops(m.get(), seqs, n, &flops) == RWKVRT_OK);
            return flops;
        };
        CHECK(prompt(1, 1) == per_token); // a lone token goes through every matrix
        // Each token from the third adds every matrix but the head and the last layer's tail; the
        // second adds a tail row (the shift of the last), the first the head.
        const double every_row = prompt(1, 4) - prompt(1, 3);
        const double tail = prompt(1, 2) - prompt(1, 1) - every_row;
        const double head = 2.0 * rwkvrt_model_n_embd(m.get()) * rwkvrt_model_n_vocab(m.get());
        CHECK(tail > 0);
        CHECK(per_token == every_row + tail + head);
        CHECK(prompt(1, 100) == 100 * every_row + 2 * tail + head);
        // 300 tokens are steps of 256 (its last row for the state) and 44 (the last two).
        CHECK(prompt(1, 300) == 300 * every_row + 3 * tail + head);
        CHECK(prompt(2, 100) == 2 * prompt(1, 100)); // one step of 200 rows
    }
    double flops = 0;
    th::ModelPtr m = th::load(testdata::path(kRandom7));
    CHECK(rwkvrt_model_prompt_flops(m.get(), 0, 5, &flops) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_model_prompt_flops(m.get(), 1, 0, &flops) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_model_prompt_flops(nullptr, 1, 5, &flops) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_model_prompt_flops(m.get(), 1, 5, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_model_prompt_flops(m.get(), 1, size_t(1) << 24, &flops) == RWKVRT_OK); // the bound, counted in its steps
    CHECK(rwkvrt_model_prompt_flops(m.get(), 2, size_t(1) << 23, &flops) == RWKVRT_OK);
    CHECK(rwkvrt_model_prompt_flops(m.get(), 1, (size_t(1) << 24) + 1, &flops) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("at most 16777216 tokens") != std::string::npos);
    CHECK(rwkvrt_model_prompt_flops(m.get(), SIZE_MAX, SIZE_MAX, &flops) == RWKVRT_ERR_ARGUMENT); // no overflow
}

TEST_CASE("token mode, sequence mode and chunked feeding agree") {
    REQUIRE_TESTDATA();
    for (const char *file : {kTiny7, kRandom7}) {
        th::ModelPtr m = th::load(testdata::path(file));
        const std::vector<int32_t> tokens = text_tokens(300); // crosses the 256-token prefill chunk
        const std::vector<float> seq = th::logits_after(m.get(), tokens);
        const std::vector<float> one = th::logits_after(m.get(), tokens, true);
        const double d = th::max_abs_diff(seq, one);
        MESSAGE(std::string(file), ": token mode vs sequence mode max |diff| = ", d);
        CHECK(d <= 1e-4);
    }
}

TEST_CASE("a snapshot taken mid-prompt resumes bit-identically") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    const std::vector<int32_t> tokens = text_tokens(40);
    // The uninterrupted run feeds the same calls: 10 tokens at once, then one at a time.
    th::StatePtr u = th::new_state(m.get());
    std::vector<float> whole(256);
    REQUIRE(rwkvrt_feed(m.get(), u.get(), tokens.data(), 10, nullptr) == RWKVRT_OK);
    for (size_t i = 10; i < 17; ++i) REQUIRE(rwkvrt_feed(m.get(), u.get(), &tokens[i], 1, whole.data()) == RWKVRT_OK);

    th::StatePtr a = th::new_state(m.get());
    REQUIRE(rwkvrt_feed(m.get(), a.get(), tokens.data(), 10, nullptr) == RWKVRT_OK);
    const std::vector<uint8_t> snap = snapshot(a.get());
    th::StatePtr b = th::new_state(m.get());
    REQUIRE(rwkvrt_state_restore(b.get(), snap.data(), snap.size()) == RWKVRT_OK);
    std::vector<float> resumed(256);
    for (size_t i = 10; i < 17; ++i) REQUIRE(rwkvrt_feed(m.get(), b.get(), &tokens[i], 1, resumed.data()) == RWKVRT_OK);
    CHECK(std::memcmp(whole.data(), resumed.data(), whole.size() * 4) == 0);

    // A copy continues identically too, and reset returns to the empty context.
    th::StatePtr c = th::new_state(m.get());
    REQUIRE(rwkvrt_state_copy(c.get(), b.get()) == RWKVRT_OK);
    CHECK(snapshot(c.get()) == snapshot(b.get()));
    REQUIRE(rwkvrt_state_reset(c.get()) == RWKVRT_OK);
    CHECK(snapshot(c.get()) == snapshot(th::new_state(m.get()).get()));
}

TEST_CASE("states of one model are fed concurrently from several threads") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kRandom7), nullptr, 1);
    const std::vector<int32_t> p1 = text_tokens(64), longer = text_tokens(90), p2(longer.begin() + 20, longer.end());
    const std::vector<float> e1 = th::logits_after(m.get(), p1), e2 = th::logits_after(m.get(), p2);
    // The threads only collect results; the assertions are made here, where doctest can report them.
    struct Run {
        std::vector<float> logits;
        rwkvrt_status status = RWKVRT_OK;
    };
    auto runs = [&](const std::vector<int32_t> &prompt, bool odd_one_by_one, std::vector<Run> &out) {
        for (int i = 0; i < 5; ++i) {
            Run r;
            r.logits = th::try_logits_after(m.get(), prompt, (i % 2 == 1) == odd_one_by_one, &r.status);
            out.push_back(std::move(r));
        }
    };
    std::vector<Run> r1, r2;
    std::thread t1([&] { runs(p1, true, r1); });
    std::thread t2([&] { runs(p2, false, r2); });
    t1.join();
    t2.join();
    for (const auto &[results, expected] : {std::pair{&r1, &e1}, {&r2, &e2}})
        for (const Run &r : *results) {
            CHECK(r.status == RWKVRT_OK);
            CHECK(th::max_abs_diff(r.logits, *expected) <= 1e-4);
        }
}

TEST_CASE("weights converted at load stay close to fp32") {
    REQUIRE_TESTDATA();
    const std::vector<float> ref = testdata::read_floats(testdata::path("random/random-rwkv7-h4-fp32.expected-logits.bin"));
    // Tolerances: rounding every large matrix to f16 (11-bit mantissa), bf16 (8) or q8_0 (8-bit blocks).
    for (auto [type, tol] : {std::pair{"f32", 1e-3}, {"f16", 5e-3}, {"bf16", 5e-2}, {"q8_0", 5e-2}}) {
        th::ModelPtr m = th::load(testdata::path(kRandom7), type);
        CHECK(std::string(rwkvrt_model_weight_type(m.get())) == type);
        const double d = th::max_abs_diff(th::logits_after(m.get(), th::kPromptIn), ref);
        MESSAGE("weight_type ", std::string(type), ": max |logit - reference| = ", d);
        CHECK(d <= tol);
    }
}

TEST_CASE("bad model files give their status and a message naming the problem") {
    REQUIRE_TESTDATA();
    const std::string dir = testdata::scratch_dir();
    CHECK(try_load(dir + "/does-not-exist.pth") == RWKVRT_ERR_IO);
    CHECK(std::string(rwkvrt_last_error()).find("does-not-exist.pth") != std::string::npos);
    CHECK(try_load(dir) == RWKVRT_ERR_FORMAT); // a directory that is no Hugging Face model folder
    CHECK(std::string(rwkvrt_last_error()).find("without config.json") != std::string::npos);

    write_file(dir + "/empty.bin", "", 0);
    CHECK(try_load(dir + "/empty.bin") == RWKVRT_ERR_FORMAT);
    CHECK(std::string(rwkvrt_last_error()).find("empty") != std::string::npos);

    const std::string garbage = "this is not a model file at all, just some text\n";
    write_file(dir + "/garbage.bin", garbage.data(), garbage.size());
    CHECK(try_load(dir + "/garbage.bin") == RWKVRT_ERR_FORMAT);

    for (const char *file : {"rwkvcpp/tiny-rwkv-7v0-834K-FP32.bin", kTiny7}) {
        const std::vector<char> bytes = testdata::read_bytes(testdata::path(file));
        for (size_t cut : {size_t(3), size_t(30), bytes.size() / 3, bytes.size() / 2, bytes.size() - 7}) {
            write_file(dir + "/truncated", bytes.data(), cut);
            const rwkvrt_status st = try_load(dir + "/truncated");
            INFO(file, " cut at ", cut, ": ", rwkvrt_last_error());
            CHECK(st == RWKVRT_ERR_FORMAT);
        }
    }
}

TEST_CASE("an rwkv.cpp file whose low-rank matrix is a vector is refused, not transposed") {
    // The reader transposes RWKV-6's low-rank matrices back; one stored with a single dimension used
    // to be indexed before its first dimension (found by fuzz_rwkvcpp_bin).
    std::string bytes;
    const auto put = [&](int32_t v) { bytes.append(reinterpret_cast<const char *>(&v), 4); };
    for (int32_t v : {int32_t(0x67676d66), 101, 4, 2, 1, 0}) put(v); // magic, version, n_vocab, n_embd, n_layer, type
    const auto tensor = [&](const std::string &name, std::vector<int32_t> ggml_dims) {
        put(int32_t(ggml_dims.size()));
        put(int32_t(name.size()));
        put(0); // f32
        int32_t n = 1;
        for (int32_t d : ggml_dims) put(d), n *= d;
        bytes += name;
        for (int32_t i = 0; i < n; ++i) {
            const float half = 0.5f;
            bytes.append(reinterpret_cast<const char *>(&half), 4);
        }
    };
    tensor("emb.weight", {2, 4});
    tensor("blocks.0.att.time_maa_x", {2});
    tensor("blocks.0.att.time_decay_w1", {2});
    const std::string path = testdata::scratch_dir() + "/vector-lora.bin";
    write_file(path, bytes.data(), bytes.size());
    CHECK(try_load(path) == RWKVRT_ERR_FORMAT);
    CHECK(std::string(rwkvrt_last_error()).find("'blocks.0.att.time_decay_w1' has shape (2), expected a matrix") !=
          std::string::npos);
}

TEST_CASE("bad arguments and tokens leave everything unchanged") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    th::StatePtr s = th::new_state(m.get());
    const int32_t ok[] = {34, 105};
    REQUIRE(rwkvrt_feed(m.get(), s.get(), ok, 2, nullptr) == RWKVRT_OK);
    const std::vector<uint8_t> before = snapshot(s.get());

    const int32_t bad[] = {34, 256, 105};
    CHECK(rwkvrt_feed(m.get(), s.get(), bad, 3, nullptr) == RWKVRT_ERR_TOKEN);
    CHECK(std::string(rwkvrt_last_error()).find("256") != std::string::npos);
    const int32_t negative = -1;
    CHECK(rwkvrt_feed(m.get(), s.get(), &negative, 1, nullptr) == RWKVRT_ERR_TOKEN);
    CHECK(snapshot(s.get()) == before);

    CHECK(rwkvrt_feed(m.get(), s.get(), ok, 0, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_feed(nullptr, s.get(), ok, 1, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_feed(m.get(), nullptr, ok, 1, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_feed(m.get(), s.get(), nullptr, 1, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("tokens") != std::string::npos);
    CHECK(rwkvrt_model_load(nullptr, nullptr, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_new(nullptr, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_copy(s.get(), nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_reset(nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_restore(s.get(), nullptr, 10) == RWKVRT_ERR_ARGUMENT);
    CHECK(snapshot(s.get()) == before);
    rwkvrt_model_free(nullptr);
    rwkvrt_state_free(nullptr);

    rwkvrt_load_options o = rwkvrt_load_options_default();
    o.weight_type = "q3_z";
    rwkvrt_model *out = nullptr;
    CHECK(rwkvrt_model_load(testdata::path(kTiny7).c_str(), &o, &out) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("q3_z") != std::string::npos);
    o = rwkvrt_load_options_default();
    o.struct_size = 1;
    CHECK(rwkvrt_model_load(testdata::path(kTiny7).c_str(), &o, &out) == RWKVRT_ERR_ARGUMENT);
    o = rwkvrt_load_options_default();
    o.n_threads = -2;
    CHECK(rwkvrt_model_load(testdata::path(kTiny7).c_str(), &o, &out) == RWKVRT_ERR_ARGUMENT);
    CHECK(out == nullptr);
}

TEST_CASE("snapshots refuse other models, damage and foreign bytes") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path(kTiny7));
    th::StatePtr s = th::new_state(m.get());
    const int32_t t = 65;
    REQUIRE(rwkvrt_feed(m.get(), s.get(), &t, 1, nullptr) == RWKVRT_OK);
    const std::vector<uint8_t> snap = snapshot(s.get());
    const std::vector<uint8_t> fresh = snapshot(th::new_state(m.get()).get());

    std::vector<uint8_t> small(snap.size() - 1);
    CHECK(rwkvrt_state_snapshot(s.get(), small.data(), small.size(), nullptr) == RWKVRT_ERR_BUFFER);

    // Another shape, and the same shape with other weights (the bf16 file: other bytes).
    for (const char *other : {kRandom7, "pth/tiny-rwkv-7v0-834K-bf16.pth"}) {
        th::ModelPtr m2 = th::load(testdata::path(other));
        th::StatePtr s2 = th::new_state(m2.get());
        CHECK(rwkvrt_state_restore(s2.get(), snap.data(), snap.size()) == RWKVRT_ERR_MISMATCH);
        MESSAGE(rwkvrt_last_error());
        CHECK(rwkvrt_feed(m2.get(), s.get(), &t, 1, nullptr) == RWKVRT_ERR_MISMATCH);
    }

    th::StatePtr target = th::new_state(m.get());
    for (size_t pos : {size_t(9), size_t(20), size_t(75), size_t(90), size_t(200), snap.size() / 2, snap.size() - 1}) {
        std::vector<uint8_t> bad = snap;
        bad[pos] ^= 0x10;
        const rwkvrt_status st = rwkvrt_state_restore(target.get(), bad.data(), bad.size());
        INFO("flipped byte ", pos, ": ", rwkvrt_last_error());
        CHECK((st == RWKVRT_ERR_CORRUPT || st == RWKVRT_ERR_UNSUPPORTED));
    }
    for (size_t len : {size_t(0), size_t(11), size_t(100), snap.size() - 8, snap.size() - 1})
        CHECK(rwkvrt_state_restore(target.get(), snap.data(), len) != RWKVRT_OK);
    const char text[] = "definitely not a state snapshot";
    CHECK(rwkvrt_state_restore(target.get(), text, sizeof text) == RWKVRT_ERR_FORMAT);
    CHECK(snapshot(target.get()) == fresh); // every failure left it untouched
}

TEST_CASE("the log callback receives diagnostics") {
    REQUIRE_TESTDATA();
    std::vector<std::string> seen;
    rwkvrt_log_set([](int, const char *msg, void *ud) { static_cast<std::vector<std::string> *>(ud)->push_back(msg); }, &seen);
    th::load(testdata::path(kTiny7));
    rwkvrt_log_set(nullptr, nullptr);
    REQUIRE(!seen.empty());
    CHECK(seen.back().find("rwkv7") != std::string::npos);
}

TEST_CASE("half-precision low-rank matrices are read as stored, with the bits of an fp32 copy") {
    // A decoding token reads every low-rank matrix: kept in f16 or bf16 (not widened at load), they
    // cost half the bytes, and the kernels widen each weight exactly and sum as for fp32 weights.
    REQUIRE_TESTDATA();
    const std::string copy = testdata::scratch_dir() + "/half-lora-as-f32.gguf";
    const auto f32_copy = [&](const rwkvrt_model *m) { // every matrix, the LoRA too, as exact fp32
        rwkvrt_gguf_options o = rwkvrt_gguf_options_default();
        REQUIRE_MESSAGE(rwkvrt_model_save_gguf(m, copy.c_str(), &o) == RWKVRT_OK, rwkvrt_last_error());
        return th::load(copy, nullptr, 2, "f32");
    };
    const auto bytes_per_token = [](const rwkvrt_model *m) {
        double flops = 0, bytes = 0;
        REQUIRE(rwkvrt_model_work_per_token(m, &flops, &bytes) == RWKVRT_OK);
        return bytes;
    };
    { // a .pth stores every matrix in bf16: a token reads half the bytes of the fp32 copy's, the LoRA's too
        th::ModelPtr half = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-bf16.pth"));
        th::ModelPtr f32 = f32_copy(half.get());
        CHECK(2 * bytes_per_token(half.get()) == bytes_per_token(f32.get()));
    }
    // Shapes whose large matrices take the lanes layout, as every real model's do (the tiny model's
    // stay by rows, whose f16 and fp32 dot products sum in different orders): the same bits.
    for (const char *file : {"gguf/random-rwkv7-h4-F16.gguf", "gguf/random-rwkv7-h4-BF16.gguf"}) {
        const std::string name = file;
        CAPTURE(name);
        th::ModelPtr half = th::load(testdata::path(file), nullptr, 2, "f32");
        th::ModelPtr f32 = f32_copy(half.get());
        CHECK(bytes_per_token(half.get()) < bytes_per_token(f32.get()));
        std::vector<int32_t> tokens;
        for (int32_t i = 0; i < 20; ++i) tokens.push_back((i * 37 + 11) % rwkvrt_model_n_vocab(half.get()));
        for (const bool one_by_one : {true, false}) {
            CAPTURE(one_by_one);
            const std::vector<float> a = th::logits_after(half.get(), tokens, one_by_one), b = th::logits_after(f32.get(), tokens, one_by_one);
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        }
    }
}
