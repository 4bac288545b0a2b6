// Shared by the tokenizer tests: the two shipped vocabularies (loaded once), sample texts, and a
// helper that runs code expected to throw rwkvrt::Error.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "testdata.h"
#include "tokenizers/tokenizer.h"

namespace tok_test {

// Callers run REQUIRE_TESTDATA() first.
inline const rwkvrt::Tokenizer &world() {
    static const auto tok = rwkvrt::load_tokenizer(testdata::path("tokenizers/rwkv_vocab_v20230424.txt"));
    return *tok;
}

inline const rwkvrt::Tokenizer &neox() {
    static const auto tok = rwkvrt::load_tokenizer(testdata::path("tokenizers/20B_tokenizer.json"));
    return *tok;
}

// Valid UTF-8 in NFC (so that BPE round trips exactly), one per kind of text the issue names.
inline const std::vector<std::string> &samples() {
    static const std::vector<std::string> s = {
        "The quick brown fox jumps over the lazy dog. It's 3.14159, isn't it?",
        "你好，世界！人工智能正在改变我们的生活。",
        "こんにちは、世界。カタカナとひらがなと漢字。",
        "Emoji: 😀🚀👍🏽 👨‍👩‍👧‍👦 🇯🇵",
        "int main(void) {\n    for (int i = 0; i < 10; ++i) printf(\"%d\\n\", i);\n    return 0;\n}\n",
        "def f(x):\n\treturn {'a': [x, x ** 2]}  # comment\n",
        "   leading, inner    runs,\ttabs\t\t and trailing   \n\n\n  \r\n",
        "Ελληνικά, русский, العربية, עברית, हिन्दी, ไทย, 한국어 — “quotes” …",
        "\n",
        " ",
        std::string("nul\0byte", 8),
    };
    return s;
}

// Byte strings that are not UTF-8: lone continuation bytes, truncated and overlong sequences,
// surrogates, bytes UTF-8 never uses.
inline const std::vector<std::string> &invalid_utf8() {
    static const std::vector<std::string> s = {
        "\x80", "abc\xBF", "\xC3", "tail \xE4\xBD", "\xF0\x9F\x98", "\xC0\xAF overlong", "\xED\xA0\x80 surrogate",
        "\xF5\xFF\xFE", "mixed \xE4\xBD\xA0 ok \xA0 bad \xF4\x90\x80\x80",
    };
    return s;
}

inline std::string random_bytes(uint32_t seed, size_t n) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (char &c : s) c = char(rng() & 0xFF);
    return s;
}

// The status of the rwkvrt::Error that fn throws (RWKVRT_OK if none), its message into *message.
inline rwkvrt_status error_of(const std::function<void()> &fn, std::string *message = nullptr) {
    try {
        fn();
    } catch (const rwkvrt::Error &e) {
        if (message) *message = e.what();
        return e.status();
    }
    return RWKVRT_OK;
}

} // namespace tok_test
