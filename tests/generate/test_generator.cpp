// The generation loop through the C API: stop conditions, streaming and its errors.
#include <cmath>
#include <cstring>

#include "api/model_helpers.h"

namespace {

struct Fixture {
    th::ModelPtr model = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr state = th::new_state(model.get());
    rwkvrt_tokenizer *tok = nullptr;
    rwkvrt_sampler *sampler = nullptr;

    explicit Fixture(float temperature = 0) {
        REQUIRE(rwkvrt_tokenizer_new_bytes(&tok) == RWKVRT_OK);
        rwkvrt_sampler_options o = rwkvrt_sampler_options_default();
        o.temperature = temperature;
        o.seed = 5;
        REQUIRE(rwkvrt_sampler_new(&o, 256, &sampler) == RWKVRT_OK);
    }
    ~Fixture() {
        rwkvrt_tokenizer_free(tok);
        rwkvrt_sampler_free(sampler);
    }

    // Generates to the end; returns the pieces.
    std::vector<std::string> generate(const std::string &prompt, int max_tokens, std::vector<const char *> stop = {},
                                      rwkvrt_stop_reason *reason = nullptr) {
        rwkvrt_generate_options o = rwkvrt_generate_options_default();
        o.max_tokens = max_tokens;
        o.stop = stop.data();
        o.n_stop = stop.size();
        rwkvrt_generator *gen = nullptr;
        REQUIRE(rwkvrt_generator_new(model.get(), state.get(), tok, sampler, prompt.data(), prompt.size(), nullptr, &o,
                                     &gen) == RWKVRT_OK);
        std::vector<std::string> pieces;
        char buf[64];
        for (;;) {
            size_t len = 0;
            int done = 0;
            REQUIRE(rwkvrt_generate_next(gen, buf, sizeof buf, &len, &done) == RWKVRT_OK);
            if (done) break;
            pieces.emplace_back(buf, len);
        }
        if (reason) *reason = rwkvrt_generator_stop_reason(gen);
        rwkvrt_generator_free(gen);
        return pieces;
    }
};

std::string join(const std::vector<std::string> &v) {
    std::string s;
    for (const std::string &p : v) s += p;
    return s;
}

// The length of the well-formed UTF-8 character starting at s[i], or 0 if none starts there.
size_t utf8_char_len(const std::string &s, size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    const unsigned char c1 = static_cast<unsigned char>(s[i + 1 < s.size() ? i + 1 : i]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0;
    return n;
}

// True if no well-formed character of the joined text is split between two pieces.
bool no_split_characters(const std::vector<std::string> &pieces) {
    std::string all;
    std::vector<size_t> boundaries;
    for (const std::string &p : pieces) boundaries.push_back(all.append(p).size());
    for (size_t i = 0; i < all.size();) {
        const size_t n = utf8_char_len(all, i);
        for (size_t b : boundaries)
            if (n > 1 && b > i && b < i + n) return false;
        i += n ? n : 1;
    }
    return true;
}

} // namespace

TEST_CASE("generation stops after max_tokens and streams what greedy decoding gives") {
    REQUIRE_TESTDATA();
    Fixture f;
    rwkvrt_stop_reason reason;
    const std::string text = join(f.generate("The ", 30, {}, &reason));
    CHECK(reason == RWKVRT_STOP_MAX_TOKENS);
    CHECK(text.size() == 30); // byte tokens: one byte each
    CHECK(text.rfind("the the", 0) == 0);
    CHECK(rwkvrt_state_n_tokens(f.state.get()) == 4 + 30);
}

TEST_CASE("a stop string ends generation and is never emitted") {
    REQUIRE_TESTDATA();
    Fixture plain;
    const std::string full = join(plain.generate("The ", 30));
    Fixture f;
    rwkvrt_stop_reason reason;
    const std::vector<std::string> pieces = f.generate("The ", 30, {"e t", "zzz"}, &reason);
    CHECK(reason == RWKVRT_STOP_STRING);
    CHECK(join(pieces) == full.substr(0, full.find("e t")));
    for (const std::string &p : pieces) CHECK(p.find('e') == std::string::npos); // "e" was held back, then dropped
}

TEST_CASE("streamed pieces never split a UTF-8 character") {
    REQUIRE_TESTDATA();
    Fixture f(1.5f); // a hot sampler on a byte model emits many bytes >= 0x80
    const std::vector<std::string> pieces = f.generate("\xe4\xbd\xa0", 300);
    CHECK(join(pieces).size() == 300);
    CHECK(no_split_characters(pieces));
}

TEST_CASE("generator errors") {
    REQUIRE_TESTDATA();
    Fixture f;
    rwkvrt_generator *gen = nullptr;
    rwkvrt_generate_options o = rwkvrt_generate_options_default();
    CHECK(rwkvrt_generator_new(f.model.get(), f.state.get(), f.tok, f.sampler, "", 0, nullptr, &o, &gen) == RWKVRT_ERR_ARGUMENT);
    o.max_tokens = -1;
    CHECK(rwkvrt_generator_new(f.model.get(), f.state.get(), f.tok, f.sampler, "a", 1, nullptr, &o, &gen) == RWKVRT_ERR_ARGUMENT);
    o = rwkvrt_generate_options_default();
    const char *empty_stop[] = {""};
    o.stop = empty_stop;
    o.n_stop = 1;
    CHECK(rwkvrt_generator_new(f.model.get(), f.state.get(), f.tok, f.sampler, "a", 1, nullptr, &o, &gen) == RWKVRT_ERR_ARGUMENT);
    CHECK(gen == nullptr);

    rwkvrt_sampler *wrong = nullptr;
    REQUIRE(rwkvrt_sampler_new(nullptr, 1000, &wrong) == RWKVRT_OK);
    CHECK(rwkvrt_generator_new(f.model.get(), f.state.get(), f.tok, wrong, "a", 1, nullptr, nullptr, &gen) == RWKVRT_ERR_MISMATCH);
    rwkvrt_sampler_free(wrong);

    // A buffer too small for a piece reports the size needed and keeps the piece.
    REQUIRE(rwkvrt_generator_new(f.model.get(), f.state.get(), f.tok, f.sampler, "a", 1, nullptr, nullptr, &gen) == RWKVRT_OK);
    size_t len = 0;
    int done = 0;
    char buf[8];
    CHECK(rwkvrt_generate_next(gen, buf, 0, &len, &done) == RWKVRT_ERR_BUFFER);
    CHECK(len >= 1);
    CHECK(rwkvrt_generate_next(gen, buf, sizeof buf, &len, &done) == RWKVRT_OK);
    CHECK(done == 0);

    // The state fed behind the generator's back: its logits are stale, so it stops instead of going on.
    const int32_t t = 'x';
    REQUIRE(rwkvrt_feed(f.model.get(), f.state.get(), &t, 1, nullptr) == RWKVRT_OK);
    CHECK(rwkvrt_generate_next(gen, buf, sizeof buf, &len, &done) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("fed or restored outside this generation") != std::string::npos);
    rwkvrt_generator_free(gen);
}

TEST_CASE("a cancel inside generate_next drops the token from the sampler too: the text goes on as if it never happened") {
    REQUIRE_TESTDATA();
    rwkvrt_sampler_options so = rwkvrt_sampler_options_default();
    so.temperature = 1;
    so.presence_penalty = 1; // the recorded tokens change the sampler's state
    so.seed = 9;
    const auto run = [&](int cancel_before) { // the text of 8 tokens, with one cancel before that next() call
        th::ModelPtr model = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
        th::StatePtr state = th::new_state(model.get());
        rwkvrt_tokenizer *tok = nullptr;
        rwkvrt_sampler *sampler = nullptr;
        REQUIRE(rwkvrt_tokenizer_new_bytes(&tok) == RWKVRT_OK);
        REQUIRE(rwkvrt_sampler_new(&so, 256, &sampler) == RWKVRT_OK);
        int cancel = 0;
        rwkvrt_generate_options o = rwkvrt_generate_options_default();
        o.max_tokens = 8;
        o.progress = [](uint64_t, uint64_t, void *user) { return *static_cast<int *>(user); };
        o.progress_user_data = &cancel;
        rwkvrt_generator *gen = nullptr;
        REQUIRE(rwkvrt_generator_new(model.get(), state.get(), tok, sampler, "Once", 4, nullptr, &o, &gen) == RWKVRT_OK);
        std::string text;
        char buf[64];
        for (int call = 0;; ++call) {
            size_t len = 0;
            int done = 0;
            if (call == cancel_before) {
                std::vector<uint8_t> before(rwkvrt_sampler_state_size(sampler)), after(before.size());
                size_t n = 0;
                REQUIRE(rwkvrt_sampler_state_save(sampler, before.data(), before.size(), &n) == RWKVRT_OK);
                const uint64_t fed = rwkvrt_state_n_tokens(state.get());
                cancel = 1;
                CHECK(rwkvrt_generate_next(gen, buf, sizeof buf, &len, &done) == RWKVRT_ERR_CANCELLED);
                cancel = 0;
                CHECK(rwkvrt_state_n_tokens(state.get()) == fed);
                REQUIRE(rwkvrt_sampler_state_size(sampler) == before.size());
                REQUIRE(rwkvrt_sampler_state_save(sampler, after.data(), after.size(), &n) == RWKVRT_OK);
                CHECK(after == before);
            }
            REQUIRE(rwkvrt_generate_next(gen, buf, sizeof buf, &len, &done) == RWKVRT_OK);
            if (done) break;
            text.append(buf, len);
        }
        rwkvrt_generator_free(gen);
        rwkvrt_sampler_free(sampler);
        rwkvrt_tokenizer_free(tok);
        return text;
    };
    const std::string plain = run(-1);
    CHECK(run(0) == plain);
    CHECK(run(3) == plain);
}
