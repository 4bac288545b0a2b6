// The RWKV World tokenizer: the spec's test vectors (section 8.1), the file format's traps, greedy
// longest match, round trips and errors.
#include "tokenizer_helpers.h"

using rwkvrt::make_world_tokenizer;
using tok_test::error_of;
using tok_test::world;
using Ids = std::vector<int32_t>;

namespace {

// A vocabulary with every single byte (ids 1..256, as in the real file) plus extra lines.
std::string byte_vocab(const std::string &extra = "") {
    std::string v;
    for (int b = 0; b < 256; ++b) {
        char line[32];
        std::snprintf(line, sizeof line, "%d b'\\x%02x' 1\n", b + 1, b);
        v += line;
    }
    return v + extra;
}

} // namespace

TEST_CASE("world: the spec's test vectors") {
    REQUIRE_TESTDATA();
    const auto &tok = world();
    CHECK(std::string(tok.kind()) == "world");
    CHECK(tok.n_vocab() == 65536);
    CHECK(tok.encode("User: hi\n\nAssistant:") == Ids{24281, 59, 4571, 261, 5585, 41693, 59});
    CHECK(tok.encode("Hello world") == Ids{33155, 40213});
    CHECK(tok.encode("\nIn a shocking finding, scientist discovered a herd of dragons") ==
          Ids{11, 1136, 332, 57212, 51746, 45, 60455, 61885, 332, 31076, 4706, 51525});
    CHECK(tok.encode("你好，世界") == Ids{10464, 11685, 19137, 10267, 14610});
    CHECK(tok.encode("Assistant: <think>\n</think>") == Ids{5585, 41693, 59, 295, 35762, 63, 11, 754, 35762, 63});
}

TEST_CASE("world: single bytes are ids byte + 1") {
    REQUIRE_TESTDATA();
    const auto &tok = world();
    CHECK(tok.encode("\n") == Ids{11});
    CHECK(tok.encode(" ") == Ids{33});
    CHECK(tok.encode("\n\n") == Ids{261});
    for (int b = 0; b < 256; ++b) {
        const std::string s(1, char(b));
        CHECK(tok.token_bytes(b + 1) == s);
    }
}

TEST_CASE("world: str literals are UTF-8, bytes literals raw") {
    REQUIRE_TESTDATA();
    const auto &tok = world();
    CHECK(tok.token_bytes(129) == "\x80");         // b'\x80'
    CHECK(tok.token_bytes(2423) == "\xC2\x80");    // '\x80' is U+0080
    CHECK(tok.token_bytes(9804) == "\xE2\x80\x82"); // '\u2002'
    CHECK(tok.token_bytes(40) == "'");             // "'"
    CHECK(tok.token_bytes(93) == "\\");            // '\\'
    CHECK(tok.token_bytes(435) == "'\"");          // '\'"'
    CHECK(tok.token_bytes(65529) == std::string(128, ' '));
}

TEST_CASE("world: token 0 and the padding ids decode to nothing; others are errors") {
    REQUIRE_TESTDATA();
    const auto &tok = world();
    CHECK(tok.token_bytes(0).empty());
    for (int32_t id = 65530; id < 65536; ++id) CHECK(tok.token_bytes(id).empty());
    CHECK(tok.decode(Ids{0, 33155, 0, 65535, 40213}) == "Hello world");

    std::string msg;
    CHECK(error_of([&] { tok.token_bytes(65536); }, &msg) == RWKVRT_ERR_TOKEN);
    CHECK(msg.find("65536") != std::string::npos);
    CHECK(error_of([&] { tok.decode(Ids{33, -1}); }, &msg) == RWKVRT_ERR_TOKEN);
    CHECK(msg.find("-1") != std::string::npos);
}

TEST_CASE("world: round trips") {
    REQUIRE_TESTDATA();
    const auto &tok = world();
    CHECK(tok.encode("").empty());
    CHECK(tok.decode(Ids{}).empty());
    for (const std::string &s : tok_test::samples()) CHECK(tok.decode(tok.encode(s)) == s);
    for (const std::string &s : tok_test::invalid_utf8()) CHECK(tok.decode(tok.encode(s)) == s);
    for (uint32_t seed = 0; seed < 20; ++seed) {
        const std::string s = tok_test::random_bytes(seed, 1000);
        CHECK(tok.decode(tok.encode(s)) == s);
    }
    std::string all;
    for (int b = 0; b < 256; ++b) all += char(b);
    CHECK(tok.decode(tok.encode(all)) == all);
    // The longest token: 128 spaces; 300 spaces are 128 + 128 + 44.
    const Ids spaces = tok.encode(std::string(300, ' '));
    REQUIRE(spaces.size() == 3);
    CHECK(spaces[0] == 65529);
    CHECK(spaces[1] == 65529);
}

