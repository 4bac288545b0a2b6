// Recognizing the kind from the content, the byte tokenizer, and files that are no tokenizer.
#include <fstream>

#include "tokenizer_helpers.h"

using tok_test::error_of;
using Ids = std::vector<int32_t>;

namespace {

std::string write_scratch(const std::string &name, const std::string &content) {
    const std::string path = testdata::scratch_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

std::string file_text(const std::string &path) {
    const std::vector<char> bytes = testdata::read_bytes(path);
    return std::string(bytes.begin(), bytes.end());
}

} // namespace

TEST_CASE("load: the kind comes from the content, not the name") {
    REQUIRE_TESTDATA();
    const std::string world = write_scratch("vocab.json", file_text(testdata::path("tokenizers/rwkv_vocab_v20230424.txt")));
    CHECK(std::string(rwkvrt::load_tokenizer(world)->kind()) == "world");
    const std::string bpe = write_scratch("tokenizer.txt", file_text(testdata::path("tokenizers/20B_tokenizer.json")));
    CHECK(std::string(rwkvrt::load_tokenizer(bpe)->kind()) == "bpe");
}

TEST_CASE("load: files that are no tokenizer") {
    std::string msg;
    CHECK(error_of([&] { rwkvrt::load_tokenizer(testdata::scratch_dir() + "/missing.txt"); }, &msg) == RWKVRT_ERR_IO);
    CHECK(msg.find("missing.txt") != std::string::npos);

    const std::string garbage[] = {"", "hello, world\n", "\x08\x96\x01 not a model", tok_test::random_bytes(3, 4096),
                                   "[1, 2, 3]", std::string(100, '\0')};
    for (const std::string &g : garbage) {
        CAPTURE(g.size());
        const std::string path = write_scratch("garbage.bin", g);
        CHECK(error_of([&] { rwkvrt::load_tokenizer(path); }, &msg) == RWKVRT_ERR_FORMAT);
        CHECK(msg.find("garbage.bin") != std::string::npos);
    }
    CHECK(error_of([&] { rwkvrt::load_tokenizer(write_scratch("g.bin", "hello")); }, &msg) == RWKVRT_ERR_FORMAT);
    CHECK(msg.find("not a tokenizer file rwkvrt knows") != std::string::npos);
}

TEST_CASE("load: truncated files") {
    REQUIRE_TESTDATA();
    std::string msg;
    const std::string world = file_text(testdata::path("tokenizers/rwkv_vocab_v20230424.txt"));
    const std::string cut = write_scratch("cut_vocab.txt", world.substr(0, world.find("\n1000 ") + 9));
    CHECK(error_of([&] { rwkvrt::load_tokenizer(cut); }, &msg) == RWKVRT_ERR_FORMAT);
    CHECK(msg.find("cut_vocab.txt:1000:") != std::string::npos);

    const std::string json = file_text(testdata::path("tokenizers/20B_tokenizer.json"));
    const std::string cut_json = write_scratch("cut_tokenizer.json", json.substr(0, json.size() / 2));
    CHECK(error_of([&] { rwkvrt::load_tokenizer(cut_json); }, &msg) == RWKVRT_ERR_FORMAT);
    CHECK(msg.find("cut_tokenizer.json") != std::string::npos);
}

TEST_CASE("bytes: token id = byte value") {
    const auto tok = rwkvrt::make_byte_tokenizer();
    CHECK(std::string(tok->kind()) == "bytes");
    CHECK(tok->n_vocab() == 256);
    CHECK(tok->encode("\"in") == Ids{34, 105, 110});
    CHECK(tok->encode("\xE4\xBD\xA0") == Ids{0xE4, 0xBD, 0xA0});
    CHECK(tok->encode("").empty());
    const std::string all = tok_test::random_bytes(1, 1000);
    CHECK(tok->decode(tok->encode(all)) == all);
    CHECK(tok->token_bytes(0) == std::string(1, '\0'));
    CHECK(error_of([&] { tok->token_bytes(256); }) == RWKVRT_ERR_TOKEN);
}
