// The tokenizer C API: buffer conventions, statuses and messages.
#include <cstring>

#include "tokenizer_helpers.h"
#include "rwkvrt.h"

namespace {

struct Tok {
    rwkvrt_tokenizer *p = nullptr;
    ~Tok() { rwkvrt_tokenizer_free(p); }
};

} // namespace

TEST_CASE("C API: World round trip with the two-call buffer convention") {
    REQUIRE_TESTDATA();
    Tok tok;
    REQUIRE(rwkvrt_tokenizer_load(testdata::path("tokenizers/rwkv_vocab_v20230424.txt").c_str(), &tok.p) == RWKVRT_OK);
    CHECK(std::string(rwkvrt_tokenizer_kind(tok.p)) == "world");
    CHECK(rwkvrt_tokenizer_n_vocab(tok.p) == 65536);

    const char *text = "Hello world";
    size_t n = 0;
    CHECK(rwkvrt_tokenize(tok.p, text, std::strlen(text), nullptr, 0, &n) == RWKVRT_ERR_BUFFER);
    CHECK(n == 2);
    int32_t one[1] = {-7};
    CHECK(rwkvrt_tokenize(tok.p, text, std::strlen(text), one, 1, &n) == RWKVRT_ERR_BUFFER);
    CHECK(one[0] == -7); // untouched
    int32_t ids[2];
    REQUIRE(rwkvrt_tokenize(tok.p, text, std::strlen(text), ids, 2, &n) == RWKVRT_OK);
    CHECK(ids[0] == 33155);
    CHECK(ids[1] == 40213);

    size_t len = 0;
    CHECK(rwkvrt_detokenize(tok.p, ids, 2, nullptr, 0, &len) == RWKVRT_ERR_BUFFER);
    CHECK(len == 11);
    char out[11];
    REQUIRE(rwkvrt_detokenize(tok.p, ids, 2, out, sizeof out, &len) == RWKVRT_OK);
    CHECK(std::string(out, len) == text);

    char piece[8];
    REQUIRE(rwkvrt_token_to_bytes(tok.p, 33155, piece, sizeof piece, &len) == RWKVRT_OK);
    CHECK(std::string(piece, len) == "Hello");
    CHECK(rwkvrt_token_to_bytes(tok.p, 0, nullptr, 0, &len) == RWKVRT_OK);
    CHECK(len == 0);

    // Empty input.
    CHECK(rwkvrt_tokenize(tok.p, nullptr, 0, nullptr, 0, &n) == RWKVRT_OK);
    CHECK(n == 0);
    CHECK(rwkvrt_detokenize(tok.p, nullptr, 0, nullptr, 0, &len) == RWKVRT_OK);
    CHECK(len == 0);
}

TEST_CASE("C API: errors") {
    REQUIRE_TESTDATA();
    Tok tok;
    REQUIRE(rwkvrt_tokenizer_load(testdata::path("tokenizers/20B_tokenizer.json").c_str(), &tok.p) == RWKVRT_OK);
    CHECK(std::string(rwkvrt_tokenizer_kind(tok.p)) == "bpe");

    const int32_t bad[] = {12092, 50277};
    size_t len = 99;
    char out[64];
    CHECK(rwkvrt_detokenize(tok.p, bad, 2, out, sizeof out, &len) == RWKVRT_ERR_TOKEN);
    CHECK(std::string(rwkvrt_last_error()).find("50277") != std::string::npos);
    CHECK(len == 99);
    CHECK(rwkvrt_token_to_bytes(tok.p, -1, out, sizeof out, &len) == RWKVRT_ERR_TOKEN);

    CHECK(rwkvrt_tokenize(nullptr, "a", 1, nullptr, 0, &len) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_tokenize(tok.p, "a", 1, nullptr, 0, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_tokenize(tok.p, nullptr, 1, nullptr, 0, &len) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("text") != std::string::npos);
    CHECK(rwkvrt_detokenize(tok.p, nullptr, 1, out, sizeof out, &len) == RWKVRT_ERR_ARGUMENT);

    rwkvrt_tokenizer *none = nullptr;
    CHECK(rwkvrt_tokenizer_load(nullptr, &none) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_tokenizer_load((testdata::scratch_dir() + "/no-such-file").c_str(), &none) == RWKVRT_ERR_IO);
    CHECK(none == nullptr);
    CHECK(std::string(rwkvrt_last_error()).find("no-such-file") != std::string::npos);
    CHECK(rwkvrt_tokenizer_load(testdata::path("README.md").c_str(), &none) == RWKVRT_ERR_FORMAT);
    CHECK(std::string(rwkvrt_last_error()).find("not a tokenizer file") != std::string::npos);
    CHECK(none == nullptr);

    rwkvrt_tokenizer_free(nullptr);
    CHECK(std::string(rwkvrt_tokenizer_kind(nullptr)).empty());
    CHECK(rwkvrt_tokenizer_n_vocab(nullptr) == 0);
}

TEST_CASE("C API: the byte tokenizer") {
    Tok tok;
    REQUIRE(rwkvrt_tokenizer_new_bytes(&tok.p) == RWKVRT_OK);
    CHECK(std::string(rwkvrt_tokenizer_kind(tok.p)) == "bytes");
    CHECK(rwkvrt_tokenizer_n_vocab(tok.p) == 256);
    int32_t ids[3];
    size_t n = 0;
    REQUIRE(rwkvrt_tokenize(tok.p, "\"in", 3, ids, 3, &n) == RWKVRT_OK);
    CHECK(n == 3);
    CHECK(ids[0] == 34);
    CHECK(ids[1] == 105);
    CHECK(ids[2] == 110);
    CHECK(rwkvrt_tokenizer_new_bytes(nullptr) == RWKVRT_ERR_ARGUMENT);
}
