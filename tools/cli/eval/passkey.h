// The passkey test of long-context evaluation (Mohtashami & Jaggi 2023, as in llama.cpp's example):
// a five-digit key hidden at a chosen depth of repetitive filler, then a question. A model that keeps
// the key in its state answers with it. For RWKV this probes what a fixed-size state retains.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace rwkvrt_cli::eval {

struct PasskeyPrompt {
    std::string text;
    std::string key;       // the five digits
    size_t key_offset = 0; // byte offset of the key's sentence in text
};

// The filler is repeated `repetitions` times and the key's sentence goes after round(repetitions ×
// depth_percent / 100) of them: 0 = right after the instructions, 100 = just before the question.
PasskeyPrompt passkey_prompt(uint32_t key, size_t repetitions, double depth_percent);

// The length of a prompt without filler, the shortest there is, given a token counter.
size_t passkey_min_tokens(const std::function<size_t(const std::string &)> &count_tokens);
// The number of filler repetitions that makes the prompt about `tokens` long, given a token counter.
size_t passkey_repetitions_for(size_t tokens, const std::function<size_t(const std::string &)> &count_tokens);

// The answer passes when its first run of digits is exactly the key ("The pass key is 12345." passes,
// "123456" and "1234" do not).
bool passkey_answer_correct(const std::string &answer, const std::string &key);

// A key from a seed and a trial number, always five digits (10000–99999).
uint32_t passkey_key(uint64_t seed, uint64_t trial);

} // namespace rwkvrt_cli::eval
