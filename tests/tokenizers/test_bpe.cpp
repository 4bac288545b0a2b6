// Byte-level BPE with the GPT-NeoX 20B tokenizer.json. Expected ids beyond the spec's ("Hello world",
// "\n", "\n\n", " ") were checked with an independent Python implementation (the `regex` module's
// GPT-2 pattern, unicodedata NFC, GPT-2's original merge loop, leftmost-longest added tokens).
#include "tokenizer_helpers.h"
#include "tokenizers/unicode.h"

using rwkvrt::make_bpe_tokenizer;
using tok_test::error_of;
using tok_test::neox;
using Ids = std::vector<int32_t>;

TEST_CASE("bpe: known encodings") {
    REQUIRE_TESTDATA();
    const auto &tok = neox();
    CHECK(std::string(tok.kind()) == "bpe");
    CHECK(tok.n_vocab() == 50277);
    CHECK(tok.encode("Hello world") == Ids{12092, 1533});
    CHECK(tok.encode("\n") == Ids{187});
    CHECK(tok.encode("\n\n") == Ids{535});
    CHECK(tok.encode(" ") == Ids{209});
    CHECK(tok.encode("User: hi\n\nAssistant:") == Ids{6989, 27, 14260, 187, 187, 6717, 5567, 27});
    CHECK(tok.encode("it's don't I'll") == Ids{262, 434, 1053, 626, 309, 1833});
    CHECK(tok.encode("你好，世界") == Ids{24553, 34439, 6238, 42848, 45261});
    CHECK(tok.encode("😀") == Ids{14931, 235, 211});
    CHECK(tok.encode("3.14159") == Ids{20, 15, 1047, 17220});
    CHECK(tok.encode("int main() {\n    return 0;\n}\n") ==
          Ids{565, 2022, 1082, 551, 187, 50274, 2309, 470, 28, 187, 94, 187});
}

TEST_CASE("bpe: added tokens: space runs and special tokens") {
    REQUIRE_TESTDATA();
    const auto &tok = neox();
    CHECK(tok.encode("a  b") == Ids{66, 50276, 67});                        // "  " is 50276
    CHECK(tok.encode("x" + std::string(30, ' ') + "y") == Ids{89, 50254, 50272, 90}); // 24 + 6 spaces
    CHECK(tok.encode("   \n  x") == Ids{50275, 187, 50276, 89});
    CHECK(tok.token_bytes(50254) == std::string(24, ' '));
    CHECK(tok.token_bytes(50276) == "  ");
    // Special tokens are recognized in the text and, as HF decodes by default, decode to nothing.
    CHECK(tok.encode("<|endoftext|>") == Ids{0});
    CHECK(tok.encode("a<|padding|>b") == Ids{66, 1, 67});
    CHECK(tok.token_bytes(0).empty());
    CHECK(tok.decode(Ids{12092, 0, 1533}) == "Hello world");
}

TEST_CASE("bpe: NFC normalization") {
    REQUIRE_TESTDATA();
    const auto &tok = neox();
    const Ids composed = tok.encode("caf\u00e9");
    CHECK(composed == Ids{68, 2320, 860});
    CHECK(tok.encode("cafe\u0301") == composed);
    CHECK(tok.decode(tok.encode("cafe\u0301")) == "caf\u00e9");
}

TEST_CASE("bpe: round trips") {
    REQUIRE_TESTDATA();
    const auto &tok = neox();
    CHECK(tok.encode("").empty());
    for (const std::string &s : tok_test::samples()) {
        REQUIRE(rwkvrt::unicode::nfc(s) == s);
        CHECK(tok.decode(tok.encode(s)) == s);
    }
    // Ill-formed bytes are kept, except those the vocabulary lacks (C0, C1, F5..FF): U+FFFD.
    for (const std::string &s : {std::string("\x80"), std::string("abc\xBF"), std::string("tail \xE4\xBD"),
                                 std::string("\xED\xA0\x80 surrogate"), std::string("\xF0\x9F\x98")}) {
        CHECK(tok.decode(tok.encode(s)) == s);
    }
    CHECK(tok.decode(tok.encode("a\xC0\xAF" "b\xFF")) == "a\xEF\xBF\xBD\xAF" "b\xEF\xBF\xBD");
    for (uint32_t seed = 0; seed < 10; ++seed) {
        std::string s = tok_test::random_bytes(seed, 500);
        const Ids ids = tok.encode(s);
        for (int32_t id : ids) CHECK((id >= 0 && id < tok.n_vocab()));
    }
}