TEST_CASE("world: greedy longest match, not the best segmentation") {
    // "ab" "cd" "abc": greedy takes "abc" and then "d", never "ab" "cd".
    const auto tok = make_world_tokenizer(byte_vocab("257 'ab' 2\n258 'cd' 2\n259 'abc' 3\n260 'abcdef' 6\n"), "t");
    CHECK(tok->encode("abcd") == Ids{259, 'd' + 1});
    CHECK(tok->encode("abcde") == Ids{259, 'd' + 1, 'e' + 1}); // "abcdef" is no match, back to "abc"
    CHECK(tok->encode("abcdefab") == Ids{260, 257});
    CHECK(tok->encode("cdab") == Ids{258, 257});
}

TEST_CASE("world: Python literal escapes") {
    const auto tok = make_world_tokenizer(
        byte_vocab("257 'a b' 3\n"                 // spaces inside the literal
                   "258 \"it's\" 4\n"              // double quotes
                   "259 '\\u00e9\\x41\\t\\'' 5\n"  // é (2 bytes), A, tab, quote
                   "260 b'\\xe9\\101\\q' 4\n"       // raw byte, octal, unknown escape keeps its backslash
                   "261 '\xe4\xbd\xa0' 3\n"),      // raw UTF-8 in a str literal
        "t");
    CHECK(tok->token_bytes(257) == "a b");
    CHECK(tok->token_bytes(258) == "it's");
    CHECK(tok->token_bytes(259) == "\xC3\xA9" "A\t'");
    CHECK(tok->token_bytes(260) == "\xE9" "A\\q");
    CHECK(tok->token_bytes(261) == "\xE4\xBD\xA0");
    CHECK(tok->encode("a b") == Ids{257});
}

TEST_CASE("world: malformed vocabularies name the line") {
    struct Case {
        std::string extra;
        const char *what;
    };
    const Case cases[] = {
        {"257 'ab' 3\n", "line says 3"},               // wrong length
        {"257 'ab\n", "'<id> <literal> <length>'"},    // truncated line
        {"257 ab 2\n", "quoted"},                      // not a literal
        {"257 'a'b' 3\n", "unescaped quote"},
        {"257 '\\x4' 1\n", "truncated"},
        {"257 '\\ud800' 3\n", "scalar"},
        {"257 b'\xc3\xa9' 2\n", "non-ASCII"},
        {"257 '\xff' 1\n", "ill-formed UTF-8"},
        {"x 'ab' 2\n", "decimal"},
        {"70000 'ab' 2\n", "outside"},
        {"2 'zz' 2\n", "already defined"},
        {"257 '\\x00' 1\n", "the same bytes"},
        {"257 '' 0\n", "empty token"},
        {"257 '" + std::string(600, 'a') + "' 600\n", "longer than 512"},
    };
    for (const Case &c : cases) {
        CAPTURE(c.extra);
        std::string msg;
        CHECK(error_of([&] { make_world_tokenizer(byte_vocab(c.extra), "v.txt"); }, &msg) == RWKVRT_ERR_FORMAT);
        CHECK(msg.find("v.txt:257:") != std::string::npos);
        CHECK(msg.find(c.what) != std::string::npos);
    }
    std::string msg;
    std::string lacking = byte_vocab();
    lacking.erase(lacking.find("66 b'\\x41' 1\n"), 13); // no 'A'
    CHECK(error_of([&] { make_world_tokenizer(lacking, "v.txt"); }, &msg) == RWKVRT_ERR_FORMAT);
    CHECK(msg.find("single byte 65") != std::string::npos);
}

TEST_CASE("world: a vocabulary given as pieces (a GGUF file's), with control and unused ids") {
    // The shape of llama.cpp's World GGUF vocabularies: id 0 "<s>" (control, no bytes), the byte
    // tokens, longer tokens, padding ids without bytes.
    std::vector<std::string> pieces(300);
    for (int b = 0; b < 256; ++b) pieces[size_t(b + 1)] = std::string(1, char(b));
    pieces[257] = "ab";
    pieces[258] = "abc";
    pieces[259] = "\n\n";
    const auto tok = rwkvrt::make_world_tokenizer(pieces, "pieces");
    CHECK(tok->n_vocab() == 300);
    CHECK(tok->encode("abcab\n\n\nx") == std::vector<int32_t>{258, 257, 259, 11, 'x' + 1});
    CHECK(tok->token_bytes(0).empty());
    CHECK(tok->token_bytes(299).empty());
    // id 0 may be a byte too (vocabularies of exactly the bytes).
    std::vector<std::string> bytes(256);
    for (int b = 0; b < 256; ++b) bytes[size_t(b)] = std::string(1, char(b));
    CHECK(rwkvrt::make_world_tokenizer(bytes, "bytes")->encode(std::string("\0a", 2)) == std::vector<int32_t>{0, 'a'});
    CHECK(std::string(rwkvrt::make_embedded_tokenizer(bytes, "bytes")->kind()) == "bytes");
    pieces[260] = "ab";
    CHECK_THROWS_WITH_AS(rwkvrt::make_world_tokenizer(pieces, "pieces"), doctest::Contains("token 260 has the same bytes as token 257"), rwkvrt::Error);
    pieces[260] = "";
    pieces[1] = "";
    CHECK_THROWS_WITH_AS(rwkvrt::make_world_tokenizer(pieces, "pieces"), doctest::Contains("single byte 0"), rwkvrt::Error);
}
