// The Unicode helpers: UTF-8 well-formedness, character classes, NFC, and the streaming decoder.
#include "tokenizer_helpers.h"
#include "tokenizers/unicode.h"

using namespace rwkvrt::unicode;

namespace {

int seq_len(std::string_view s) {
    const auto *p = reinterpret_cast<const uint8_t *>(s.data());
    return utf8_sequence_length(p, p + s.size());
}

} // namespace

TEST_CASE("unicode: UTF-8 sequence lengths follow Table 3-7") {
    CHECK(seq_len("a") == 1);
    CHECK(seq_len("\xC3\xA9") == 2);
    CHECK(seq_len("\xE4\xBD\xA0") == 3);
    CHECK(seq_len("\xF0\x9F\x98\x80") == 4);
    CHECK(seq_len("\xF0\x9F\x98") == -1); // incomplete
    CHECK(seq_len("\xE4") == -1);
    CHECK(seq_len("\x80") == 0);         // lone continuation
    CHECK(seq_len("\xC0\xAF") == 0);     // overlong
    CHECK(seq_len("\xE0\x80\x80") == 0); // overlong
    CHECK(seq_len("\xED\xA0\x80") == 0); // surrogate
    CHECK(seq_len("\xF4\x90\x80\x80") == 0); // above U+10FFFF
    CHECK(seq_len("\xF5") == 0);
    CHECK(seq_len("\xE4\x41") == 0);
}

TEST_CASE("unicode: ill-formed bytes decode to raw values and come back") {
    const std::string s = "a\xFF\xE4\xBD\xA0\x80";
    const auto *p = reinterpret_cast<const uint8_t *>(s.data());
    const auto *end = p + s.size();
    std::vector<char32_t> cps;
    while (p < end) cps.push_back(decode_utf8(p, end));
    CHECK(cps == std::vector<char32_t>{'a', kRawByte + 0xFF, 0x4F60, kRawByte + 0x80});
    std::string back;
    for (char32_t c : cps) append_utf8(back, c);
    CHECK(back == s);
}

TEST_CASE("unicode: the classes of the GPT-2 pattern") {
    CHECK(is_letter('a'));
    CHECK(is_letter(0x4F60));  // 你
    CHECK(is_letter(0x01C5));  // ǅ, titlecase
    CHECK(!is_letter('1'));
    CHECK(!is_letter(0x0301)); // a combining mark is no letter
    CHECK(is_number('7'));
    CHECK(is_number(0x00BD));  // ½
    CHECK(is_number(0x216B));  // Ⅻ
    CHECK(is_number(0x0663));  // Arabic-Indic 3
    CHECK(is_space('\n'));
    CHECK(is_space(0x00A0));
    CHECK(is_space(0x3000));
    CHECK(!is_space(0x001C));  // Python's str.isspace() says yes; White_Space says no
    CHECK(!is_space(0x200B));  // zero width space is no White_Space
    CHECK(!is_letter(kRawByte + 0x41));
}

TEST_CASE("unicode: NFC") {
    CHECK(nfc("") == "");
    CHECK(nfc("plain ascii") == "plain ascii");
    CHECK(nfc("e\u0301") == "\u00e9");
    CHECK(nfc("A\u030a") == "\u00c5");
    CHECK(nfc("\u212b") == "\u00c5");                 // Angstrom sign: a singleton decomposition
    CHECK(nfc("a\u0323\u0302") == "\u1ead");          // ậ: marks reordered, then composed
    CHECK(nfc("a\u0302\u0323") == "\u1ead");
    CHECK(nfc("\u1100\u1161\u11a8") == "\uac01");     // Hangul L V T
    CHECK(nfc("\uac00\u11a8") == "\uac01");           // Hangul LV T
    CHECK(nfc("\u0344") == "\u0308\u0301");           // excluded from composition
    CHECK(nfc("e\u0301\xFF" "e\u0301") == "\u00e9\xFF\u00e9"); // ill-formed bytes kept
    CHECK(nfc("\xFF\u0301") == "\xFF\u0301");         // nothing to compose with
    CHECK(nfc("你好，世界") == "你好，世界");
}

TEST_CASE("Utf8Stream: whole characters only, nothing lost") {
    rwkvrt::Utf8Stream stream;
    CHECK(stream.push("a\xE4") == "a");
    CHECK(stream.pending() == 1);
    CHECK(stream.push("\xBD") == "");
    CHECK(stream.push("\xA0!") == "\xE4\xBD\xA0!");
    CHECK(stream.pending() == 0);
    // Ill-formed bytes pass as soon as they are certainly ill-formed.
    CHECK(stream.push("\x80") == "\x80");
    CHECK(stream.push("\xE4") == "");
    CHECK(stream.push("A") == "\xE4" "A");
    CHECK(stream.push("\xF0\x9F") == "");
    CHECK(stream.flush() == "\xF0\x9F");
    CHECK(stream.pending() == 0);

    // Any way of cutting any bytes: the outputs add up to the input, and each output that ends
    // while more input follows ends on a character boundary.
    for (uint32_t seed = 0; seed < 50; ++seed) {
        std::mt19937 rng(seed);
        std::string input = tok_test::random_bytes(seed, 200);
        if (seed % 2) input = "\xE4\xBD\xA0 \xF0\x9F\x98\x80 text " + input.substr(0, 20) + "\xC3\xA9";
        rwkvrt::Utf8Stream s;
        std::string out;
        for (size_t i = 0; i < input.size();) {
            const size_t n = std::min<size_t>(1 + rng() % 4, input.size() - i);
            out += s.push(std::string_view(input).substr(i, n));
            CHECK(s.pending() <= 3);
            i += n;
        }
        out += s.flush();
        CHECK(out == input);
    }
}
