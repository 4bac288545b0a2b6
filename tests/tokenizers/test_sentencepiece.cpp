// sentencepiece models, trained here on a small text with the library's trainer, then loaded
// through load_tokenizer() (kind from the content) and compared with the library itself.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>

#include "tokenizer_helpers.h"

using tok_test::error_of;
using Ids = std::vector<int32_t>;

namespace {

// Trains a model named prefix.model in the scratch directory (once per prefix) and returns its path.
std::string train(const std::string &prefix, const std::string &options) {
    const std::string dir = testdata::scratch_dir();
    const std::string model = dir + "/" + prefix + ".model";
    if (std::filesystem::exists(model)) return model;
    const std::string corpus = dir + "/spm_corpus.txt";
    {
        std::ofstream out(corpus, std::ios::binary);
        std::mt19937 rng(7);
        const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "RWKV", "model",
                               "你好", "世界", "こんにちは", "日本語", "😀", "🚀", "def", "main():", "return", "0;",
                               "{", "}", "x", "=", "42"};
        for (int line = 0; line < 800; ++line) {
            const int n = 3 + int(rng() % 10);
            for (int w = 0; w < n; ++w) out << (w ? " " : "") << words[rng() % std::size(words)];
            out << "\n";
        }
    }
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + corpus + " --model_prefix=" + dir + "/" + prefix + " --minloglevel=2 " + options);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    return model;
}

// Byte fallback and no normalization: every string round-trips exactly.
std::string exact_model() {
    return train("spm_exact", "--model_type=bpe --vocab_size=400 --byte_fallback=true "
                              "--normalization_rule_name=identity --add_dummy_prefix=false "
                              "--remove_extra_whitespaces=false");
}

// The defaults: unigram, NFKC, a dummy prefix space, unknown pieces.
std::string default_model() { return train("spm_default", "--vocab_size=80 --hard_vocab_limit=false"); }

} // namespace

TEST_CASE("sentencepiece: loads by content and round-trips with byte fallback") {
    const auto tok = rwkvrt::load_tokenizer(exact_model());
    CHECK(std::string(tok->kind()) == "sentencepiece");
    CHECK(tok->n_vocab() == 400);
    CHECK(tok->encode("").empty());
    for (const std::string &s : tok_test::samples()) {
        const Ids ids = tok->encode(s);
        CHECK(tok->decode(ids) == s);
        std::string joined; // without a dummy prefix, the pieces' bytes are the text
        for (int32_t id : ids) joined += tok->token_bytes(id);
        CHECK(joined == s);
    }
    // Byte pieces stand for their byte, even a lone continuation byte.
    sentencepiece::SentencePieceProcessor sp;
    REQUIRE(sp.Load(exact_model()).ok());
    CHECK(tok->token_bytes(sp.PieceToId("<0x80>")) == "\x80");
    CHECK(tok->token_bytes(sp.PieceToId("<0x41>")) == "A");
    CHECK(tok->token_bytes(sp.PieceToId("<s>")).empty());
}

TEST_CASE("sentencepiece: encodes and decodes as the library does") {
    const std::string path = default_model();
    const auto tok = rwkvrt::load_tokenizer(path);
    sentencepiece::SentencePieceProcessor sp;
    REQUIRE(sp.Load(path).ok());
    std::vector<std::string> texts = tok_test::samples();
    texts.insert(texts.end(), tok_test::invalid_utf8().begin(), tok_test::invalid_utf8().end());
    for (const std::string &s : texts) {
        CAPTURE(s);
        std::vector<int> expected;
        REQUIRE(sp.Encode(s, &expected).ok());
        const Ids ids = tok->encode(s);
        CHECK(ids == Ids(expected.begin(), expected.end()));
        std::string text;
        REQUIRE(sp.Decode(expected, &text).ok());
        CHECK(tok->decode(ids) == text);
    }
    // The unknown piece decodes to the library's surface, " ⁇ ".
    CHECK(tok->token_bytes(sp.unk_id()) == " \xE2\x81\x87 ");
    // A piece with the word-start mark stands for a space and the rest.
    const int32_t hello = sp.PieceToId("\xE2\x96\x81the");
    if (hello != sp.unk_id()) CHECK(tok->token_bytes(hello) == " the");
}

TEST_CASE("sentencepiece: ill-formed UTF-8 becomes U+FFFD, ids are checked") {
    const auto tok = rwkvrt::load_tokenizer(exact_model());
    CHECK(tok->decode(tok->encode("a\xFF" "b")) == "a\xEF\xBF\xBD" "b");
    std::string msg;
    CHECK(error_of([&] { tok->decode(Ids{400}); }, &msg) == RWKVRT_ERR_TOKEN);
    CHECK(msg.find("400") != std::string::npos);
    CHECK(error_of([&] { tok->token_bytes(-1); }) == RWKVRT_ERR_TOKEN);
}

TEST_CASE("sentencepiece: a model with an empty piece or a NUL byte in one is refused, not left to abort") {
    // ModelProto { pieces { piece: "a" } pieces { } }: libsentencepiece's darts-clone throws on the empty
    // key, and the exception ended the process (found by fuzz_tokenizer_sentencepiece).
    const std::string empty_piece("\x0A\x03\x0A\x01" "a" "\x0A\x00", 7);
    CHECK_THROWS_WITH_AS(rwkvrt::make_sentencepiece_tokenizer(empty_piece, "m"), doctest::Contains("piece 1 is empty"), rwkvrt::Error);
    const std::string nul_piece("\x0A\x04\x0A\x02" "a\0", 6);
    CHECK_THROWS_WITH_AS(rwkvrt::make_sentencepiece_tokenizer(nul_piece, "m"), doctest::Contains("piece 0 holds a NUL byte"), rwkvrt::Error);
}
