// Perplexity in llama-perplexity's conventions, so that figures compare across engines: the text is cut
// into chunks of n_ctx tokens, each starts from an empty state, and only the predictions of the second
// half of each chunk are scored (every scored token has at least n_ctx/2 tokens of context).
// n_ctx = 0 is what only a recurrent model can do: the whole text through one state, every token after
// the first scored.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rwkvrt_cli::eval {

// −log p(target) under softmax(logits), computed in double with the maximum subtracted.
double negative_log_likelihood(const float *logits, int32_t n_vocab, int32_t target);

// Running sums of negative log-likelihoods.
class PerplexitySum {
public:
    void add(double nll);
    size_t count() const { return n_; }
    double perplexity() const;  // exp(mean nll)
    // llama-perplexity's "+/-": perplexity × the standard error of the mean nll.
    double uncertainty() const;

private:
    size_t n_ = 0;
    double sum_ = 0, sum_sq_ = 0;
};

// Which predictions of a chunk are scored: the logits after chunk token j predict token j + 1, for
// j in [first, last). n_ctx = 0 (one chunk, the whole text): from the first token's logits on.
struct ScoredRange {
    size_t first, last;
};
ScoredRange scored_range(size_t chunk_tokens, size_t n_ctx);

} // namespace rwkvrt_cli::eval
