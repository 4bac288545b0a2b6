#include "cli/eval/passkey.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace rwkvrt_cli::eval {

namespace {

constexpr const char *kInstructions =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n\n";
constexpr const char *kFiller = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
constexpr const char *kQuestion = "\n\nWhat is the pass key? The pass key is";

} // namespace

PasskeyPrompt passkey_prompt(uint32_t key, size_t repetitions, double depth_percent) {
    const double depth = std::clamp(depth_percent, 0.0, 100.0);
    const size_t before = std::min(repetitions, size_t(std::llround(double(repetitions) * depth / 100.0)));
    PasskeyPrompt p;
    p.key = std::to_string(key);
    p.text = kInstructions;
    for (size_t i = 0; i < before; ++i) p.text += kFiller;
    p.key_offset = p.text.size();
    p.text += "The pass key is " + p.key + ". Remember it. " + p.key + " is the pass key. ";
    for (size_t i = before; i < repetitions; ++i) p.text += kFiller;
    p.text += kQuestion;
    return p;
}

size_t passkey_min_tokens(const std::function<size_t(const std::string &)> &count_tokens) {
    return count_tokens(passkey_prompt(12345, 0, 0).text);
}

size_t passkey_repetitions_for(size_t tokens, const std::function<size_t(const std::string &)> &count_tokens) {
    const size_t fixed = passkey_min_tokens(count_tokens);
    const size_t per_filler = std::max<size_t>(1, count_tokens(kFiller));
    return tokens > fixed ? (tokens - fixed + per_filler / 2) / per_filler : 0;
}

bool passkey_answer_correct(const std::string &answer, const std::string &key) {
    const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    const auto begin = std::find_if(answer.begin(), answer.end(), digit);
    const auto end = std::find_if_not(begin, answer.end(), digit);
    return begin != answer.end() && std::string(begin, end) == key;
}

uint32_t passkey_key(uint64_t seed, uint64_t trial) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + trial + 1; // splitmix64
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return uint32_t(10000 + x % 90000);
}

} // namespace rwkvrt_cli::eval