TEST_CASE("bpe: out-of-range ids") {
    REQUIRE_TESTDATA();
    const auto &tok = neox();
    CHECK(error_of([&] { tok.decode(Ids{50277}); }) == RWKVRT_ERR_TOKEN);
    CHECK(error_of([&] { tok.token_bytes(-5); }) == RWKVRT_ERR_TOKEN);
    CHECK(tok.token_bytes(187) == "\n");
}

namespace {

// A minimal byte-level tokenizer.json: the 256 byte symbols, one merge, and what extra adds.
std::string mini_json(const std::string &model_extra = "", const std::string &top_extra = "") {
    // GPT-2's byte-to-symbol map; token id = byte value.
    std::string vocab;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        std::string sym;
        rwkvrt::unicode::append_utf8(sym, printable ? char32_t(b) : next++);
        if (sym == "\"" || sym == "\\") sym = "\\" + sym;
        vocab += "\"" + sym + "\": " + std::to_string(b) + ", ";
    }
    vocab += "\"ab\": 256";
    return "{\"version\": \"1.0\", " + top_extra +
           "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}, "
           "\"model\": {\"type\": \"BPE\", " +
           model_extra + "\"vocab\": {" + vocab + "}, \"merges\": [\"a b\"]}}";
}

} // namespace

TEST_CASE("bpe: a minimal tokenizer.json, and what is not supported") {
    const auto tok = make_bpe_tokenizer(mini_json(), "mini.json");
    CHECK(tok->encode("abc ab") == Ids{256, 'c', ' ', 256});
    CHECK(tok->decode(tok->encode("abc ab")) == "abc ab");

    std::string msg;
    CHECK(error_of([&] { make_bpe_tokenizer(mini_json().substr(0, 500), "t.json"); }, &msg) == RWKVRT_ERR_FORMAT);
    CHECK(msg.find("t.json") != std::string::npos);
    CHECK(error_of([&] { make_bpe_tokenizer("{\"a\": 1}", "t.json"); }) == RWKVRT_ERR_FORMAT);
    CHECK(error_of([&] { make_bpe_tokenizer("{\"model\": {\"type\": \"WordPiece\"}}", "t.json"); }, &msg) ==
          RWKVRT_ERR_UNSUPPORTED);
    CHECK(msg.find("WordPiece") != std::string::npos);
    CHECK(error_of([&] { make_bpe_tokenizer(mini_json("\"continuing_subword_prefix\": \"##\", "), "t.json"); }) ==
          RWKVRT_ERR_UNSUPPORTED);
    CHECK(error_of([&] { make_bpe_tokenizer(mini_json("", "\"normalizer\": {\"type\": \"Lowercase\"}, "), "t.json"); }) ==
          RWKVRT_ERR_UNSUPPORTED);
    // A merge whose parts are missing from the vocabulary.
    std::string bad = mini_json();
    bad.replace(bad.find("\"a b\""), 5, "\"a zz\"");
    CHECK(error_of([&] { make_bpe_tokenizer(bad, "t.json"); }, &msg) == RWKVRT_ERR_FORMAT);
    CHECK(msg.find("merge 0") != std::string::npos);
    // add_prefix_space puts a space before each piece that lacks one.
    std::string prefixed = mini_json();
    prefixed.replace(prefixed.find("\"add_prefix_space\": false"), 25, "\"add_prefix_space\": true");
    CHECK(make_bpe_tokenizer(prefixed, "t.json")->encode("ab") == Ids{' ', 256});
}

// The probe's case: a float id of 1e300 was converted to an integer type (undefined behaviour).
TEST_CASE("bpe: ids that are not integers in range are refused before any conversion") {
    for (const char *id : {"1e300", "-1e300", "2.5", "-1", "18446744073709551615", "9223372036854775808", "\"7\"",
                           "null", "true", "[1]"}) {
        CAPTURE(id);
        std::string vocab = mini_json();
        vocab.replace(vocab.find("\"ab\": 256"), 10, std::string("\"ab\": ") + id);
        std::string msg;
        CHECK(error_of([&] { make_bpe_tokenizer(vocab, "t.json"); }, &msg) == RWKVRT_ERR_FORMAT);
        const std::string added = mini_json("", std::string("\"added_tokens\": [{\"id\": ") + id +
                                                    ", \"content\": \"<x>\", \"special\": true}], ");
        CHECK(error_of([&] { make_bpe_tokenizer(added, "t.json"); }, &msg) == RWKVRT_ERR_FORMAT);
    }
}
