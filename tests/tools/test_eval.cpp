// The pure parts of `rwkvrt perplexity` and `rwkvrt passkey`: scoring and prompt construction.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "cli/eval/passkey.h"
#include "cli/eval/perplexity.h"

using namespace rwkvrt_cli::eval;

TEST_CASE("perplexity: negative log-likelihood of a softmax, stable for large logits") {
    const std::vector<float> uniform(100, 3.0f);
    CHECK(negative_log_likelihood(uniform.data(), 100, 7) == doctest::Approx(std::log(100.0)).epsilon(1e-12));
    const std::vector<float> two = {0.0f, std::log(3.0f)}; // p = 1/4, 3/4
    CHECK(negative_log_likelihood(two.data(), 2, 0) == doctest::Approx(std::log(4.0)).epsilon(1e-6));
    CHECK(negative_log_likelihood(two.data(), 2, 1) == doctest::Approx(std::log(4.0 / 3.0)).epsilon(1e-6));
    const std::vector<float> large = {1000.0f, 1000.0f}; // exp would overflow without the max subtracted
    CHECK(negative_log_likelihood(large.data(), 2, 1) == doctest::Approx(std::log(2.0)));
}

TEST_CASE("perplexity: the estimate and llama-perplexity's uncertainty") {
    PerplexitySum s;
    CHECK(std::isnan(s.perplexity()));
    for (double nll : {1.0, 2.0, 3.0, 2.0}) s.add(nll);
    CHECK(s.count() == 4);
    CHECK(s.perplexity() == doctest::Approx(std::exp(2.0)));
    // mean 2, population variance 0.5, standard error sqrt(0.5 / 3)
    CHECK(s.uncertainty() == doctest::Approx(std::exp(2.0) * std::sqrt(0.5 / 3.0)));
}

TEST_CASE("perplexity: which predictions a chunk scores") {
    const ScoredRange llama = scored_range(512, 512); // logits after tokens 256..510 predict 257..511
    CHECK(llama.first == 256);
    CHECK(llama.last == 511);
    const ScoredRange whole = scored_range(1000, 0);
    CHECK(whole.first == 0);
    CHECK(whole.last == 999);
}

TEST_CASE("passkey: the key sits at the asked depth, between the instructions and the question") {
    const PasskeyPrompt start = passkey_prompt(12345, 10, 0), middle = passkey_prompt(12345, 10, 50), end = passkey_prompt(12345, 10, 100);
    for (const PasskeyPrompt *p : {&start, &middle, &end}) {
        CHECK(p->key == "12345");
        CHECK(p->text.find("The pass key is 12345. Remember it. 12345 is the pass key.") == p->key_offset);
        CHECK(p->text.rfind("What is the pass key? The pass key is") == p->text.size() - std::string("What is the pass key? The pass key is").size());
        CHECK(p->text.size() == start.text.size());
    }
    const auto fillers_before = [](const PasskeyPrompt &p) {
        const std::string head = p.text.substr(0, p.key_offset);
        size_t n = 0;
        for (size_t at = head.find("The grass is green."); at != std::string::npos; at = head.find("The grass is green.", at + 1)) ++n;
        return n;
    };
    CHECK(fillers_before(start) == 0);
    CHECK(fillers_before(middle) == 5);
    CHECK(fillers_before(end) == 10);
    CHECK(fillers_before(passkey_prompt(1, 3, 40)) == 1); // round(1.2)
}

TEST_CASE("passkey: the filler count that makes a prompt of about the asked length") {
    const auto words = [](const std::string &t) {
        std::istringstream in(t);
        size_t n = 0;
        for (std::string w; in >> w;) ++n;
        return n;
    };
    for (size_t target : {100, 1000, 5000}) {
        const size_t reps = passkey_repetitions_for(target, words);
        const size_t got = words(passkey_prompt(12345, reps, 50).text);
        CAPTURE(target);
        CHECK(std::abs(double(got) - double(target)) <= 10); // within one filler (18 words) of the target
    }
    CHECK(passkey_repetitions_for(1, words) == 0);
    // The shortest prompt is the one without filler.
    const size_t shortest = passkey_min_tokens(words);
    CHECK(shortest == words(passkey_prompt(12345, 0, 0).text));
    CHECK(passkey_repetitions_for(shortest, words) == 0);
}

TEST_CASE("passkey: an answer passes when its first number is the key") {
    CHECK(passkey_answer_correct(" 12345. Remember", "12345"));
    CHECK(passkey_answer_correct("12345", "12345"));
    CHECK(passkey_answer_correct(" is 12345 and 999", "12345"));
    CHECK_FALSE(passkey_answer_correct(" 123456", "12345"));
    CHECK_FALSE(passkey_answer_correct(" 1234", "12345"));
    CHECK_FALSE(passkey_answer_correct(" 999 12345", "12345"));
    CHECK_FALSE(passkey_answer_correct(" the the", "12345"));
    CHECK_FALSE(passkey_answer_correct("", "12345"));
}

TEST_CASE("passkey: keys are five digits, reproducible from the seed, and vary by trial") {
    std::vector<uint32_t> keys;
    for (uint64_t t = 0; t < 1000; ++t) {
        const uint32_t k = passkey_key(7, t);
        CHECK(k >= 10000);
        CHECK(k <= 99999);
        keys.push_back(k);
    }
    CHECK(passkey_key(7, 3) == keys[3]);
    CHECK(passkey_key(8, 3) != keys[3]);
    std::sort(keys.begin(), keys.end());
    CHECK(std::unique(keys.begin(), keys.end()) - keys.begin() > 990);
}
